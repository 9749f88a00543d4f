// Package snapshot is the signed wire format of keyplane's full snapshots and
// deltas: the set of active API keys (by hash) with their policies, as the
// control plane publishes it to edge verifiers.
//
// A full snapshot holds, for every active key, a 16-byte lookup hash
// (SHA-256(key)[0:16]), a reference into a deduplicated policy table, and, for
// the few keys that have them, not-before/expiry/disabled attributes in a
// sparse side table. Keys sit in slots by ordered linear probing: a lookup
// computes the key's home slot from its hash and scans a few slots from there,
// one random memory read. Opening a
// snapshot verifies the Ed25519 signature and bounds-checks every section; the
// key table is then read in place, and lookups allocate nothing.
//
// A delta is bound to one base snapshot (version and SHA-256 digest). It holds
// the keys created or changed since the base, as a key table of the same
// format, and the base keys revoked since the base as a CRLite-style Bloom
// filter cascade that is exact over the base's key set. Deltas are cumulative:
// an edge keeps one base and the newest delta for it.
//
// The byte layout is specified in docs/snapshot-format.md.
//
// The package builds with TinyGo for wasip1: it uses no reflection, no
// encoding/json and no fmt.
package snapshot

import (
	"crypto/ed25519"
	"errors"
)

// Errors returned by this package. Every error matches exactly one of these
// sentinels with errors.Is; most carry a detail string (see Error).
var (
	// ErrTooLarge: the blob exceeds Limits.MaxBytes. Checked before any parsing.
	ErrTooLarge = errors.New("snapshot: blob exceeds size limit")
	// ErrMalformed: framing or structure is invalid.
	ErrMalformed = errors.New("snapshot: malformed blob")
	// ErrUnsupportedFormat: the magic is right but the format version is not one this code reads.
	ErrUnsupportedFormat = errors.New("snapshot: unsupported format version")
	// ErrWrongKind: a delta given to Open, or a full snapshot given to OpenDelta.
	ErrWrongKind = errors.New("snapshot: wrong blob kind")
	// ErrUnknownSigningKey: the signing key id is not in the trusted set (or its key is not an Ed25519 public key).
	ErrUnknownSigningKey = errors.New("snapshot: unknown signing key")
	// ErrBadSignature: the Ed25519 signature does not verify.
	ErrBadSignature = errors.New("snapshot: bad signature")
	// ErrBaseMismatch: a delta was applied to a snapshot other than its base
	// (workspace, base version or base digest differ).
	ErrBaseMismatch = errors.New("snapshot: delta does not apply to this base")
	// ErrInvalidInput: BuildFull or BuildDelta was given input it cannot encode.
	ErrInvalidInput = errors.New("snapshot: invalid build input")
	// ErrDuplicateKey: two keys given to a builder share a lookup hash.
	ErrDuplicateKey = errors.New("snapshot: duplicate key hash")
)

// Error is the concrete error type: Err is one of the sentinels above, Detail
// says what was wrong.
type Error struct {
	Err    error
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + e.Detail
}

func (e *Error) Unwrap() error { return e.Err }

func errf(sentinel error, detail string) error { return &Error{Err: sentinel, Detail: detail} }

func malformed(detail string) error { return &Error{Err: ErrMalformed, Detail: detail} }

func invalid(detail string) error { return &Error{Err: ErrInvalidInput, Detail: detail} }

// Policy is what a key may do. Keys with equal policies share one entry of the
// policy table. The builders sort and deduplicate the three lists; decoded
// policies always have them sorted and deduplicated.
type Policy struct {
	Scopes       []string // e.g. "events:write"
	Environment  string   // "live" | "test"
	Type         string   // "GENERIC", "ONBOARDING", "GCP", "AWS"
	AllowedCIDRs []string // canonical netip.Prefix strings; empty = any
	AllowedHosts []string // lower-case host names, "*.example.com" allowed; empty = any
	RateLimit    uint32   // requests per window; 0 = none
	RateWindow   uint32   // seconds
}

