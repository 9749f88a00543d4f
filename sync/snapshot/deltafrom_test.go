package snapshot

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// TestBuildDeltaFrom checks a delta built from the current key set (no base blob) applies to its
// base exactly: revoked keys denied, unchanged keys found, upserts found with their new policy.
func TestBuildDeltaFrom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	signer, trusted := testSigner("k1", 1)
	keys := genKeys(rng, 5000, 5, 0)
	baseBlob, err := BuildFull(Header{Workspace: "ws", Version: 10, IssuedAt: 1, ExpiresAt: 1 << 40, KeyID: "k1"}, keys, signer)
	if err != nil {
		t.Fatal(err)
	}
	base, err := Open(baseBlob, trusted, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	revoked := map[[32]byte]bool{}
	var revokedList [][32]byte
	for _, k := range keys[:300] {
		revoked[k.Hash] = true
		revokedList = append(revokedList, k.Hash)
	}
	upserted := map[[32]byte]bool{}
	upserts := genKeys(rng, 50, 5, 0) // new keys
	for _, k := range keys[300:320] { // changed base keys
		k.Policy = policyN(7)
		upserts = append(upserts, k)
	}
	for _, k := range upserts {
		upserted[k.Hash] = true
	}
	var unchanged [][16]byte
	for _, k := range keys {
		if !revoked[k.Hash] && !upserted[k.Hash] {
			var h [16]byte
			copy(h[:], k.Hash[:16])
			unchanged = append(unchanged, h)
		}
	}
	h := Header{Workspace: "ws", Version: 12, BaseVersion: 10, BaseDigest: base.Digest(), IssuedAt: 2, ExpiresAt: 1 << 40, KeyID: "k1"}
	blob, err := BuildDeltaFrom(h, upserts, revokedList, len(unchanged), func(yield func(*[16]byte)) {
		for i := range unchanged {
			yield(&unchanged[i])
		}
	}, signer)
	if err != nil {
		t.Fatal(err)
	}
	d, err := OpenDelta(blob, trusted, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := base.Apply(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		e, ok := v.Lookup(&k.Hash)
		switch {
		case revoked[k.Hash] && ok:
			t.Fatal("a revoked key is found")
		case !revoked[k.Hash] && !ok:
			t.Fatal("a base key that was not revoked is missing: the cascade is not exact")
		case upserted[k.Hash] && ok && !e.FromDelta:
			t.Fatal("a changed key is read from the base")
		}
	}
	for _, k := range upserts {
		if _, ok := v.Lookup(&k.Hash); !ok {
			t.Fatal("an upserted key is missing")
		}
	}
	// A key both upserted and revoked is refused; so is a delta with no base digest.
	if _, err := BuildDeltaFrom(h, upserts, [][32]byte{upserts[0].Hash}, 0, func(func(*[16]byte)) {}, signer); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("upserted and revoked: %v", err)
	}
	h.BaseDigest = [32]byte{}
	if _, err := BuildDeltaFrom(h, nil, nil, 0, func(func(*[16]byte)) {}, signer); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("no base digest: %v", err)
	}
}
