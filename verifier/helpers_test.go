package verifier

import (
	"crypto/ed25519"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/verifier/apikey"
)

// t0 is the tests' "now": 2025-06-15.
const t0 = 1_750_000_000

// testClock is an injected clock, safe for concurrent use.
type testClock struct{ ns atomic.Int64 }

func newClock(sec int64) *testClock {
	c := &testClock{}
	c.ns.Store(sec * 1e9)
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) set(sec int64)           { c.ns.Store(sec * 1e9) }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// testSigner returns a deterministic Ed25519 signer and its trusted set.
func testSigner(seed byte) (snapshot.Signer, snapshot.Trusted) {
	var s [32]byte
	for i := range s {
		s[i] = seed + byte(i)
	}
	priv := ed25519.NewKeyFromSeed(s[:])
	return snapshot.Signer{KeyID: "test", Private: priv}, snapshot.Trusted{"test": priv.Public().(ed25519.PublicKey)}
}

// keyGen makes real keys from a seeded source.
type keyGen struct{ r io.Reader }

func newKeyGen(seed uint64) *keyGen {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return &keyGen{r: rand.NewChaCha8(s)}
}

func (g *keyGen) key(t testing.TB) string {
	k, err := apikey.Generate("kp", "live", g.r)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Test policies.
var (
	polEvents  = snapshot.Policy{Scopes: []string{"events:read", "events:write"}, Environment: "live", Type: "GENERIC"}
	polReader  = snapshot.Policy{Scopes: []string{"events:read"}, Environment: "live", Type: "GENERIC"}
	polAdmin   = snapshot.Policy{Scopes: []string{"admin:all", "events:read", "events:write"}, Environment: "live", Type: "GENERIC"}
	polIP      = snapshot.Policy{Scopes: []string{"events:read"}, Environment: "live", Type: "GENERIC", AllowedCIDRs: []string{"10.0.0.0/8", "2001:db8::/32"}}
	polHost    = snapshot.Policy{Scopes: []string{"events:read"}, Environment: "live", Type: "GENERIC", AllowedHosts: []string{"*.example.com", "api.example.org"}}
	polLimited = snapshot.Policy{Scopes: []string{"events:read"}, Environment: "live", Type: "GENERIC", RateLimit: 2, RateWindow: 10}
	polNone    = snapshot.Policy{Environment: "live", Type: "GENERIC"}
	polBusy    = snapshot.Policy{Scopes: []string{"events:read"}, Environment: "live", Type: "GENERIC", RateLimit: 1_000_000, RateWindow: 1}
)

// fixture is a real signed base snapshot, a delta on it, and the view of both.
type fixture struct {
	keys    map[string]string // name -> key
	base    *snapshot.Snapshot
	delta   *snapshot.Delta
	view    *snapshot.View
	expires int64
}

type fixtureKey struct {
	name                 string
	policy               snapshot.Policy
	notBefore, expiresAt int64
	disabled             bool
}

// newFixture builds the standard test state: base keys, then a delta that revokes "revoked",
// disables "changed", and creates "created".
func newFixture(t testing.TB) *fixture {
	t.Helper()
	g := newKeyGen(1)
	f := &fixture{keys: map[string]string{}, expires: t0 + 3600}
	baseKeys := []fixtureKey{
		{name: "events", policy: polEvents},
		{name: "reader", policy: polReader},
		{name: "admin", policy: polAdmin},
		{name: "none", policy: polNone},
		{name: "disabled", policy: polEvents, disabled: true},
		{name: "notyet", policy: polEvents, notBefore: t0 + 100},
		{name: "expired", policy: polEvents, expiresAt: t0 - 1},
		{name: "expiring", policy: polEvents, expiresAt: t0 + 100},
		{name: "ip", policy: polIP},
		{name: "host", policy: polHost},
		{name: "limited", policy: polLimited},
		{name: "limited2", policy: polLimited},
		{name: "busy", policy: polBusy},
		{name: "revoked", policy: polEvents},
		{name: "changed", policy: polEvents},
	}
	var sk []snapshot.Key
	for _, k := range baseKeys {
		f.keys[k.name] = g.key(t)
		sk = append(sk, snapshot.Key{Hash: apikey.Hash(f.keys[k.name]), Policy: k.policy,
			NotBefore: k.notBefore, ExpiresAt: k.expiresAt, Disabled: k.disabled})
	}
	signer, trusted := testSigner(7)
	blob, err := snapshot.BuildFull(snapshot.Header{Workspace: "ws_test", Version: 1, IssuedAt: t0 - 60, ExpiresAt: f.expires}, sk, signer)
	if err != nil {
		t.Fatal(err)
	}
	if f.base, err = snapshot.Open(blob, trusted, snapshot.Limits{}); err != nil {
		t.Fatal(err)
	}
	f.keys["created"] = g.key(t)
	f.keys["unknown"] = g.key(t)
	upserts := []snapshot.Key{
		{Hash: apikey.Hash(f.keys["created"]), Policy: polReader},
		{Hash: apikey.Hash(f.keys["changed"]), Policy: polEvents, Disabled: true},
	}
	dblob, err := snapshot.BuildDelta(snapshot.Header{Workspace: "ws_test", Version: 2, IssuedAt: t0 - 30, ExpiresAt: f.expires},
		f.base, upserts, [][32]byte{apikey.Hash(f.keys["revoked"])}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if f.delta, err = snapshot.OpenDelta(dblob, trusted, snapshot.Limits{}); err != nil {
		t.Fatal(err)
	}
	if f.view, err = f.base.Apply(f.delta); err != nil {
		t.Fatal(err)
	}
	return f
}

const testConfigJSON = `{
	"key_header": "authorization",
	"routes": [
		{"method": "POST", "path": "/events", "scopes": ["events:write"]},
		{"path": "/events", "scopes": ["events:read"]},
		{"path": "/admin/", "scopes": ["admin:all"]},
		{"path": "/", "scopes": []}
	],
	"failure_mode": "closed",
	"max_staleness_seconds": 300,
	"strip_key": true
}`

func newTestVerifier(t testing.TB, doc string, clock Clock) *Verifier {
	t.Helper()
	cfg, err := ParseConfig([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(cfg, WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var (
	ipInside  = netip.MustParseAddr("10.1.2.3")
	ipOutside = netip.MustParseAddr("192.0.2.7")
)

// get is a plain request for key.
func get(key string) *Request {
	return &Request{Method: "GET", Path: "/", Host: "api.example.com", ClientIP: ipOutside, Key: key}
}

// flipChecksum returns key with its secret changed but still base62: the checksum no longer matches.
func flipChecksum(key string) string {
	b := []byte(key)
	i := len(b) - apikey.ChecksumLen - 1
	if b[i] == 'a' {
		b[i] = 'b'
	} else {
		b[i] = 'a'
	}
	return string(b)
}

// lookupOnly is a Lookuper that is neither a View nor a Snapshot.
type lookupOnly struct{ s *snapshot.Snapshot }

func (l lookupOnly) Lookup(h *[32]byte) (snapshot.Entry, bool) { return l.s.Lookup(h) }
func (l lookupOnly) Header() snapshot.Header                   { return l.s.Header() }

// staticSource is a Source with a fixed state.
type staticSource struct {
	l Lookuper
	f Freshness
}

func (s staticSource) Current() (Lookuper, Freshness) { return s.l, s.f }

// noExpiry returns a snapshot of the "events" key of a fixture, built without an expiry.
func noExpiry(t testing.TB) *snapshot.Snapshot {
	t.Helper()
	f := newFixture(t)
	signer, trusted := testSigner(7)
	blob, err := snapshot.BuildFull(snapshot.Header{Workspace: "ws_test", Version: 1},
		[]snapshot.Key{{Hash: apikey.Hash(f.keys["events"]), Policy: polEvents}}, signer)
	if err != nil {
		t.Fatal(err)
	}
	s, err := snapshot.Open(blob, trusted, snapshot.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
