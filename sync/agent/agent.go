// Package agent keeps an edge's copy of a workspace's keys current: it fetches a signed full
// snapshot, long-polls the control plane for cumulative deltas, verifies everything before use,
// and persists its last good state so that it restarts from it, with or without a control plane.
//
// What it refuses, as TUF teaches: a blob not signed by a trusted key (a new signing key is
// trusted only when a trusted key endorses it); a version lower than the highest it has accepted,
// which survives restarts (rollback); a blob already expired (freeze); a delta made for another
// base (mix-and-match); and anything larger than the size cap, before parsing it.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keyplane/keyplane/sync/snapshot"
)

// Errors for blobs the agent refuses; they match with errors.Is.
var (
	ErrRollback = errors.New("agent: version lower than one already accepted")
	ErrExpired  = errors.New("agent: snapshot expired")
	ErrTooLarge = errors.New("agent: response exceeds the size cap")
	ErrOtherWS  = errors.New("agent: snapshot of another workspace")
)

// Clock tells the time.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Config configures New.
type Config struct {
	URL       string // control plane, e.g. http://127.0.0.1:8080
	Token     string // an API key with snapshots:read (or the admin token with Workspace)
	Workspace string // needed with the admin token only
	// Trusted pins signing keys. When empty (and nothing is persisted), the agent trusts the
	// keys /v1/signing-keys lists at first start and says so in its log.
	Trusted  snapshot.Trusted
	StateDir string        // where the last good state is kept; empty keeps it in memory only
	Wait     time.Duration // long-poll wait (30 s)
	MaxBytes int           // size cap on any response (256 MiB)
	HTTP     *http.Client
	Clock    Clock
	Logger   *slog.Logger
	// OnUpdate is called after each new state is accepted; it must not block.
	OnUpdate func(*State)
}

// State is a verified base snapshot and, when there is one, the newest delta on it. It is
// immutable: the agent replaces it whole.
type State struct {
	Base      *snapshot.Snapshot
	Delta     *snapshot.Delta // nil when none
	view      *snapshot.View
	Version   uint64
	ExpiresAt time.Time // the newest accepted blob's expiry
	Verified  time.Time // when the agent last accepted a blob or confirmed nothing changed
}

// Lookup finds a key by the SHA-256 of the full key, through the delta when there is one.
func (s *State) Lookup(h *[32]byte) (snapshot.Entry, bool) {
	if s.view != nil {
		return s.view.Lookup(h)
	}
	return s.Base.Lookup(h)
}

// Workspace is the workspace the state belongs to.
func (s *State) Workspace() string { return s.Base.Header().Workspace }

// Agent syncs one workspace.
type Agent struct {
	cfg       Config
	cur       atomic.Pointer[State]
	trusted   atomic.Pointer[snapshot.Trusted]
	highWater uint64
	etag      string
	rebase    bool
}

