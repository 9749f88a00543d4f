package verifier

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

func TestSum256MatchesCryptoSHA256(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	b := make([]byte, 300)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	for n := 0; n <= len(b); n++ { // every padding case: 0..300 bytes
		if got, want := sum256(b[:n]), sha256.Sum256(b[:n]); got != want {
			t.Fatalf("len %d: %x, want %x", n, got, want)
		}
	}
	if got := sum256([]byte("abc")); got != sha256.Sum256([]byte("abc")) {
		t.Fatal("abc")
	}
	if n := testing.AllocsPerRun(100, func() { sinkHash = sum256(b[:57]) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func FuzzSum256(f *testing.F) {
	f.Add([]byte("kp_live_"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if sum256(b) != sha256.Sum256(b) {
			t.Fatalf("%x", b)
		}
	})
}

// BenchmarkSum256 sets the portable SHA-256 (TinyGo's key hash) beside crypto/sha256 for a
// 57-byte key.
func BenchmarkSum256(b *testing.B) {
	key := []byte("kp_live_4f9QxZ1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZ01234567")
	b.Run("portable", func(b *testing.B) {
		for b.Loop() {
			sinkHash = sum256(key)
		}
	})
	b.Run("crypto", func(b *testing.B) {
		for b.Loop() {
			sinkHash = sha256.Sum256(key)
		}
	})
}
