package snapshot

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
)

// Open verifies and opens a full snapshot. Checks, in this order: size cap
// (ErrTooLarge), framing, magic and format version (ErrMalformed,
// ErrUnsupportedFormat, ErrWrongKind), signing key trusted
// (ErrUnknownSigningKey), signature (ErrBadSignature), then structure: every
// offset and length is bounds-checked and the tables are validated
// (ErrMalformed). The key table is not copied: the Snapshot reads blob in
// place, so the caller must not modify blob afterwards.
func Open(blob []byte, trusted Trusted, lim Limits) (*Snapshot, error) {
	keyID, err := verifyFrame(blob, trusted, lim, kindFull)
	if err != nil {
		return nil, err
	}
	p, err := parseBody(blob, kindFull)
	if err != nil {
		return nil, err
	}
	p.hdr.KeyID = keyID
	return &Snapshot{blob: blob, hdr: p.hdr, digest: sha256.Sum256(blob), policies: p.policies, t: p.t}, nil
}

// OpenDelta verifies and opens a delta, with the checks of Open. Whether it
// applies to a given base is checked by Snapshot.Apply.
func OpenDelta(blob []byte, trusted Trusted, lim Limits) (*Delta, error) {
	keyID, err := verifyFrame(blob, trusted, lim, kindDelta)
	if err != nil {
		return nil, err
	}
	p, err := parseBody(blob, kindDelta)
	if err != nil {
		return nil, err
	}
	p.hdr.KeyID = keyID
	return &Delta{blob: blob, hdr: p.hdr, digest: sha256.Sum256(blob), policies: p.policies, t: p.t, casc: p.casc,
		upserted: newUpserted(&p.t)}, nil
}

// verifyFrame performs the checks up to and including the signature and
// returns the signing key id.
func verifyFrame(blob []byte, trusted Trusted, lim Limits, want byte) (string, error) {
	max := lim.MaxBytes
	if max <= 0 {
		max = DefaultMaxBytes
	}
	if len(blob) > max {
		return "", errf(ErrTooLarge, "blob longer than Limits.MaxBytes")
	}
	if len(blob) < preambleSize+sigSize {
		return "", malformed("blob too short")
	}
	if string(blob[0:4]) != magic {
		return "", malformed("bad magic")
	}
	if binary.LittleEndian.Uint16(blob[4:6]) != formatVersion {
		return "", errf(ErrUnsupportedFormat, "format version is not 3")
	}
	kind := blob[6]
	if kind != kindFull && kind != kindDelta {
		return "", malformed("unknown kind")
	}
	if kind != want {
		if want == kindFull {
			return "", errf(ErrWrongKind, "blob is a delta, not a full snapshot")
		}
		return "", errf(ErrWrongKind, "blob is a full snapshot, not a delta")
	}
	if uint64(binary.LittleEndian.Uint32(blob[8:12])) != uint64(len(blob)) {
		return "", malformed("length field differs from blob length")
	}
	kl := int(blob[7])
	if kl == 0 || preambleSize+kl+sigSize > len(blob) {
		return "", malformed("bad signing key id length")
	}
	idb := blob[preambleSize : preambleSize+kl]
	pub, ok := trusted[string(idb)]
	if !ok {
		return "", errf(ErrUnknownSigningKey, "signing key id not trusted")
	}
	if len(pub) != ed25519.PublicKeySize {
		return "", errf(ErrUnknownSigningKey, "trusted key is not an Ed25519 public key")
	}
	sigOff := len(blob) - sigSize
	if !ed25519.Verify(pub, blob[:sigOff], blob[sigOff:]) {
		return "", errf(ErrBadSignature, "")
	}
	return string(idb), nil
}

