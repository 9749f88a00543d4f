package snapshot

import (
	"encoding/binary"
	"math/bits"

	"github.com/bits-and-blooms/bloom/v3"
)

// The revocation filter of a delta is a cascade of Bloom filters (CRLite)
// that is exact over the base's key set: level 1 holds the revoked base keys;
// level 2 the base keys that level 1 wrongly includes; level 3 the revoked
// keys that level 2 wrongly includes; and so on until a level has no false
// positives. A base key is revoked iff the first level that does not include
// it is even-numbered, or it is included by every level and their number is
// odd.
//
// The bit locations of a key in level L (1-based) come from its lookup hash,
// which is already uniformly random: two 64-bit words of it, mixed with L so
// that levels are independent, give a and b, and location i is a + i*b (double
// hashing), reduced to a bit of the level by a multiply-high rather than a
// division (a 64-bit division costs tens of cycles on every probe). No
// further hash function runs per lookup (docs/snapshot-format.md). The builder
// sizes and fills the levels as bits-and-blooms/bloom/v3 filters; only the
// locations are ours.

// level is a built cascade level.
type level struct {
	k     uint32
	words []uint64 // m = 64 * len(words) bits
}

// cascade is a decoded cascade.
type cascade struct {
	levels  []level
	revoked int
}

// contains reports whether the key with SHA-256 *h is revoked. It is exact
// for keys of the base; it allocates nothing.
func (c *cascade) contains(h *[32]byte) bool {
	if len(c.levels) == 0 {
		return false
	}
	x0, x1 := binary.LittleEndian.Uint64(h[0:8]), binary.LittleEndian.Uint64(h[8:16])
	for i := range c.levels {
		if !c.levels[i].test(x0, x1, i+1) {
			return i%2 == 1
		}
	}
	return len(c.levels)%2 == 1
}

// levelHashes returns a and b for the key whose lookup hash starts with the
// little-endian words x0, x1, in level l.
func levelHashes(x0, x1 uint64, l int) (a, b uint64) {
	return mix64(x0 ^ uint64(l)*0x9e3779b97f4a7c15), mix64(x1^uint64(l)*0xc2b2ae3d27d4eb4f) | 1
}

// mix64 is the SplitMix64 finalizer.
func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	return z ^ z>>31
}

// bitOf maps a location to one of m bits: the high word of loc*m, which is
// uniform when loc is (Lemire's multiply-shift reduction).
func bitOf(loc, m uint64) uint64 {
	hi, _ := bits.Mul64(loc, m)
	return hi
}

func addLevel(f *bloom.BloomFilter, x0, x1 uint64, l int) {
	a, b := levelHashes(x0, x1, l)
	m, bs := uint64(f.Cap()), f.BitSet()
	for i := uint64(0); i < uint64(f.K()); i++ {
		bs.Set(uint(bitOf(a+i*b, m)))
	}
}

func testLevel(f *bloom.BloomFilter, x0, x1 uint64, l int) bool {
	a, b := levelHashes(x0, x1, l)
	m, bs := uint64(f.Cap()), f.BitSet()
	for i := uint64(0); i < uint64(f.K()); i++ {
		if !bs.Test(uint(bitOf(a+i*b, m))) {
			return false
		}
	}
	return true
}

// test reports whether the level includes the key (all k bits set), reading
// the words directly. Most keys a verifier asks about are not revoked and stop
// at level 1's first probe, which needs only a; b is derived after it.
func (lv *level) test(x0, x1 uint64, l int) bool {
	w := lv.words
	m := uint64(len(w)) * 64
	loc := mix64(x0 ^ uint64(l)*0x9e3779b97f4a7c15) // a, as levelHashes
	if p := bitOf(loc, m); w[p/64]&(1<<(p%64)) == 0 {
		return false
	}
	b := mix64(x1^uint64(l)*0xc2b2ae3d27d4eb4f) | 1
	for i := uint64(1); i < uint64(lv.k); i++ {
		loc += b // a + i*b
		if p := bitOf(loc, m); w[p/64]&(1<<(p%64)) == 0 {
			return false
		}
	}
	return true
}

func words2(h *[hashSize]byte) (uint64, uint64) {
	return binary.LittleEndian.Uint64(h[0:8]), binary.LittleEndian.Uint64(h[8:16])
}

// levelParams returns the number of hash functions k and the number of 64-bit
// words for a level holding n >= 1 elements with a target false-positive rate
// of 2^-t: m = ceil(n * t / ln 2) bits, rounded up to a multiple of 64 (at
// least 64), and k = round(m * ln 2 / n), the optimum for the rounded m,
// clamped to [1, 32]. Integer arithmetic only, so every platform computes
// the same sizes: 1/ln 2 is taken as 14427/10000 and ln 2 as 6931/10000.
func levelParams(n, t int) (k uint32, words int) {
	mbits := (uint64(n)*uint64(t)*14427 + 9999) / 10000
	w := (mbits + 63) / 64
	if w < 1 {
		w = 1
	}
	kk := (w*64*6931/uint64(n) + 5000) / 10000
	if kk < 1 {
		kk = 1
	}
	if kk > maxHashFuncs {
		kk = maxHashFuncs
	}
	return uint32(kk), int(w)
}

