package verifier

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// A small strict JSON reader for the configuration. encoding/json builds with TinyGo, but it grew
// the test module from 229 KB to 437 KB (reflection), over the module's 400 KB budget; the
// configuration has one fixed shape, read once.
// It accepts RFC 8259 JSON only and reports errors with the byte offset and the field path.

type jsonReader struct {
	s []byte
	i int
}

// maxConfigBytes bounds the configuration document.
const maxConfigBytes = 1 << 20

func configError(path, msg string) error {
	if path == "" {
		return errors.New("verifier config: " + msg)
	}
	return errors.New("verifier config: " + path + ": " + msg)
}

func (r *jsonReader) syntax(msg string) error {
	return errors.New("verifier config: invalid JSON at byte " + strconv.Itoa(r.i) + ": " + msg)
}

func (r *jsonReader) ws() {
	for r.i < len(r.s) {
		switch r.s[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i >= len(r.s) {
		return 0
	}
	return r.s[r.i]
}

// kind names the JSON type of the next value, for error messages.
func (r *jsonReader) kind() string {
	switch c := r.peek(); {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return "invalid JSON"
}

// object reads an object, calling field for each member with the reader positioned at its value.
// Duplicate member names are refused.
func (r *jsonReader) object(path string, field func(name string) error) error {
	if r.peek() != '{' {
		return configError(path, "must be an object, not "+r.kind())
	}
	r.i++
	var seen []string
	if r.peek() == '}' {
		r.i++
		return nil
	}
	for {
		if r.peek() != '"' {
			return r.syntax("expected a member name")
		}
		name, err := r.rawString()
		if err != nil {
			return err
		}
		for _, s := range seen {
			if s == name {
				return configError(join(path, name), "duplicate field")
			}
		}
		seen = append(seen, name)
		if r.peek() != ':' {
			return r.syntax("expected ':'")
		}
		r.i++
		if err := field(name); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return nil
		default:
			return r.syntax("expected ',' or '}'")
		}
	}
}

// array reads an array, calling elem for each element with the reader positioned at it.
func (r *jsonReader) array(path string, elem func(i int) error) error {
	if r.peek() != '[' {
		return configError(path, "must be an array, not "+r.kind())
	}
	r.i++
	if r.peek() == ']' {
		r.i++
		return nil
	}
	for n := 0; ; n++ {
		if err := elem(n); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return nil
		default:
			return r.syntax("expected ',' or ']'")
		}
	}
}

func (r *jsonReader) str(path string) (string, error) {
	if r.peek() != '"' {
		return "", configError(path, "must be a string, not "+r.kind())
	}
	return r.rawString()
}

// rawString reads a string token at r.i (which holds '"').
func (r *jsonReader) rawString() (string, error) {
	r.i++
	start := r.i
	// Fast path: no escapes.
	for r.i < len(r.s) {
		c := r.s[r.i]
		if c == '"' {
			s := string(r.s[start:r.i])
			r.i++
			if !utf8.ValidString(s) {
				return "", r.syntax("invalid UTF-8 in string")
			}
			return s, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", r.syntax("control character in string")
		}
		r.i++
	}
	b := append([]byte(nil), r.s[start:r.i]...)
	for r.i < len(r.s) {
		c := r.s[r.i]
		switch {
		case c == '"':
			r.i++
			if !utf8.Valid(b) {
				return "", r.syntax("invalid UTF-8 in string")
			}
			return string(b), nil
		case c < 0x20:
			return "", r.syntax("control character in string")
		case c != '\\':
			b = append(b, c)
			r.i++
			continue
		}
		r.i++
		if r.i >= len(r.s) {
			break
		}
		e := r.s[r.i]
		r.i++
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			cp, ok := r.hex4()
			if !ok {
				return "", r.syntax(`invalid \u escape`)
			}
			if cp >= 0xD800 && cp < 0xDC00 { // high surrogate: a low one must follow
				if r.i+1 < len(r.s) && r.s[r.i] == '\\' && r.s[r.i+1] == 'u' {
					r.i += 2
					lo, ok := r.hex4()
					if !ok || lo < 0xDC00 || lo > 0xDFFF {
						return "", r.syntax("invalid surrogate pair")
					}
					cp = 0x10000 + (cp-0xD800)<<10 + (lo - 0xDC00)
				} else {
					return "", r.syntax("unpaired surrogate")
				}
			} else if cp >= 0xDC00 && cp <= 0xDFFF {
				return "", r.syntax("unpaired surrogate")
			}
			b = utf8.AppendRune(b, rune(cp))
		default:
			return "", r.syntax("invalid escape")
		}
	}
	return "", r.syntax("unterminated string")
}

func (r *jsonReader) hex4() (uint32, bool) {
	if r.i+4 > len(r.s) {
		return 0, false
	}
	var v uint32
	for _, c := range r.s[r.i : r.i+4] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint32(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint32(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | uint32(c-'A'+10)
		default:
			return 0, false
		}
	}
	r.i += 4
	return v, true
}

func (r *jsonReader) boolean(path string) (bool, error) {
	r.ws()
	switch {
	case r.literal("true"):
		return true, nil
	case r.literal("false"):
		return false, nil
	}
	return false, configError(path, "must be true or false, not "+r.kind())
}

func (r *jsonReader) literal(lit string) bool {
	if len(r.s)-r.i >= len(lit) && string(r.s[r.i:r.i+len(lit)]) == lit {
		end := r.i + len(lit)
		if end == len(r.s) || !isAlnum(r.s[end]) {
			r.i = end
			return true
		}
	}
	return false
}

// integer reads a JSON number that must be an integer in [min, max].
func (r *jsonReader) integer(path string, min, max int64) (int64, error) {
	c := r.peek()
	if c != '-' && (c < '0' || c > '9') {
		return 0, configError(path, "must be an integer, not "+r.kind())
	}
	start := r.i
	if c == '-' {
		r.i++
	}
	digits := r.i
	for r.i < len(r.s) && r.s[r.i] >= '0' && r.s[r.i] <= '9' {
		r.i++
	}
	if r.i == digits || (r.s[digits] == '0' && r.i-digits > 1) {
		return 0, r.syntax("invalid number")
	}
	if r.i < len(r.s) {
		switch r.s[r.i] {
		case '.', 'e', 'E':
			return 0, configError(path, "must be an integer")
		}
	}
	n, err := strconv.ParseInt(string(r.s[start:r.i]), 10, 64)
	if err != nil || n < min || n > max {
		return 0, configError(path, "must be between "+strconv.FormatInt(min, 10)+" and "+strconv.FormatInt(max, 10))
	}
	return n, nil
}

func (r *jsonReader) stringList(path string, max int) ([]string, error) {
	out := []string{}
	err := r.array(path, func(i int) error {
		if i >= max {
			return configError(path, "at most "+strconv.Itoa(max)+" entries")
		}
		s, err := r.str(index(path, i))
		out = append(out, s)
		return err
	})
	return out, err
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
