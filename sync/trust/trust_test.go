package trust

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"testing"
)

func newKey(t *testing.T, endorser ed25519.PrivateKey, endorserID string) (SigningKey, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := SigningKey{ID: KeyID(pub), PublicKey: pub}
	if endorser != nil {
		k.EndorsedBy = endorserID
		k.Endorsement = ed25519.Sign(endorser, EndorsementMessage(k.ID, pub))
	}
	return k, priv
}

func TestExtend(t *testing.T) {
	k1, p1 := newKey(t, nil, "")
	k2, p2 := newKey(t, p1, k1.ID)
	k3, _ := newKey(t, p2, k2.ID)
	rogue, _ := newKey(t, nil, "")
	forged, _ := newKey(t, nil, "")
	forged.EndorsedBy, forged.Endorsement = k1.ID, ed25519.Sign(p2, EndorsementMessage(forged.ID, forged.PublicKey)) // signed by the wrong key
	swapped := k2
	swapped.PublicKey = rogue.PublicKey // k2's endorsement on another key
	swapped.ID = rogue.ID
	for _, tc := range []struct {
		name    string
		trusted []SigningKey
		doc     []SigningKey
		want    []string
	}{
		{"chain of rotations", []SigningKey{k1}, []SigningKey{k3, k2, k1}, []string{k2.ID, k3.ID}},
		{"unendorsed key", []SigningKey{k1}, []SigningKey{k1, rogue}, nil},
		{"endorsement by another key", []SigningKey{k1}, []SigningKey{k1, forged}, nil},
		{"endorsement moved to another key", []SigningKey{k1}, []SigningKey{k1, swapped}, nil},
		{"nothing trusted", nil, []SigningKey{k1, k2}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, added := Extend(All(Document{Keys: tc.trusted}), Document{Keys: tc.doc})
			if len(added) != len(tc.want) {
				t.Fatalf("added %v, want %v", added, tc.want)
			}
			for _, id := range tc.want {
				if _, ok := got[id]; !ok {
					t.Fatalf("%s not trusted", id)
				}
			}
		})
	}
}

func TestParse(t *testing.T) {
	k1, _ := newKey(t, nil, "")
	b, _ := json.Marshal(Document{Keys: []SigningKey{k1}})
	if d, err := Parse(b); err != nil || len(All(d)) != 1 {
		t.Fatalf("%v %v", d, err)
	}
	k1.ID = "sk_0000000000000000"
	b, _ = json.Marshal(Document{Keys: []SigningKey{k1}})
	if _, err := Parse(b); err == nil {
		t.Fatal("an id that does not match its key was accepted")
	}
	if _, err := Parse([]byte("{")); err == nil {
		t.Fatal("malformed JSON accepted")
	}
}
