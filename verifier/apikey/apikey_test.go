package apikey

import (
	"bytes"
	"crypto/rand"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

func TestGenerateParse(t *testing.T) {
	for _, tc := range []struct{ name, prefix, env string }{
		{"default live", "kp", "live"},
		{"test env", "kp", "test"},
		{"long prefix", "acmeprod1234", "live"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := Generate(tc.prefix, tc.env, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			k, err := Parse(key)
			if err != nil {
				t.Fatalf("Parse(%q): %v", key, err)
			}
			if k.Prefix != tc.prefix || k.Env != tc.env {
				t.Fatalf("got %+v", k)
			}
			if want := tc.prefix + "_" + tc.env + "_"; !strings.HasPrefix(key, want) || len(key) != len(want)+SecretLen+ChecksumLen {
				t.Fatalf("bad shape %q", key)
			}
			if dp := DisplayPrefix(key); dp != key[:len(tc.prefix)+len(tc.env)+2+DisplaySecretChars] {
				t.Fatalf("display prefix %q", dp)
			}
		})
	}
}

func TestGenerateRejectsBadParts(t *testing.T) {
	for _, tc := range []struct{ name, prefix, env string }{
		{"underscore prefix", "k_p", "live"},
		{"upper prefix", "KP", "live"},
		{"one char prefix", "k", "live"},
		{"digit first", "1kp", "live"},
		{"too long", "abcdefghijklm", "live"},
		{"bad env", "kp", "prod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Generate(tc.prefix, tc.env, rand.Reader); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	good, _ := Generate("kp", "live", bytes.NewReader(bytes.Repeat([]byte{7, 200, 33}, 100)))
	flip := []byte(good)
	flip[10] ^= 1 // still base62, but the checksum no longer matches
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"empty", "", ErrMalformed},
		{"random", "hello world", ErrMalformed},
		{"typo in secret", string(flip), ErrChecksum},
		{"typo in checksum", good[:len(good)-1] + "x", ErrChecksum},
		{"missing char", good[:len(good)-1], ErrMalformed},
		{"extra char", good + "a", ErrMalformed},
		{"bad env", strings.Replace(good, "_live_", "_prod_", 1), ErrMalformed},
		{"non base62", good[:20] + "-" + good[21:], ErrMalformed},
		{"no separators", strings.ReplaceAll(good, "_", ""), ErrMalformed},
		{"wrong prefix checksum", "kq" + good[2:], ErrChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("Parse(%q) = %v, want %v", tc.in, err, tc.want)
			}
		})
	}
}

func TestParseRandomStringsAlmostNeverPass(t *testing.T) {
	// A well-shaped string with a random checksum passes with probability 2^-32.
	good, _ := Generate("kp", "live", rand.Reader)
	for i := 0; i < 10000; i++ {
		s, _ := Generate("kp", "live", rand.Reader)
		forged := s[:len(s)-ChecksumLen] + good[len(good)-ChecksumLen:]
		if _, err := Parse(forged); err == nil && forged != good {
			t.Fatalf("forged key %q passed", forged)
		}
	}
}

func TestParseAllocatesNothing(t *testing.T) {
	key, _ := Generate("kp", "live", rand.Reader)
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse(key) }); n != 0 {
		t.Fatalf("Parse allocates %v times", n)
	}
}

func TestIDIsStableAndPublic(t *testing.T) {
	key, _ := Generate("kp", "live", rand.Reader)
	h := Hash(key)
	id := ID(h)
	if len(id) != IDLen || !strings.HasPrefix(id, "key_") {
		t.Fatalf("id %q", id)
	}
	if id != ID(Hash(key)) {
		t.Fatal("id not stable")
	}
	var other [32]byte
	copy(other[:16], h[:16]) // same lookup half, different id half
	if ID(other) == id {
		t.Fatal("id must depend on the second half of the hash only")
	}
	copy(other[16:], h[16:])
	other[0] ^= 0xff
	if ID(other) != id {
		t.Fatal("id must not depend on the lookup half")
	}
}

func FuzzParse(f *testing.F) {
	good, _ := Generate("kp", "live", rand.Reader)
	for _, s := range []string{good, "", "kp_live_", good[:30], strings.ToUpper(good)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Parse(s)
		if err != nil {
			return
		}
		if !ValidPrefix(k.Prefix) || !ValidEnv(k.Env) || len(s) > MaxLen {
			t.Fatalf("accepted %q as %+v", s, k)
		}
	})
}

