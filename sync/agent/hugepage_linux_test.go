//go:build linux

package agent

import (
	"context"
	"strconv"
	"testing"
	"unsafe"

	"github.com/keyplane/keyplane/internal/hugepage"
)

// TestLargeSnapshotOnHugePages: a snapshot larger than hugepage.MinLen is read from a copy on a
// huge-page boundary, after a sync and after a restart from the state directory, and finds its keys.
func TestLargeSnapshotOnHugePages(t *testing.T) {
	r, c, k1 := newRepo(t), &clock{now: epoch}, newSigner(1, nil)
	keys := make([]string, 240_000) // about 4.6 MB
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	blob := fullBlob(t, k1, 5, epoch, keys...)
	if len(blob) < hugepage.MinLen {
		t.Fatalf("test setup: %d bytes", len(blob))
	}
	r.set(blob, nil)
	dir := t.TempDir()
	for _, step := range []string{"sync", "restart"} {
		a := newAgent(t, r, c, k1.trusted(), dir)
		if step == "sync" {
			if err := a.Step(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		s := a.Current()
		if s == nil {
			t.Fatalf("%s: no state", step)
		}
		if size := hugepage.PageSize(); size > 0 && uintptr(unsafe.Pointer(&s.Base.Bytes()[0]))%uintptr(size) != 0 {
			t.Fatalf("%s: snapshot at %p, not on a huge page", step, &s.Base.Bytes()[0])
		}
		for _, k := range []string{keys[0], keys[len(keys)/2], keys[len(keys)-1]} {
			if !found(s, k) {
				t.Fatalf("%s: %s not found", step, k)
			}
		}
	}
}
