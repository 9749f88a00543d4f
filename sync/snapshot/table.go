package snapshot

import (
	"encoding/binary"
)

// Sizes of the key table's columns (see docs/snapshot-format.md).
const (
	hashSize      = 16 // lookup hash = SHA-256(key)[0:16]
	xvalSize      = 16 // NotBefore int64 + ExpiresAt int64
	flagDisabled  = 1  // XFLG bit 0
	maxBucketBits = 30
)

// table is a key table read in place: all slices alias the blob.
type table struct {
	n      int
	shift  uint   // 63 - bucketBits; see bucketOf
	dir    []byte // (2^b + 1) * uint32 LE
	keys   []byte // n records of stride bytes: lookup hash (16), ref (w bytes LE)
	w      int    // ref width: 1, 2 or 4
	stride int    // 16 + w
	xidx   []byte // e * uint32 LE, ascending key indexes
	xval   []byte // e * (int64 NotBefore, int64 ExpiresAt) LE
	xflg   []byte // e * uint8 flags
	e      int
}

// bucketBitsFor returns the builder's directory size: 2^b buckets with b =
// max(0, ceil(log2 n) - 1), that is 1 to 2 keys per bucket.
func bucketBitsFor(n int) uint {
	if n <= 2 {
		return 0
	}
	b := uint(0)
	for (1 << b) < n { // b = ceil(log2 n)
		b++
	}
	b--
	if b > maxBucketBits {
		b = maxBucketBits
	}
	return b
}

// refWidthFor returns the minimal width of a policy reference for p policies.
func refWidthFor(p int) int {
	switch {
	case p <= 1<<7:
		return 1
	case p <= 1<<15:
		return 2
	default:
		return 4
	}
}

// bucketOf returns the top b bits of hi, given shift = 63 - b (0 <= b <= 63).
// Shifting by 1 first keeps both shift counts below 64, so b = 0 needs no
// branch and no reliance on oversized-shift semantics.
func bucketOf(hi uint64, shift uint) uint64 { return (hi >> 1) >> shift }

// find returns the index of the entry whose lookup hash equals hash[0:16].
func (t *table) find(h *[32]byte) (int, bool) {
	hi := binary.BigEndian.Uint64(h[0:8])
	lo := binary.BigEndian.Uint64(h[8:16])
	bk := int(bucketOf(hi, t.shift))
	d := t.dir[bk*4 : bk*4+8]
	start := int(binary.LittleEndian.Uint32(d[0:4]))
	end := int(binary.LittleEndian.Uint32(d[4:8]))
	ks, st := t.keys, t.stride
	for i := start; i < end; i++ {
		e := ks[i*st : i*st+hashSize]
		eh := binary.BigEndian.Uint64(e[0:8])
		if eh < hi {
			continue
		}
		if eh > hi {
			return 0, false
		}
		el := binary.BigEndian.Uint64(e[8:16])
		if el == lo {
			return i, true
		}
		if el > lo {
			return 0, false
		}
	}
	return 0, false
}

// ref returns the policy reference of record i: policyIndex<<1 | hasExtras.
func (t *table) ref(i int) uint32 {
	o := i*t.stride + hashSize
	switch t.w {
	case 1:
		return uint32(t.keys[o])
	case 2:
		return uint32(binary.LittleEndian.Uint16(t.keys[o : o+2]))
	default:
		return binary.LittleEndian.Uint32(t.keys[o : o+4])
	}
}

// lookupHash returns the lookup hash of record i.
func (t *table) lookupHash(i int) []byte {
	return t.keys[i*t.stride : i*t.stride+hashSize]
}

// entry decodes entry i (which find returned).
func (t *table) entry(i int, policies []Policy) Entry {
	r := t.ref(i)
	pi := r >> 1
	e := Entry{PolicyIndex: pi, Policy: &policies[pi]}
	if r&1 != 0 {
		// Binary search of i in the sparse index column.
		lo, hi := 0, t.e
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if int(binary.LittleEndian.Uint32(t.xidx[m*4:m*4+4])) < i {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo < t.e {
			v := t.xval[lo*xvalSize : lo*xvalSize+xvalSize]
			e.NotBefore = int64(binary.LittleEndian.Uint64(v[0:8]))
			e.ExpiresAt = int64(binary.LittleEndian.Uint64(v[8:16]))
			e.Disabled = t.xflg[lo]&flagDisabled != 0
		}
	}
	return e
}

// hashWords returns a lookup hash as two big-endian words.
func hashWords(h []byte) (uint64, uint64) {
	return binary.BigEndian.Uint64(h[0:8]), binary.BigEndian.Uint64(h[8:16])
}