// New returns an agent, restored from cfg.StateDir when it holds a state that still verifies.
func New(cfg Config) (*Agent, error) {
	if cfg.URL == "" || cfg.Token == "" {
		return nil, errors.New("agent: the control plane URL and a token are required")
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	if cfg.Wait <= 0 {
		cfg.Wait = 30 * time.Second
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = snapshot.DefaultMaxBytes
	}
	if cfg.HTTP == nil {
		// Its own transport: an edge holds one long poll open, and must not queue behind, or
		// churn the idle connections of, whatever else shares the default transport.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 4
		cfg.HTTP = &http.Client{Timeout: cfg.Wait + 30*time.Second, Transport: tr}
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &Agent{cfg: cfg}
	t := snapshot.Trusted{}
	for id, k := range cfg.Trusted {
		t[id] = k
	}
	a.trusted.Store(&t)
	if cfg.StateDir != "" {
		if err := a.restore(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Current is the newest verified state, or nil before the first one.
func (a *Agent) Current() *State { return a.cur.Load() }

// Run syncs until ctx ends, backing off with jitter while the control plane fails.
func (a *Agent) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := a.Step(ctx)
		if err == nil {
			backoff = 100 * time.Millisecond
			continue
		}
		if ctx.Err() != nil {
			break
		}
		a.cfg.Logger.Warn("sync failed; serving the last verified state", "err", err, "retry_in", backoff)
		sleep := backoff/2 + rand.N(backoff/2+1) // jitter, so edges do not return in lockstep
		select {
		case <-ctx.Done():
		case <-time.After(sleep):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	return nil
}

// Step makes one exchange with the control plane: a full snapshot when there is no usable base,
// else one long poll for a delta.
func (a *Agent) Step(ctx context.Context) error {
	cur := a.Current()
	if cur == nil || a.rebase || a.aging(cur) {
		return a.fetchFull(ctx)
	}
	return a.pollDelta(ctx, cur)
}

// aging reports that the base has lived three quarters of its life: time to fetch a fresh one,
// which the control plane re-signs after half.
func (a *Agent) aging(s *State) bool {
	h := s.Base.Header()
	life := h.ExpiresAt - h.IssuedAt
	return a.cfg.Clock.Now().Unix() >= h.IssuedAt+life*3/4
}

func (a *Agent) fetchFull(ctx context.Context) error {
	cur := a.Current()
	etag := ""
	if cur != nil && !a.rebase && !a.aging(cur) {
		etag = a.etag
	}
	status, body, hdr, err := a.get(ctx, "/v1/snapshots/latest", etag)
	if err != nil {
		return err
	}
	if status == http.StatusNotModified {
		return nil
	}
	if status != http.StatusOK {
		return httpError(status, body)
	}
	base, err := a.open(ctx, body, false)
	if err != nil {
		return err
	}
	if err := a.accept(base.(*snapshot.Snapshot), nil, body, nil); err != nil {
		return err
	}
	a.etag, a.rebase = hdr.Get("ETag"), false
	return nil
}

func (a *Agent) pollDelta(ctx context.Context, cur *State) error {
	bh := cur.Base.Header()
	digest := cur.Base.Digest()
	q := fmt.Sprintf("/v1/snapshots/delta?base=%d&base_digest=%x&since=%d&wait=%d",
		bh.Version, digest[:], cur.Version, int(a.cfg.Wait/time.Second))
	status, body, _, err := a.get(ctx, q, "")
	if err != nil {
		return err
	}
	switch status {
	case http.StatusNotModified:
		return nil
	case http.StatusConflict:
		a.rebase = true
		return nil
	case http.StatusOK:
	default:
		return httpError(status, body)
	}
	d, err := a.open(ctx, body, true)
	if err != nil {
		return err
	}
	return a.accept(cur.Base, d.(*snapshot.Delta), nil, body)
}

// open verifies a blob's signature, learning newly endorsed signing keys once when the signer is
// unknown.
func (a *Agent) open(ctx context.Context, blob []byte, delta bool) (any, error) {
	try := func() (any, error) {
		lim := snapshot.Limits{MaxBytes: a.cfg.MaxBytes}
		if delta {
			return snapshot.OpenDelta(blob, *a.trusted.Load(), lim)
		}
		return snapshot.Open(blob, *a.trusted.Load(), lim)
	}
	v, err := try()
	if errors.Is(err, snapshot.ErrUnknownSigningKey) {
		if lerr := a.learnKeys(ctx); lerr != nil {
			return nil, errors.Join(err, lerr)
		}
		v, err = try()
	}
	return v, err
}

// accept checks a verified base (and delta) against rollback, freeze and workspace, then makes it
// current and persists it. Exactly one of baseBlob and deltaBlob is new.
func (a *Agent) accept(base *snapshot.Snapshot, d *snapshot.Delta, baseBlob, deltaBlob []byte) error {
	now := a.cfg.Clock.Now()
	h := base.Header()
	if d != nil {
		h = d.Header()
	}
	if a.cfg.Workspace != "" && h.Workspace != a.cfg.Workspace {
		return fmt.Errorf("%w: %s", ErrOtherWS, h.Workspace)
	}
	if cur := a.Current(); cur != nil && cur.Workspace() != h.Workspace {
		return fmt.Errorf("%w: %s, not %s", ErrOtherWS, h.Workspace, cur.Workspace())
	}
	if h.Version < a.highWater {
		return fmt.Errorf("%w: %d < %d", ErrRollback, h.Version, a.highWater)
	}
	if now.Unix() >= h.ExpiresAt {
		return fmt.Errorf("%w at %s", ErrExpired, time.Unix(h.ExpiresAt, 0).UTC().Format(time.RFC3339))
	}
	s := &State{Base: base, Delta: d, Version: h.Version, ExpiresAt: time.Unix(h.ExpiresAt, 0), Verified: now}
	if d != nil {
		v, err := base.Apply(d) // refuses a delta made for another base
		if err != nil {
			return err
		}
		s.view = v
	}
	if a.cfg.StateDir != "" {
		if err := a.persist(s, baseBlob, deltaBlob); err != nil {
			return err
		}
	}
	a.highWater = h.Version
	a.cur.Store(s)
	if a.cfg.OnUpdate != nil {
		a.cfg.OnUpdate(s)
	}
	return nil
}

func (a *Agent) get(ctx context.Context, path, etag string) (int, []byte, http.Header, error) {
	if a.cfg.Workspace != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "workspace_id=" + a.cfg.Workspace
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.URL+path, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.cfg.Token)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := a.cfg.HTTP.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > int64(a.cfg.MaxBytes) {
		return 0, nil, nil, fmt.Errorf("%w: %d bytes announced", ErrTooLarge, resp.ContentLength)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(a.cfg.MaxBytes)+1))
	if err != nil {
		return 0, nil, nil, err
	}
	if len(body) > a.cfg.MaxBytes {
		return 0, nil, nil, ErrTooLarge
	}
	return resp.StatusCode, body, resp.Header, nil
}

func httpError(status int, body []byte) error {
	if len(body) > 300 {
		body = body[:300]
	}
	return fmt.Errorf("agent: control plane answered %d: %s", status, strings.TrimSpace(string(body)))
}

func unix(s int64) time.Time { return time.Unix(s, 0) }
