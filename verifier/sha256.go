package verifier

import (
	"encoding/binary"
	"math/bits"
)

// sum256 is SHA-256 (FIPS 180-4) of p, in portable Go, allocating nothing. TinyGo builds use it
// for the key hash (hash_tinygo.go): crypto/sha256.Sum256 goes through hash.Hash there, which
// costs three heap allocations per call, and a garbage collection cycle every few thousand
// requests in a proxy's Wasm VM. Go builds use crypto/sha256, which has assembly. Tests and a
// fuzz target hold the two equal.
func sum256(p []byte) (out [32]byte) {
	h := [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}
	n := uint64(len(p))
	for len(p) >= 64 {
		sha256Block(&h, p[:64])
		p = p[64:]
	}
	var last [128]byte
	copy(last[:], p)
	last[len(p)] = 0x80
	end := 64
	if len(p) >= 56 {
		end = 128
	}
	binary.BigEndian.PutUint64(last[end-8:end], n<<3)
	sha256Block(&h, last[:64])
	if end == 128 {
		sha256Block(&h, last[64:128])
	}
	for i, v := range h {
		binary.BigEndian.PutUint32(out[4*i:], v)
	}
	return out
}

var sha256K = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

// sha256Block runs the compression function on the 64-byte block p. The message schedule lives
// in sixteen local variables (w0..w15, reused in place from round 16 on) and the eight working
// variables rotate by name instead of by assignment, so that a compiler keeps everything in
// registers: in WebAssembly (TinyGo), an array schedule is a linear-memory access on every use,
// which made this three times slower.
func sha256Block(st *[8]uint32, p []byte) {
	w0 := binary.BigEndian.Uint32(p[0:])
	w1 := binary.BigEndian.Uint32(p[4:])
	w2 := binary.BigEndian.Uint32(p[8:])
	w3 := binary.BigEndian.Uint32(p[12:])
	w4 := binary.BigEndian.Uint32(p[16:])
	w5 := binary.BigEndian.Uint32(p[20:])
	w6 := binary.BigEndian.Uint32(p[24:])
	w7 := binary.BigEndian.Uint32(p[28:])
	w8 := binary.BigEndian.Uint32(p[32:])
	w9 := binary.BigEndian.Uint32(p[36:])
	w10 := binary.BigEndian.Uint32(p[40:])
	w11 := binary.BigEndian.Uint32(p[44:])
	w12 := binary.BigEndian.Uint32(p[48:])
	w13 := binary.BigEndian.Uint32(p[52:])
	w14 := binary.BigEndian.Uint32(p[56:])
	w15 := binary.BigEndian.Uint32(p[60:])
	a, b, c, d, e, f, g, h := st[0], st[1], st[2], st[3], st[4], st[5], st[6], st[7]
	k := sha256K[:]
	for r := 0; ; r += 16 {
		k := k[r : r+16 : r+16]
		h += (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + (g ^ (e & (f ^ g))) + k[0] + w0
		d += h
		h += (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) | (c & (a | b)))
		g += (bits.RotateLeft32(d, -6) ^ bits.RotateLeft32(d, -11) ^ bits.RotateLeft32(d, -25)) + (f ^ (d & (e ^ f))) + k[1] + w1
		c += g
		g += (bits.RotateLeft32(h, -2) ^ bits.RotateLeft32(h, -13) ^ bits.RotateLeft32(h, -22)) + ((h & a) | (b & (h | a)))
		f += (bits.RotateLeft32(c, -6) ^ bits.RotateLeft32(c, -11) ^ bits.RotateLeft32(c, -25)) + (e ^ (c & (d ^ e))) + k[2] + w2
		b += f
		f += (bits.RotateLeft32(g, -2) ^ bits.RotateLeft32(g, -13) ^ bits.RotateLeft32(g, -22)) + ((g & h) | (a & (g | h)))
		e += (bits.RotateLeft32(b, -6) ^ bits.RotateLeft32(b, -11) ^ bits.RotateLeft32(b, -25)) + (d ^ (b & (c ^ d))) + k[3] + w3
		a += e
		e += (bits.RotateLeft32(f, -2) ^ bits.RotateLeft32(f, -13) ^ bits.RotateLeft32(f, -22)) + ((f & g) | (h & (f | g)))
		d += (bits.RotateLeft32(a, -6) ^ bits.RotateLeft32(a, -11) ^ bits.RotateLeft32(a, -25)) + (c ^ (a & (b ^ c))) + k[4] + w4
		h += d
		d += (bits.RotateLeft32(e, -2) ^ bits.RotateLeft32(e, -13) ^ bits.RotateLeft32(e, -22)) + ((e & f) | (g & (e | f)))
		c += (bits.RotateLeft32(h, -6) ^ bits.RotateLeft32(h, -11) ^ bits.RotateLeft32(h, -25)) + (b ^ (h & (a ^ b))) + k[5] + w5
		g += c
		c += (bits.RotateLeft32(d, -2) ^ bits.RotateLeft32(d, -13) ^ bits.RotateLeft32(d, -22)) + ((d & e) | (f & (d | e)))
		b += (bits.RotateLeft32(g, -6) ^ bits.RotateLeft32(g, -11) ^ bits.RotateLeft32(g, -25)) + (a ^ (g & (h ^ a))) + k[6] + w6
		f += b
		b += (bits.RotateLeft32(c, -2) ^ bits.RotateLeft32(c, -13) ^ bits.RotateLeft32(c, -22)) + ((c & d) | (e & (c | d)))
		a += (bits.RotateLeft32(f, -6) ^ bits.RotateLeft32(f, -11) ^ bits.RotateLeft32(f, -25)) + (h ^ (f & (g ^ h))) + k[7] + w7
		e += a
		a += (bits.RotateLeft32(b, -2) ^ bits.RotateLeft32(b, -13) ^ bits.RotateLeft32(b, -22)) + ((b & c) | (d & (b | c)))
		h += (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + (g ^ (e & (f ^ g))) + k[8] + w8
		d += h
		h += (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) | (c & (a | b)))
		g += (bits.RotateLeft32(d, -6) ^ bits.RotateLeft32(d, -11) ^ bits.RotateLeft32(d, -25)) + (f ^ (d & (e ^ f))) + k[9] + w9
		c += g
		g += (bits.RotateLeft32(h, -2) ^ bits.RotateLeft32(h, -13) ^ bits.RotateLeft32(h, -22)) + ((h & a) | (b & (h | a)))
		f += (bits.RotateLeft32(c, -6) ^ bits.RotateLeft32(c, -11) ^ bits.RotateLeft32(c, -25)) + (e ^ (c & (d ^ e))) + k[10] + w10
		b += f
		f += (bits.RotateLeft32(g, -2) ^ bits.RotateLeft32(g, -13) ^ bits.RotateLeft32(g, -22)) + ((g & h) | (a & (g | h)))
		e += (bits.RotateLeft32(b, -6) ^ bits.RotateLeft32(b, -11) ^ bits.RotateLeft32(b, -25)) + (d ^ (b & (c ^ d))) + k[11] + w11
		a += e
		e += (bits.RotateLeft32(f, -2) ^ bits.RotateLeft32(f, -13) ^ bits.RotateLeft32(f, -22)) + ((f & g) | (h & (f | g)))
		d += (bits.RotateLeft32(a, -6) ^ bits.RotateLeft32(a, -11) ^ bits.RotateLeft32(a, -25)) + (c ^ (a & (b ^ c))) + k[12] + w12
		h += d
		d += (bits.RotateLeft32(e, -2) ^ bits.RotateLeft32(e, -13) ^ bits.RotateLeft32(e, -22)) + ((e & f) | (g & (e | f)))
		c += (bits.RotateLeft32(h, -6) ^ bits.RotateLeft32(h, -11) ^ bits.RotateLeft32(h, -25)) + (b ^ (h & (a ^ b))) + k[13] + w13
		g += c
		c += (bits.RotateLeft32(d, -2) ^ bits.RotateLeft32(d, -13) ^ bits.RotateLeft32(d, -22)) + ((d & e) | (f & (d | e)))
		b += (bits.RotateLeft32(g, -6) ^ bits.RotateLeft32(g, -11) ^ bits.RotateLeft32(g, -25)) + (a ^ (g & (h ^ a))) + k[14] + w14
		f += b
		b += (bits.RotateLeft32(c, -2) ^ bits.RotateLeft32(c, -13) ^ bits.RotateLeft32(c, -22)) + ((c & d) | (e & (c | d)))
		a += (bits.RotateLeft32(f, -6) ^ bits.RotateLeft32(f, -11) ^ bits.RotateLeft32(f, -25)) + (h ^ (f & (g ^ h))) + k[15] + w15
		e += a
		a += (bits.RotateLeft32(b, -2) ^ bits.RotateLeft32(b, -13) ^ bits.RotateLeft32(b, -22)) + ((b & c) | (d & (b | c)))
		if r == 48 {
			break
		}
		w0 += (bits.RotateLeft32(w14, -17) ^ bits.RotateLeft32(w14, -19) ^ (w14 >> 10)) + w9 + (bits.RotateLeft32(w1, -7) ^ bits.RotateLeft32(w1, -18) ^ (w1 >> 3))
		w1 += (bits.RotateLeft32(w15, -17) ^ bits.RotateLeft32(w15, -19) ^ (w15 >> 10)) + w10 + (bits.RotateLeft32(w2, -7) ^ bits.RotateLeft32(w2, -18) ^ (w2 >> 3))
		w2 += (bits.RotateLeft32(w0, -17) ^ bits.RotateLeft32(w0, -19) ^ (w0 >> 10)) + w11 + (bits.RotateLeft32(w3, -7) ^ bits.RotateLeft32(w3, -18) ^ (w3 >> 3))
		w3 += (bits.RotateLeft32(w1, -17) ^ bits.RotateLeft32(w1, -19) ^ (w1 >> 10)) + w12 + (bits.RotateLeft32(w4, -7) ^ bits.RotateLeft32(w4, -18) ^ (w4 >> 3))
		w4 += (bits.RotateLeft32(w2, -17) ^ bits.RotateLeft32(w2, -19) ^ (w2 >> 10)) + w13 + (bits.RotateLeft32(w5, -7) ^ bits.RotateLeft32(w5, -18) ^ (w5 >> 3))
		w5 += (bits.RotateLeft32(w3, -17) ^ bits.RotateLeft32(w3, -19) ^ (w3 >> 10)) + w14 + (bits.RotateLeft32(w6, -7) ^ bits.RotateLeft32(w6, -18) ^ (w6 >> 3))
		w6 += (bits.RotateLeft32(w4, -17) ^ bits.RotateLeft32(w4, -19) ^ (w4 >> 10)) + w15 + (bits.RotateLeft32(w7, -7) ^ bits.RotateLeft32(w7, -18) ^ (w7 >> 3))
		w7 += (bits.RotateLeft32(w5, -17) ^ bits.RotateLeft32(w5, -19) ^ (w5 >> 10)) + w0 + (bits.RotateLeft32(w8, -7) ^ bits.RotateLeft32(w8, -18) ^ (w8 >> 3))
		w8 += (bits.RotateLeft32(w6, -17) ^ bits.RotateLeft32(w6, -19) ^ (w6 >> 10)) + w1 + (bits.RotateLeft32(w9, -7) ^ bits.RotateLeft32(w9, -18) ^ (w9 >> 3))
		w9 += (bits.RotateLeft32(w7, -17) ^ bits.RotateLeft32(w7, -19) ^ (w7 >> 10)) + w2 + (bits.RotateLeft32(w10, -7) ^ bits.RotateLeft32(w10, -18) ^ (w10 >> 3))
		w10 += (bits.RotateLeft32(w8, -17) ^ bits.RotateLeft32(w8, -19) ^ (w8 >> 10)) + w3 + (bits.RotateLeft32(w11, -7) ^ bits.RotateLeft32(w11, -18) ^ (w11 >> 3))
		w11 += (bits.RotateLeft32(w9, -17) ^ bits.RotateLeft32(w9, -19) ^ (w9 >> 10)) + w4 + (bits.RotateLeft32(w12, -7) ^ bits.RotateLeft32(w12, -18) ^ (w12 >> 3))
		w12 += (bits.RotateLeft32(w10, -17) ^ bits.RotateLeft32(w10, -19) ^ (w10 >> 10)) + w5 + (bits.RotateLeft32(w13, -7) ^ bits.RotateLeft32(w13, -18) ^ (w13 >> 3))
		w13 += (bits.RotateLeft32(w11, -17) ^ bits.RotateLeft32(w11, -19) ^ (w11 >> 10)) + w6 + (bits.RotateLeft32(w14, -7) ^ bits.RotateLeft32(w14, -18) ^ (w14 >> 3))
		w14 += (bits.RotateLeft32(w12, -17) ^ bits.RotateLeft32(w12, -19) ^ (w12 >> 10)) + w7 + (bits.RotateLeft32(w15, -7) ^ bits.RotateLeft32(w15, -18) ^ (w15 >> 3))
		w15 += (bits.RotateLeft32(w13, -17) ^ bits.RotateLeft32(w13, -19) ^ (w13 >> 10)) + w8 + (bits.RotateLeft32(w0, -7) ^ bits.RotateLeft32(w0, -18) ^ (w0 >> 3))
	}
	st[0] += a
	st[1] += b
	st[2] += c
	st[3] += d
	st[4] += e
	st[5] += f
	st[6] += g
	st[7] += h
}
