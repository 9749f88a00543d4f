package snapshot

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"encoding/binary"
	"slices"
)

// rec is one key while building.
type rec struct {
	hi, lo uint64 // lookup hash as two big-endian words
	nb     int64
	exp    int64
	pol    uint32
	dis    bool
}

func (r *rec) extras() bool { return r.nb != 0 || r.exp != 0 || r.dis }

// encTable is a key table ready to be written.
type encTable struct {
	policies [][]byte // canonical policy encodings, ascending
	recs     []rec    // sorted by lookup hash; pol = final policy index
	slot     []uint32 // slot of each rec
	home     uint64   // home slots
	slots    int      // slots written: max(home, last slot + 1)
	w        int
	e        int // keys with extras
	polBytes int
}

// prepareTable canonicalises policies, sorts the keys, places them in slots and
// checks for duplicate lookup hashes. It does not modify keys.
func prepareTable(keys []Key) (*encTable, error) {
	if uint64(len(keys)) >= 1<<32-1 {
		return nil, invalid("too many keys")
	}
	n := len(keys)
	t := &encTable{home: homeSlotsFor(n)}

	// Deduplicate policies by canonical encoding. Temporary indexes are in
	// order of first appearance; they are remapped below to the order of the
	// sorted encodings, so the result does not depend on input order.
	seen := make(map[string]uint32)
	var encs [][]byte
	var buf []byte
	var scratch []string
	recs := make([]rec, n)
	for i := range keys {
		k := &keys[i]
		var err error
		buf, scratch, err = appendPolicy(buf[:0], &k.Policy, scratch)
		if err != nil {
			return nil, err
		}
		idx, ok := seen[string(buf)]
		if !ok {
			idx = uint32(len(encs))
			c := bytes.Clone(buf)
			encs = append(encs, c)
			seen[string(c)] = idx
		}
		hi, lo := binary.BigEndian.Uint64(k.Hash[0:8]), binary.BigEndian.Uint64(k.Hash[8:16])
		if !Publishable(&k.Hash) {
			return nil, invalid("a key's SHA-256 starts with eight 0xff bytes, the empty slot's mark")
		}
		recs[i] = rec{hi: hi, lo: lo, nb: k.NotBefore, exp: k.ExpiresAt, dis: k.Disabled, pol: idx}
	}
	order := make([]uint32, len(encs))
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(a, b uint32) int { return bytes.Compare(encs[a], encs[b]) })
	remap := make([]uint32, len(encs))
	t.policies = make([][]byte, len(encs))
	for final, tmp := range order {
		remap[tmp] = uint32(final)
		t.policies[final] = encs[tmp]
		t.polBytes += len(encs[tmp])
	}
	t.w = refWidthFor(len(encs))

	// Counting sort by home slot (home slots do not decrease as hashes grow), then sort each
	// (tiny) group; then each key takes its home slot or the one after its predecessor's.
	start := make([]uint32, t.home+1)
	for i := range recs {
		start[homeSlot(recs[i].hi, t.home)+1]++
	}
	for i := uint64(1); i <= t.home; i++ {
		start[i] += start[i-1]
	}
	pos := make([]uint32, t.home)
	copy(pos, start[:t.home])
	sorted := make([]rec, n)
	for i := range recs {
		r := recs[i]
		r.pol = remap[r.pol]
		if r.extras() {
			t.e++
		}
		h := homeSlot(r.hi, t.home)
		sorted[pos[h]] = r
		pos[h]++
	}
	for h := uint64(0); h < t.home; h++ {
		s := sorted[start[h]:start[h+1]]
		// insertion sort: a home slot has about one key
		for i := 1; i < len(s); i++ {
			for j := i; j > 0 && compareRecs(&s[j], &s[j-1]) < 0; j-- {
				s[j], s[j-1] = s[j-1], s[j]
			}
		}
		for i := 1; i < len(s); i++ {
			if s[i].hi == s[i-1].hi && s[i].lo == s[i-1].lo {
				return nil, errf(ErrDuplicateKey, "two keys share a lookup hash (SHA-256[0:16])")
			}
		}
	}
	t.recs = sorted
	t.slot = make([]uint32, n)
	next := uint64(0)
	for i := range sorted {
		h := homeSlot(sorted[i].hi, t.home)
		sl := max(h, next)
		if sl-h > maxDisplacement {
			return nil, invalid("lookup hashes too clustered to place (not SHA-256 output?)")
		}
		t.slot[i] = uint32(sl)
		next = sl + 1
	}
	t.slots = int(max(t.home, next))
	if uint64(t.slots)*uint64(hashSize+t.w) > maxBlobLen {
		return nil, invalid("too many keys")
	}
	return t, nil
}

