//go:build linux && !tinygo

package hugepage

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestCopy(t *testing.T) {
	t.Run("small buffers stay where they are", func(t *testing.T) {
		b := make([]byte, MinLen-1)
		if c := Copy(b); &c[0] != &b[0] {
			t.Fatal("copied a buffer below MinLen")
		}
	})
	b := make([]byte, 19<<20)
	for i := range b {
		b[i] = byte(i * 7)
	}
	c := Copy(b)
	if !bytes.Equal(b, c) || cap(c) != len(b) {
		t.Fatal("the copy differs")
	}
	start := uintptr(unsafe.Pointer(&c[0]))
	if start%Size != 0 {
		t.Fatalf("copy at %#x, not on a 2 MiB boundary", start)
	}
	if mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || bytes.Contains(mode, []byte("[never]")) {
		t.Skip("transparent huge pages are off here")
	}
	kb := hugeKB(t, start)
	t.Logf("%d kB on huge pages", kb)
	if kb < 8<<10 { // the copy's whole 2 MiB pages: at least 8 of its 9
		t.Fatalf("%d kB of the copy on huge pages", kb)
	}
}

// hugeKB returns AnonHugePages of the mapping that holds addr, from /proc/self/smaps.
func hugeKB(t *testing.T, addr uintptr) int {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := strings.Cut(strings.Fields(line)[0], "-"); ok && !strings.HasSuffix(line, ":") && strings.Contains(line, " ") {
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(addr) >= l && uint64(addr) < h
			continue
		}
		if in && strings.HasPrefix(line, "AnonHugePages:") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return 0
}
