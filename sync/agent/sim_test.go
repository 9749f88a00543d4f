package agent

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/sync/trust"
)

// repo simulates a control plane's snapshot endpoints, serving whatever blobs a test makes, in
// the style of go-tuf's simulated repository: each attack is a blob the test puts here.
type repo struct {
	t       *testing.T
	mu      sync.Mutex
	full    []byte
	delta   []byte // served to any delta request when set
	rebase  bool   // answer delta requests with 409
	doc     trust.Document
	srv     *httptest.Server
	fetches int
}

func newRepo(t *testing.T) *repo {
	r := &repo{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *repo) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch req.URL.Path {
	case "/v1/snapshots/latest":
		r.fetches++
		w.Write(r.full)
	case "/v1/snapshots/delta":
		switch {
		case r.rebase:
			w.WriteHeader(http.StatusConflict)
		case r.delta == nil:
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Write(r.delta)
		}
	case "/v1/signing-keys":
		json.NewEncoder(w).Encode(r.doc)
	default:
		http.NotFound(w, req)
	}
}

func (r *repo) set(full, delta []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.full, r.delta = full, delta
}

// signer is a signing key with its place in the trust chain.
type signer struct {
	s   snapshot.Signer
	doc trust.SigningKey
}

func newSigner(seed byte, endorser *signer) *signer {
	var sd [32]byte
	sd[0] = seed
	priv := ed25519.NewKeyFromSeed(sd[:])
	pub := priv.Public().(ed25519.PublicKey)
	id := trust.KeyID(pub)
	k := trust.SigningKey{ID: id, PublicKey: pub}
	if endorser != nil {
		k.EndorsedBy = endorser.doc.ID
		k.Endorsement = ed25519.Sign(endorser.s.Private, trust.EndorsementMessage(id, pub))
	}
	return &signer{s: snapshot.Signer{KeyID: id, Private: priv}, doc: k}
}

func (s *signer) trusted() snapshot.Trusted {
	return snapshot.Trusted{s.doc.ID: ed25519.PublicKey(s.doc.PublicKey)}
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func hashOf(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// fullBlob builds a full snapshot of the named keys at version v, valid for a day from issued.
func fullBlob(t *testing.T, s *signer, v uint64, issued time.Time, keys ...string) []byte {
	t.Helper()
	var ks []snapshot.Key
	for _, k := range keys {
		ks = append(ks, snapshot.Key{Hash: hashOf(k), Policy: snapshot.Policy{Environment: "live", Type: "GENERIC"}})
	}
	b, err := snapshot.BuildFull(snapshot.Header{Workspace: "ws_1", Version: v, IssuedAt: issued.Unix(),
		ExpiresAt: issued.Add(24 * time.Hour).Unix(), KeyID: s.s.KeyID}, ks, s.s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deltaBlob builds a delta on base revoking the named keys.
func deltaBlob(t *testing.T, s *signer, base []byte, v uint64, issued time.Time, revoke ...string) []byte {
	t.Helper()
	b, err := snapshot.Open(base, s.trusted(), snapshot.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var rev [][32]byte
	for _, k := range revoke {
		rev = append(rev, hashOf(k))
	}
	out, err := snapshot.BuildDelta(snapshot.Header{Workspace: "ws_1", Version: v, IssuedAt: issued.Unix(),
		ExpiresAt: issued.Add(24 * time.Hour).Unix(), KeyID: s.s.KeyID}, b, nil, rev, s.s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newAgent(t *testing.T, r *repo, c *clock, trusted snapshot.Trusted, dir string) *Agent {
	t.Helper()
	a, err := New(Config{URL: r.srv.URL, Token: "kp_test", Trusted: trusted, StateDir: dir, Wait: time.Second,
		Clock: c, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func found(s *State, key string) bool {
	h := hashOf(key)
	_, ok := s.Lookup(&h)
	return ok
}
