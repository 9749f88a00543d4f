// Package abi reads an http-wasm guest's request straight through the http-wasm ABI into buffers
// the guest owns, and hands each value out as a string that views its buffer. The guest SDK's
// getters copy every value into a new string (and Get into a new []string too), which in TinyGo
// means several allocations per request and a garbage collection every few thousand requests.
//
// A view is valid until the same field is read again, which a guest does once per request: it
// must not keep a view past the request (the verifier keeps nothing).
package abi

import "unsafe"

// field is one reusable read buffer.
type field struct{ buf []byte }

// The fields read by one call of their own.
const (
	fieldURI = iota
	fieldMethod
	fieldSourceAddr
)

// read reads a field into the buffer and returns it as a string, growing the buffer and reading
// again when the value did not fit. (TinyGo cannot take imported functions as values.)
func (f *field) read(which int) string {
	call := func(ptr, limit uint32) uint32 {
		switch which {
		case fieldURI:
			return getURI(ptr, limit)
		case fieldMethod:
			return getMethod(ptr, limit)
		}
		return getSourceAddr(ptr, limit)
	}
	n := call(bufPtr(f.buf), uint32(len(f.buf)))
	if n > uint32(len(f.buf)) {
		f.buf = make([]byte, n) // rare: a field longer than any before it
		n = call(bufPtr(f.buf), n)
	}
	if n == 0 {
		return ""
	}
	return unsafe.String(&f.buf[0], n)
}

func bufPtr(b []byte) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

// Fields reads the current request. Its Host, Origin, Referer and SourceAddr methods are what a
// verifier.Attributes needs: the verifier asks for them only when a key's policy restricts hosts
// or client addresses, so most requests never pay for those reads. (The package stays free of
// the verifier, so that the host-floor guest is the ABI and nothing else.)
type Fields struct {
	uri, method, key, host, origin, referer, addr field
}

// NewFields returns a Fields with its buffers made.
func NewFields() *Fields {
	f := &Fields{}
	for _, b := range []*field{&f.uri, &f.method, &f.key, &f.host, &f.origin, &f.referer, &f.addr} {
		b.buf = make([]byte, 256)
	}
	f.uri.buf = make([]byte, 2048)
	return f
}

// URI returns the request target.
func (f *Fields) URI() string { return f.uri.read(fieldURI) }

// Method returns the request method.
func (f *Fields) Method() string { return f.method.read(fieldMethod) }

// header returns the first value of the request header name, or "".
func (f *Fields) header(b *field, name string) string {
	np, nl := strPtr(name), uint32(len(name))
	cl := getHeaderValues(headerKindRequest, np, nl, bufPtr(b.buf), uint32(len(b.buf)))
	if cl>>32 == 0 { // no value
		return ""
	}
	if n := uint32(cl); n > uint32(len(b.buf)) {
		b.buf = make([]byte, n)
		getHeaderValues(headerKindRequest, np, nl, bufPtr(b.buf), n)
	}
	v := b.buf[:uint32(cl)]
	for i, c := range v { // values are NUL-terminated; the first is the header's value
		if c == 0 {
			v = v[:i]
			break
		}
	}
	if len(v) == 0 {
		return ""
	}
	return unsafe.String(&v[0], len(v))
}

// Key returns the first value of the header that carries the key, name.
func (f *Fields) Key(name string) string { return f.header(&f.key, name) }

// Host returns the Host header.
func (f *Fields) Host() string { return f.header(&f.host, "Host") }

// Origin returns the Origin header.
func (f *Fields) Origin() string { return f.header(&f.origin, "Origin") }

// Referer returns the Referer header.
func (f *Fields) Referer() string { return f.header(&f.referer, "Referer") }

// SourceAddr returns the client's address as the host gives it (an address, often with a port).
func (f *Fields) SourceAddr() string { return f.addr.read(fieldSourceAddr) }

// http-wasm's header_kind and body_kind values.
const (
	headerKindRequest  = 0
	headerKindResponse = 1
	bodyKindResponse   = 1
)

// The writes, through the ABI too: the SDK's Set, Remove and WriteString pass their arguments to
// runtime.KeepAlive, which boxes each string on the heap in TinyGo.

// SetRequestHeader sets (replaces) a request header.
func SetRequestHeader(name, value string) { setHeader(headerKindRequest, name, value) }

// RemoveRequestHeader removes a request header.
func RemoveRequestHeader(name string) {
	removeHeader(headerKindRequest, strPtr(name), uint32(len(name)))
}

// SetResponseHeader sets (replaces) a response header.
func SetResponseHeader(name, value string) { setHeader(headerKindResponse, name, value) }

// WriteResponseBody writes s to the response body.
func WriteResponseBody(s string) { writeBody(bodyKindResponse, strPtr(s), uint32(len(s))) }

func setHeader(kind uint32, name, value string) {
	setHeaderValue(kind, strPtr(name), uint32(len(name)), strPtr(value), uint32(len(value)))
}

func strPtr(s string) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.StringData(s)))) }

// Canonical returns a header name in net/http's canonical form ("x-api-key" becomes "X-Api-Key").
// Go hosts (http-wasm-host-go, Traefik) canonicalize every name a guest passes, and a name that
// is canonical already costs them no allocation, so a guest canonicalizes its names once.
func Canonical(name string) string {
	b := []byte(name)
	upper := true
	for i, c := range b {
		switch {
		case upper && 'a' <= c && c <= 'z':
			b[i] = c - ('a' - 'A')
		case !upper && 'A' <= c && c <= 'Z':
			b[i] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
	return string(b)
}
