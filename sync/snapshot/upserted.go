package snapshot

import "encoding/binary"

// upserted is an in-memory Bloom filter over a delta's upserted lookup hashes, built when the delta
// is opened. A view consults it before the delta's key table: nearly every request presents a key
// the delta did not change, and a read of its table is one more cache miss (with format 2's
// directory, two: about a tenth of a decision at a million keys in BenchmarkVerify). A false
// positive only costs that table lookup, which stays the authority. It is not on the wire.
type upserted struct {
	words []uint64
	mask  uint64 // number of bits - 1 (a power of two)
}

// upsertedBitsPerKey sets the filter's size: with 3 probes, about 1% false positives.
const upsertedBitsPerKey = 10

func newUpserted(t *table) upserted {
	if t.n == 0 {
		return upserted{}
	}
	bits := uint64(64)
	for bits < uint64(t.n)*upsertedBitsPerKey {
		bits *= 2
	}
	f := upserted{words: make([]uint64, bits/64), mask: bits - 1}
	for i := 0; i < t.slots; i++ {
		if !t.occupied(i) {
			continue
		}
		h := t.lookupHash(i)
		a, b := upsertedProbes(binary.LittleEndian.Uint64(h[0:8]), binary.LittleEndian.Uint64(h[8:16]))
		for j := uint64(0); j < 3; j++ {
			p := (a + j*b) & f.mask
			f.words[p/64] |= 1 << (p % 64)
		}
	}
	return f
}

// mayHold reports whether the delta may upsert the key with SHA-256 *h; false is certain.
func (f *upserted) mayHold(h *[32]byte) bool {
	if f.words == nil {
		return false
	}
	x0, x1 := binary.LittleEndian.Uint64(h[0:8]), binary.LittleEndian.Uint64(h[8:16])
	loc := mix64(x0 ^ 0x6a09e667f3bcc908) // a, as upsertedProbes; b only if the first probe hits
	if p := loc & f.mask; f.words[p/64]&(1<<(p%64)) == 0 {
		return false
	}
	b := mix64(x1^0xbb67ae8584caa73b) | 1
	for j := 1; j < 3; j++ {
		loc += b
		if p := loc & f.mask; f.words[p/64]&(1<<(p%64)) == 0 {
			return false
		}
	}
	return true
}

// upsertedProbes derives the filter's double hashing from the lookup hash, mixed so that its bits
// are independent of the cascade's (which mixes the same words with the level number).
func upsertedProbes(x0, x1 uint64) (a, b uint64) {
	return mix64(x0 ^ 0x6a09e667f3bcc908), mix64(x1^0xbb67ae8584caa73b) | 1
}
