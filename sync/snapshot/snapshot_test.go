package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bits-and-blooms/bloom/v3"
)

func testHeader(v uint64) Header {
	return Header{Workspace: "ws_acme", Version: v, IssuedAt: 1_750_000_000, ExpiresAt: 1_750_086_400}
}

func mustBuild(t testing.TB, h Header, keys []Key, s Signer) []byte {
	t.Helper()
	b, err := BuildFull(h, keys, s)
	if err != nil {
		t.Fatalf("BuildFull: %v", err)
	}
	return b
}

func mustOpen(t testing.TB, blob []byte, tr Trusted) *Snapshot {
	t.Helper()
	s, err := Open(blob, tr, Limits{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// mustDelta builds and opens a delta on base.
func mustDelta(t testing.TB, h Header, base *Snapshot, ups []Key, rev [][32]byte, s Signer, tr Trusted) *Delta {
	t.Helper()
	blob, err := BuildDelta(h, base, ups, rev, s)
	if err != nil {
		t.Fatalf("BuildDelta: %v", err)
	}
	d, err := OpenDelta(blob, tr, Limits{})
	if err != nil {
		t.Fatalf("OpenDelta: %v", err)
	}
	return d
}

func checkEntry(t *testing.T, got Entry, k *Key) {
	t.Helper()
	if got.Policy == nil || !policyEqual(*got.Policy, k.Policy) {
		t.Fatalf("policy: got %+v want %+v", got.Policy, k.Policy)
	}
	if got.NotBefore != k.NotBefore || got.ExpiresAt != k.ExpiresAt || got.Disabled != k.Disabled {
		t.Fatalf("extras: got nb=%d exp=%d dis=%v want nb=%d exp=%d dis=%v",
			got.NotBefore, got.ExpiresAt, got.Disabled, k.NotBefore, k.ExpiresAt, k.Disabled)
	}
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	signer, trusted := testSigner("sig-2025-01", 7)
	allFields := Key{
		Policy: Policy{
			Scopes:       []string{"events:write", "billing:read", "events:write"}, // unsorted, duplicate
			Environment:  "live",
			Type:         "AWS",
			AllowedCIDRs: []string{"2001:db8::/32", "10.0.0.0/8"},
			AllowedHosts: []string{"*.example.com", "api.example.org"},
			RateLimit:    4294967295,
			RateWindow:   86400,
		},
		NotBefore: -1,
		ExpiresAt: 9_000_000_000,
		Disabled:  true,
	}
	allFields.Hash = randHash(rng)
	cases := []struct {
		name  string
		hdr   Header
		keys  []Key
		wantW int
	}{
		{"empty", testHeader(1), nil, 1},
		{"one key every field", Header{Workspace: "w", Version: 1 << 62, IssuedAt: -3, ExpiresAt: 1<<63 - 1, KeyID: "sig-2025-01"}, []Key{allFields}, 1},
		{"two keys", testHeader(2), genKeys(rng, 2, 2, 1), 1},
		{"hundred keys some extras", testHeader(3), genKeys(rng, 100, 5, 7), 1},
		{"3000 keys", testHeader(4), genKeys(rng, 3000, 5, 20), 1},
		{"128 policies (1-byte refs)", testHeader(5), genKeys(rng, 500, 128, 0), 1},
		{"129 policies (2-byte refs)", testHeader(6), genKeys(rng, 500, 129, 3), 2},
		{"32769 policies (4-byte refs)", testHeader(7), genKeys(rng, 32769, 32769, 5), 4},
		{"empty workspace", Header{Version: 9}, genKeys(rng, 10, 1, 0), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			blob := mustBuild(t, tc.hdr, tc.keys, signer)
			s := mustOpen(t, blob, trusted)
			h := s.Header()
			want := tc.hdr
			want.KeyID = signer.KeyID
			if h != want {
				t.Fatalf("header: got %+v want %+v", h, want)
			}
			if s.Len() != len(tc.keys) {
				t.Fatalf("Len = %d want %d", s.Len(), len(tc.keys))
			}
			if s.Digest() != sha256.Sum256(blob) {
				t.Fatal("digest is not SHA-256 of the blob")
			}
			if s.t.w != tc.wantW {
				t.Fatalf("ref width %d want %d", s.t.w, tc.wantW)
			}
			if s.Size() != len(blob) || !bytes.Equal(s.Bytes(), blob) {
				t.Fatal("Size/Bytes")
			}
			for i := range tc.keys {
				e, ok := s.Lookup(&tc.keys[i].Hash)
				if !ok {
					t.Fatalf("key %d not found", i)
				}
				checkEntry(t, e, &tc.keys[i])
				if s.Policy(int(e.PolicyIndex)) != e.Policy || e.FromDelta {
					t.Fatal("PolicyIndex/FromDelta")
				}
			}
			for i := 0; i < 200; i++ {
				h := randHash(rng)
				if _, ok := s.Lookup(&h); ok {
					t.Fatal("absent hash found")
				}
			}
			if s.Policy(-1) != nil || s.Policy(s.NumPolicies()) != nil {
				t.Fatal("Policy out of range")
			}
		})
	}
}

func TestLookupComparesLookupHashOnly(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	signer, trusted := testSigner("k", 1)
	keys := genKeys(rng, 1000, 3, 0)
	s := mustOpen(t, mustBuild(t, testHeader(1), keys, signer), trusted)
	cases := []struct {
		name  string
		mut   func(h *[32]byte)
		found bool
	}{
		{"same", func(h *[32]byte) {}, true},
		{"second half differs (id half, not on the wire)", func(h *[32]byte) { h[31] ^= 1; h[16] ^= 0x80 }, true},
		{"byte 15 differs", func(h *[32]byte) { h[15] ^= 1 }, false},
		{"byte 8 differs", func(h *[32]byte) { h[8] ^= 0x80 }, false},
		{"byte 7 differs", func(h *[32]byte) { h[7] ^= 1 }, false},
		{"byte 0 differs", func(h *[32]byte) { h[0] ^= 0x80 }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i := range keys {
				h := keys[i].Hash
				tc.mut(&h)
				if _, ok := s.Lookup(&h); ok != tc.found {
					t.Fatalf("key %d: found=%v want %v", i, ok, tc.found)
				}
			}
		})
	}
}

func shuffledCopy(rng *rand.Rand, keys []Key) []Key {
	out := make([]Key, len(keys))
	copy(out, keys)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	for i := range out {
		p := &out[i].Policy
		rev := func(l []string) []string {
			r := make([]string, 0, len(l)+1)
			for j := len(l) - 1; j >= 0; j-- {
				r = append(r, l[j])
			}
			if len(l) > 0 {
				r = append(r, l[0]) // a duplicate
			}
			return r
		}
		p.Scopes, p.AllowedCIDRs, p.AllowedHosts = rev(p.Scopes), rev(p.AllowedCIDRs), rev(p.AllowedHosts)
	}
	return out
}

func TestDeterminism(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	signer, trusted := testSigner("k", 2)
	cases := []struct {
		name string
		n    int
		npol int
	}{
		{"empty", 0, 1},
		{"small", 50, 5},
		{"medium", 5000, 300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys := genKeys(rng, tc.n, tc.npol, 4)
			a := mustBuild(t, testHeader(1), keys, signer)
			b := mustBuild(t, testHeader(1), keys, signer)
			if !bytes.Equal(a, b) {
				t.Fatal("same input gave different bytes")
			}
			c := mustBuild(t, testHeader(1), shuffledCopy(rng, keys), signer)
			if !bytes.Equal(a, c) {
				t.Fatal("shuffled input gave different bytes")
			}
			// deltas too
			base := mustOpen(t, a, trusted)
			ups := genKeys(rng, tc.n/10+1, tc.npol, 3)
			var rev [][32]byte
			for i := 0; i < tc.n; i += 7 {
				rev = append(rev, keys[i].Hash)
			}
			d1, err := BuildDelta(testHeader(2), base, ups, rev, signer)
			if err != nil {
				t.Fatal(err)
			}
			rng.Shuffle(len(rev), func(i, j int) { rev[i], rev[j] = rev[j], rev[i] })
			d2, err := BuildDelta(testHeader(2), base, shuffledCopy(rng, ups), append(rev, rev...), signer)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(d1, d2) {
				t.Fatal("shuffled delta input gave different bytes")
			}
		})
	}
}

