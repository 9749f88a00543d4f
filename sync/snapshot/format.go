package snapshot

import "crypto/ed25519"

// Wire constants; docs/snapshot-format.md is the normative description.
const (
	magic         = "KPSN"
	formatVersion = 3

	kindFull  = 1
	kindDelta = 2

	preambleSize = 16
	tocEntrySize = 16
	sectionAlign = 64
	sigSize      = ed25519.SignatureSize
	headFixed    = 84 // HEAD section bytes before the workspace name

	maxKeyIDLen     = 255
	maxWorkspaceLen = 0xFFFF
	maxStringLen    = 0xFFFF
	maxListLen      = 0xFFFF
	maxLevels       = 64 // cascade depth limit (readers and writers)
	maxHashFuncs    = 32 // bloom k limit per level
	maxBlobLen      = 0xFFFFFFFF
)

// Section tags, in wire order.
var (
	tagsFull  = [...]string{"HEAD", "POLI", "KEYS", "XIDX", "XVAL", "XFLG"}
	tagsDelta = [...]string{"HEAD", "POLI", "KEYS", "XIDX", "XVAL", "XFLG", "CASC"}
)

// Section indexes into the tag lists.
const (
	secHEAD = iota
	secPOLI
	secKEYS
	secXIDX
	secXVAL
	secXFLG
	secCASC
)

func tagsFor(kind byte) []string {
	if kind == kindDelta {
		return tagsDelta[:]
	}
	return tagsFull[:]
}

func align(x, a uint64) uint64 { return (x + a - 1) &^ (a - 1) }
