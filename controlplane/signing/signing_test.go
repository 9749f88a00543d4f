package signing

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyplane/keyplane/sync/trust"
)

func TestRotateEndorsesAndPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signing-keys.json")
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f, created, err := OpenFile(path, rand.Reader, now)
	if err != nil || !created {
		t.Fatalf("%v %v", created, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	r1, _ := f.Ring()
	first := r1.Signer()
	trusted := trust.All(trust.Document{Keys: r1.Public().Keys})
	if err := r1.Rotate(rand.Reader, now.Add(time.Hour), 2); err != nil {
		t.Fatal(err)
	}
	if err := r1.Save(path); err != nil {
		t.Fatal(err)
	}
	r2, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	second := r2.Signer()
	if second.KeyID == first.KeyID || len(r2.Public().Keys) != 2 {
		t.Fatalf("rotation did not add a signer: %v", r2.Public())
	}
	ext, added := trust.Extend(trusted, r2.Public())
	if len(added) != 1 || ext[second.KeyID] == nil {
		t.Fatalf("an edge trusting the old key must come to trust the new one: %v", added)
	}
	if err := r2.Rotate(rand.Reader, now, 2); err != nil {
		t.Fatal(err)
	}
	if len(r2.Public().Keys) != 2 || r2.Public().Keys[0].ID != second.KeyID {
		t.Fatal("keep=2 must drop the oldest key")
	}
}

func TestFromSeed(t *testing.T) {
	seed := make([]byte, 32)
	r, err := FromSeed(base64.StdEncoding.EncodeToString(seed))
	if err != nil || r.Signer().KeyID == "" {
		t.Fatalf("%v", err)
	}
	if _, err := FromSeed("short"); err == nil {
		t.Fatal("a bad seed was accepted")
	}
}