// smallBlobs returns a small full snapshot with extras and several policies,
// and a delta on it with upserts, extras and revocations.
func smallBlobs(t testing.TB) (full, delta []byte, signer Signer, trusted Trusted, keys []Key) {
	rng := rand.New(rand.NewPCG(7, 8))
	signer, trusted = testSigner("sig-a", 3)
	keys = genKeys(rng, 6, 3, 2)
	full = mustBuild(t, testHeader(10), keys, signer)
	base := mustOpen(t, full, trusted)
	ups := genKeys(rng, 2, 2, 1)
	ups = append(ups, keys[0])
	ups[2].Policy = testPolicies[4]
	var err error
	delta, err = BuildDelta(testHeader(11), base, ups, [][32]byte{keys[1].Hash, keys[2].Hash}, signer)
	if err != nil {
		t.Fatal(err)
	}
	return full, delta, signer, trusted, keys
}

func openAny(blob []byte, tr Trusted, delta bool) error {
	if delta {
		_, err := OpenDelta(blob, tr, Limits{})
		return err
	}
	_, err := Open(blob, tr, Limits{})
	return err
}

func TestEveryByteChangeRejected(t *testing.T) {
	full, delta, _, trusted, _ := smallBlobs(t)
	cases := []struct {
		name  string
		blob  []byte
		delta bool
	}{
		{"full", full, false},
		{"delta", delta, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := openAny(tc.blob, trusted, tc.delta); err != nil {
				t.Fatalf("pristine blob rejected: %v", err)
			}
			mut := make([]byte, len(tc.blob))
			for i := range tc.blob {
				for _, x := range []byte{0x01, 0x80, 0xFF} {
					copy(mut, tc.blob)
					mut[i] ^= x
					if err := openAny(mut, trusted, tc.delta); err == nil {
						t.Fatalf("change at byte %d (xor %#x) accepted", i, x)
					}
				}
			}
			t.Logf("%d bytes, %d positions x 3 changes rejected", len(tc.blob), len(tc.blob))
		})
	}
}