// firstLevelBits returns t1, the level-1 false-positive exponent: the
// CRLite choice p1 = r*sqrt(1/2)/s, that is t1 = round(log2(s*sqrt(2)/r)),
// computed as in docs/snapshot-format.md and clamped to [1, 24].
func firstLevelBits(r, s int) int {
	if r <= 0 || s <= 0 {
		return 1
	}
	// x = s*sqrt(2)/r in 1/256 units; sqrt(2) ~ 362/256.
	x := uint64(s) * 362 / uint64(r) // = 256 * s*sqrt(2)/r
	if x < 256 {
		return 1
	}
	t := bits.Len64(x) - 1 // floor(log2 x)
	// round: compare x with 2^t * sqrt(2)
	if x*256 >= (uint64(362) << uint(t)) {
		t++
	}
	t -= 8 // undo the 1/256 scale
	if t < 1 {
		t = 1
	}
	if t > 24 {
		t = 24
	}
	return t
}

// buildCascade builds the levels. include is the revoked base keys; the other
// base keys (nExclude of them) are produced by eachExclude.
func buildCascade(include [][hashSize]byte, nExclude int, eachExclude func(func(*[hashSize]byte))) ([]level, error) {
	var levels []level
	var exclude [][hashSize]byte // nil at level 1: use eachExclude
	for lv := 1; len(include) > 0; lv++ {
		if lv > maxLevels {
			return nil, invalid("revocation cascade does not converge")
		}
		t := 1
		if lv == 1 {
			t = firstLevelBits(len(include), nExclude)
		}
		k, words := levelParams(len(include), t)
		f := bloom.New(uint(words)*64, uint(k))
		for i := range include {
			x0, x1 := words2(&include[i])
			addLevel(f, x0, x1, lv)
		}
		var fp [][hashSize]byte
		test := func(h *[hashSize]byte) {
			if x0, x1 := words2(h); testLevel(f, x0, x1, lv) {
				fp = append(fp, *h)
			}
		}
		if exclude == nil && lv == 1 {
			eachExclude(test)
		} else {
			for i := range exclude {
				test(&exclude[i])
			}
		}
		w := f.BitSet().Words()
		levels = append(levels, level{k: k, words: w[:words:words]})
		exclude, include = include, fp
	}
	return levels, nil
}

// cascadeSize is the length of the CASC section.
func cascadeSize(levels []level) uint64 {
	n := uint64(8)
	for _, l := range levels {
		n += 8 + 8*uint64(len(l.words))
	}
	return n
}

func writeCascade(p []byte, levels []level, revoked int) {
	le := binary.LittleEndian
	le.PutUint32(p[0:], uint32(len(levels)))
	le.PutUint32(p[4:], uint32(revoked))
	p = p[8:]
	for _, l := range levels {
		le.PutUint32(p[0:], l.k)
		le.PutUint32(p[4:], uint32(len(l.words)))
		p = p[8:]
		for _, w := range l.words {
			le.PutUint64(p, w)
			p = p[8:]
		}
	}
}

// parseCascade decodes a CASC section; it copies the filter words.
func parseCascade(p []byte) (cascade, error) {
	var c cascade
	le := binary.LittleEndian
	if len(p) < 8 {
		return c, malformed("CASC too short")
	}
	nl := le.Uint32(p[0:])
	rv := le.Uint32(p[4:])
	if nl > maxLevels {
		return c, malformed("CASC has too many levels")
	}
	if (nl == 0) != (rv == 0) {
		return c, malformed("CASC level count and revoked count disagree")
	}
	p = p[8:]
	c.levels = make([]level, 0, nl)
	for i := uint32(0); i < nl; i++ {
		if len(p) < 8 {
			return c, malformed("CASC level header truncated")
		}
		k := le.Uint32(p[0:])
		nw := le.Uint32(p[4:])
		p = p[8:]
		if k < 1 || k > maxHashFuncs {
			return c, malformed("CASC level k out of range")
		}
		if nw < 1 || uint64(nw)*8 > uint64(len(p)) || uint64(nw)*64 > uint64(^uint(0)) {
			return c, malformed("CASC level words out of range")
		}
		words := make([]uint64, nw)
		for j := range words {
			words[j] = le.Uint64(p[j*8:])
		}
		p = p[int(nw)*8:]
		c.levels = append(c.levels, level{k: k, words: words})
	}
	if len(p) != 0 {
		return c, malformed("CASC has trailing bytes")
	}
	c.revoked = int(rv)
	return c, nil
}
