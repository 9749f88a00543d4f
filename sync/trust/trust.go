// Package trust is how an edge comes to trust snapshot signing keys: the document that
// GET /v1/signing-keys serves, and the rule that a new key is trusted only when a key already
// trusted endorses it. A signing-key rotation therefore needs no reconfiguration at the edges,
// and a control plane (or anyone in the middle) cannot introduce a key of its own.
package trust

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keyplane/keyplane/sync/snapshot"
)

// SigningKey is one public signing key. A key other than the first carries the endorsement of
// the key that signed before it: an Ed25519 signature by EndorsedBy over EndorsementMessage.
type SigningKey struct {
	ID          string    `json:"id"`
	PublicKey   []byte    `json:"public_key"` // 32 bytes, base64 in JSON
	CreatedAt   time.Time `json:"created_at"`
	EndorsedBy  string    `json:"endorsed_by,omitempty"`
	Endorsement []byte    `json:"endorsement,omitempty"`
}

// Document is the body of GET /v1/signing-keys: every published key, oldest first; the last
// one signs new snapshots.
type Document struct {
	Keys []SigningKey `json:"keys"`
}

// KeyID is the id of a public key: "sk_" and the first 8 bytes of its SHA-256 in hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return "sk_" + hex.EncodeToString(h[:8])
}

// EndorsementMessage is what an endorsing key signs to vouch for key id with public key pub.
func EndorsementMessage(id string, pub []byte) []byte {
	m := []byte("keyplane signing key endorsement v1\x00")
	m = append(m, id...)
	m = append(m, 0)
	return append(m, pub...)
}

// ErrUntrusted means no key of the document could be reached from the trusted set.
var ErrUntrusted = errors.New("trust: no signing key is endorsed by a trusted key")

// Parse reads a Document and checks its shape (ids match their keys).
func Parse(b []byte) (Document, error) {
	var d Document
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("trust: signing keys document: %w", err)
	}
	for _, k := range d.Keys {
		if len(k.PublicKey) != ed25519.PublicKeySize || KeyID(k.PublicKey) != k.ID {
			return d, fmt.Errorf("trust: signing key %q: bad public key or id", k.ID)
		}
	}
	return d, nil
}

// All trusts every key of the document: for an operator who fetched it over a channel they
// trust (keyplane snapshot verify --signing-keys), or an agent's first start without pinned keys.
func All(d Document) snapshot.Trusted {
	t := snapshot.Trusted{}
	for _, k := range d.Keys {
		t[k.ID] = ed25519.PublicKey(k.PublicKey)
	}
	return t
}

// Extend returns trusted plus every key of d endorsed, directly or through a chain, by a key
// already trusted, and the ids it added. trusted itself is not changed.
func Extend(trusted snapshot.Trusted, d Document) (snapshot.Trusted, []string) {
	out := snapshot.Trusted{}
	for id, k := range trusted {
		out[id] = k
	}
	var added []string
	for progress := true; progress; {
		progress = false
		for _, k := range d.Keys {
			if _, ok := out[k.ID]; ok || k.EndorsedBy == "" {
				continue
			}
			endorser, ok := out[k.EndorsedBy]
			if !ok || len(k.PublicKey) != ed25519.PublicKeySize || KeyID(k.PublicKey) != k.ID ||
				!ed25519.Verify(endorser, EndorsementMessage(k.ID, k.PublicKey), k.Endorsement) {
				continue
			}
			out[k.ID] = ed25519.PublicKey(k.PublicKey)
			added = append(added, k.ID)
			progress = true
		}
	}
	return out, added
}
