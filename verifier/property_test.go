package verifier

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/verifier/apikey"
)

// keyState is what a random key looks like to the snapshot builders.
type keyState struct {
	key                  string
	inBase, revoked      bool
	inDelta              bool // upserted by the delta (created or changed)
	notBefore, expiresAt int64
	disabled             bool
}

func randomTimes(rng *rand.Rand) (nb, exp int64, dis bool) {
	if rng.IntN(3) == 0 {
		nb = t0 + rng.Int64N(400) - 200
	}
	if rng.IntN(3) == 0 {
		exp = t0 + rng.Int64N(400) - 200
	}
	return nb, exp, rng.IntN(4) == 0
}

// TestNoRevokedExpiredOrDisabledKeyIsAllowed builds random snapshots and deltas of random key states
// and checks, at random times, that Check allows exactly the keys that are present, not revoked,
// not disabled, not expired and past their not-before time, and gives the right reason otherwise.
func TestNoRevokedExpiredOrDisabledKeyIsAllowed(t *testing.T) {
	signer, trusted := testSigner(9)
	rounds := 60
	if testing.Short() {
		rounds = 15
	}
	for seed := uint64(0); seed < uint64(rounds); seed++ {
		rng := rand.New(rand.NewPCG(seed, 42))
		g := newKeyGen(seed + 100)
		n := 5 + rng.IntN(40)
		states := make([]keyState, n)
		var base []snapshot.Key
		for i := range states {
			s := &states[i]
			s.key = g.key(t)
			switch rng.IntN(5) {
			case 0: // never issued
			case 1: // created after the base
				s.inDelta = true
			default:
				s.inBase = true
			}
			if s.inBase || s.inDelta {
				s.notBefore, s.expiresAt, s.disabled = randomTimes(rng)
			}
			if s.inBase {
				base = append(base, snapshot.Key{Hash: apikey.Hash(s.key), Policy: polEvents, NotBefore: s.notBefore, ExpiresAt: s.expiresAt, Disabled: s.disabled})
			}
		}
		blob, err := snapshot.BuildFull(snapshot.Header{Workspace: "ws", Version: 1, ExpiresAt: t0 + 1e6}, base, signer)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := snapshot.Open(blob, trusted, snapshot.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		// The delta revokes some base keys and changes others.
		var upserts []snapshot.Key
		var revoked [][32]byte
		for i := range states {
			s := &states[i]
			switch {
			case s.inBase && rng.IntN(4) == 0:
				s.revoked = true
				revoked = append(revoked, apikey.Hash(s.key))
			case s.inBase && rng.IntN(4) == 0:
				s.inDelta = true
				s.notBefore, s.expiresAt, s.disabled = randomTimes(rng)
			}
			if s.inDelta {
				upserts = append(upserts, snapshot.Key{Hash: apikey.Hash(s.key), Policy: polReader, NotBefore: s.notBefore, ExpiresAt: s.expiresAt, Disabled: s.disabled})
			}
		}
		dblob, err := snapshot.BuildDelta(snapshot.Header{Workspace: "ws", Version: 2, ExpiresAt: t0 + 1e6}, snap, upserts, revoked, signer)
		if err != nil {
			t.Fatal(err)
		}
		delta, err := snapshot.OpenDelta(dblob, trusted, snapshot.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		view, err := snap.Apply(delta)
		if err != nil {
			t.Fatal(err)
		}
		clock := newClock(t0)
		v := newTestVerifier(t, `{"failure_mode":"static"}`, clock)
		for trial := 0; trial < 20; trial++ {
			now := t0 + rng.Int64N(500) - 250
			clock.set(now)
			for _, s := range states {
				d := v.Check(get(s.key), view, Freshness{})
				want := ReasonAllowed
				switch {
				case !s.inBase && !s.inDelta, s.revoked:
					want = ReasonUnknownKey
				case s.expiresAt != 0 && now >= s.expiresAt:
					want = ReasonExpiredKey
				case s.disabled:
					want = ReasonDisabledKey
				case s.notBefore != 0 && now < s.notBefore:
					want = ReasonNotYetValid
				}
				if d.Reason != want || d.Allowed != (want == ReasonAllowed) {
					t.Fatalf("seed %d now %+d: key %+v: got %v, want %v", seed, now-t0, s, d.Reason, want)
				}
			}
		}
	}
}

// FuzzCheck throws arbitrary keys and request attributes at a small snapshot: Check must never
// panic and never allow a key that the snapshot does not hold as usable.
func FuzzCheck(f *testing.F) {
	fx := newFixture(f)
	usable := map[string]bool{}
	for _, name := range []string{"events", "reader", "admin", "none", "expiring", "ip", "host", "limited", "limited2", "busy", "created"} {
		usable[fx.keys[name]] = true
	}
	for _, k := range fx.keys {
		f.Add(k, "GET", "/events", "a.example.com", "", []byte{10, 0, 0, 1})
	}
	f.Add("kp_live_", "POST", "/../admin", "", "null", []byte{})
	f.Add(flipChecksum(fx.keys["events"]), "HEAD", "//x", "[::1]:80", "https://x", []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	clock := newClock(t0)
	v := newTestVerifier(f, testConfigJSON, clock)
	f.Fuzz(func(t *testing.T, key, method, path, host, origin string, ip []byte) {
		req := &Request{Method: method, Path: path, Host: host, Origin: origin, Referer: origin, Key: key}
		if len(ip) == 4 || len(ip) == 16 {
			req.ClientIP, _ = netip.AddrFromSlice(ip)
		}
		for _, state := range []Lookuper{fx.view, fx.base} {
			d := v.Check(req, state, Freshness{})
			if d.Allowed && !usable[key] && !(state == Lookuper(fx.base) && (key == fx.keys["revoked"] || key == fx.keys["changed"])) {
				t.Fatalf("allowed key %q not in the snapshot (%v)", key, d.Reason)
			}
			if !d.Allowed && (d.Status < 400 || d.Body == "") {
				t.Fatalf("deny without an answer: %+v", d)
			}
		}
	})
}