// Key is one active key as given to the builders.
type Key struct {
	Hash      [32]byte // SHA-256 of the full key; the wire holds Hash[0:16]
	Policy    Policy
	NotBefore int64 // unix seconds, 0 = none
	ExpiresAt int64 // unix seconds, 0 = none
	Disabled  bool
}

// Header is the signed metadata of a snapshot or delta.
//
// For a full snapshot BaseVersion and BaseDigest are zero. For a delta they
// name its base: BaseVersion is the base's Version and BaseDigest the base's
// Digest (SHA-256 of the whole base blob). The agent enforces version
// monotonicity and expiry with these fields.
type Header struct {
	Workspace   string
	Version     uint64
	BaseVersion uint64
	BaseDigest  [32]byte
	IssuedAt    int64  // unix seconds
	ExpiresAt   int64  // unix seconds after which agents must not use it (checked by the agent)
	KeyID       string // id of the signing key
}

// Signer signs blobs. KeyID is written into the blob so that verifiers can
// pick the public key from their Trusted set.
type Signer struct {
	KeyID   string
	Private ed25519.PrivateKey
}

// Trusted maps signing key ids to Ed25519 public keys.
type Trusted map[string]ed25519.PublicKey

// DefaultMaxBytes is the size cap used when Limits.MaxBytes is zero or negative.
const DefaultMaxBytes = 256 << 20

// Limits bound the input accepted by Open and OpenDelta.
type Limits struct {
	MaxBytes int // checked before any parsing; <= 0 means DefaultMaxBytes
}

// Entry is the result of a lookup: a small value, returned without allocation.
type Entry struct {
	// Policy points into the decoded policy table of the snapshot or delta that
	// holds the entry. Treat it as read-only.
	Policy *Policy
	// PolicyIndex is Policy's index in that table (Snapshot.Policy or Delta.Policy).
	PolicyIndex uint32
	NotBefore   int64 // unix seconds, 0 = none
	ExpiresAt   int64 // unix seconds, 0 = none
	Disabled    bool
	// FromDelta is true when a View found the entry among the delta's upserts.
	FromDelta bool
}

// Snapshot is an opened, verified full snapshot. It reads the blob given to
// Open in place: the caller must not modify that slice afterwards. A Snapshot
// is immutable and safe for concurrent use.
type Snapshot struct {
	blob     []byte
	hdr      Header
	digest   [32]byte
	policies []Policy
	t        table
}

// Header returns the signed header.
func (s *Snapshot) Header() Header { return s.hdr }

// Digest returns SHA-256 of the whole blob (signature included); deltas name
// their base by it.
func (s *Snapshot) Digest() [32]byte { return s.digest }

// Len returns the number of keys.
func (s *Snapshot) Len() int { return s.t.n }

// Size returns the length of the blob in bytes.
func (s *Snapshot) Size() int { return len(s.blob) }

// Bytes returns the verified blob (not a copy; do not modify it). It is valid while s is
// reachable: the sync agent opens a large blob from memory it unmaps once the Snapshot is garbage
// (internal/hugepage), so a caller that keeps the bytes longer must copy them.
func (s *Snapshot) Bytes() []byte { return s.blob }

// NumPolicies returns the number of entries of the policy table.
func (s *Snapshot) NumPolicies() int { return len(s.policies) }

// Policy returns entry i of the policy table, or nil if i is out of range.
// The result is shared: treat it as read-only.
func (s *Snapshot) Policy(i int) *Policy {
	if i < 0 || i >= len(s.policies) {
		return nil
	}
	return &s.policies[i]
}

// Lookup finds the key whose SHA-256 is *hash. Only hash[0:16] is compared.
// It reads the blob in place and allocates nothing.
func (s *Snapshot) Lookup(hash *[32]byte) (Entry, bool) {
	i, ok := s.t.find(hash)
	if !ok {
		return Entry{}, false
	}
	return s.t.entry(i, s.policies), true
}