// compareRecs orders records by lookup hash.
func compareRecs(a, b *rec) int { return cmp.Or(cmp.Compare(a.hi, b.hi), cmp.Compare(a.lo, b.lo)) }

// canonList returns l sorted and deduplicated, copying into scratch only when
// l is not already strictly ascending.
func canonList(l []string, scratch []string) ([]string, []string) {
	ok := true
	for i := 1; i < len(l); i++ {
		if l[i] <= l[i-1] {
			ok = false
			break
		}
	}
	if ok {
		return l, scratch
	}
	scratch = append(scratch[:0], l...)
	slices.Sort(scratch)
	scratch = slices.Compact(scratch)
	return scratch, scratch
}

func appendStr(buf []byte, s string) ([]byte, error) {
	if len(s) > maxStringLen {
		return buf, invalid("policy string longer than 65535 bytes")
	}
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(s)))
	return append(buf, s...), nil
}

func appendList(buf []byte, l []string, scratch []string) ([]byte, []string, error) {
	l, scratch = canonList(l, scratch)
	if len(l) > maxListLen {
		return buf, scratch, invalid("policy list longer than 65535 entries")
	}
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(l)))
	var err error
	for _, s := range l {
		if buf, err = appendStr(buf, s); err != nil {
			return buf, scratch, err
		}
	}
	return buf, scratch, nil
}

// appendPolicy appends the canonical encoding of p (see POLI in the format doc).
func appendPolicy(buf []byte, p *Policy, scratch []string) ([]byte, []string, error) {
	buf = binary.LittleEndian.AppendUint32(buf, p.RateLimit)
	buf = binary.LittleEndian.AppendUint32(buf, p.RateWindow)
	var err error
	if buf, err = appendStr(buf, p.Environment); err != nil {
		return buf, scratch, err
	}
	if buf, err = appendStr(buf, p.Type); err != nil {
		return buf, scratch, err
	}
	if buf, scratch, err = appendList(buf, p.Scopes, scratch); err != nil {
		return buf, scratch, err
	}
	if buf, scratch, err = appendList(buf, p.AllowedCIDRs, scratch); err != nil {
		return buf, scratch, err
	}
	if buf, scratch, err = appendList(buf, p.AllowedHosts, scratch); err != nil {
		return buf, scratch, err
	}
	return buf, scratch, nil
}

// sectionSizes returns the byte length of the eight key-table sections
// (HEAD..XFLG) for t and workspace ws.
func (t *encTable) sectionSizes(ws string) []uint64 {
	e := uint64(t.e)
	return []uint64{
		secHEAD: headFixed + uint64(len(ws)),
		secPOLI: uint64(t.polBytes),
		secKEYS: (hashSize + uint64(t.w)) * uint64(t.slots),
		secXIDX: 4 * e,
		secXVAL: xvalSize * e,
		secXFLG: e,
	}
}

// writeTable writes sections HEAD..XFLG at the offsets given.
func (t *encTable) writeTable(out []byte, off []uint64, h *Header) {
	// HEAD
	p := out[off[secHEAD]:]
	le := binary.LittleEndian
	le.PutUint64(p[0:], h.Version)
	le.PutUint64(p[8:], h.BaseVersion)
	le.PutUint64(p[16:], uint64(h.IssuedAt))
	le.PutUint64(p[24:], uint64(h.ExpiresAt))
	copy(p[32:64], h.BaseDigest[:])
	le.PutUint32(p[64:], uint32(len(t.recs)))
	le.PutUint32(p[68:], uint32(len(t.policies)))
	le.PutUint32(p[72:], uint32(t.e))
	le.PutUint32(p[76:], uint32(t.home))
	p[80] = byte(t.w)
	le.PutUint16(p[82:], uint16(len(h.Workspace)))
	copy(p[headFixed:], h.Workspace)

	// POLI
	p = out[off[secPOLI]:]
	for _, enc := range t.policies {
		p = p[copy(p, enc):]
	}

	// KEYS: every slot empty, then the keys in theirs.
	ks := out[off[secKEYS]:]
	st := hashSize + t.w
	for i := 0; i < t.slots; i++ {
		for j := i * st; j < i*st+hashSize; j++ {
			ks[j] = 0xff
		}
	}
	xidx := out[off[secXIDX]:]
	xval := out[off[secXVAL]:]
	xflg := out[off[secXFLG]:]
	j := 0
	for i := range t.recs {
		r := &t.recs[i]
		sl := int(t.slot[i])
		rec := ks[sl*st : sl*st+st]
		binary.BigEndian.PutUint64(rec[0:], r.hi)
		binary.BigEndian.PutUint64(rec[8:], r.lo)
		ref := r.pol << 1
		if r.extras() {
			ref |= 1
			le.PutUint32(xidx[j*4:], uint32(sl))
			le.PutUint64(xval[j*xvalSize:], uint64(r.nb))
			le.PutUint64(xval[j*xvalSize+8:], uint64(r.exp))
			if r.dis {
				xflg[j] = flagDisabled
			}
			j++
		}
		switch t.w {
		case 1:
			rec[hashSize] = byte(ref)
		case 2:
			le.PutUint16(rec[hashSize:], uint16(ref))
		default:
			le.PutUint32(rec[hashSize:], ref)
		}
	}
}