func TestTruncationAndExtension(t *testing.T) {
	full, delta, _, trusted, _ := smallBlobs(t)
	for _, tc := range []struct {
		name  string
		blob  []byte
		delta bool
	}{{"full", full, false}, {"delta", delta, true}} {
		t.Run(tc.name, func(t *testing.T) {
			for n := 0; n < len(tc.blob); n++ {
				if err := openAny(tc.blob[:n], trusted, tc.delta); err == nil {
					t.Fatalf("truncation to %d bytes accepted", n)
				}
			}
			ext := append(append([]byte(nil), tc.blob...), 0)
			if err := openAny(ext, trusted, tc.delta); err == nil {
				t.Fatal("extended blob accepted")
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	full, delta, _, trusted, _ := smallBlobs(t)
	otherSigner, otherTrusted := testSigner("sig-a", 99) // same id, other key
	_ = otherSigner
	set := func(b []byte, off int, v ...byte) []byte {
		c := append([]byte(nil), b...)
		copy(c[off:], v)
		return c
	}
	badLenKey := Trusted{"sig-a": trusted["sig-a"][:31]}
	cases := []struct {
		name  string
		blob  []byte
		tr    Trusted
		lim   Limits
		delta bool
		want  error
	}{
		{"ok full", full, trusted, Limits{}, false, nil},
		{"ok delta", delta, trusted, Limits{}, true, nil},
		{"too large before parsing", []byte("garbage garbage garbage"), trusted, Limits{MaxBytes: 8}, false, ErrTooLarge},
		{"too large valid blob", full, trusted, Limits{MaxBytes: len(full) - 1}, false, ErrTooLarge},
		{"exactly at the cap", full, trusted, Limits{MaxBytes: len(full)}, false, nil},
		{"empty", nil, trusted, Limits{}, false, ErrMalformed},
		{"bad magic", set(full, 0, 'X'), trusted, Limits{}, false, ErrMalformed},
		{"format version 1 (cascade bits by modulo)", set(full, 4, 1, 0), trusted, Limits{}, false, ErrUnsupportedFormat},
		{"format version 2 (bucket directory)", set(full, 4, 2, 0), trusted, Limits{}, false, ErrUnsupportedFormat},
		{"format version 4", set(full, 4, 4, 0), trusted, Limits{}, false, ErrUnsupportedFormat},
		{"unknown kind", set(full, 6, 9), trusted, Limits{}, false, ErrMalformed},
		{"delta given to Open", delta, trusted, Limits{}, false, ErrWrongKind},
		{"full given to OpenDelta", full, trusted, Limits{}, true, ErrWrongKind},
		{"length field", set(full, 8, 0, 0, 0, 0), trusted, Limits{}, false, ErrMalformed},
		{"key id length 0", set(full, 7, 0), trusted, Limits{}, false, ErrMalformed},
		{"unknown signing key", full, Trusted{"other": trusted["sig-a"]}, Limits{}, false, ErrUnknownSigningKey},
		{"no trusted keys", full, nil, Limits{}, false, ErrUnknownSigningKey},
		{"trusted key of wrong size", full, badLenKey, Limits{}, false, ErrUnknownSigningKey},
		{"same id other key", full, otherTrusted, Limits{}, false, ErrBadSignature},
		{"same id other key delta", delta, otherTrusted, Limits{}, true, ErrBadSignature},
		{"header byte changed", set(full, 200, full[200]^1), trusted, Limits{}, false, ErrBadSignature},
		{"signature changed", set(full, len(full)-1, full[len(full)-1]^1), trusted, Limits{}, false, ErrBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.delta {
				_, err = OpenDelta(tc.blob, tc.tr, tc.lim)
			} else {
				_, err = Open(tc.blob, tc.tr, tc.lim)
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestSignedMalformed re-signs corrupted bodies so that the structure
// checks (not the signature) must catch them: every single-byte change
// after the signing key id must be rejected as malformed or, if the result
// is still a valid snapshot (e.g. a changed policy string or expiry), work
// without panicking.
func TestSignedMalformed(t *testing.T) {
	full, delta, signer, trusted, keys := smallBlobs(t)
	for _, tc := range []struct {
		name  string
		blob  []byte
		delta bool
	}{{"full", full, false}, {"delta", delta, true}} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.blob[:len(tc.blob)-sigSize]
			start := preambleSize + int(body[7])
			accepted, rejected := 0, 0
			for i := start; i < len(body); i++ {
				for _, x := range []byte{0x01, 0x80, 0xFF} {
					mut := append([]byte(nil), body...)
					mut[i] ^= x
					blob := resign(mut, signer)
					err := openAny(blob, trusted, tc.delta)
					if err == nil {
						accepted++
						exercise(t, blob, trusted, tc.delta, keys)
						continue
					}
					if !errors.Is(err, ErrMalformed) {
						t.Fatalf("byte %d: got %v, want ErrMalformed", i, err)
					}
					rejected++
				}
			}
			t.Logf("rejected %d, accepted (still well-formed) %d", rejected, accepted)
		})
	}
	t.Run("truncated sections", func(t *testing.T) {
		body := full[:len(full)-sigSize]
		for n := preambleSize; n < len(body); n++ {
			if err := openAny(resign(body[:n], signer), trusted, false); !errors.Is(err, ErrMalformed) {
				t.Fatalf("re-signed truncation to %d: %v", n, err)
			}
		}
	})
}

// exercise runs lookups on an opened blob; it must never panic.
func exercise(t testing.TB, blob []byte, trusted Trusted, delta bool, keys []Key) {
	if delta {
		d, err := OpenDelta(blob, trusted, Limits{})
		if err != nil {
			return
		}
		for i := range keys {
			d.Lookup(&keys[i].Hash)
			d.Revokes(&keys[i].Hash)
		}
		for i := 0; i < d.NumPolicies(); i++ {
			_ = d.Policy(i).Scopes
		}
		return
	}
	s, err := Open(blob, trusted, Limits{})
	if err != nil {
		return
	}
	for i := range keys {
		s.Lookup(&keys[i].Hash)
	}
	for i := 0; i < s.t.slots; i++ {
		if !s.t.occupied(i) {
			continue
		}
		var h [32]byte
		copy(h[:], s.t.lookupHash(i))
		if _, ok := s.Lookup(&h); !ok {
			t.Fatalf("accepted snapshot cannot find its own key %d", i)
		}
	}
}

func TestDeltaBaseBinding(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	signer, trusted := testSigner("k", 4)
	keysA := genKeys(rng, 300, 3, 5)
	a := mustOpen(t, mustBuild(t, testHeader(5), keysA, signer), trusted)
	// Same version, same workspace, different content: only the digest differs.
	aPrime := mustOpen(t, mustBuild(t, testHeader(5), keysA[1:], signer), trusted)
	// Different version.
	b := mustOpen(t, mustBuild(t, testHeader(6), keysA, signer), trusted)
	// Other workspace, same version and keys.
	hOther := testHeader(5)
	hOther.Workspace = "ws_other"
	other := mustOpen(t, mustBuild(t, hOther, keysA, signer), trusted)

	db, err := BuildDelta(testHeader(7), a, genKeys(rng, 3, 2, 0), [][32]byte{keysA[0].Hash}, signer)
	if err != nil {
		t.Fatal(err)
	}
	d, err := OpenDelta(db, trusted, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		base *Snapshot
		want error
	}{
		{"right base", a, nil},
		{"same version other digest", aPrime, ErrBaseMismatch},
		{"other version", b, ErrBaseMismatch},
		{"other workspace", other, ErrBaseMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.base.Apply(d)
			if tc.want == nil {
				if err != nil || v == nil {
					t.Fatalf("Apply: %v", err)
				}
				if v.Header().Version != 7 || v.Base() != tc.base || v.Delta() != d {
					t.Fatal("view accessors")
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v want %v", err, tc.want)
			}
		})
	}
	if _, err := a.Apply(nil); !errors.Is(err, ErrBaseMismatch) {
		t.Fatalf("Apply(nil): %v", err)
	}
	h := d.Header()
	if h.BaseVersion != 5 || h.BaseDigest != a.Digest() || h.Version != 7 {
		t.Fatalf("delta header %+v", h)
	}
}

func TestRevocationExact(t *testing.T) {
	cases := []struct {
		name      string
		base      int
		revoked   int
		upserted  int // half new keys, half changed base keys
		wantLevel int // minimum number of cascade levels expected
	}{
		{"20K base 2K revoked", 20000, 2000, 600, 2},
		{"20K base 1 revoked", 20000, 1, 0, 1},
		{"5K base all revoked", 5000, 5000, 0, 1},
		{"5K base none revoked", 5000, 0, 100, 0},
		{"5K base half revoked", 5000, 2500, 10, 2},
		{"empty base", 0, 0, 10, 0},
	}
	signer, trusted := testSigner("k", 5)
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, uint64(ci)))
			keys := genKeys(rng, tc.base, 4, 9)
			base := mustOpen(t, mustBuild(t, testHeader(1), keys, signer), trusted)
			perm := rng.Perm(tc.base)
			revoked := make(map[[32]byte]bool)
			var rev [][32]byte
			for _, i := range perm[:tc.revoked] {
				revoked[keys[i].Hash] = true
				rev = append(rev, keys[i].Hash)
			}
			// revoked keys the base never held are ignored
			for i := 0; i < 10; i++ {
				rev = append(rev, randHash(rng))
			}
			ups := genKeys(rng, tc.upserted/2+tc.upserted%2, 3, 2)
			changed := make(map[[32]byte]int)
			for _, i := range perm[tc.revoked:min(tc.base, tc.revoked+tc.upserted/2)] {
				k := keys[i]
				k.Policy = testPolicies[4]
				k.ExpiresAt = 123
				changed[k.Hash] = len(ups)
				ups = append(ups, k)
			}
			d := mustDelta(t, testHeader(2), base, ups, rev, signer, trusted)
			if d.Revoked() != tc.revoked || d.Len() != len(ups) {
				t.Fatalf("Revoked()=%d Len()=%d", d.Revoked(), d.Len())
			}
			if len(d.casc.levels) < tc.wantLevel {
				t.Fatalf("only %d cascade levels", len(d.casc.levels))
			}
			v, err := base.Apply(d)
			if err != nil {
				t.Fatal(err)
			}
			for i := range keys {
				e, ok := v.Lookup(&keys[i].Hash)
				switch {
				case revoked[keys[i].Hash]:
					if ok {
						t.Fatalf("revoked key %d still found", i)
					}
				case changed[keys[i].Hash] != 0 || (len(ups) > 0 && ups[0].Hash == keys[i].Hash):
					if !ok || !e.FromDelta {
						t.Fatalf("changed key %d: ok=%v fromDelta=%v", i, ok, e.FromDelta)
					}
					checkEntry(t, e, &ups[changed[keys[i].Hash]])
				default:
					if !ok {
						t.Fatalf("base key %d denied (false positive)", i)
					}
					if e.FromDelta {
						t.Fatal("unchanged key reported from delta")
					}
					checkEntry(t, e, &keys[i])
				}
				if d.Revokes(&keys[i].Hash) != revoked[keys[i].Hash] {
					t.Fatalf("Revokes disagrees for key %d", i)
				}
			}
			for i := range ups {
				e, ok := v.Lookup(&ups[i].Hash)
				if !ok || !e.FromDelta {
					t.Fatalf("upsert %d not found in view", i)
				}
				checkEntry(t, e, &ups[i])
				if v.Delta().Policy(int(e.PolicyIndex)) != e.Policy {
					t.Fatal("delta policy index")
				}
			}
			for i := 0; i < 2000; i++ {
				h := randHash(rng)
				if _, ok := v.Lookup(&h); ok {
					t.Fatal("absent hash found in view")
				}
			}
			if tc.revoked > 0 {
				casc := cascadeSize(nil) // 8-byte section header
				for _, f := range d.casc.levels {
					casc += 8 + 8*uint64(len(f.words))
				}
				t.Logf("cascade: %d levels, %d bytes, %.2f bytes per revoked key; delta %d bytes",
					len(d.casc.levels), casc, float64(casc)/float64(tc.revoked), d.Size())
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	signer, trusted := testSigner("k", 6)
	keys := genKeys(rng, 10, 2, 0)
	dup := append([]Key(nil), keys...)
	dup = append(dup, keys[3])
	dup[len(dup)-1].Hash[20] ^= 1 // same lookup hash, other id half
	base := mustOpen(t, mustBuild(t, testHeader(3), keys, signer), trusted)
	long := string(make([]byte, 70000))
	withBase := testHeader(3)
	withBase.BaseVersion = 2
	cases := []struct {
		name  string
		build func() ([]byte, error)
		want  error
	}{
		{"duplicate lookup hash", func() ([]byte, error) { return BuildFull(testHeader(1), dup, signer) }, ErrDuplicateKey},
		{"version 0", func() ([]byte, error) { return BuildFull(testHeader(0), keys, signer) }, ErrInvalidInput},
		{"full with base", func() ([]byte, error) { return BuildFull(withBase, keys, signer) }, ErrInvalidInput},
		{"no private key", func() ([]byte, error) { return BuildFull(testHeader(1), keys, Signer{KeyID: "k"}) }, ErrInvalidInput},
		{"no key id", func() ([]byte, error) { return BuildFull(testHeader(1), keys, Signer{Private: signer.Private}) }, ErrInvalidInput},
		{"key id too long", func() ([]byte, error) {
			return BuildFull(testHeader(1), keys, Signer{KeyID: string(make([]byte, 256)), Private: signer.Private})
		}, ErrInvalidInput},
		{"header key id differs", func() ([]byte, error) {
			h := testHeader(1)
			h.KeyID = "other"
			return BuildFull(h, keys, signer)
		}, ErrInvalidInput},
		{"workspace too long", func() ([]byte, error) {
			h := testHeader(1)
			h.Workspace = long
			return BuildFull(h, keys, signer)
		}, ErrInvalidInput},
		{"policy string too long", func() ([]byte, error) {
			k := keys[0]
			k.Policy.Type = long
			return BuildFull(testHeader(1), []Key{k}, signer)
		}, ErrInvalidInput},
		{"delta nil base", func() ([]byte, error) { return BuildDelta(testHeader(4), nil, nil, nil, signer) }, ErrInvalidInput},
		{"delta version not above base", func() ([]byte, error) { return BuildDelta(testHeader(3), base, nil, nil, signer) }, ErrInvalidInput},
		{"delta other workspace", func() ([]byte, error) {
			h := testHeader(4)
			h.Workspace = "x"
			return BuildDelta(h, base, nil, nil, signer)
		}, ErrInvalidInput},
		{"delta wrong base version", func() ([]byte, error) {
			h := testHeader(4)
			h.BaseVersion = 2
			return BuildDelta(h, base, nil, nil, signer)
		}, ErrInvalidInput},
		{"delta wrong base digest", func() ([]byte, error) {
			h := testHeader(4)
			h.BaseDigest[0] = 1
			return BuildDelta(h, base, nil, nil, signer)
		}, ErrInvalidInput},
		{"upserted and revoked", func() ([]byte, error) {
			return BuildDelta(testHeader(4), base, keys[2:3], [][32]byte{keys[2].Hash}, signer)
		}, ErrInvalidInput},
		{"upserted and revoked, not in base", func() ([]byte, error) {
			nk := genKeys(rng, 1, 1, 0)
			return BuildDelta(testHeader(4), base, nk, [][32]byte{nk[0].Hash}, signer)
		}, ErrInvalidInput},
		{"delta duplicate upsert", func() ([]byte, error) {
			return BuildDelta(testHeader(4), base, []Key{keys[1], keys[1]}, nil, signer)
		}, ErrDuplicateKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.build()
			if !errors.Is(err, tc.want) || b != nil {
				t.Fatalf("got %v (%d bytes), want %v", err, len(b), tc.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Error() == "" {
				t.Fatal("error is not an *Error")
			}
		})
	}
}

func TestLookupAllocatesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 15))
	signer, trusted := testSigner("k", 8)
	keys := genKeys(rng, 5000, 5, 3)
	base := mustOpen(t, mustBuild(t, testHeader(1), keys, signer), trusted)
	ups := genKeys(rng, 50, 2, 2)
	var rev [][32]byte
	for i := 0; i < 500; i++ {
		rev = append(rev, keys[i].Hash)
	}
	d := mustDelta(t, testHeader(2), base, ups, rev, signer, trusted)
	v, err := base.Apply(d)
	if err != nil {
		t.Fatal(err)
	}
	miss := randHash(rng)
	var sink bool
	cases := []struct {
		name string
		fn   func()
	}{
		{"snapshot hit (extras)", func() { _, sink = base.Lookup(&keys[0].Hash) }},
		{"snapshot hit", func() { _, sink = base.Lookup(&keys[1].Hash) }},
		{"snapshot miss", func() { _, sink = base.Lookup(&miss) }},
		{"view upsert hit", func() { _, sink = v.Lookup(&ups[0].Hash) }},
		{"view base hit", func() { _, sink = v.Lookup(&keys[4000].Hash) }},
		{"view revoked", func() { _, sink = v.Lookup(&keys[7].Hash) }},
		{"view miss", func() { _, sink = v.Lookup(&miss) }},
		{"delta revokes", func() { sink = d.Revokes(&keys[7].Hash) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if a := testing.AllocsPerRun(1000, tc.fn); a != 0 {
				t.Fatalf("%v allocs per lookup", a)
			}
		})
	}
	_ = sink
}

// TestSlots checks the writer's placement: every key in a slot at or after its home, found there
// by a lookup, close to its home (what makes a lookup one memory read), and no slot past the home
// slots unless a key needed it.
func TestSlots(t *testing.T) {
	signer, trusted := testSigner("k", 1)
	sizes := []int{0, 1, 2, 3, 9, 1000, 100_000}
	if !testing.Short() {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		t.Run(itoa(n), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(n), 7))
			keys := genKeys(rng, n, 3, 10)
			s := mustOpen(t, mustBuild(t, testHeader(1), keys, signer), trusted)
			if s.t.home != homeSlotsFor(n) || s.t.slots < int(s.t.home) || s.Len() != n {
				t.Fatalf("home %d slots %d keys %d", s.t.home, s.t.slots, s.Len())
			}
			total, worst := 0, 0
			for i := range keys {
				slot, ok := s.t.find(&keys[i].Hash)
				if !ok {
					t.Fatalf("key %d not found", i)
				}
				hi, _ := hashWords(keys[i].Hash[:])
				d := slot - int(homeSlot(hi, s.t.home))
				if d < 0 {
					t.Fatalf("key %d before its home slot", i)
				}
				total, worst = total+d, max(worst, d)
			}
			if n > 0 {
				t.Logf("%d keys: %.2f slots past home on average, %d at most", n, float64(total)/float64(n), worst)
			}
			if n > 0 && (float64(total)/float64(n) > 5 || worst > 80) {
				t.Fatalf("displacement: mean %.2f, worst %d", float64(total)/float64(n), worst)
			}
			if s.t.slots > int(s.t.home) && s.t.slots-int(s.t.home) > worst {
				t.Fatalf("%d slots past %d home slots", s.t.slots-int(s.t.home), s.t.home)
			}
		})
	}
}

