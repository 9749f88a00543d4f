// Package signing keeps the control plane's snapshot signing keys: a keyring file (mode 0600) in
// the data directory or at a path of the operator's choice, or one key from the environment.
// The newest key signs; every key in the ring is published, so after a rotation edges can move
// from the old key to the new one through its endorsement (package sync/trust).
package signing

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/sync/trust"
)

// entry is one key as the keyring file holds it.
type entry struct {
	Seed        []byte    `json:"seed"` // the Ed25519 private key seed, base64
	CreatedAt   time.Time `json:"created_at"`
	EndorsedBy  string    `json:"endorsed_by,omitempty"`
	Endorsement []byte    `json:"endorsement,omitempty"`
}

type fileFormat struct {
	Keys []entry `json:"keys"`
}

// Ring is a set of signing keys, oldest first; the last one signs.
type Ring struct {
	keys []entry
}

// Generate returns a ring with one new key.
func Generate(r io.Reader, now time.Time) (*Ring, error) {
	ring := &Ring{}
	return ring, ring.Rotate(r, now, 0)
}

// FromSeed returns a ring holding the one key with this 32-byte seed (base64), as an operator
// passes it in KEYPLANE_SIGNING_KEY.
func FromSeed(b64 string) (*Ring, error) {
	seed, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("signing: a key seed must be 32 bytes in base64")
	}
	return &Ring{keys: []entry{{Seed: seed}}}, nil
}

// Rotate adds a new key, endorsed by the current signer, which it replaces as signer. keep > 0
// drops the oldest keys beyond that many.
func (r *Ring) Rotate(rand io.Reader, now time.Time, keep int) error {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return err
	}
	e := entry{Seed: seed, CreatedAt: now.UTC()}
	if len(r.keys) > 0 {
		cur := r.keys[len(r.keys)-1]
		priv := ed25519.NewKeyFromSeed(cur.Seed)
		pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		e.EndorsedBy = trust.KeyID(priv.Public().(ed25519.PublicKey))
		e.Endorsement = ed25519.Sign(priv, trust.EndorsementMessage(trust.KeyID(pub), pub))
	}
	r.keys = append(r.keys, e)
	if keep > 0 && len(r.keys) > keep {
		r.keys = r.keys[len(r.keys)-keep:]
	}
	return nil
}

// Signer is the newest key.
func (r *Ring) Signer() snapshot.Signer {
	priv := ed25519.NewKeyFromSeed(r.keys[len(r.keys)-1].Seed)
	return snapshot.Signer{KeyID: trust.KeyID(priv.Public().(ed25519.PublicKey)), Private: priv}
}

// Public is the document GET /v1/signing-keys serves.
func (r *Ring) Public() trust.Document {
	d := trust.Document{Keys: make([]trust.SigningKey, 0, len(r.keys))}
	for _, e := range r.keys {
		pub := ed25519.NewKeyFromSeed(e.Seed).Public().(ed25519.PublicKey)
		d.Keys = append(d.Keys, trust.SigningKey{ID: trust.KeyID(pub), PublicKey: pub, CreatedAt: e.CreatedAt,
			EndorsedBy: e.EndorsedBy, Endorsement: e.Endorsement})
	}
	return d
}

// Load reads a keyring file.
func Load(path string) (*Ring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f fileFormat
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("signing: %s: %w", path, err)
	}
	if len(f.Keys) == 0 {
		return nil, fmt.Errorf("signing: %s holds no keys", path)
	}
	for i, e := range f.Keys {
		if len(e.Seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("signing: %s: key %d has no valid seed", path, i)
		}
	}
	return &Ring{keys: f.Keys}, nil
}

// Save writes the ring to path atomically, with mode 0600.
func (r *Ring) Save(path string) error {
	b, err := json.MarshalIndent(fileFormat{Keys: r.keys}, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".signing-keys-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// File is a keyring file that a running control plane re-reads when it changes, so that
// `keyplane signing-keys rotate` takes effect without a restart.
type File struct {
	path    string
	mu      sync.Mutex
	ring    *Ring
	modTime time.Time
	checked time.Time
}

// OpenFile loads path, creating it with a new key when it does not exist (created reports that).
func OpenFile(path string, rand io.Reader, now time.Time) (f *File, created bool, err error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		ring, err := Generate(rand, now)
		if err != nil {
			return nil, false, err
		}
		if err := ring.Save(path); err != nil {
			return nil, false, err
		}
		created = true
	}
	f = &File{path: path}
	if _, err := f.Ring(); err != nil {
		return nil, false, err
	}
	return f, created, nil
}

// Ring returns the keyring, re-reading the file when its modification time changed; it looks at
// most once a second.
func (f *File) Ring() (*Ring, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if f.ring != nil && now.Sub(f.checked) < time.Second {
		return f.ring, nil
	}
	f.checked = now
	st, err := os.Stat(f.path)
	if err != nil {
		if f.ring != nil {
			return f.ring, nil // keep signing with what we have
		}
		return nil, err
	}
	if f.ring != nil && st.ModTime().Equal(f.modTime) {
		return f.ring, nil
	}
	ring, err := Load(f.path)
	if err != nil {
		if f.ring != nil {
			return f.ring, nil
		}
		return nil, err
	}
	f.ring, f.modTime = ring, st.ModTime()
	return ring, nil
}

// Static is a keyring that never changes (from the environment, or in tests).
type Static struct{ R *Ring }

// Ring returns the ring.
func (s Static) Ring() (*Ring, error) { return s.R, nil }
