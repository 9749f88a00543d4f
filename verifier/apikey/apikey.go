// Package apikey defines the format of keyplane API keys:
//
//	<prefix>_<env>_<secret><checksum>
//
// prefix names the workspace's product (default "kp"), env is "live" or "test", secret is 43 base62
// characters drawn from crypto/rand (more than 256 bits), and checksum is the CRC32 of everything
// before it in 6 base62 characters, as GitHub tokens do. A typo or a random string fails Parse
// without any lookup, and secret scanners can recognise leaked keys by shape.
//
// The package is shared by the control plane (which generates keys) and every edge (which parses
// them per request), so it builds with TinyGo and Parse allocates nothing.
package apikey

import (
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"io"
)

const (
	// SecretLen is the number of base62 characters of randomness: 43*log2(62) > 256 bits.
	SecretLen = 43
	// ChecksumLen is the number of base62 characters of the CRC32 checksum (62^6 > 2^32).
	ChecksumLen = 6
	// MaxPrefixLen bounds a workspace prefix.
	MaxPrefixLen = 12
	// MaxLen is the longest well-formed key.
	MaxLen = MaxPrefixLen + 1 + 4 + 1 + SecretLen + ChecksumLen
	// DisplaySecretChars is how much of the secret the display prefix keeps (kp_live_4f9Q).
	DisplaySecretChars = 4
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

var (
	// ErrMalformed means the string does not have the shape of a key.
	ErrMalformed = errors.New("apikey: malformed key")
	// ErrChecksum means the shape is right but the checksum does not match: a typo or a forgery.
	ErrChecksum = errors.New("apikey: bad checksum")
)

// Key is a parsed key. Prefix and Env are substrings of the input: no copy is made.
type Key struct {
	Prefix string
	Env    string
}

// Parse checks the shape and checksum of s without allocating.
func Parse(s string) (Key, error) {
	if len(s) > MaxLen || len(s) < 1+1+4+1+SecretLen+ChecksumLen {
		return Key{}, ErrMalformed
	}
	p := indexByte(s, '_')
	if p < 1 || !ValidPrefix(s[:p]) {
		return Key{}, ErrMalformed
	}
	rest := s[p+1:]
	e := indexByte(rest, '_')
	if e < 0 || !ValidEnv(rest[:e]) {
		return Key{}, ErrMalformed
	}
	body := rest[e+1:]
	if len(body) != SecretLen+ChecksumLen {
		return Key{}, ErrMalformed
	}
	for i := 0; i < len(body); i++ {
		if decode62(body[i]) < 0 {
			return Key{}, ErrMalformed
		}
	}
	n := len(s) - ChecksumLen
	var want uint64
	for i := n; i < len(s); i++ {
		want = want*62 + uint64(decode62(s[i]))
	}
	if want != uint64(crc32String(s[:n])) {
		return Key{}, ErrChecksum
	}
	return Key{Prefix: s[:p], Env: rest[:e]}, nil
}

// Generate returns a new key for prefix and env, reading randomness from r (crypto/rand.Reader in
// production; injected in tests).
func Generate(prefix, env string, r io.Reader) (string, error) {
	if !ValidPrefix(prefix) || !ValidEnv(env) {
		return "", ErrMalformed
	}
	b := make([]byte, 0, len(prefix)+len(env)+2+SecretLen+ChecksumLen)
	b = append(b, prefix...)
	b = append(b, '_')
	b = append(b, env...)
	b = append(b, '_')
	var buf [64]byte
	for need := SecretLen; need > 0; {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return "", err
		}
		for _, c := range buf {
			// Rejection sampling keeps every character uniform: 248 = 4*62.
			if c < 248 && need > 0 {
				b = append(b, base62[c%62])
				need--
			}
		}
	}
	sum := crc32.ChecksumIEEE(b)
	var cs [ChecksumLen]byte
	for i := ChecksumLen - 1; i >= 0; i-- {
		cs[i] = base62[sum%62]
		sum /= 62
	}
	return string(append(b, cs[:]...)), nil
}

// ValidPrefix reports whether p can prefix keys: a lower-case letter then 1 to 11 lower-case
// letters or digits. Underscores are excluded because they separate the parts.
func ValidPrefix(p string) bool {
	if len(p) < 2 || len(p) > MaxPrefixLen || p[0] < 'a' || p[0] > 'z' {
		return false
	}
	for i := 1; i < len(p); i++ {
		c := p[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// ValidEnv reports whether env is a key environment.
func ValidEnv(env string) bool { return env == "live" || env == "test" }

// DisplayPrefix returns the part of a well-formed key that may be shown after creation, such as
// "kp_live_4f9Q". It never reveals more than DisplaySecretChars characters of the secret.
func DisplayPrefix(key string) string {
	k, err := Parse(key)
	if err != nil {
		return ""
	}
	n := len(k.Prefix) + 1 + len(k.Env) + 1 + DisplaySecretChars
	return key[:n]
}

// Hash is the stored form of a key: SHA-256 of the whole key. A 256-bit random secret needs no
// stretching, so bcrypt would only cost time on every verification (docs/RATIONALE.md).
func Hash(key string) [32]byte { return sha256.Sum256([]byte(key)) }

// crockford is Crockford's base32 alphabet: no I, L, O, U, so ids read aloud unambiguously.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// IDLen is the length of a key id: "key_" and 26 base32 characters.
const IDLen = 4 + 26

// AppendID appends the public id of the key whose hash is h. The id encodes the second half of the
// hash; lookups use the first half, so publishing ids reveals nothing that helps find a key or its
// lookup hash. Every edge derives the id from the presented key, so snapshots carry no id column.
func AppendID(dst []byte, h *[32]byte) []byte {
	dst = append(dst, "key_"...)
	// 128 bits in 26 characters: 25 full groups of 5 bits and a final group of 3 bits.
	var acc uint32
	bits := 0
	for _, c := range h[16:] {
		acc = acc<<8 | uint32(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			dst = append(dst, crockford[(acc>>uint(bits))&31])
		}
	}
	if bits > 0 {
		dst = append(dst, crockford[(acc<<uint(5-bits))&31])
	}
	return dst
}

// ID returns the public id of the key whose hash is h.
func ID(h [32]byte) string { return string(AppendID(make([]byte, 0, IDLen), &h)) }

func decode62(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// crc32String is crc32.ChecksumIEEE over a string without converting it to a []byte.
func crc32String(s string) uint32 {
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = crc32.IEEETable[byte(crc)^s[i]] ^ (crc >> 8)
	}
	return ^crc
}