func TestFirstLevelBits(t *testing.T) {
	cases := []struct{ r, s, want int }{
		{1, 0, 1}, {0, 5, 1}, {10, 10, 1}, {2000, 18000, 4}, {1, 20000, 15}, {100, 1000000, 14}, {5000, 1, 1}, {1, 1 << 40, 24},
	}
	for _, tc := range cases {
		t.Run(itoa(tc.r)+"/"+itoa(tc.s), func(t *testing.T) {
			if got := firstLevelBits(tc.r, tc.s); got != tc.want {
				t.Fatalf("firstLevelBits(%d,%d) = %d want %d", tc.r, tc.s, got, tc.want)
			}
		})
	}
}

func TestLayoutInvariants(t *testing.T) {
	full, delta, _, _, _ := smallBlobs(t)
	for _, tc := range []struct {
		name string
		blob []byte
		tags []string
	}{{"full", full, tagsFull[:]}, {"delta", delta, tagsDelta[:]}} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.blob
			if string(b[:4]) != "KPSN" || binary.LittleEndian.Uint32(b[8:]) != uint32(len(b)) {
				t.Fatal("preamble")
			}
			toc := preambleSize + int(align(uint64(b[7]), 8))
			for i, tag := range tc.tags {
				e := b[toc+i*16:]
				if string(e[:4]) != tag || binary.LittleEndian.Uint32(e[4:])%64 != 0 {
					t.Fatalf("section %d: tag %q offset %d", i, e[:4], binary.LittleEndian.Uint32(e[4:]))
				}
			}
		})
	}
}