// refParse is the straightforward form of Parse (a switch per character, crc32.ChecksumIEEE):
// Check must decide exactly as it does.
func refParse(s string) error {
	if len(s) > MaxLen || len(s) < 1+1+4+1+SecretLen+ChecksumLen {
		return ErrMalformed
	}
	parts := strings.SplitN(s, "_", 3)
	if len(parts) != 3 || !ValidPrefix(parts[0]) || !ValidEnv(parts[1]) || len(parts[2]) != SecretLen+ChecksumLen {
		return ErrMalformed
	}
	var want uint64
	for i, c := range []byte(parts[2]) {
		v := strings.IndexByte(base62, c)
		if v < 0 {
			return ErrMalformed
		}
		if i >= SecretLen {
			want = want*62 + uint64(v)
		}
	}
	if want != uint64(crc32.ChecksumIEEE([]byte(s[:len(s)-ChecksumLen]))) {
		return ErrChecksum
	}
	return nil
}

// refID is the straightforward form of PutID: Crockford base32 of h[16:32], five bits at a time.
func refID(h [32]byte) string {
	out := []byte("key_")
	var acc uint32
	bits := 0
	for _, c := range h[16:] {
		acc, bits = acc<<8|uint32(c), bits+8
		for bits >= 5 {
			bits -= 5
			out = append(out, crockford[(acc>>uint(bits))&31])
		}
	}
	return string(append(out, crockford[(acc<<uint(5-bits))&31]))
}

func agree(t *testing.T, s string) {
	err := Check(s)
	if want := refParse(s); !errors.Is(err, want) && err != want {
		t.Fatalf("Check(%q) = %v, the reference says %v", s, err, want)
	}
}

func TestCheckAgreesWithReference(t *testing.T) {
	good, _ := Generate("kp", "live", rand.Reader)
	inputs := []string{"", "x", good, good[:len(good)-1], good + "a", strings.ToUpper(good),
		strings.Replace(good, "_live_", "_prod_", 1), "kq" + good[2:], good[:20] + "-" + good[21:], good[:20] + "\xff" + good[21:]}
	for i := 0; i < 300; i++ {
		k, _ := Generate("acme", "test", rand.Reader)
		inputs = append(inputs, k, k[:len(k)-6]+good[len(good)-6:])
	}
	// Every byte value at positions in the body's first and last word, its odd last byte, and the
	// separators: the word-at-a-time range check must agree with the byte-wise one at each edge.
	for _, pos := range []int{0, 1, 2, 3, 7, 8, 15, 16, 23, 29, 55, 56, len(good) - 7, len(good) - 1} {
		for c := 0; c < 256; c++ {
			b := []byte(good)
			b[pos] = byte(c)
			inputs = append(inputs, string(b))
		}
	}
	for _, s := range inputs {
		agree(t, s)
	}
}

func BenchmarkCheck(b *testing.B) {
	good, _ := Generate("kp", "live", rand.Reader)
	for b.Loop() {
		if err := Check(good); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzCheck(f *testing.F) {
	good, _ := Generate("kp", "live", rand.Reader)
	for _, s := range []string{good, "", "kp_live_", strings.ToUpper(good), good + "0"} {
		f.Add(s)
	}
	f.Fuzz(agree)
}

func TestPutIDAgreesWithReference(t *testing.T) {
	var hashes [][32]byte
	for i := 0; i < 128; i++ { // every single bit of the id half
		var h [32]byte
		h[16+i/8] = 0x80 >> (i % 8)
		hashes = append(hashes, h)
	}
	for b := 0; b < 256; b++ { // every byte value throughout: every 5-bit value in every group
		var h [32]byte
		for i := 16; i < 32; i++ {
			h[i] = byte(b)
		}
		hashes = append(hashes, h)
	}
	for i := 0; i < 1000; i++ {
		k, _ := Generate("kp", "live", rand.Reader)
		hashes = append(hashes, Hash(k))
	}
	for _, h := range hashes {
		if got, want := ID(h), refID(h); got != want {
			t.Fatalf("ID(%x) = %s, the reference says %s", h, got, want)
		}
	}
}
