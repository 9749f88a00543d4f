// Package state is an edge's verified key state, a base snapshot and the newest delta on it, and
// the rules for replacing it: no rollback below the highest version accepted, no expired blob
// (freeze), no snapshot of another workspace, no delta made for another base. The Go sync agent,
// the proxy-wasm module (which fetches blobs itself) and the http-wasm module (which reads them
// from files) all hold their state through this package, so the rules live in one place. It
// builds with TinyGo.
package state

import (
	"errors"
	"strconv"

	"github.com/keyplane/keyplane/sync/snapshot"
)

// Refusals; they match with errors.Is.
var (
	ErrRollback = errors.New("state: version lower than one already accepted")
	ErrExpired  = errors.New("state: snapshot expired")
	ErrOtherWS  = errors.New("state: snapshot of another workspace")
)

// State is immutable: a new blob makes a new State.
type State struct {
	Base  *snapshot.Snapshot
	Delta *snapshot.Delta // nil when none
	view  *snapshot.View
}

// Keys is what a verifier looks keys up in: the delta's view when there is one, else the base.
// The concrete types are returned so that the verifier can call them without allocating.
type Keys interface {
	Lookup(hash *[32]byte) (snapshot.Entry, bool)
	Header() snapshot.Header
}

// Keys returns the state's keys.
func (s *State) Keys() Keys {
	if s.view != nil {
		return s.view
	}
	return s.Base
}

// Check returns what a verifier checks a request against: the state's keys and when they stop
// being fresh (unix seconds), or (nil, 0) for a nil state, which is no state yet.
func (s *State) Check() (Keys, int64) {
	if s == nil {
		return nil, 0
	}
	return s.Keys(), s.ExpiresAt()
}

// Lookup finds a key by the SHA-256 of the full key.
func (s *State) Lookup(h *[32]byte) (snapshot.Entry, bool) {
	if s.view != nil {
		return s.view.Lookup(h)
	}
	return s.Base.Lookup(h)
}

// Header is the newest blob's header: the delta's when there is one.
func (s *State) Header() snapshot.Header {
	if s.Delta != nil {
		return s.Delta.Header()
	}
	return s.Base.Header()
}

// Version is the version the state reflects.
func (s *State) Version() uint64 { return s.Header().Version }

// ExpiresAt is when the state stops being fresh (unix seconds): the newest blob's expiry.
func (s *State) ExpiresAt() int64 { return s.Header().ExpiresAt }

// Workspace is the workspace the state belongs to.
func (s *State) Workspace() string { return s.Base.Header().Workspace }

// DeltaQuery is the query of the delta long poll that would bring this state up to date.
func (s *State) DeltaQuery(waitSeconds int) string {
	d := s.Base.Digest()
	const hexdigits = "0123456789abcdef"
	var hx [64]byte
	for i, b := range d {
		hx[2*i], hx[2*i+1] = hexdigits[b>>4], hexdigits[b&15]
	}
	return "base=" + strconv.FormatUint(s.Base.Header().Version, 10) + "&base_digest=" + string(hx[:]) +
		"&since=" + strconv.FormatUint(s.Version(), 10) + "&wait=" + strconv.Itoa(waitSeconds)
}

// Rules decide whether a verified blob may replace the current state.
type Rules struct {
	Workspace string // when set, only this workspace's snapshots are accepted
	HighWater uint64 // the highest version accepted so far, persisted by the caller
}

// WithBase returns the state a new full snapshot makes, or why it is refused. now is unix seconds.
func (r *Rules) WithBase(cur *State, base *snapshot.Snapshot, now int64) (*State, error) {
	if err := r.check(cur, base.Header(), now); err != nil {
		return nil, err
	}
	r.HighWater = base.Header().Version
	return &State{Base: base}, nil
}

// WithDelta returns the state a new delta on cur's base makes, or why it is refused.
func (r *Rules) WithDelta(cur *State, d *snapshot.Delta, now int64) (*State, error) {
	if cur == nil {
		return nil, snapshot.ErrBaseMismatch
	}
	if err := r.check(cur, d.Header(), now); err != nil {
		return nil, err
	}
	v, err := cur.Base.Apply(d) // refuses a delta made for another base
	if err != nil {
		return nil, err
	}
	r.HighWater = d.Header().Version
	return &State{Base: cur.Base, Delta: d, view: v}, nil
}

func (r *Rules) check(cur *State, h snapshot.Header, now int64) error {
	switch {
	case r.Workspace != "" && h.Workspace != r.Workspace:
		return errors.Join(ErrOtherWS, errors.New(h.Workspace))
	case cur != nil && cur.Workspace() != h.Workspace:
		return errors.Join(ErrOtherWS, errors.New(h.Workspace))
	case h.Version < r.HighWater:
		return errors.Join(ErrRollback, errors.New(strconv.FormatUint(h.Version, 10)+" < "+strconv.FormatUint(r.HighWater, 10)))
	case now >= h.ExpiresAt:
		return ErrExpired
	}
	return nil
}

// Restore rebuilds a state from persisted blobs already verified by the caller, without the
// freeze check (a fail-static edge may still serve an expired state) but with the rollback check.
func (r *Rules) Restore(base *snapshot.Snapshot, d *snapshot.Delta) (*State, error) {
	s := &State{Base: base}
	if d != nil {
		if v, err := base.Apply(d); err == nil {
			s.Delta, s.view = d, v
		}
	}
	if s.Version() < r.HighWater {
		return nil, ErrRollback
	}
	r.HighWater = s.Version()
	return s, nil
}
