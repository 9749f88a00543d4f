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

	"github.com/keyplane/keyplane/internal/hugepage"
	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/sync/state"
)

// Errors for blobs the agent refuses; they match with errors.Is. The rules themselves live in
// package sync/state, shared with the wasm modules.
var (
	ErrRollback = state.ErrRollback
	ErrExpired  = state.ErrExpired
	ErrOtherWS  = state.ErrOtherWS
	ErrTooLarge = errors.New("agent: response exceeds the size cap")
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

// State is the agent's verified state (package sync/state).
type State = state.State

// Agent syncs one workspace.
type Agent struct {
	cfg     Config
	cur     atomic.Pointer[State]
	trusted atomic.Pointer[snapshot.Trusted]
	rules   state.Rules // the high-water mark lives here
	rebase  bool
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
	a := &Agent{cfg: cfg, rules: state.Rules{Workspace: cfg.Workspace}}
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
	status, body, err := a.get(ctx, "/v1/snapshots/latest")
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return httpError(status, body)
	}
	base, err := a.open(ctx, body, false)
	if err != nil {
		return err
	}
	next, err := a.rules.WithBase(a.Current(), base.(*snapshot.Snapshot), a.cfg.Clock.Now().Unix())
	if err != nil {
		return err
	}
	if err := a.accept(next, body, nil); err != nil {
		return err
	}
	a.rebase = false
	return nil
}

func (a *Agent) pollDelta(ctx context.Context, cur *State) error {
	status, body, err := a.get(ctx, "/v1/snapshots/delta?"+cur.DeltaQuery(int(a.cfg.Wait/time.Second)))
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
	next, err := a.rules.WithDelta(cur, d.(*snapshot.Delta), a.cfg.Clock.Now().Unix())
	if err != nil {
		return err
	}
	return a.accept(next, nil, body)
}

// open verifies a blob's signature, learning newly endorsed signing keys once when the signer is
// unknown. A large blob is opened from a copy on huge pages (package hugepage): verifiers look up
// keys in it in place, one random read per request.
func (a *Agent) open(ctx context.Context, blob []byte, delta bool) (any, error) {
	try := func() (any, error) {
		lim := snapshot.Limits{MaxBytes: a.cfg.MaxBytes}
		if delta {
			return hugepage.Load(blob, func(b []byte) (*snapshot.Delta, error) { return snapshot.OpenDelta(b, *a.trusted.Load(), lim) })
		}
		return hugepage.Load(blob, func(b []byte) (*snapshot.Snapshot, error) { return snapshot.Open(b, *a.trusted.Load(), lim) })
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

// accept persists a state the rules let through and makes it current. Exactly one of baseBlob
// and deltaBlob is new.
func (a *Agent) accept(s *State, baseBlob, deltaBlob []byte) error {
	if a.cfg.StateDir != "" {
		if err := a.persist(s, baseBlob, deltaBlob); err != nil {
			return err
		}
	}
	a.cur.Store(s)
	if a.cfg.OnUpdate != nil {
		a.cfg.OnUpdate(s)
	}
	return nil
}

func (a *Agent) get(ctx context.Context, path string) (int, []byte, error) {
	if a.cfg.Workspace != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "workspace_id=" + a.cfg.Workspace
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.URL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.cfg.Token)
	resp, err := a.cfg.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > int64(a.cfg.MaxBytes) {
		return 0, nil, fmt.Errorf("%w: %d bytes announced", ErrTooLarge, resp.ContentLength)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(a.cfg.MaxBytes)+1))
	if err != nil {
		return 0, nil, err
	}
	if len(body) > a.cfg.MaxBytes {
		return 0, nil, ErrTooLarge
	}
	return resp.StatusCode, body, nil
}

func httpError(status int, body []byte) error {
	if len(body) > 300 {
		body = body[:300]
	}
	return fmt.Errorf("agent: control plane answered %d: %s", status, strings.TrimSpace(string(body)))
}
