package snapshot

import (
	"crypto/sha256"
	"math/rand/v2"
	"runtime"
	"testing"
)

// Benchmark sizes. Select with -bench, e.g. -bench 'keys=(10K|100K)$' or
// -bench '/keys=100K'.
var benchSizes = []struct {
	name string
	n    int
}{
	{"keys=10K", 10_000},
	{"keys=100K", 100_000},
	{"keys=1M", 1_000_000},
}

const (
	benchPolicies    = 20 // distinct policies
	benchExtrasEvery = 20 // 5% of keys have expiry/not-before/disabled
)

type benchFixture struct {
	keys  []Key
	blob  []byte
	snap  *Snapshot
	hits  [][32]byte // random existing hashes, random order
	miss  [][32]byte
	sig   Signer
	trust Trusted
}

var fixtures = map[int]*benchFixture{}

func fixture(b *testing.B, n int) *benchFixture {
	if f := fixtures[n]; f != nil {
		return f
	}
	b.StopTimer()
	defer b.StartTimer()
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	f := &benchFixture{keys: genKeys(rng, n, benchPolicies, benchExtrasEvery)}
	f.sig, f.trust = testSigner("bench", 1)
	f.blob = mustBuild(b, testHeader(1), f.keys, f.sig)
	f.snap = mustOpen(b, f.blob, f.trust)
	const q = 1 << 16
	f.hits = make([][32]byte, q)
	f.miss = make([][32]byte, q)
	for i := range f.hits {
		f.hits[i] = f.keys[rng.IntN(n)].Hash
		f.miss[i] = randHash(rng)
	}
	fixtures[n] = f
	return f
}

func BenchmarkBuildFull(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			f := fixture(b, sz.n)
			var blob []byte
			for b.Loop() {
				var err error
				if blob, err = BuildFull(testHeader(1), f.keys, f.sig); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(blob))/float64(sz.n), "wire-B/key")
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			f := fixture(b, sz.n)
			// Resident bytes: the blob plus whatever Open allocates and keeps.
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			s, err := Open(f.blob, f.trust, Limits{})
			if err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			runtime.ReadMemStats(&m1)
			kept := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
			runtime.KeepAlive(s)
			for b.Loop() {
				if _, err := Open(f.blob, f.trust, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(int64(len(f.blob))+max(kept, 0))/float64(sz.n), "resident-B/key")
			b.ReportMetric(float64(len(f.blob))/float64(sz.n), "wire-B/key")
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	b.Run("sha256-of-key", func(b *testing.B) {
		// Baseline: one SHA-256 of a 60-character key, which the edge computes anyway.
		key := []byte("kp_live_4f9QxZ1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZ01234567ab")
		var sink [32]byte
		for b.Loop() {
			sink = sha256.Sum256(key)
		}
		_ = sink
	})
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			f := fixture(b, sz.n)
			view := benchView(b, f)
			cases := []struct {
				name string
				qs   [][32]byte
				fn   func(h *[32]byte) bool
			}{
				{"hit", f.hits, func(h *[32]byte) bool { _, ok := f.snap.Lookup(h); return ok }},
				{"miss", f.miss, func(h *[32]byte) bool { _, ok := f.snap.Lookup(h); return ok }},
				{"view-hit", f.hits, func(h *[32]byte) bool { _, ok := view.Lookup(h); return ok }},
				{"view-miss", f.miss, func(h *[32]byte) bool { _, ok := view.Lookup(h); return ok }},
			}
			for _, c := range cases {
				b.Run(c.name, func(b *testing.B) {
					found := 0
					i := 0
					b.ReportAllocs()
					for b.Loop() {
						if c.fn(&c.qs[i&(len(c.qs)-1)]) {
							found++
						}
						i++
					}
					if c.name == "hit" && found != i {
						b.Fatalf("%d of %d hits found", found, i)
					}
					if (c.name == "miss" || c.name == "view-miss") && found != 0 {
						b.Fatal("miss found")
					}
				})
			}
		})
	}
}

// benchView applies a delta revoking 1% of the keys and upserting 1%.
func benchView(b *testing.B, f *benchFixture) *View {
	b.StopTimer()
	defer b.StartTimer()
	rng := rand.New(rand.NewPCG(7, uint64(len(f.keys))))
	ups, rev := deltaInput(rng, f.keys, len(f.keys)/100, len(f.keys)/100)
	v, err := f.snap.Apply(mustDelta(b, testHeader(2), f.snap, ups, rev, f.sig, f.trust))
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// deltaInput picks nrev keys to revoke and nup upserts (half new keys, half
// changed existing ones).
func deltaInput(rng *rand.Rand, keys []Key, nup, nrev int) ([]Key, [][32]byte) {
	perm := rng.Perm(len(keys))
	rev := make([][32]byte, nrev)
	for i := range rev {
		rev[i] = keys[perm[i]].Hash
	}
	ups := genKeys(rng, nup/2, benchPolicies, benchExtrasEvery)
	for _, i := range perm[nrev : nrev+nup-nup/2] {
		k := keys[i]
		k.Policy = testPolicies[4]
		k.ExpiresAt = 2_000_000_000
		ups = append(ups, k)
	}
	return ups, rev
}

func BenchmarkBuildDelta(b *testing.B) {
	for _, sz := range benchSizes {
		for _, pct := range []int{1, 10} {
			b.Run(sz.name+"/rev="+itoa(pct)+"pct", func(b *testing.B) {
				f := fixture(b, sz.n)
				rng := rand.New(rand.NewPCG(9, uint64(sz.n)))
				nrev := sz.n * pct / 100
				nup := sz.n / 100
				ups, rev := deltaInput(rng, f.keys, nup, nrev)
				var db []byte
				for b.Loop() {
					var err error
					if db, err = BuildDelta(testHeader(2), f.snap, ups, rev, f.sig); err != nil {
						b.Fatal(err)
					}
				}
				d, err := OpenDelta(db, f.trust, Limits{})
				if err != nil {
					b.Fatal(err)
				}
				casc := uint64(8)
				for _, l := range d.casc.levels {
					casc += 8 + 8*uint64(len(l.words))
				}
				b.ReportMetric(float64(casc)/float64(nrev), "filter-B/revoked")
				b.ReportMetric(float64(len(db))/float64(nup+nrev), "delta-B/change")
				b.ReportMetric(float64(len(d.casc.levels)), "levels")
			})
		}
	}
}
