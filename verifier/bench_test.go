package verifier

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/keyplane/keyplane/internal/hugepage"
	"github.com/keyplane/keyplane/internal/turns"
	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/verifier/apikey"
)

// benchPolicies are what benchmark keys carry: scopes for the route table and, for some, a rate
// limit (high enough never to deny) so the limiter's table is on the path.
var benchPolicies = []snapshot.Policy{
	{Scopes: []string{"events:read", "events:write"}, Environment: "live", Type: "GENERIC"},
	{Scopes: []string{"events:read", "events:write"}, Environment: "live", Type: "GENERIC", RateLimit: 1 << 30, RateWindow: 1},
	{Scopes: []string{"admin:all", "events:read", "events:write"}, Environment: "live", Type: "ONBOARDING", AllowedCIDRs: []string{"10.0.0.0/8"}},
}

type benchState struct {
	view *snapshot.View
	keys []string // real keys held by the view
}

// newBenchState builds a full snapshot of n keys (most with random hashes, up to 32768 real
// ones that the benchmark presents) and a delta that revokes 1% of the random ones and upserts 1%.
func newBenchState(b *testing.B, n int) *benchState {
	b.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	real := min(n/2, 32768)
	g := newKeyGen(uint64(n))
	st := &benchState{keys: make([]string, real)}
	keys := make([]snapshot.Key, n)
	for i := range keys {
		k := &keys[i]
		if i < real {
			st.keys[i] = g.key(b)
			k.Hash = apikey.Hash(st.keys[i])
		} else {
			for j := 0; j < 4; j++ {
				binary.LittleEndian.PutUint64(k.Hash[j*8:], rng.Uint64())
			}
		}
		k.Policy = benchPolicies[i%len(benchPolicies)]
		if i%20 == 19 {
			k.ExpiresAt = time.Now().Unix() + 1e8 // 5% of keys have extras
		}
	}
	signer, trusted := testSigner(3)
	expires := time.Now().Unix() + 86400
	blob, err := snapshot.BuildFull(snapshot.Header{Workspace: "ws_bench", Version: 1, ExpiresAt: expires}, keys, signer)
	if err != nil {
		b.Fatal(err)
	}
	// As the sync agent does with every large blob it opens (package hugepage).
	snap, err := hugepage.Load(blob, func(b []byte) (*snapshot.Snapshot, error) { return snapshot.Open(b, trusted, snapshot.Limits{}) })
	if err != nil {
		b.Fatal(err)
	}
	var revoked [][32]byte
	var upserts []snapshot.Key
	for i := real; i < n; i++ {
		switch i % 100 {
		case 0:
			revoked = append(revoked, keys[i].Hash)
		case 1:
			u := keys[i]
			u.Disabled = true
			upserts = append(upserts, u)
		}
	}
	dblob, err := snapshot.BuildDelta(snapshot.Header{Workspace: "ws_bench", Version: 2, ExpiresAt: expires}, snap, upserts, revoked, signer)
	if err != nil {
		b.Fatal(err)
	}
	delta, err := snapshot.OpenDelta(dblob, trusted, snapshot.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	if st.view, err = snap.Apply(delta); err != nil {
		b.Fatal(err)
	}
	return st
}

var sinkHash [32]byte

// BenchmarkVerify measures one whole decision for an allowed key (format, SHA-256, lookup in a
// view, expiry, restrictions, route scopes, rate limit, identity) against a view of 1K, 100K and
// 1M keys, next to one SHA-256 of the same keys, so that the ratio reads side by side.
func BenchmarkVerify(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"1K", 1_000}, {"100K", 100_000}, {"1M", 1_000_000}} {
		b.Run("keys="+size.name, func(b *testing.B) {
			st := newBenchState(b, size.n)
			l := newBenchLoad(b, st)
			check := func(i int) Decision { return l.check(st.view, i) }
			sha := l.sha
			b.Run("verify", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if d := check(i); !d.Allowed {
						b.Fatal(d.Reason)
					}
				}
			})
			b.Run("sha256", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					sha(i)
				}
			})
			// paired: the two above in turns of 1024 calls (package turns), so that the ratio
			// compares them at the same machine speed.
			b.Run("paired", func(b *testing.B) {
				t := turns.Run(b, 1024, func(i int) {
					if d := check(i); !d.Allowed {
						b.Fatal(d.Reason)
					}
				}, sha)
				b.ReportMetric(t[0], "verify-ns/op")
				b.ReportMetric(t[1], "sha256-ns/op")
				b.ReportMetric(t[0]/t[1], "x-sha256")
			})
		})
	}
}

