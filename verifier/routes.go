package verifier

// route is a compiled Route.
type route struct {
	method string   // "" = any
	prefix string   // path prefix
	scopes []string // sorted, deduplicated; empty = a valid key suffices
	answer answer   // the 403 that names the scopes
}

func compileRoutes(rs []Route) []route {
	out := make([]route, len(rs))
	for i, r := range rs {
		msg := "the key lacks a scope this route requires: "
		for j, s := range r.Scopes {
			if j > 0 {
				msg += ", "
			}
			msg += s
		}
		out[i] = route{
			method: r.Method,
			prefix: r.Path,
			scopes: r.Scopes,
			answer: newAnswer(403, TypePermission, CodeInsufficientPermissions, msg),
		}
	}
	return out
}

// methodMatches reports whether a route's method admits the request's. GET routes also cover
// HEAD, which frameworks answer with the GET handler.
func methodMatches(route, req string) bool {
	return route == "" || route == req || (route == "GET" && req == "HEAD")
}

// canonicalPath reports whether p is a path that every server reads the same way: it starts with
// '/' and has no empty segment ("//"), no '.' or '..' segment (also with a ";param" suffix, which
// servlet containers strip), no backslash and no percent-encoding of an unreserved character, '/'
// or '\'. Prefix matching on any other path could be walked around ("/public/../admin"), so such a
// path must satisfy every route of its method instead of the first match.
func canonicalPath(p string) bool {
	q, ok := splitPath(p)
	return ok && len(q) == len(p)
}

// pathSpecial marks the bytes splitPath must look at.
var pathSpecial = func() (t [256]bool) {
	for _, c := range "?#/.%\\" {
		t[c] = true
	}
	return t
}()

// splitPath returns the path of a request target (without query or fragment) and whether it is
// canonical, in one pass.
func splitPath(target string) (string, bool) {
	ok := len(target) > 0 && target[0] == '/'
	for i := 0; i < len(target); i++ {
		c := target[i]
		if !pathSpecial[c] {
			continue
		}
		switch c {
		case '?', '#':
			return target[:i], ok
		case '\\':
			ok = false
		case '/':
			if i > 0 && target[i-1] == '/' {
				ok = false
			}
		case '.':
			if i > 0 && target[i-1] == '/' {
				j := i + 1
				if j < len(target) && target[j] == '.' {
					j++
				}
				if j == len(target) || target[j] == '/' || target[j] == ';' || target[j] == '?' || target[j] == '#' {
					ok = false
				}
			}
		case '%':
			if i+2 >= len(target) {
				ok = false
				break
			}
			hi, lo := unhex(target[i+1]), unhex(target[i+2])
			if hi < 0 || lo < 0 {
				ok = false
				break
			}
			d := byte(hi<<4 | lo)
			if isAlnum(d) || d == '-' || d == '.' || d == '_' || d == '~' || d == '/' || d == '\\' {
				ok = false
			}
		}
	}
	return target, ok
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// Results of matchRoute besides a route index.
const (
	noRoute      = -1 // no route applies: a valid key suffices
	everyRouteOf = -2 // a path that is not canonical: every route of the method applies
)

// matchRoute returns the index of the route that governs a request with a canonical path (the
// first match), noRoute, or everyRouteOf for a path that servers might read differently. It does
// not depend on the key, so Check runs it while the key's snapshot entry is fetched from memory.
func (v *Verifier) matchRoute(method, rawPath string) int {
	if len(v.routes) == 0 {
		return noRoute
	}
	path, canonical := splitPath(rawPath)
	if !canonical {
		return everyRouteOf
	}
	for i := range v.routes {
		r := &v.routes[i]
		if methodMatches(r.method, method) && hasPrefix(path, r.prefix) {
			return i
		}
	}
	return noRoute
}

// scopeDenial returns the route whose scopes the policy lacks, or nil when the request may go on,
// given matchRoute's answer m.
func (v *Verifier) scopeDenial(pi *policyInfo, m int, method string) *route {
	switch {
	case m >= 0:
		if pi.routeOK(m) {
			return nil
		}
		return &v.routes[m]
	case m == everyRouteOf:
		for i := range v.routes {
			r := &v.routes[i]
			if methodMatches(r.method, method) && !pi.routeOK(i) {
				return r
			}
		}
	}
	return nil
}
