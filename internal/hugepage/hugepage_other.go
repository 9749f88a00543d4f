//go:build !linux || tinygo

package hugepage

// Load returns open(b): huge pages are advised on Linux only (and a wasm guest's memory is its
// host's).
func Load[T any](b []byte, open func([]byte) (*T, error)) (*T, error) { return open(b) }

// PageSize is 0: Load does not move buffers here.
func PageSize() int { return 0 }