type parsed struct {
	hdr      Header
	policies []Policy
	t        table
	casc     cascade
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// parseBody checks the structure of a blob whose framing and signature have
// been verified.
func parseBody(blob []byte, kind byte) (parsed, error) {
	var p parsed
	le := binary.LittleEndian
	total := uint64(len(blob))
	sigOff := total - sigSize
	kl := uint64(blob[7])
	tocStart := preambleSize + align(kl, 8)
	tags := tagsFor(kind)
	if le.Uint32(blob[12:16]) != uint32(len(tags)) {
		return p, malformed("unexpected section count")
	}
	tocEnd := tocStart + tocEntrySize*uint64(len(tags))
	if tocEnd > sigOff {
		return p, malformed("section table out of bounds")
	}
	if !allZero(blob[preambleSize+kl : tocStart]) {
		return p, malformed("non-zero padding after key id")
	}
	var sec [len(tagsDelta)][]byte
	prevEnd := tocEnd
	for i, tag := range tags {
		e := blob[tocStart+uint64(i)*tocEntrySize:]
		if string(e[0:4]) != tag {
			return p, malformed("unexpected section tag")
		}
		off := uint64(le.Uint32(e[4:8]))
		n := uint64(le.Uint32(e[8:12]))
		if le.Uint32(e[12:16]) != 0 {
			return p, malformed("non-zero reserved field in section table")
		}
		if off != align(prevEnd, sectionAlign) || off+n > sigOff {
			return p, malformed("section out of place or out of bounds")
		}
		if !allZero(blob[prevEnd:off]) {
			return p, malformed("non-zero padding between sections")
		}
		sec[i] = blob[off : off+n]
		prevEnd = off + n
	}
	if prevEnd != sigOff {
		return p, malformed("bytes between last section and signature")
	}

	// HEAD
	h := sec[secHEAD]
	if len(h) < headFixed {
		return p, malformed("HEAD too short")
	}
	p.hdr.Version = le.Uint64(h[0:])
	p.hdr.BaseVersion = le.Uint64(h[8:])
	p.hdr.IssuedAt = int64(le.Uint64(h[16:]))
	p.hdr.ExpiresAt = int64(le.Uint64(h[24:]))
	copy(p.hdr.BaseDigest[:], h[32:64])
	n := uint64(le.Uint32(h[64:]))
	np := uint64(le.Uint32(h[68:]))
	ne := uint64(le.Uint32(h[72:]))
	home := uint64(le.Uint32(h[76:]))
	w := uint64(h[80])
	reserved := h[81]
	wsLen := uint64(le.Uint16(h[82:]))
	if uint64(len(h)) != headFixed+wsLen {
		return p, malformed("HEAD length differs from workspace length")
	}
	p.hdr.Workspace = string(h[headFixed:])
	if p.hdr.Version == 0 {
		return p, malformed("version 0")
	}
	if kind == kindFull {
		if p.hdr.BaseVersion != 0 || !allZero(p.hdr.BaseDigest[:]) {
			return p, malformed("full snapshot names a base")
		}
	} else if p.hdr.Version <= p.hdr.BaseVersion {
		return p, malformed("delta version not above its base version")
	}
	if reserved != 0 {
		return p, malformed("non-zero reserved byte in HEAD")
	}
	if (n == 0) != (home == 0) {
		return p, malformed("home slots and key count disagree")
	}
	if w != uint64(refWidthFor(int(min(np, 1<<31)))) {
		return p, malformed("policy reference width is not the minimal one")
	}
	if ne > n {
		return p, malformed("more extras than keys")
	}
	slots := uint64(len(sec[secKEYS])) / (hashSize + w)
	if uint64(len(sec[secKEYS])) != (hashSize+w)*slots || slots < n || slots < home ||
		uint64(len(sec[secXIDX])) != 4*ne ||
		uint64(len(sec[secXVAL])) != xvalSize*ne ||
		uint64(len(sec[secXFLG])) != ne {
		return p, malformed("section length differs from header counts")
	}
	if np > uint64(len(sec[secPOLI]))/18 { // a policy takes at least 18 bytes
		return p, malformed("policy count too large for POLI")
	}

	// POLI
	pols, err := parsePolicies(sec[secPOLI], int(np))
	if err != nil {
		return p, err
	}
	p.policies = pols

	t := table{
		n:      int(n),
		slots:  int(slots),
		home:   home,
		keys:   sec[secKEYS],
		w:      int(w),
		stride: hashSize + int(w),
		xidx:   sec[secXIDX],
		xval:   sec[secXVAL],
		xflg:   sec[secXFLG],
		e:      int(ne),
	}
	if err := t.validate(uint32(np)); err != nil {
		return p, err
	}
	p.t = t

	if kind == kindDelta {
		c, err := parseCascade(sec[secCASC])
		if err != nil {
			return p, err
		}
		p.casc = c
	}
	return p, nil
}

// validate checks the slots (every key at or after its home slot with no empty slot in between,
// keys strictly ascending, empty slots canonical, no trailing empty slot past the home slots), the
// policy references and the sparse table. It reads every slot once and copies nothing. These are
// the invariants that make a lookup's scan from the home slot find every key it holds.
func (t *table) validate(np uint32) error {
	count, extras := 0, 0
	var prevHi, prevLo uint64
	for i := 0; i < t.slots; i++ {
		rec := t.keys[i*t.stride : (i+1)*t.stride]
		hi, lo := hashWords(rec)
		if hi == emptyHi {
			if lo != ^uint64(0) || !allZero(rec[hashSize:]) {
				return malformed("empty slot not canonical")
			}
			continue
		}
		if count > 0 && (hi < prevHi || hi == prevHi && lo <= prevLo) {
			return malformed("key table not strictly ascending")
		}
		h := homeSlot(hi, t.home)
		if h > uint64(i) || h < uint64(i) && !t.occupied(i-1) {
			return malformed("key not reachable from its home slot")
		}
		if uint64(i)-h > maxDisplacement {
			return malformed("key too far from its home slot")
		}
		if err := t.validateRef(i, np, &extras); err != nil {
			return err
		}
		prevHi, prevLo = hi, lo
		count++
	}
	if count != t.n {
		return malformed("key table holds a different number of keys than HEAD says")
	}
	if t.slots > int(t.home) && !t.occupied(t.slots-1) {
		return malformed("empty slot past the home slots")
	}
	if extras != t.e {
		return malformed("sparse table has unreferenced records")
	}
	return nil
}

// validateRef checks the policy reference of the key in slot i and, when it has extras, that the
// sparse table's next record (*next) is its and well-formed.
func (t *table) validateRef(i int, np uint32, next *int) error {
	le := binary.LittleEndian
	r := t.ref(i)
	if r>>1 >= np {
		return malformed("policy reference out of range")
	}
	if r&1 == 0 {
		return nil
	}
	j := *next
	if j >= t.e || int(le.Uint32(t.xidx[j*4:])) != i {
		return malformed("sparse table does not match the extras flags")
	}
	v, f := t.xval[j*xvalSize:], t.xflg[j]
	if f&^flagDisabled != 0 {
		return malformed("unknown extras flag")
	}
	if f == 0 && le.Uint64(v[0:]) == 0 && le.Uint64(v[8:]) == 0 {
		return malformed("empty extras record")
	}
	*next = j + 1
	return nil
}

// reader decodes the policy table.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) u16() int {
	if len(r.b) < 2 {
		r.bad = true
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b)
	r.b = r.b[2:]
	return int(v)
}

