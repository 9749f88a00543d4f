package state

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/keyplane/keyplane/sync/snapshot"
)

var (
	priv    = ed25519.NewKeyFromSeed(make([]byte, 32))
	signer  = snapshot.Signer{KeyID: "k", Private: priv}
	trusted = snapshot.Trusted{"k": priv.Public().(ed25519.PublicKey)}
)

func full(t *testing.T, ws string, v uint64, expires int64, keys ...string) *snapshot.Snapshot {
	t.Helper()
	var ks []snapshot.Key
	for _, k := range keys {
		ks = append(ks, snapshot.Key{Hash: sha256.Sum256([]byte(k)), Policy: snapshot.Policy{Environment: "live", Type: "GENERIC"}})
	}
	b, err := snapshot.BuildFull(snapshot.Header{Workspace: ws, Version: v, IssuedAt: 1, ExpiresAt: expires, KeyID: "k"}, ks, signer)
	if err != nil {
		t.Fatal(err)
	}
	s, err := snapshot.Open(b, trusted, snapshot.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func delta(t *testing.T, base *snapshot.Snapshot, v uint64, expires int64, revoke ...string) *snapshot.Delta {
	t.Helper()
	var rev [][32]byte
	for _, k := range revoke {
		rev = append(rev, sha256.Sum256([]byte(k)))
	}
	b, err := snapshot.BuildDelta(snapshot.Header{Workspace: base.Header().Workspace, Version: v, IssuedAt: 1, ExpiresAt: expires, KeyID: "k"}, base, nil, rev, signer)
	if err != nil {
		t.Fatal(err)
	}
	d, err := snapshot.OpenDelta(b, trusted, snapshot.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRules(t *testing.T) {
	const now = 100
	base := full(t, "ws", 5, 1000, "alice", "bob")
	for _, tc := range []struct {
		name  string
		rules Rules
		apply func(r *Rules, cur *State) (*State, error)
		want  error
	}{
		{"first base", Rules{}, func(r *Rules, cur *State) (*State, error) { return r.WithBase(nil, base, now) }, nil},
		{"rollback", Rules{HighWater: 6}, func(r *Rules, cur *State) (*State, error) { return r.WithBase(nil, base, now) }, ErrRollback},
		{"same version again", Rules{HighWater: 5}, func(r *Rules, cur *State) (*State, error) { return r.WithBase(nil, base, now) }, nil},
		{"expired", Rules{}, func(r *Rules, cur *State) (*State, error) { return r.WithBase(nil, full(t, "ws", 5, now, "a"), now) }, ErrExpired},
		{"pinned workspace", Rules{Workspace: "other"}, func(r *Rules, cur *State) (*State, error) { return r.WithBase(nil, base, now) }, ErrOtherWS},
		{"another workspace than the current", Rules{}, func(r *Rules, cur *State) (*State, error) {
			return r.WithBase(&State{Base: base}, full(t, "other", 9, 1000, "x"), now)
		}, ErrOtherWS},
		{"delta", Rules{}, func(r *Rules, cur *State) (*State, error) {
			return r.WithDelta(&State{Base: base}, delta(t, base, 6, 1000, "bob"), now)
		}, nil},
		{"delta without a base", Rules{}, func(r *Rules, cur *State) (*State, error) { return r.WithDelta(nil, delta(t, base, 6, 1000), now) }, snapshot.ErrBaseMismatch},
		{"delta for another base", Rules{}, func(r *Rules, cur *State) (*State, error) {
			other := full(t, "ws", 5, 1000, "alice", "bob", "carol")
			return r.WithDelta(&State{Base: base}, delta(t, other, 6, 1000), now)
		}, snapshot.ErrBaseMismatch},
		{"expired delta", Rules{}, func(r *Rules, cur *State) (*State, error) {
			return r.WithDelta(&State{Base: base}, delta(t, base, 6, now), now)
		}, ErrExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rules
			s, err := tc.apply(&r, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && r.HighWater != s.Version() {
				t.Fatalf("high water %d after accepting version %d", r.HighWater, s.Version())
			}
			if err != nil && r.HighWater != tc.rules.HighWater {
				t.Fatal("a refusal moved the high-water mark")
			}
		})
	}
}

func TestStateThroughDelta(t *testing.T) {
	base := full(t, "ws", 5, 1000, "alice", "bob")
	var r Rules
	s, err := r.WithDelta(&State{Base: base}, delta(t, base, 7, 2000, "bob"), 100)
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := sha256.Sum256([]byte("alice")), sha256.Sum256([]byte("bob"))
	if _, ok := s.Lookup(&alice); !ok {
		t.Fatal("alice is gone")
	}
	if _, ok := s.Keys().Lookup(&bob); ok {
		t.Fatal("bob was revoked by the delta")
	}
	if keys, exp := s.Check(); keys != s.Keys() || exp != 2000 {
		t.Fatalf("Check: %v %d", keys, exp)
	}
	if keys, exp := (*State)(nil).Check(); keys != nil || exp != 0 {
		t.Fatalf("Check of no state: %v %d", keys, exp)
	}
	if s.Version() != 7 || s.ExpiresAt() != 2000 || s.Workspace() != "ws" {
		t.Fatalf("version %d expires %d workspace %s", s.Version(), s.ExpiresAt(), s.Workspace())
	}
	q := s.DeltaQuery(25)
	if !strings.HasPrefix(q, "base=5&base_digest=") || !strings.HasSuffix(q, "&since=7&wait=25") {
		t.Fatalf("delta query %q", q)
	}
	// Restore takes what is on disk without the freeze check, but not below the high-water mark.
	rr := Rules{HighWater: 8}
	if _, err := rr.Restore(base, nil); !errors.Is(err, ErrRollback) {
		t.Fatalf("restore below the high-water mark: %v", err)
	}
	rr = Rules{HighWater: 5}
	if s, err := rr.Restore(full(t, "ws", 5, 1, "a"), nil); err != nil || s == nil {
		t.Fatalf("an expired state must restore (fail-static may serve it): %v", err)
	}
}
