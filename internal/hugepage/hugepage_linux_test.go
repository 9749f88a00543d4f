//go:build linux && !tinygo

package hugepage

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

type holder struct{ b []byte }

func keep(b []byte) (*holder, error) { return &holder{b}, nil }

func TestLoad(t *testing.T) {
	size := PageSize()
	if size == 0 {
		t.Skip("transparent huge pages are off here")
	}
	t.Run("small buffers are not moved", func(t *testing.T) {
		b := make([]byte, MinLen-1)
		if h, _ := Load(b, keep); &h.b[0] != &b[0] {
			t.Fatal("moved a buffer below MinLen")
		}
	})
	b := make([]byte, 19<<20)
	for i := range b {
		b[i] = byte(i * 7)
	}
	t.Run("a large buffer is copied onto huge pages, and unmapped when unreachable", func(t *testing.T) {
		h, err := Load(b, keep)
		if err != nil || !bytes.Equal(h.b, b) || cap(h.b) != len(b) {
			t.Fatal("the copy differs")
		}
		start := uintptr(unsafe.Pointer(&h.b[0]))
		if start%uintptr(size) != 0 {
			t.Fatalf("copy at %#x, not on a %d-byte boundary", start, size)
		}
		if kb, ok := hugeKB(t, start); !ok || kb < 8<<10 { // at least 8 of the copy's 9 whole huge pages
			t.Fatalf("%d kB of the copy on huge pages", kb)
		}
		h = nil
		waitUnmapped(t, start)
	})
	t.Run("a failed open unmaps the copy at once", func(t *testing.T) {
		var at uintptr
		_, err := Load(b, func(c []byte) (*holder, error) {
			at = uintptr(unsafe.Pointer(&c[0]))
			return nil, errors.New("refused")
		})
		if err == nil || at == uintptr(unsafe.Pointer(&b[0])) {
			t.Fatalf("err %v; open given the original", err)
		}
		if _, ok := hugeKB(t, at); ok {
			t.Fatal("the copy is still mapped")
		}
	})
}

func waitUnmapped(t *testing.T, addr uintptr) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		runtime.GC()
		if _, ok := hugeKB(t, addr); !ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the copy is still mapped after its owner became unreachable")
}

// hugeKB returns AnonHugePages of the mapping that holds addr (/proc/self/smaps), and whether any
// mapping holds it.
func hugeKB(t *testing.T, addr uintptr) (int, bool) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	in, found := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") {
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(addr) >= l && uint64(addr) < h
			found = found || in
			continue
		}
		if in && fields[0] == "AnonHugePages:" && len(fields) > 1 {
			n, _ := strconv.Atoi(fields[1])
			return n, true
		}
	}
	return 0, found
}