// Delta is an opened, verified delta. Like Snapshot it reads its blob in place
// and is safe for concurrent use.
type Delta struct {
	blob     []byte
	hdr      Header
	digest   [32]byte
	policies []Policy
	t        table
	casc     cascade
	upserted upserted // in memory only: a filter in front of t
}

// Header returns the signed header; BaseVersion and BaseDigest name the base.
func (d *Delta) Header() Header { return d.hdr }

// Digest returns SHA-256 of the whole blob.
func (d *Delta) Digest() [32]byte { return d.digest }

// Len returns the number of upserted keys.
func (d *Delta) Len() int { return d.t.n }

// Revoked returns the number of base keys the delta revokes.
func (d *Delta) Revoked() int { return d.casc.revoked }

// Size returns the length of the blob in bytes.
func (d *Delta) Size() int { return len(d.blob) }

// Bytes returns the verified blob (not a copy; do not modify it), valid while d is reachable (see
// Snapshot.Bytes).
func (d *Delta) Bytes() []byte { return d.blob }

// NumPolicies returns the number of entries of the delta's policy table.
func (d *Delta) NumPolicies() int { return len(d.policies) }

// Policy returns entry i of the delta's policy table, or nil if out of range.
func (d *Delta) Policy(i int) *Policy {
	if i < 0 || i >= len(d.policies) {
		return nil
	}
	return &d.policies[i]
}

// Lookup finds *hash among the delta's upserts only.
func (d *Delta) Lookup(hash *[32]byte) (Entry, bool) {
	i, ok := d.t.find(hash)
	if !ok {
		return Entry{}, false
	}
	e := d.t.entry(i, d.policies)
	e.FromDelta = true
	return e, true
}

// Revokes reports whether the delta revokes *hash. The answer is exact only
// for keys of the delta's base snapshot; for any other hash it is meaningless
// (the cascade may answer either way).
func (d *Delta) Revokes(hash *[32]byte) bool { return d.casc.contains(hash) }

// View is a base snapshot combined with one delta built on it. It is
// immutable and safe for concurrent use.
type View struct {
	base  *Snapshot
	delta *Delta
}

// Apply combines s with d. It refuses (ErrBaseMismatch) a delta whose
// workspace, base version or base digest differ from s. It costs O(1): the
// View reads both blobs in place.
func (s *Snapshot) Apply(d *Delta) (*View, error) {
	if d == nil {
		return nil, errf(ErrBaseMismatch, "nil delta")
	}
	if d.hdr.Workspace != s.hdr.Workspace {
		return nil, errf(ErrBaseMismatch, "workspace differs")
	}
	if d.hdr.BaseVersion != s.hdr.Version {
		return nil, errf(ErrBaseMismatch, "base version differs")
	}
	if d.hdr.BaseDigest != s.digest {
		return nil, errf(ErrBaseMismatch, "base digest differs")
	}
	return &View{base: s, delta: d}, nil
}

// Base returns the view's base snapshot.
func (v *View) Base() *Snapshot { return v.base }

// Delta returns the view's delta.
func (v *View) Delta() *Delta { return v.delta }

// Header returns the delta's header: its Version is the view's version.
func (v *View) Header() Header { return v.delta.hdr }

// Lookup finds *hash among the delta's upserts first, then in the base unless
// the delta revokes it. It allocates nothing.
func (v *View) Lookup(hash *[32]byte) (Entry, bool) {
	if v.delta.upserted.mayHold(hash) { // most keys are not upserted: skip the delta's table
		if i, ok := v.delta.t.find(hash); ok {
			e := v.delta.t.entry(i, v.delta.policies)
			e.FromDelta = true
			return e, true
		}
	}
	i, ok := v.base.t.find(hash)
	if !ok {
		return Entry{}, false
	}
	if v.delta.casc.contains(hash) {
		return Entry{}, false
	}
	return v.base.t.entry(i, v.base.policies), true
}
