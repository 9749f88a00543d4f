//go:build linux && !tinygo

package hugepage

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

const madvHugepage = 14 // MADV_HUGEPAGE (not in package syscall)

// Load calls open with a copy of b on huge pages and returns what open returns. The copy is a
// private anonymous mapping of its own, outside the Go heap (advice given to heap memory would
// outlive the buffer and reach whatever the runtime puts there next), advised for huge pages before
// the copy first touches it, and unmapped once the value open returned is unreachable
// (runtime.AddCleanup). open must keep no reference to its argument beyond that value's life. When
// open fails (or returns nil) the copy is unmapped at once and Load returns nil and the error. The
// mapping is not Go heap memory: GOGC and GOMEMLIMIT do not count it, and a dropped copy is unmapped
// at the first garbage collection after its owner became unreachable (at most two minutes later:
// the runtime forces one that often). b itself goes to open when it is shorter than MinLen,
// when transparent huge pages are off, or when the mapping fails.
func Load[T any](b []byte, open func([]byte) (*T, error)) (*T, error) {
	if len(b) < MinLen { // most deltas: nothing to read, no copy
		return open(b)
	}
	size := PageSize()
	if size == 0 {
		return open(b)
	}
	mem, err := syscall.Mmap(-1, 0, len(b)+size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return open(b)
	}
	off := (size - int(uintptr(unsafe.Pointer(&mem[0]))%uintptr(size))) % size
	_ = syscall.Madvise(mem[off:off+(len(mem)-off)/size*size], madvHugepage)
	buf := mem[off : off+len(b) : off+len(b)]
	copy(buf, b)
	v, err := open(buf)
	if err != nil || v == nil { // nothing will hold the copy: a value returned with an error is dropped
		syscall.Munmap(mem)
		return nil, err
	}
	runtime.AddCleanup(v, func(m []byte) { syscall.Munmap(m) }, mem)
	return v, nil
}

// PageSize returns the size of a transparent huge page, or 0 when they are off (or unknown). It
// reads two small files each time: Load asks only for blobs of MinLen or more, a full snapshot of
// a few hundred thousand keys, which arrives a few times an hour.
func PageSize() int {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(mode), "[never]") {
		return 0
	}
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 || n&(n-1) != 0 {
		return 0
	}
	return n
}
