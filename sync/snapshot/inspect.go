package snapshot

import "encoding/binary"

// Summary describes a blob for display.
type Summary struct {
	Header   Header
	Delta    bool
	Keys     int
	Policies int
	Revoked  int // deltas only
}

// Inspect checks a blob's framing and structure and summarizes it WITHOUT verifying its
// signature: for operators' tools only (keyplane snapshot inspect). Anything that decides
// requests uses Open or OpenDelta.
func Inspect(blob []byte) (Summary, error) {
	if len(blob) < preambleSize+sigSize || string(blob[0:4]) != magic {
		return Summary{}, malformed("not a keyplane snapshot")
	}
	kind := blob[6]
	if kind != kindFull && kind != kindDelta {
		return Summary{}, malformed("unknown kind")
	}
	kl := int(blob[7])
	if kl == 0 || preambleSize+kl+sigSize > len(blob) || uint64(binary.LittleEndian.Uint32(blob[8:12])) != uint64(len(blob)) {
		return Summary{}, malformed("bad framing")
	}
	p, err := parseBody(blob, kind)
	if err != nil {
		return Summary{}, err
	}
	p.hdr.KeyID = string(blob[preambleSize : preambleSize+kl])
	return Summary{Header: p.hdr, Delta: kind == kindDelta, Keys: p.t.n, Policies: len(p.policies), Revoked: p.casc.revoked}, nil
}