// TestGoldenExample pins the example of docs/snapshot-format.md: if this
// fails, the format changed and the document must change with it.
func TestGoldenExample(t *testing.T) {
	signer, trusted := testSigner("demo", 0) // Ed25519 seed 00 01 02 ... 1f
	k1 := Key{Hash: sha256.Sum256([]byte("kp_test_example1")), Policy: testPolicies[0]}
	k2 := Key{Hash: sha256.Sum256([]byte("kp_test_example2")), Policy: testPolicies[1], ExpiresAt: 1767225600}
	h := Header{Workspace: "ws_demo", Version: 1, IssuedAt: 1750000000, ExpiresAt: 1750086400}
	blob := mustBuild(t, h, []Key{k1, k2}, signer)
	const want = "6c01ad1f3e904be83fa1731b3e2a869136ed25e19b115ad638161230fda6894c"
	if got := sha256.Sum256(blob); hex.EncodeToString(got[:]) != want || len(blob) != 641 {
		t.Fatalf("example blob changed: %d bytes, digest %x", len(blob), got)
	}
	s := mustOpen(t, blob, trusted)
	if e, ok := s.Lookup(&k2.Hash); !ok || e.ExpiresAt != 1767225600 || e.Policy.Type != "ONBOARDING" {
		t.Fatal("example lookup")
	}
	// The home slots of the document's test vector.
	if s.t.home != 2 || homeSlot(0x3cde03576a78f4ea, 2) != 0 || homeSlot(0x9641b73b48c74278, 2) != 1 {
		t.Fatal("home slots")
	}
	// The cascade's bit locations (see the document): lookup hash 00 01 .. 0f, level 1.
	var h16 [hashSize]byte
	for i := range h16 {
		h16[i] = byte(i)
	}
	x0, x1 := words2(&h16)
	a, b := levelHashes(x0, x1, 1)
	var locs []uint64
	for i := uint64(0); i < 5; i++ {
		locs = append(locs, a+i*b)
	}
	wantLocs := []uint64{9878745085730425091, 1590544931096118050, 11749088850171362625, 3460888695537055584, 13619432614612300159}
	if !slices.Equal(locs, wantLocs) {
		t.Fatalf("cascade locations %v", locs)
	}
	var bits1000 []uint64
	for _, l := range locs {
		bits1000 = append(bits1000, bitOf(l, 1000))
	}
	if want := []uint64{535, 86, 636, 187, 738}; !slices.Equal(bits1000, want) {
		t.Fatalf("cascade bits for m = 1000: %v, want %v", bits1000, want)
	}
	f := bloom.New(64, 3)
	addLevel(f, x0, x1, 1)
	if w := f.BitSet().Words()[0]; w != 0x10400000020 {
		t.Fatalf("level word %#x", w)
	}
}

