// Package publish turns the store's keys and change log into signed snapshots and deltas, and
// parks long polls until a workspace changes.
//
// Per workspace it keeps the current key set in memory (loaded once, then advanced by reading
// the change log when the store announces a commit), so that a full snapshot is a sort and an
// encode, and a delta needs only the change log since the agent's base: any replica can serve
// any agent, whichever replica built the agent's base.
package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/keyplane/keyplane/controlplane/signing"
	"github.com/keyplane/keyplane/controlplane/store"
	"github.com/keyplane/keyplane/sync/snapshot"
)

// Store is what the publisher reads.
type Store interface {
	GetWorkspace(ctx context.Context, id string) (store.Workspace, error)
	ActiveKeys(ctx context.Context, workspaceID string) (int64, []store.Key, error)
	ListChanges(ctx context.Context, workspaceID string, after int64, limit int) ([]store.Change, error)
	GetKeyByHash(ctx context.Context, hash []byte) (store.Key, error)
	Watch(fn func(workspaceID string, version int64))
}

// Keyring supplies the current signing keys.
type Keyring interface {
	Ring() (*signing.Ring, error)
}

// Clock tells the time.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Config configures New. Store and Keys are required.
type Config struct {
	Store  Store
	Keys   Keyring
	Clock  Clock         // time.Now by default
	TTL    time.Duration // how long a snapshot or delta stays valid (24 h); rebuilt after half
	Logger *slog.Logger
	// MaxDeltaChanges bounds a delta; past it the agent must fetch a full snapshot.
	// Default: 1,000 or an eighth of the workspace's keys, whichever is more.
	MaxDeltaChanges int
}

// ErrRebase means the agent's base cannot be brought up to date by a delta: the base is unknown,
// newer than the store, or too far behind. The agent fetches a full snapshot.
var ErrRebase = errors.New("publish: base too old or unknown; fetch a full snapshot")

// Blob is a signed snapshot or delta.
type Blob struct {
	Version int64
	Base    int64 // 0 for a full snapshot
	Bytes   []byte
	Digest  [32]byte
	Issued  time.Time
}

// ETag is the blob's entity tag.
func (b *Blob) ETag() string { return `"` + hex.EncodeToString(b.Digest[:12]) + `"` }

// Publisher builds and caches snapshots per workspace.
type Publisher struct {
	cfg Config
	mu  sync.Mutex
	ws  map[string]*workspace
}

// New returns a Publisher that follows cfg.Store's changes.
func New(cfg Config) *Publisher {
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Publisher{cfg: cfg, ws: map[string]*workspace{}}
	cfg.Store.Watch(p.notice)
	return p
}

// workspace is one workspace's current key set and caches. mu guards everything but changed,
// which notice replaces under Publisher.mu.
type workspace struct {
	id       string
	mu       sync.Mutex
	loaded   bool
	version  int64
	keys     map[[16]byte]snapshot.Key
	defaults *store.RateLimit
	full     *Blob
	deltas   map[deltaKey]*Blob // for the current version only

	announced int64         // newest version the store announced (Publisher.mu)
	resync    bool          // notices may have been missed (Publisher.mu)
	changed   chan struct{} // closed when announced moves (Publisher.mu)
}

type deltaKey struct {
	base   int64
	digest [32]byte
}

func (p *Publisher) get(id string) *workspace {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.ws[id]
	if w == nil {
		w = &workspace{id: id, changed: make(chan struct{})}
		p.ws[id] = w
	}
	return w
}

// notice is the store's Watch callback: wake the workspace's long polls. It never blocks.
func (p *Publisher) notice(id string, version int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for wid, w := range p.ws {
		if id != "" && wid != id {
			continue
		}
		if id == "" {
			w.resync = true
		} else if version > w.announced {
			w.announced = version
		} else {
			continue
		}
		close(w.changed)
		w.changed = make(chan struct{})
	}
}

// pending reports whether the store announced something newer than w holds, and the channel
// that the next announcement closes.
func (p *Publisher) pending(w *workspace) (bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return w.resync || w.announced > w.version, w.changed
}