// benchLoad presents a benchState's keys to a verifier as BenchmarkVerify does: the keys packed in
// one string read in order, as an edge reads each key from the request it just received (the
// snapshot's lookups are random; the key itself is not a cache miss the verifier could avoid), with
// four methods and paths in turn.
type benchLoad struct {
	v      *Verifier
	all    string
	keyLen int
	n      int // number of keys, kept: key(i) would otherwise divide in the timed loop
	req    Request
}

func newBenchLoad(b *testing.B, st *benchState) *benchLoad {
	cfg, err := ParseConfig([]byte(testConfigJSON))
	if err != nil {
		b.Fatal(err)
	}
	v, err := New(cfg) // the system clock, as in production
	if err != nil {
		b.Fatal(err)
	}
	l := &benchLoad{v: v, all: strings.Join(st.keys, ""), keyLen: len(st.keys[0]), n: len(st.keys),
		req: Request{Host: "api.example.com", ClientIP: netip.AddrFrom4([4]byte{10, 1, 2, 3})}}
	for i := range st.keys { // warm the policy cache and the rate-limit table
		if d := l.check(st.view, i); !d.Allowed {
			b.Fatalf("key %d: %v", i, d.Reason)
		}
	}
	return l
}

func (l *benchLoad) key(i int) string {
	i %= l.n
	return l.all[i*l.keyLen : (i+1)*l.keyLen]
}

var (
	benchMethods = [4]string{"GET", "POST", "GET", "DELETE"}
	benchPaths   = [4]string{"/events/1", "/events", "/status", "/events?x=1"}
)

func (l *benchLoad) check(view *snapshot.View, i int) Decision {
	l.req.Method, l.req.Path, l.req.Key = benchMethods[i%4], benchPaths[i%4], l.key(i)
	return l.v.Check(&l.req, view, Freshness{})
}

// sha is the baseline: one SHA-256 of the key, hashed in place as the verifier does (hashKey).
func (l *benchLoad) sha(i int) {
	k := l.key(i)
	sinkHash = sha256.Sum256(unsafe.Slice(unsafe.StringData(k), len(k)))
}

// BenchmarkHugePages compares, in turns in one process, decisions at 1M keys against the same
// view opened as the sync agent opens it (a copy on huge pages, package hugepage) and from plain
// heap memory, each against one SHA-256 of the same keys (docs/RATIONALE.md).
func BenchmarkHugePages(b *testing.B) {
	st := newBenchState(b, 1_000_000) // through hugepage.Load
	_, trusted := testSigner(3)
	base, err := snapshot.Open(bytes.Clone(st.view.Base().Bytes()), trusted, snapshot.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	delta, err := snapshot.OpenDelta(bytes.Clone(st.view.Delta().Bytes()), trusted, snapshot.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	plain, err := base.Apply(delta)
	if err != nil {
		b.Fatal(err)
	}
	l := newBenchLoad(b, st)
	on := func(view *snapshot.View) func(int) {
		return func(i int) {
			if d := l.check(view, i); !d.Allowed {
				b.Fatal(d.Reason)
			}
		}
	}
	t := turns.Run(b, 1024, on(st.view), on(plain), l.sha)
	b.ReportMetric(t[0]/t[2], "huge-x-sha256")
	b.ReportMetric(t[1]/t[2], "plain-x-sha256")
}