// TestSlotRulesEnforced breaks each rule of the slot table (docs/snapshot-format.md, section 3.5) in
// a validly re-signed blob: each must be refused as malformed, since a lookup's scan from the home
// slot would miss a key, or find an empty slot, in a table that breaks it.
func TestSlotRulesEnforced(t *testing.T) {
	signer, trusted := testSigner("k", 1)
	var keys []Key
	for i := 0; i < 9; i++ { // 9 keys, 10 home slots: at least one empty slot
		keys = append(keys, Key{Hash: sha256.Sum256([]byte{byte(i)}), Policy: testPolicies[0]})
	}
	blob := mustBuild(t, testHeader(1), keys, signer)
	s := mustOpen(t, blob, trusted)
	st := s.t.stride
	keysOff, headOff := sectionOffset(blob, "KEYS"), sectionOffset(blob, "HEAD")
	if !bytes.Equal(blob[keysOff:keysOff+len(s.t.keys)], s.t.keys) || binary.LittleEndian.Uint32(blob[headOff+76:]) != uint32(s.t.home) {
		t.Fatal("test setup: sections not found")
	}
	// a key at its home slot with an empty slot after it, and one with an empty slot before it
	after, before := -1, -1
	for i := 0; i < s.t.slots; i++ {
		if !s.t.occupied(i) {
			continue
		}
		hi, _ := hashWords(s.t.lookupHash(i))
		atHome := int(homeSlot(hi, s.t.home)) == i
		if atHome && i+1 < s.t.slots && !s.t.occupied(i+1) {
			after = i
		}
		if i > 0 && !s.t.occupied(i-1) {
			before = i
		}
	}
	empty := -1
	for i := 0; i < s.t.slots; i++ {
		if !s.t.occupied(i) {
			empty = i
		}
	}
	if after < 0 || before < 0 || empty < 0 {
		t.Fatalf("test setup: slots %d, after %d, before %d, empty %d", s.t.slots, after, before, empty)
	}
	move := func(from, to int) func(k []byte) {
		return func(k []byte) {
			rec := append([]byte(nil), k[from*st:(from+1)*st]...)
			copy(k[to*st:], rec)
			for j := from * st; j < from*st+hashSize; j++ {
				k[j] = 0xff
			}
			for j := from*st + hashSize; j < (from+1)*st; j++ {
				k[j] = 0
			}
		}
	}
	for _, tc := range []struct {
		name string
		keys func(k []byte) // edits KEYS
		head func(h []byte) // edits HEAD
	}{
		{"empty slot with a reference", func(k []byte) { k[empty*st+hashSize] = 2 }, nil},
		{"empty slot not all ff", func(k []byte) { k[empty*st+15] = 0xfe }, nil},
		{"key past an empty slot", move(after, after+1), nil},
		{"key before its home slot", move(before, before-1), nil},
		{"two keys swapped", func(k []byte) {
			a, b := append([]byte(nil), k[after*st:(after+1)*st]...), -1
			for i := after - 1; i >= 0 && b < 0; i-- {
				if binary.BigEndian.Uint64(k[i*st:]) != emptyHi {
					b = i
				}
			}
			if b < 0 {
				b = after + 2
			}
			copy(k[after*st:], k[b*st:(b+1)*st])
			copy(k[b*st:], a)
		}, nil},
		{"no home slots", nil, func(h []byte) { binary.LittleEndian.PutUint32(h[76:], 0) }},
		{"more home slots than slots", nil, func(h []byte) { binary.LittleEndian.PutUint32(h[76:], uint32(s.t.slots+1)) }},
		{"one key fewer than HEAD says", func(k []byte) { move(after, after)(k) }, nil},
		{"reserved HEAD byte", nil, func(h []byte) { h[81] = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := append([]byte(nil), blob[:len(blob)-sigSize]...)
			if tc.keys != nil {
				tc.keys(body[keysOff : keysOff+len(s.t.keys)])
			}
			if tc.head != nil {
				tc.head(body[headOff:])
			}
			if _, err := Open(resign(body, signer), trusted, Limits{}); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
	t.Run("a key too far from its home slot", func(t *testing.T) {
		// One home slot and keys in the slots after it: the last one is one slot too far.
		const n = maxDisplacement + 2
		tb := table{n: n, slots: n, home: 1, w: 1, stride: hashSize + 1, keys: make([]byte, n*(hashSize+1))}
		for i := 0; i < n; i++ {
			binary.BigEndian.PutUint64(tb.keys[i*tb.stride:], uint64(i+1)) // ascending; home 0
		}
		if err := tb.validate(1); !errors.Is(err, ErrMalformed) {
			t.Fatalf("got %v, want ErrMalformed", err)
		}
		tb.n, tb.slots, tb.keys = maxDisplacement+1, maxDisplacement+1, tb.keys[:(maxDisplacement+1)*tb.stride]
		if err := tb.validate(1); err != nil { // the furthest a key may be
			t.Fatalf("at the bound: %v", err)
		}
		clustered := make([]Key, n)
		for i := range clustered {
			binary.BigEndian.PutUint64(clustered[i].Hash[8:], uint64(i)) // all with hi = 0
		}
		if _, err := BuildFull(testHeader(1), clustered, signer); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("building a clustered table: %v, want ErrInvalidInput", err)
		}
	})
	t.Run("the reserved hash", func(t *testing.T) {
		k := Key{Policy: testPolicies[0]}
		for i := range 8 {
			k.Hash[i] = 0xff
		}
		if _, err := BuildFull(testHeader(1), []Key{k}, signer); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("got %v, want ErrInvalidInput", err)
		}
		if _, ok := s.Lookup(&k.Hash); ok {
			t.Fatal("a hash with the empty slot's mark was found")
		}
		if Publishable(&k.Hash) || !Publishable(&keys[0].Hash) {
			t.Fatal("Publishable")
		}
	})
}

// sectionOffset returns the offset of the section tagged tag, from the section table.
func sectionOffset(blob []byte, tag string) int {
	toc := preambleSize + int(align(uint64(blob[7]), 8))
	for i := 0; i < int(binary.LittleEndian.Uint32(blob[12:])); i++ {
		e := blob[toc+i*tocEntrySize:]
		if string(e[:4]) == tag {
			return int(binary.LittleEndian.Uint32(e[4:]))
		}
	}
	return -1
}