func (r *reader) u32() uint32 {
	if len(r.b) < 4 {
		r.bad = true
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) str() string {
	n := r.u16()
	if r.bad || len(r.b) < n {
		r.bad = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// list decodes a list and reports whether it is strictly ascending.
func (r *reader) list() ([]string, bool) {
	n := r.u16()
	if r.bad || n*2 > len(r.b) {
		r.bad = true
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	l := make([]string, n)
	for i := range l {
		l[i] = r.str()
		if r.bad {
			return nil, false
		}
		if i > 0 && l[i] <= l[i-1] {
			return nil, false
		}
	}
	return l, true
}

func parsePolicies(b []byte, np int) ([]Policy, error) {
	pols := make([]Policy, np)
	r := reader{b: b}
	var prev []byte
	for i := range pols {
		start := r.b
		p := &pols[i]
		p.RateLimit = r.u32()
		p.RateWindow = r.u32()
		p.Environment = r.str()
		p.Type = r.str()
		var ok1, ok2, ok3 bool
		p.Scopes, ok1 = r.list()
		p.AllowedCIDRs, ok2 = r.list()
		p.AllowedHosts, ok3 = r.list()
		if r.bad {
			return nil, malformed("POLI truncated")
		}
		if !ok1 || !ok2 || !ok3 {
			return nil, malformed("policy list not strictly ascending")
		}
		enc := start[:len(start)-len(r.b)]
		if i > 0 && string(enc) <= string(prev) {
			return nil, malformed("policy table not strictly ascending")
		}
		prev = enc
	}
	if len(r.b) != 0 {
		return nil, malformed("POLI has trailing bytes")
	}
	return pols, nil
}
