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
	"encoding/binary"
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
	if err := Check(s); err != nil {
		return Key{}, err
	}
	p := indexByte(s, '_')
	e := p + 1 + indexByte(s[p+1:], '_')
	return Key{Prefix: s[:p], Env: s[p+1 : e]}, nil
}

// Check is the hot-path form of Parse for edges: it decides exactly what Parse decides, and
// returns nothing else.
//
// Every well-formed key ends in "_<env>_" and 49 base62 characters, so the parts are found from
// the end without scanning for '_'; the 49 characters are checked eight at a time as one 64-bit
// word (random characters mispredict every branch of a per-byte switch); and the CRC32 is computed
// by slicing-by-8. `go test -run '^$' -bench BenchmarkCheck -count 3 ./verifier/apikey`: 98-99 ns a
// key on the benchmark machine, 2026-11-23.
func Check(s string) error {
	const tail = 1 + 4 + 1 + SecretLen + ChecksumLen // "_live_" and the body
	if len(s) > MaxLen || len(s) < 2+tail {
		return ErrMalformed
	}
	p := len(s) - tail
	if s[p] != '_' || s[p+5] != '_' || !ValidEnv(s[p+1:p+5]) || !ValidPrefix(s[:p]) {
		return ErrMalformed
	}
	if !allBase62(s[p+6:]) {
		return ErrMalformed
	}
	var want uint64
	for i := len(s) - ChecksumLen; i < len(s); i++ {
		want = want*62 + uint64(base62Value[s[i]])
	}
	if want != uint64(crc32String(s[:len(s)-ChecksumLen])) {
		return ErrChecksum
	}
	return nil
}

// allBase62 reports whether every byte of b is in [0-9A-Za-z], eight bytes at a time. For a byte
// below 0x80, adding 0x80-lo sets its top bit exactly when it is >= lo, and adding 0x7f-hi exactly
// when it is > hi, with no carry into the next byte.
func allBase62(b string) bool {
	const (
		tops = 0x8080808080808080
		ge0  = 0x5050505050505050 // 0x80 - '0'
		gt9  = 0x4646464646464646 // 0x7f - '9'
		geA  = 0x3f3f3f3f3f3f3f3f // 0x80 - 'A'
		gtZ  = 0x2525252525252525 // 0x7f - 'Z'
		gea  = 0x1f1f1f1f1f1f1f1f // 0x80 - 'a'
		gtz  = 0x0505050505050505 // 0x7f - 'z'
	)
	for len(b) >= 8 {
		w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		in := (w+ge0)&^(w+gt9) | (w+geA)&^(w+gtZ) | (w+gea)&^(w+gtz)
		if w&tops != 0 || in&tops != tops {
			return false
		}
		b = b[8:]
	}
	for i := 0; i < len(b); i++ {
		if base62Value[b[i]] < 0 {
			return false
		}
	}
	return true
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
	var id [IDLen]byte
	PutID(&id, h)
	return append(dst, id[:]...)
}

// PutID writes the public id of the key whose hash is *h into dst: the 128 bits of h[16:32] as 25
// groups of 5 bits and a last group of 3 (padded with two zero bits), each a Crockford base32
// character. It converts eight characters at a time in one 64-bit word (spread5, crockfordWord),
// with no table: every edge computes the id on each allowed request.
func PutID(dst *[IDLen]byte, h *[32]byte) {
	hi := binary.BigEndian.Uint64(h[16:24])
	lo := binary.BigEndian.Uint64(h[24:32])
	copy(dst[:4], "key_")
	binary.LittleEndian.PutUint64(dst[4:12], crockfordWord(spread5(hi>>24)))                    // bits 0..39
	binary.LittleEndian.PutUint64(dst[12:20], crockfordWord(spread5((hi&0xFFFFFF)<<16|lo>>48))) // bits 40..79
	binary.LittleEndian.PutUint64(dst[20:28], crockfordWord(spread5((lo>>8)&0xFF_FFFF_FFFF)))   // bits 80..119
	dst[28] = crockford[(lo>>3)&31]                                                             // bits 120..124
	dst[29] = crockford[(lo&7)<<2]                                                              // bits 125..127 and two zero bits
}

// spread5 returns the eight 5-bit groups of the 40-bit x, most significant first, as the bytes of
// a word in little-endian order (byte 0 holds bits 39..35 of x): halves, quarters, then eighths
// moved apart with shifts and masks.
func spread5(x uint64) uint64 {
	y := x>>20 | (x&0xFFFFF)<<32                                   // 20 bits in each 32-bit lane
	y = (y>>10)&0x000003FF_000003FF | (y&0x000003FF_000003FF)<<16  // 10 bits in each 16-bit lane
	return (y>>5)&0x001F001F_001F001F | (y&0x001F001F_001F001F)<<8 // 5 bits in each byte
}

// crockfordWord maps each byte of y (a value 0..31) to its Crockford base32 character: '0' + v,
// plus 7 from 10 on (the letters), plus one more past each skipped letter (I, L, O, U). ge(k) has
// 1 in each byte that is >= k: adding 128-k to a value below 32 sets its top bit exactly then, and
// no byte carries into the next.
func crockfordWord(y uint64) uint64 {
	const ones = 0x01010101_01010101
	ge := func(k uint64) uint64 { return ((y + (128-k)*ones) >> 7) & ones }
	return y + '0'*ones + 7*ge(10) + ge(18) + ge(20) + ge(22) + ge(27)
}

// ID returns the public id of the key whose hash is h.
func ID(h [32]byte) string { return string(AppendID(make([]byte, 0, IDLen), &h)) }

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// base62Value maps a byte to its base62 digit value, or -1.
var base62Value = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base62); i++ {
		t[base62[i]] = int8(i)
	}
	return t
}()

// crc32String is crc32.ChecksumIEEE by slicing-by-8 over tables derived from crc32.IEEETable.
// (ChecksumIEEE itself calls through a function variable, which makes its argument escape.)
func crc32String(p string) uint32 {
	t := &crcTables
	crc := ^uint32(0)
	for len(p) >= 8 {
		crc ^= uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24
		crc = t[0][p[7]] ^ t[1][p[6]] ^ t[2][p[5]] ^ t[3][p[4]] ^
			t[4][crc>>24] ^ t[5][(crc>>16)&0xFF] ^ t[6][(crc>>8)&0xFF] ^ t[7][crc&0xFF]
		p = p[8:]
	}
	for i := 0; i < len(p); i++ {
		crc = t[0][byte(crc)^p[i]] ^ (crc >> 8)
	}
	return ^crc
}

var crcTables = func() (t [8][256]uint32) {
	t[0] = *crc32.IEEETable
	for i := 0; i < 256; i++ {
		crc := t[0][i]
		for j := 1; j < 8; j++ {
			crc = t[0][crc&0xFF] ^ (crc >> 8)
			t[j][i] = crc
		}
	}
	return t
}()
