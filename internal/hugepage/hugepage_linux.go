//go:build linux && !tinygo

package hugepage

import (
	"syscall"
	"unsafe"
)

// Linux madvise advice values (not all in package syscall).
const (
	madvHugepage = 14 // MADV_HUGEPAGE: back this range with huge pages when it faults
	madvCollapse = 25 // MADV_COLLAPSE (Linux 6.1): move what is already there onto huge pages now
)

// Copy returns a copy of b that starts on a 2 MiB boundary of Go heap memory advised for huge
// pages, or b itself when it is shorter than MinLen. The copy is ordinary garbage-collected
// memory (the advice stays with the address range and does no harm to later users of it). Every
// error is ignored: without transparent huge pages the copy is just a copy.
func Copy(b []byte) []byte {
	if len(b) < MinLen {
		return b
	}
	buf := make([]byte, len(b)+Size)
	off := (Size - int(uintptr(unsafe.Pointer(&buf[0]))%Size)) % Size
	out := buf[off : off+len(b) : off+len(b)] // keeps buf alive: the GC keeps whole objects
	region := buf[off : off+(len(buf)-off)/Size*Size]
	_ = syscall.Madvise(region, madvHugepage) // before the copy touches the pages
	copy(out, b)
	_ = syscall.Madvise(region, madvCollapse) // for pages the allocator had touched already
	return out
}
