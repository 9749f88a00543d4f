package snapshot

import (
	"encoding/binary"
	"math/bits"
)

// Sizes of the key table's columns (see docs/snapshot-format.md).
const (
	hashSize     = 16 // lookup hash = SHA-256(key)[0:16]
	xvalSize     = 16 // NotBefore int64 + ExpiresAt int64
	flagDisabled = 1  // XFLG bit 0
	// emptyHi is the first word of an empty slot (its 16 hash bytes are all 0xFF). No key's lookup
	// hash starts with it (the builder refuses one), and it sorts above every key's, so a scan
	// stops at an empty slot as it stops at a greater key.
	emptyHi = ^uint64(0)
)

// table is a key table read in place: all slices alias the blob.
//
// The keys sit in slots, in ascending order of lookup hash, each at or after its home slot (the
// high word of hi*home, where hi is the hash's first 64 bits), with no empty slot between a key and
// its home: ordered linear probing. A lookup computes the home slot and scans forward from it, so
// it costs one random memory read (the home slot's cache line, often with the adjacent one) where
// a bucket directory cost two dependent ones (the directory's entry, then the records it points to).
type table struct {
	n      int    // keys
	slots  int    // records in keys, n of them occupied
	home   uint64 // number of home slots; 0 when n = 0
	keys   []byte // slots records of stride bytes: lookup hash (16), ref (w bytes LE)
	w      int    // ref width: 1, 2 or 4
	stride int    // 16 + w
	xidx   []byte // e * uint32 LE, ascending slot indexes
	xval   []byte // e * (int64 NotBefore, int64 ExpiresAt) LE
	xflg   []byte // e * uint8 flags
	e      int
}

// Publishable reports whether a key whose SHA-256 is h can be placed in a snapshot: every key but
// one whose hash starts with eight 0xff bytes, the empty slot's mark (2^-64 of keys). The control
// plane draws another key instead of creating one that is not.
func Publishable(h *[32]byte) bool { return binary.BigEndian.Uint64(h[0:8]) != emptyHi }

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

// maxDisplacement bounds how far past its home slot a key may sit (readers refuse a table with a
// key further away), so that no signed table, however built, makes a lookup scan more than this
// many slots. The writer's tables stay far below it: 40 at a million keys (TestSlots).
const maxDisplacement = 1024

// homeSlotsFor returns the builder's number of home slots for n keys: n + n/8, so that about 8 of
// 9 slots hold a key and the table is as large as the key records plus the directory it replaces.
// A key then sits on average 4 slots (68 bytes) past its home, at most 40 at a million keys
// (TestSlots logs both).
func homeSlotsFor(n int) uint64 { return uint64(n + n/8) }

// homeSlot returns the home slot of a key whose lookup hash starts with hi: the high word of
// hi*home, which is below home and does not decrease as hi grows.
func homeSlot(hi, home uint64) uint64 {
	s, _ := bits.Mul64(hi, home)
	return s
}

// find returns the slot of the key whose lookup hash equals hash[0:16].
func (t *table) find(h *[32]byte) (int, bool) {
	hi := binary.BigEndian.Uint64(h[0:8])
	lo := binary.BigEndian.Uint64(h[8:16])
	if hi == emptyHi {
		return 0, false // would match an empty slot; no key has it
	}
	ks, st := t.keys, t.stride
	for i := int(homeSlot(hi, t.home)); i < t.slots; i++ {
		e := ks[i*st : i*st+hashSize]
		eh := binary.BigEndian.Uint64(e[0:8])
		if eh < hi {
			continue
		}
		if eh > hi { // a greater key or an empty slot
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

// occupied reports whether slot i holds a key.
func (t *table) occupied(i int) bool {
	return binary.BigEndian.Uint64(t.keys[i*t.stride:]) != emptyHi
}

// ref returns the policy reference of slot i: policyIndex<<1 | hasExtras.
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

// lookupHash returns the lookup hash of slot i.
func (t *table) lookupHash(i int) []byte {
	return t.keys[i*t.stride : i*t.stride+hashSize]
}

// entry decodes entry i (which find returned).
func (t *table) entry(i int, policies []Policy) Entry {
	r := t.ref(i)
	pi := r >> 1
	e := Entry{PolicyIndex: pi, Policy: &policies[pi]}
	if r&1 != 0 {
		// Binary search of slot i in the sparse index column.
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