// refresh brings w up to the store: a full load the first time, then the change log. Call with
// w.mu held.
func (p *Publisher) refresh(ctx context.Context, w *workspace) error {
	if !w.loaded {
		ws, err := p.cfg.Store.GetWorkspace(ctx, w.id)
		if err != nil {
			return err
		}
		v, keys, err := p.cfg.Store.ActiveKeys(ctx, w.id)
		if err != nil {
			return err
		}
		w.defaults = ws.DefaultRateLimit
		w.keys = make(map[[16]byte]snapshot.Key, len(keys))
		for i := range keys {
			w.keys[lookupHash(keys[i].Hash)] = w.snapKey(&keys[i])
		}
		w.version, w.loaded = v, true
		p.settle(w)
		return nil
	}
	if stale, _ := p.pending(w); !stale {
		return nil
	}
	p.mu.Lock()
	w.resync = false
	p.mu.Unlock()
	for {
		changes, err := p.cfg.Store.ListChanges(ctx, w.id, w.version, 1000)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		// A key's current row decides; reading it may show changes newer than this batch,
		// which the next batch repeats harmlessly.
		seen := map[[16]byte]bool{}
		for _, c := range changes {
			h := lookupHash(c.KeyHash)
			if seen[h] {
				continue
			}
			seen[h] = true
			k, err := p.cfg.Store.GetKeyByHash(ctx, c.KeyHash)
			switch {
			case errors.Is(err, store.ErrNotFound) || (err == nil && k.RevokedAt != nil):
				delete(w.keys, h)
			case err != nil:
				return err
			default:
				w.keys[h] = w.snapKey(&k)
			}
		}
		w.version = changes[len(changes)-1].Seq
		w.deltas = nil
		p.settle(w)
	}
}

// settle records that w holds at least what the store announced.
func (p *Publisher) settle(w *workspace) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.announced < w.version {
		w.announced = w.version
	}
}

func (w *workspace) snapKey(k *store.Key) snapshot.Key {
	sk := snapshot.Key{Disabled: !k.Enabled, Policy: snapshot.Policy{
		Scopes: k.Scopes, Environment: k.Environment, Type: k.Type,
		AllowedCIDRs: k.Restrictions.AllowedCIDRs, AllowedHosts: k.Restrictions.AllowedHosts,
	}}
	copy(sk.Hash[:], k.Hash)
	if rl := k.RateLimit; rl != nil || w.defaults != nil {
		if rl == nil {
			rl = w.defaults
		}
		sk.Policy.RateLimit, sk.Policy.RateWindow = uint32(rl.Limit), uint32(rl.WindowSeconds)
	}
	if k.ExpiresAt != nil {
		// Round up: a key is never refused before its expiry.
		sk.ExpiresAt = k.ExpiresAt.Unix()
		if k.ExpiresAt.Nanosecond() > 0 {
			sk.ExpiresAt++
		}
	}
	return sk
}

func lookupHash(h []byte) [16]byte {
	var out [16]byte
	copy(out[:], h)
	return out
}

// Full returns the workspace's current full snapshot, rebuilt when the workspace changed or the
// cached one is past half its life.
func (p *Publisher) Full(ctx context.Context, workspaceID string) (*Blob, error) {
	w := p.get(workspaceID)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := p.refresh(ctx, w); err != nil {
		return nil, err
	}
	now := p.cfg.Clock.Now()
	if w.full != nil && w.full.Version == w.version && now.Sub(w.full.Issued) < p.cfg.TTL/2 {
		return w.full, nil
	}
	signer, err := p.signer()
	if err != nil {
		return nil, err
	}
	keys := make([]snapshot.Key, 0, len(w.keys))
	for _, k := range w.keys {
		keys = append(keys, k)
	}
	h := snapshot.Header{Workspace: w.id, Version: uint64(w.version), IssuedAt: now.Unix(),
		ExpiresAt: now.Add(p.cfg.TTL).Unix(), KeyID: signer.KeyID}
	b, err := snapshot.BuildFull(h, keys, signer)
	if err != nil {
		return nil, fmt.Errorf("publish: build full snapshot of %s: %w", w.id, err)
	}
	w.full = &Blob{Version: w.version, Bytes: b, Digest: sha256.Sum256(b), Issued: now}
	return w.full, nil
}

