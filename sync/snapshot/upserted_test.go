package snapshot

import (
	"math/rand/v2"
	"testing"
)

// The filter in front of a delta's key table never hides an upserted key, and lets few others
// through.
func TestUpsertedFilter(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	sig, trust := testSigner("k", 7)
	for _, n := range []int{0, 1, 7, 1000, 20000} {
		keys := genKeys(rng, 2000, 3, 10)
		base := mustOpen(t, mustBuild(t, testHeader(1), keys, sig), trust)
		ups := genKeys(rng, n, 3, 10)
		d := mustDelta(t, testHeader(2), base, ups, nil, sig, trust)
		for i := range ups {
			if !d.upserted.mayHold(&ups[i].Hash) {
				t.Fatalf("n=%d: upserted key %d filtered out", n, i)
			}
		}
		through := 0
		const probes = 20000
		for i := 0; i < probes; i++ {
			h := randHash(rng)
			if d.upserted.mayHold(&h) {
				through++
			}
		}
		if n == 0 && through != 0 {
			t.Fatalf("an empty delta let %d keys through", through)
		}
		if rate := float64(through) / probes; rate > 0.03 {
			t.Fatalf("n=%d: %.1f%% of other keys pass the filter", n, 100*rate)
		}
	}
}