func checkHeader(h *Header, s *Signer) error {
	if len(s.KeyID) == 0 || len(s.KeyID) > maxKeyIDLen {
		return invalid("signing key id must be 1 to 255 bytes")
	}
	if h.KeyID != "" && h.KeyID != s.KeyID {
		return invalid("header key id differs from the signer's")
	}
	if len(s.Private) != ed25519.PrivateKeySize {
		return invalid("signer has no Ed25519 private key")
	}
	if len(h.Workspace) > maxWorkspaceLen {
		return invalid("workspace name longer than 65535 bytes")
	}
	if h.Version == 0 {
		return invalid("version must be at least 1")
	}
	return nil
}

// assemble lays out preamble, TOC and sections, lets fill write the
// sections, and signs. sizes are the section lengths in tag order.
func assemble(kind byte, keyID string, sizes []uint64, fill func(out []byte, off []uint64), priv ed25519.PrivateKey) ([]byte, error) {
	tocStart := uint64(preambleSize) + align(uint64(len(keyID)), 8)
	pos := tocStart + tocEntrySize*uint64(len(sizes))
	off := make([]uint64, len(sizes))
	for i, sz := range sizes {
		pos = align(pos, sectionAlign)
		off[i] = pos
		pos += sz
	}
	total := pos + sigSize
	if total > maxBlobLen || total > uint64(int(^uint(0)>>1)) {
		return nil, invalid("blob would exceed 4 GiB")
	}
	out := make([]byte, total)
	copy(out, magic)
	binary.LittleEndian.PutUint16(out[4:], formatVersion)
	out[6] = kind
	out[7] = byte(len(keyID))
	binary.LittleEndian.PutUint32(out[8:], uint32(total))
	binary.LittleEndian.PutUint32(out[12:], uint32(len(sizes)))
	copy(out[preambleSize:], keyID)
	tags := tagsFor(kind)
	for i := range sizes {
		e := out[tocStart+uint64(i)*tocEntrySize:]
		copy(e[0:4], tags[i])
		binary.LittleEndian.PutUint32(e[4:], uint32(off[i]))
		binary.LittleEndian.PutUint32(e[8:], uint32(sizes[i]))
	}
	fill(out, off)
	sigOff := total - sigSize
	copy(out[sigOff:], ed25519.Sign(priv, out[:sigOff]))
	return out, nil
}

// BuildFull encodes and signs a full snapshot of keys, the active keys of the
// workspace (revoked keys are simply absent). The result depends only on the
// arguments, not on the order of keys nor on the order of the policy lists.
// h.BaseVersion and h.BaseDigest must be zero; h.KeyID may be empty (the
// signer's id is written) or must equal s.KeyID.
func BuildFull(h Header, keys []Key, s Signer) ([]byte, error) {
	if err := checkHeader(&h, &s); err != nil {
		return nil, err
	}
	if h.BaseVersion != 0 || h.BaseDigest != ([32]byte{}) {
		return nil, invalid("a full snapshot has no base")
	}
	t, err := prepareTable(keys)
	if err != nil {
		return nil, err
	}
	return assemble(kindFull, s.KeyID, t.sectionSizes(h.Workspace), func(out []byte, off []uint64) {
		t.writeTable(out, off, &h)
	}, s.Private)
}

