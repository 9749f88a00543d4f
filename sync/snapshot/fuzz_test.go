package snapshot

import (
	"errors"
	"testing"
)

// addSeeds adds a valid blob and a few corruptions of it.
func addSeeds(f *testing.F, blob []byte) {
	f.Add(blob)
	f.Add(blob[:len(blob)/2])
	f.Add(blob[:len(blob)-sigSize]) // the body alone: the fuzz body re-signs it
	for _, i := range []int{0, 6, 7, 8, 40, len(blob) / 2, len(blob) - 1} {
		c := append([]byte(nil), blob...)
		c[i] ^= 0xFF
		f.Add(c)
	}
	f.Add([]byte{})
	f.Add([]byte("KPSN"))
}

// openSigned returns data re-signed as a valid blob (see resign), so that
// the fuzzer reaches the structure checks that follow the signature.
func reSigned(data []byte, s Signer) []byte {
	if len(data) < sigSize+preambleSize {
		return resign(data, s)
	}
	return resign(data[:len(data)-sigSize], s)
}

func FuzzOpen(f *testing.F) {
	full, _, signer, trusted, keys := smallBlobs(f)
	addSeeds(f, full)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, blob := range [][]byte{data, reSigned(data, signer)} {
			s, err := Open(blob, trusted, Limits{MaxBytes: 1 << 20})
			if err != nil {
				if !knownError(err) {
					t.Fatalf("unclassified error %v", err)
				}
				continue
			}
			for i := range keys {
				s.Lookup(&keys[i].Hash)
			}
			for i := 0; i < s.t.slots; i++ {
				if !s.t.occupied(i) {
					continue
				}
				var h [32]byte
				copy(h[:], s.t.lookupHash(i))
				if _, ok := s.Lookup(&h); !ok {
					t.Fatalf("opened snapshot cannot find its key %d", i)
				}
			}
			for i := 0; i < s.NumPolicies(); i++ {
				_ = s.Policy(i).Scopes
			}
		}
	})
}

func FuzzOpenDelta(f *testing.F) {
	full, delta, signer, trusted, keys := smallBlobs(f)
	base, err := Open(full, trusted, Limits{})
	if err != nil {
		f.Fatal(err)
	}
	addSeeds(f, delta)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, blob := range [][]byte{data, reSigned(data, signer)} {
			d, err := OpenDelta(blob, trusted, Limits{MaxBytes: 1 << 20})
			if err != nil {
				if !knownError(err) {
					t.Fatalf("unclassified error %v", err)
				}
				continue
			}
			for i := range keys {
				d.Lookup(&keys[i].Hash)
				d.Revokes(&keys[i].Hash)
			}
			if v, err := base.Apply(d); err == nil {
				for i := range keys {
					v.Lookup(&keys[i].Hash)
				}
			} else if !errors.Is(err, ErrBaseMismatch) {
				t.Fatalf("Apply: %v", err)
			}
		}
	})
}

func knownError(err error) bool {
	for _, e := range []error{ErrTooLarge, ErrMalformed, ErrUnsupportedFormat, ErrWrongKind, ErrUnknownSigningKey, ErrBadSignature} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
