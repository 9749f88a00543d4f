package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/sync/trust"
)

func TestSyncFullThenDelta(t *testing.T) {
	r, c, k1 := newRepo(t), &clock{now: epoch}, newSigner(1, nil)
	base := fullBlob(t, k1, 5, epoch, "alice", "bob")
	r.set(base, nil)
	a := newAgent(t, r, c, k1.trusted(), t.TempDir())
	ctx := context.Background()
	if err := a.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if s := a.Current(); s == nil || s.Version() != 5 || !found(s, "alice") || !found(s, "bob") {
		t.Fatalf("after full: %+v", s)
	}
	if err := a.Step(ctx); err != nil { // 304: nothing new
		t.Fatal(err)
	}
	r.set(base, deltaBlob(t, k1, base, 6, epoch, "bob"))
	if err := a.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if s := a.Current(); s.Version() != 6 || !found(s, "alice") || found(s, "bob") {
		t.Fatalf("after delta: version %d alice %v bob %v", s.Version(), found(s, "alice"), found(s, "bob"))
	}
}

// Each attack in its own case: the agent must refuse the blob and keep what it had.
func TestAttacks(t *testing.T) {
	k1 := newSigner(1, nil)
	rogue := newSigner(9, nil)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, r *repo, c *clock) // what the repository serves after the good state
		want  error
	}{
		{"untrusted signer", func(t *testing.T, r *repo, c *clock) {
			r.doc = trust.Document{Keys: []trust.SigningKey{rogue.doc}}
			r.set(fullBlob(t, rogue, 9, epoch, "mallory"), nil)
			r.rebase = true
		}, snapshot.ErrUnknownSigningKey},
		{"rollback", func(t *testing.T, r *repo, c *clock) {
			r.set(fullBlob(t, k1, 3, epoch, "alice", "bob", "revoked-later"), nil)
			r.rebase = true
		}, ErrRollback},
		{"freeze", func(t *testing.T, r *repo, c *clock) {
			c.Add(25 * time.Hour) // the good state has expired too; a fresh-looking old blob must not revive it
			r.set(fullBlob(t, k1, 7, epoch, "alice"), nil)
			r.rebase = true
		}, ErrExpired},
		{"mix and match", func(t *testing.T, r *repo, c *clock) {
			other := fullBlob(t, k1, 5, epoch.Add(time.Minute), "alice", "bob", "carol")
			r.set(nil, deltaBlob(t, k1, other, 6, epoch, "bob"))
		}, snapshot.ErrBaseMismatch},
		{"oversize", func(t *testing.T, r *repo, c *clock) {
			many := []string{}
			for i := 0; i < 5000; i++ {
				many = append(many, string(rune('a'+i%26))+string(rune(i)))
			}
			r.set(fullBlob(t, k1, 8, epoch, many...), nil)
			r.rebase = true
		}, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, c := newRepo(t), &clock{now: epoch}
			r.set(fullBlob(t, k1, 5, epoch, "alice", "bob"), nil)
			a := newAgent(t, r, c, k1.trusted(), t.TempDir())
			a.cfg.MaxBytes = 64 << 10
			ctx := context.Background()
			if err := a.Step(ctx); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, r, c)
			var err error
			for i := 0; i < 3 && err == nil; i++ { // a 409 takes one step, the refetch the next
				err = a.Step(ctx)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if s := a.Current(); s.Version() != 5 || !found(s, "bob") || found(s, "mallory") {
				t.Fatalf("the refused blob changed the state: version %d", s.Version())
			}
		})
	}
}

func TestRollbackRefusedAfterRestart(t *testing.T) {
	r, c, k1 := newRepo(t), &clock{now: epoch}, newSigner(1, nil)
	dir := t.TempDir()
	r.set(fullBlob(t, k1, 5, epoch, "alice"), nil)
	a := newAgent(t, r, c, k1.trusted(), dir)
	if err := a.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.set(fullBlob(t, k1, 4, epoch, "alice", "old"), nil)
	b := newAgent(t, r, c, k1.trusted(), dir) // a restart: the high-water mark comes from disk
	if s := b.Current(); s == nil || s.Version() != 5 {
		t.Fatalf("restart did not restore the last good state: %+v", s)
	}
	b.rebase = true
	if err := b.Step(context.Background()); !errors.Is(err, ErrRollback) {
		t.Fatalf("err = %v", err)
	}
}

func TestSigningKeyRotation(t *testing.T) {
	r, c, k1 := newRepo(t), &clock{now: epoch}, newSigner(1, nil)
	k2 := newSigner(2, k1)
	r.doc = trust.Document{Keys: []trust.SigningKey{k1.doc, k2.doc}}
	dir := t.TempDir()
	r.set(fullBlob(t, k1, 5, epoch, "alice"), nil)
	a := newAgent(t, r, c, k1.trusted(), dir)
	if err := a.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.set(fullBlob(t, k2, 6, epoch, "alice", "bob"), nil)
	a.rebase = true
	if err := a.Step(context.Background()); err != nil {
		t.Fatalf("a snapshot by an endorsed new key: %v", err)
	}
	if s := a.Current(); s.Version() != 6 || !found(s, "bob") {
		t.Fatalf("version %d", s.Version())
	}
	// The learned key is persisted: a restart without the control plane trusts it.
	r.srv.Close()
	b := newAgent(t, r, c, k1.trusted(), dir)
	if s := b.Current(); s == nil || s.Version() != 6 {
		t.Fatalf("restart with a rotated key: %+v", s)
	}
}

func TestEveryByteOfASignedSnapshotMatters(t *testing.T) {
	k1 := newSigner(1, nil)
	good := fullBlob(t, k1, 5, epoch, "alice")
	r, c := newRepo(t), &clock{now: epoch}
	a := newAgent(t, r, c, k1.trusted(), "")
	for i := range good {
		bad := append([]byte(nil), good...)
		bad[i] ^= 0x01
		r.set(bad, nil)
		if err := a.Step(context.Background()); err == nil {
			t.Fatalf("a change at byte %d of %d was accepted", i, len(good))
		}
	}
	if a.Current() != nil {
		t.Fatal("a tampered snapshot became current")
	}
}

func TestFirstStartTrustsPublishedKeys(t *testing.T) {
	r, c, k1 := newRepo(t), &clock{now: epoch}, newSigner(1, nil)
	r.doc = trust.Document{Keys: []trust.SigningKey{k1.doc}}
	r.set(fullBlob(t, k1, 5, epoch, "alice"), nil)
	a := newAgent(t, r, c, nil, t.TempDir())
	if err := a.Step(context.Background()); err != nil || a.Current() == nil {
		t.Fatalf("first start: %v", err)
	}
}