// Delta waits up to wait for the workspace to move past since, then returns the cumulative delta
// from the agent's base (version and digest) to the current version. It returns nil, nil when
// wait ends with nothing new, and ErrRebase when a delta cannot serve the base.
func (p *Publisher) Delta(ctx context.Context, workspaceID string, base int64, baseDigest [32]byte, since int64, wait time.Duration) (*Blob, error) {
	w := p.get(workspaceID)
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	for {
		w.mu.Lock()
		if err := p.refresh(ctx, w); err != nil {
			w.mu.Unlock()
			return nil, err
		}
		if w.version > since || (wait <= 0 && w.version > base) {
			b, err := p.delta(ctx, w, base, baseDigest)
			w.mu.Unlock()
			return b, err
		}
		if base > w.version {
			w.mu.Unlock()
			return nil, ErrRebase
		}
		_, changed := p.pending(w)
		w.mu.Unlock()
		if wait <= 0 {
			return nil, nil
		}
		select {
		case <-changed:
		case <-timeout:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// delta builds (or finds cached) the delta from base to w.version. Call with w.mu held.
func (p *Publisher) delta(ctx context.Context, w *workspace, base int64, digest [32]byte) (*Blob, error) {
	if base <= 0 || base > w.version {
		return nil, ErrRebase
	}
	dk := deltaKey{base, digest}
	if b := w.deltas[dk]; b != nil {
		return b, nil
	}
	limit := p.cfg.MaxDeltaChanges
	if limit <= 0 {
		limit = max(1000, len(w.keys)/8)
	}
	changes, err := p.cfg.Store.ListChanges(ctx, w.id, base, limit+1)
	if err != nil {
		return nil, err
	}
	if len(changes) > limit {
		return nil, ErrRebase
	}
	touched := make(map[[16]byte]bool, len(changes))
	var upserts []snapshot.Key
	var revoked [][32]byte
	for _, c := range changes {
		h := lookupHash(c.KeyHash)
		if touched[h] {
			continue
		}
		touched[h] = true
		if k, ok := w.keys[h]; ok {
			upserts = append(upserts, k)
		} else {
			var full [32]byte
			copy(full[:], c.KeyHash)
			revoked = append(revoked, full)
		}
	}
	signer, err := p.signer()
	if err != nil {
		return nil, err
	}
	now := p.cfg.Clock.Now()
	h := snapshot.Header{Workspace: w.id, Version: uint64(w.version), BaseVersion: uint64(base), BaseDigest: digest,
		IssuedAt: now.Unix(), ExpiresAt: now.Add(p.cfg.TTL).Unix(), KeyID: signer.KeyID}
	unchanged := len(w.keys) - len(upserts)
	b, err := snapshot.BuildDeltaFrom(h, upserts, revoked, unchanged, func(yield func(*[16]byte)) {
		for hash := range w.keys {
			if !touched[hash] {
				yield(&hash)
			}
		}
	}, signer)
	if err != nil {
		return nil, fmt.Errorf("publish: build delta of %s: %w", w.id, err)
	}
	blob := &Blob{Version: w.version, Base: base, Bytes: b, Digest: sha256.Sum256(b), Issued: now}
	if w.deltas == nil {
		w.deltas = map[deltaKey]*Blob{}
	}
	if len(w.deltas) > 64 {
		clear(w.deltas)
	}
	w.deltas[dk] = blob
	return blob, nil
}

func (p *Publisher) signer() (snapshot.Signer, error) {
	r, err := p.cfg.Keys.Ring()
	if err != nil {
		return snapshot.Signer{}, fmt.Errorf("publish: signing keys: %w", err)
	}
	return r.Signer(), nil
}
