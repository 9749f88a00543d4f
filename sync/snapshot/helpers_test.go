package snapshot

import (
	"crypto/ed25519"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strconv"
)

// testSigner returns a deterministic signer and the matching trusted set.
func testSigner(id string, seed byte) (Signer, Trusted) {
	var s [32]byte
	for i := range s {
		s[i] = seed + byte(i)
	}
	priv := ed25519.NewKeyFromSeed(s[:])
	return Signer{KeyID: id, Private: priv}, Trusted{id: priv.Public().(ed25519.PublicKey)}
}

var testPolicies = []Policy{
	{Scopes: []string{"events:read", "events:write"}, Environment: "live", Type: "GENERIC"},
	{Scopes: []string{"keys:manage"}, Environment: "live", Type: "ONBOARDING", RateLimit: 1000, RateWindow: 3600},
	{Scopes: []string{"billing:read"}, Environment: "test", Type: "GCP", AllowedCIDRs: []string{"10.0.0.0/8", "2001:db8::/32"}},
	{Environment: "test", Type: "AWS", AllowedHosts: []string{"*.example.com", "api.example.org"}, RateLimit: 10, RateWindow: 1},
	{Scopes: []string{"tools:read"}, Environment: "live", Type: "GENERIC", AllowedCIDRs: []string{"192.0.2.1/32"}, AllowedHosts: []string{"a.example"}, RateLimit: 5, RateWindow: 60},
}

// genKeys returns n keys with random hashes. One key in extrasEvery has
// extras (0 = none); policies cycle through npol distinct policies.
func genKeys(rng *rand.Rand, n, npol, extrasEvery int) []Key {
	keys := make([]Key, n)
	for i := range keys {
		k := &keys[i]
		for j := 0; j < 4; j++ {
			binary.LittleEndian.PutUint64(k.Hash[j*8:], rng.Uint64())
		}
		k.Policy = policyN(i % npol)
		if extrasEvery > 0 && i%extrasEvery == 0 {
			switch (i / extrasEvery) % 4 {
			case 0:
				k.ExpiresAt = 1_900_000_000 + int64(i)
			case 1:
				k.NotBefore = 1_700_000_000 + int64(i)
			case 2:
				k.Disabled = true
			case 3:
				k.NotBefore, k.ExpiresAt, k.Disabled = -5, 1<<62, true
			}
		}
	}
	return keys
}

// policyN returns the i-th distinct test policy.
func policyN(i int) Policy {
	if i < len(testPolicies) {
		return testPolicies[i]
	}
	p := testPolicies[i%len(testPolicies)]
	p.RateLimit = uint32(i)
	p.RateWindow = 60
	return p
}

// canonPolicy is what a decoded policy must look like.
func canonPolicy(p Policy) Policy {
	c := func(l []string) []string {
		if len(l) == 0 {
			return nil
		}
		l = slices.Clone(l)
		slices.Sort(l)
		return slices.Compact(l)
	}
	p.Scopes, p.AllowedCIDRs, p.AllowedHosts = c(p.Scopes), c(p.AllowedCIDRs), c(p.AllowedHosts)
	return p
}

func policyEqual(a, b Policy) bool {
	a, b = canonPolicy(a), canonPolicy(b)
	return a.Environment == b.Environment && a.Type == b.Type && a.RateLimit == b.RateLimit &&
		a.RateWindow == b.RateWindow && slices.Equal(a.Scopes, b.Scopes) &&
		slices.Equal(a.AllowedCIDRs, b.AllowedCIDRs) && slices.Equal(a.AllowedHosts, b.AllowedHosts)
}

// resign rewrites the length field of body and signs it with s, producing a
// blob whose signature is valid whatever the body holds: it lets tests and
// fuzzers reach the structure checks.
func resign(body []byte, s Signer) []byte {
	if len(body) < preambleSize {
		return nil
	}
	out := make([]byte, len(body), len(body)+sigSize)
	copy(out, body)
	binary.LittleEndian.PutUint32(out[8:], uint32(len(body)+sigSize))
	return append(out, ed25519.Sign(s.Private, out)...)
}

func itoa(i int) string { return strconv.Itoa(i) }

func randHash(rng *rand.Rand) [32]byte {
	var h [32]byte
	for j := 0; j < 4; j++ {
		binary.LittleEndian.PutUint64(h[j*8:], rng.Uint64())
	}
	return h
}