// BuildDelta encodes and signs a delta from base to version h.Version.
// upserts are the keys created or changed since base (full entries); revoked
// are the hashes of keys revoked since base. Revoked hashes that base does
// not hold are dropped (such keys must simply be absent from upserts); a
// hash may not be both upserted and revoked (ErrInvalidInput). Deltas are cumulative: pass
// everything since base, not since the previous delta.
//
// h.Workspace must equal the base's. h.BaseVersion and h.BaseDigest may be
// zero (they are filled in from base) or must match base; h.Version must be
// greater than the base's version.
func BuildDelta(h Header, base *Snapshot, upserts []Key, revoked [][32]byte, s Signer) ([]byte, error) {
	if base == nil {
		return nil, invalid("nil base")
	}
	if err := checkHeader(&h, &s); err != nil {
		return nil, err
	}
	bh := base.Header()
	if h.Workspace != bh.Workspace {
		return nil, invalid("workspace differs from the base's")
	}
	if h.BaseVersion == 0 {
		h.BaseVersion = bh.Version
	}
	if h.BaseDigest == ([32]byte{}) {
		h.BaseDigest = base.Digest()
	}
	if h.BaseVersion != bh.Version || h.BaseDigest != base.Digest() {
		return nil, invalid("base version or digest differs from base")
	}
	if h.Version <= bh.Version {
		return nil, invalid("delta version must be greater than the base's")
	}
	t, err := prepareTable(upserts)
	if err != nil {
		return nil, err
	}
	// Revoked keys, as slots of the base table.
	bt := &base.t
	isRevoked := make([]bool, bt.slots)
	var inc [][hashSize]byte
	for i := range revoked {
		var h16 [hashSize]byte
		copy(h16[:], revoked[i][:hashSize])
		if _, up := t.find(h16); up {
			return nil, invalid("a key is both upserted and revoked")
		}
		idx, ok := bt.find(&revoked[i])
		if !ok || isRevoked[idx] {
			continue
		}
		isRevoked[idx] = true
		inc = append(inc, h16)
	}
	return finishDelta(h, t, inc, bt.n-len(inc), func(yield func(h *[hashSize]byte)) {
		var h16 [hashSize]byte
		for i := 0; i < bt.slots; i++ {
			if bt.occupied(i) && !isRevoked[i] {
				copy(h16[:], bt.lookupHash(i))
				yield(&h16)
			}
		}
	}, s)
}

// BuildDeltaFrom builds a delta without the base blob, for a publisher that keeps the current key
// set rather than every base it has served. h must name the base (BaseVersion, BaseDigest).
// unchanged must enumerate, n times, the lookup hashes (SHA-256(key)[0:16]) of every base key
// that is neither revoked nor upserted: the cascade is made exact over them, so none of them is
// ever denied. revoked may hold hashes the base never had; they cost filter bits and nothing else.
func BuildDeltaFrom(h Header, upserts []Key, revoked [][32]byte, n int, unchanged func(yield func(h *[16]byte)), s Signer) ([]byte, error) {
	if err := checkHeader(&h, &s); err != nil {
		return nil, err
	}
	if h.BaseDigest == ([32]byte{}) || h.Version <= h.BaseVersion {
		return nil, invalid("a delta needs a base digest and a version after its base's")
	}
	t, err := prepareTable(upserts)
	if err != nil {
		return nil, err
	}
	inc := make([][hashSize]byte, 0, len(revoked))
	for i := range revoked {
		var h16 [hashSize]byte
		copy(h16[:], revoked[i][:hashSize])
		if _, up := t.find(h16); up {
			return nil, invalid("a key is both upserted and revoked")
		}
		inc = append(inc, h16)
	}
	slices.SortFunc(inc, func(a, b [hashSize]byte) int { return bytes.Compare(a[:], b[:]) })
	inc = slices.Compact(inc)
	return finishDelta(h, t, inc, n, unchanged, s)
}

// finishDelta builds the revocation cascade (exact over inc and the nExclude hashes that
// eachExclude yields) and assembles and signs the delta.
func finishDelta(h Header, t *encTable, inc [][hashSize]byte, nExclude int, eachExclude func(func(*[hashSize]byte)), s Signer) ([]byte, error) {
	// Sort for determinism (the cascade's bits do not depend on insertion
	// order, but false-positive lists are built in this order).
	slices.SortFunc(inc, func(a, b [hashSize]byte) int { return bytes.Compare(a[:], b[:]) })
	levels, err := buildCascade(inc, nExclude, eachExclude)
	if err != nil {
		return nil, err
	}
	sizes := append(t.sectionSizes(h.Workspace), cascadeSize(levels))
	return assemble(kindDelta, s.KeyID, sizes, func(out []byte, off []uint64) {
		t.writeTable(out, off, &h)
		writeCascade(out[off[secCASC]:], levels, len(inc))
	}, s.Private)
}

// find reports whether the prepared table holds lookup hash h.
func (t *encTable) find(h [hashSize]byte) (int, bool) {
	hi, lo := binary.BigEndian.Uint64(h[0:8]), binary.BigEndian.Uint64(h[8:16])
	return slices.BinarySearchFunc(t.recs, rec{hi: hi, lo: lo}, func(a, b rec) int { return compareRecs(&a, &b) })
}
