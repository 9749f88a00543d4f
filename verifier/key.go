package verifier

import "net/netip"

// KeyHeader returns the configured key header name in lower case ("" when keys come only from the
// query string).
func (v *Verifier) KeyHeader() string { return v.cfg.KeyHeader }

// KeyFrom extracts the key from the value of the configured key header without allocating: the
// token of "Bearer <token>" (scheme in any case) for Authorization, the whole value for any other
// header. Surrounding spaces and tabs are ignored; an empty value, another scheme or a token with
// inner whitespace gives ("", false).
func (v *Verifier) KeyFrom(headerValue string) (string, bool) {
	h := trimOWS(headerValue)
	if v.bearer {
		if len(h) < 7 || !equalFoldASCII(h[:6], "bearer") || (h[6] != ' ' && h[6] != '\t') {
			return "", false
		}
		h = trimOWS(h[7:])
	}
	if h == "" {
		return "", false
	}
	for i := 0; i < len(h); i++ {
		if h[i] == ' ' || h[i] == '\t' {
			return "", false
		}
	}
	return h, true
}

// KeyFromQuery extracts the key from a raw query string (without '?') when key_query is
// configured: the value of the first parameter of that name, as it appears (keys need no
// percent-encoding; an encoded one fails the format check). It does not allocate.
func (v *Verifier) KeyFromQuery(rawQuery string) (string, bool) {
	name := v.cfg.KeyQuery
	if name == "" {
		return "", false
	}
	for q := rawQuery; q != ""; {
		var p string
		if i := indexByte(q, '&'); i >= 0 {
			p, q = q[:i], q[i+1:]
		} else {
			p, q = q, ""
		}
		if len(p) > len(name) && p[:len(name)] == name && p[len(name)] == '=' {
			val := p[len(name)+1:]
			return val, val != ""
		}
	}
	return "", false
}

// ExtractKey finds a request's key: in the configured header (headerValue is its value, "" when
// absent) or, when that gives nothing and key_query is configured, in the query of target (the
// request target, e.g. "/v1/events?api_key=..."). It does not allocate.
func (v *Verifier) ExtractKey(headerValue, target string) (string, bool) {
	if v.cfg.KeyHeader != "" && headerValue != "" {
		if k, ok := v.KeyFrom(headerValue); ok {
			return k, true
		}
	}
	if v.cfg.KeyQuery != "" {
		if i := indexByte(target, '?'); i >= 0 {
			q := target[i+1:]
			if j := indexByte(q, '#'); j >= 0 {
				q = q[:j]
			}
			return v.KeyFromQuery(q)
		}
	}
	return "", false
}

// AppendStrippedTarget appends target (a request target such as "/p?a=1&api_key=...") to dst
// without any key_query parameter, for an edge that strips the key. The '?' goes too when no
// parameter remains. With no key_query configured it appends target unchanged.
func (v *Verifier) AppendStrippedTarget(dst []byte, target string) []byte {
	name := v.cfg.KeyQuery
	i := indexByte(target, '?')
	if name == "" || i < 0 {
		return append(dst, target...)
	}
	dst = append(dst, target[:i]...)
	q, frag := target[i+1:], ""
	if j := indexByte(q, '#'); j >= 0 {
		q, frag = q[:j], q[j:]
	}
	first := true
	for q != "" {
		var p string
		if j := indexByte(q, '&'); j >= 0 {
			p, q = q[:j], q[j+1:]
		} else {
			p, q = q, ""
		}
		if p == name || (len(p) > len(name) && p[:len(name)] == name && p[len(name)] == '=') {
			continue
		}
		if first {
			dst = append(dst, '?')
			first = false
		} else {
			dst = append(dst, '&')
		}
		dst = append(dst, p...)
	}
	return append(dst, frag...)
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// requestHost returns the host that allowed_hosts restrictions are matched against: the host of
// Origin when present, else of Referer when present, else Host; without port, brackets or
// trailing dot. An Origin or Referer that has no host (such as "null") gives "", which matches no
// restriction.
func requestHost(r *Request) string {
	origin, referer, host := r.Origin, r.Referer, r.Host
	if a := r.Attributes; a != nil {
		origin = a.Origin()
		if origin == "" {
			referer = a.Referer()
			if referer == "" {
				host = a.Host()
			}
		}
	}
	switch {
	case origin != "":
		return urlHost(origin)
	case referer != "":
		return urlHost(referer)
	}
	return stripPort(host)
}

// ParseClientAddr reads a client's address as proxies and callers report it, with or without a
// port ("10.1.2.3", "10.1.2.3:5555", "[::1]:80"), IPv4-mapped IPv6 unmapped. ok is false, and the
// zero Addr (which fails every CIDR restriction) returned, for anything else.
func ParseClientAddr(s string) (a netip.Addr, ok bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(s)
	return a.Unmap(), err == nil
}

// clientIP is Request.ClientIP, or the Attributes' when set.
func (r *Request) clientIP() netip.Addr {
	if r.Attributes != nil {
		return r.Attributes.ClientIP()
	}
	return r.ClientIP
}

// urlHost returns the host of an absolute URL ("https://user@h.example:8443/p" -> "h.example").
func urlHost(u string) string {
	i := 0
	for i < len(u) && u[i] != ':' {
		c := u[i]
		if !isAlnum(c) && c != '+' && c != '-' && c != '.' {
			return ""
		}
		i++
	}
	if i == 0 || len(u)-i < 3 || u[i:i+3] != "://" {
		return ""
	}
	a := u[i+3:]
	for j := 0; j < len(a); j++ {
		if a[j] == '/' || a[j] == '?' || a[j] == '#' || a[j] == '\\' {
			a = a[:j]
			break
		}
	}
	for j := len(a) - 1; j >= 0; j-- {
		if a[j] == '@' {
			a = a[j+1:]
			break
		}
	}
	return stripPort(a)
}

// stripPort removes a port, IPv6 brackets and one trailing dot from a host[:port].
func stripPort(h string) string {
	if len(h) > 0 && h[0] == '[' {
		if j := indexByte(h, ']'); j > 0 {
			return h[1:j]
		}
		return ""
	}
	if j := indexByte(h, ':'); j >= 0 {
		if indexByte(h[j+1:], ':') >= 0 {
			return h // a bare IPv6 address
		}
		h = h[:j]
	}
	if len(h) > 0 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	return h
}
