package verifier

import (
	"encoding/base64"
	"strconv"

	"github.com/keyplane/keyplane/sync/snapshot"
)

// FailureMode is what an edge does when it has no usable key snapshot.
type FailureMode string

// Failure modes (docs/verifier.md).
const (
	// FailClosed (the default) answers 503 verifier_unavailable when there is no snapshot or the
	// newest one is past its expiry.
	FailClosed FailureMode = "closed"
	// FailStatic keeps verifying against the last snapshot for MaxStalenessSeconds past its expiry,
	// then answers 503.
	FailStatic FailureMode = "static"
	// FailOpen behaves as FailStatic while there is a snapshot within MaxStalenessSeconds of its
	// expiry; beyond that, or with none, it allows every request, unauthenticated.
	FailOpen FailureMode = "open"
)

// Config is the verifier's configuration: one JSON document, the same for every edge
// (ParseConfig). Start from DefaultConfig when building one in Go.
type Config struct {
	// KeyHeader is the request header that carries the key, lower-case. "authorization" (the
	// default) means "Authorization: Bearer <key>"; any other header carries the key as its whole
	// value. Empty means no header (KeyQuery must then be set).
	KeyHeader string
	// KeyQuery is a query parameter that carries the key when the header is absent. Empty (the
	// default) means keys are never taken from the query string.
	KeyQuery string
	// Routes map requests to the scopes they need. The first route that matches wins; a request
	// that matches none needs only a valid key.
	Routes []Route
	// FailureMode is "closed" (default), "static" or "open".
	FailureMode FailureMode
	// MaxStalenessSeconds is how long past a snapshot's expiry "static" and "open" keep using it.
	MaxStalenessSeconds int64
	// StripKey removes the key (header and query parameter) before the request goes upstream.
	StripKey bool
	// RateLimitMaxKeys bounds the number of keys whose rate-limit state an instance holds.
	RateLimitMaxKeys int

	// The rest is read by the edges that obtain snapshots themselves; decisions ignore it.

	// ControlPlane tells the proxy-wasm module where to fetch snapshots with dispatched calls.
	ControlPlane ControlPlane
	// SnapshotDir is where the http-wasm module reads the state that `keyplane sync --out` keeps,
	// as the guest sees the directory.
	SnapshotDir string
	// SigningKeys pins the keys snapshots must be signed by: entries of GET /v1/signing-keys.
	SigningKeys []SigningKey
}

// ControlPlane is how a proxy-wasm module reaches the control plane.
type ControlPlane struct {
	Cluster     string // the proxy's name for the control plane (Envoy cluster)
	Authority   string // Host of the requests, e.g. keyplane.internal:8080
	Token       string // an API key with snapshots:read
	Workspace   string // only with the admin token
	PollMillis  int64  // how often to ask for news (1000)
	WaitSeconds int64  // long-poll wait per request (0: plain polling)
}

// SigningKey is a pinned snapshot signing key.
type SigningKey struct {
	ID        string
	PublicKey []byte // 32 bytes; base64 in JSON
	// EndorsedBy and Endorsement, as GET /v1/signing-keys gives them: the key that vouched for
	// this one and its signature (package sync/trust).
	EndorsedBy  string
	Endorsement []byte
}

// Route says which scopes the requests it matches need.
type Route struct {
	// Method is an HTTP method in upper case, or "" for any. "GET" also matches HEAD.
	Method string
	// Path is a path prefix, matched bytewise against the request path (query excluded): "/events"
	// matches "/events", "/events/1" and "/events-archive"; "/events/" matches only below it.
	Path string
	// Scopes are all required (a key must hold every one).
	Scopes []string
}

// Limits of the configuration.
const (
	MaxRoutes              = 1024
	MaxScopesPerRoute      = 64
	MaxPathLen             = 1024
	MaxStalenessLimit      = 366 * 24 * 3600 // a year
	DefaultMaxStaleness    = 300
	DefaultRateLimitKeys   = 100_000
	MaxRateLimitKeys       = 1 << 26
	DefaultKeyHeader       = "authorization"
	maxHeaderOrParamLength = 64
)

// DefaultConfig returns the configuration used for every field a document leaves out.
func DefaultConfig() Config {
	return Config{
		KeyHeader:           DefaultKeyHeader,
		FailureMode:         FailClosed,
		MaxStalenessSeconds: DefaultMaxStaleness,
		StripKey:            true,
		RateLimitMaxKeys:    DefaultRateLimitKeys,
	}
}

// ParseConfig reads a JSON configuration document, starting from DefaultConfig. Unknown fields,
// duplicate fields, wrong types and bad values are refused with a message naming the field.
func ParseConfig(doc []byte) (Config, error) {
	cfg := DefaultConfig()
	if len(doc) > maxConfigBytes {
		return cfg, configError("", "document larger than 1 MiB")
	}
	r := &jsonReader{s: doc}
	if r.peek() == 0 {
		return cfg, configError("", "empty document")
	}
	err := r.object("", func(name string) error {
		var err error
		switch name {
		case "key_header":
			cfg.KeyHeader, err = r.str(name)
		case "key_query":
			cfg.KeyQuery, err = r.str(name)
		case "routes":
			cfg.Routes = []Route{}
			err = r.array(name, func(i int) error {
				if i >= MaxRoutes {
					return configError(name, "at most "+strconv.Itoa(MaxRoutes)+" routes")
				}
				rt, err := readRoute(r, index(name, i))
				cfg.Routes = append(cfg.Routes, rt)
				return err
			})
		case "failure_mode":
			var s string
			s, err = r.str(name)
			cfg.FailureMode = FailureMode(s)
		case "max_staleness_seconds":
			cfg.MaxStalenessSeconds, err = r.integer(name, 0, MaxStalenessLimit)
		case "strip_key":
			cfg.StripKey, err = r.boolean(name)
		case "rate_limit_max_keys":
			var n int64
			n, err = r.integer(name, 1, MaxRateLimitKeys)
			cfg.RateLimitMaxKeys = int(n)
		case "control_plane":
			cfg.ControlPlane, err = readControlPlane(r, name)
		case "snapshot_dir":
			cfg.SnapshotDir, err = r.str(name)
		case "signing_keys":
			err = r.array(name, func(i int) error {
				k, err := readSigningKey(r, index(name, i))
				cfg.SigningKeys = append(cfg.SigningKeys, k)
				return err
			})
		default:
			err = configError("", "unknown field "+strconv.Quote(name))
		}
		return err
	})
	if err != nil {
		return cfg, err
	}
	if r.peek() != 0 {
		return cfg, r.syntax("data after the document")
	}
	if err := cfg.normalize(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func readControlPlane(r *jsonReader, path string) (ControlPlane, error) {
	cp := ControlPlane{PollMillis: 1000}
	err := r.object(path, func(name string) error {
		var err error
		p := join(path, name)
		switch name {
		case "cluster":
			cp.Cluster, err = r.str(p)
		case "authority":
			cp.Authority, err = r.str(p)
		case "token":
			cp.Token, err = r.str(p)
		case "workspace":
			cp.Workspace, err = r.str(p)
		case "poll_ms":
			cp.PollMillis, err = r.integer(p, 100, 3_600_000)
		case "wait_seconds":
			cp.WaitSeconds, err = r.integer(p, 0, 60)
		default:
			err = configError(path, "unknown field "+strconv.Quote(name))
		}
		return err
	})
	if err == nil && (cp.Cluster == "" || cp.Token == "") {
		err = configError(path, `needs a "cluster" and a "token"`)
	}
	return cp, err
}

// Trust adds keys to t (made when nil) and returns it: the set snapshot.Open checks a blob's
// signing key against.
func Trust(t snapshot.Trusted, keys []SigningKey) snapshot.Trusted {
	if t == nil {
		t = snapshot.Trusted{}
	}
	for _, k := range keys {
		t[k.ID] = k.PublicKey
	}
	return t
}

// ParseSigningKeys reads the document of GET /v1/signing-keys (also what the sync agent keeps in
// trusted.json): {"keys":[{"id","public_key",...}]}. Wasm guests use it without encoding/json.
func ParseSigningKeys(doc []byte) ([]SigningKey, error) {
	var keys []SigningKey
	r := &jsonReader{s: doc}
	err := r.object("", func(name string) error {
		if name != "keys" {
			return configError("", "unknown field "+strconv.Quote(name))
		}
		return r.array(name, func(i int) error {
			k, err := readSigningKey(r, index(name, i))
			keys = append(keys, k)
			return err
		})
	})
	return keys, err
}

// readSigningKey reads one entry of GET /v1/signing-keys; the fields that only matter to the
// control plane (created_at, endorsed_by, endorsement) are accepted so a document can be pasted.
func readSigningKey(r *jsonReader, path string) (SigningKey, error) {
	var k SigningKey
	err := r.object(path, func(name string) error {
		p := join(path, name)
		switch name {
		case "id":
			var err error
			k.ID, err = r.str(p)
			return err
		case "public_key":
			s, err := r.str(p)
			if err != nil {
				return err
			}
			k.PublicKey, err = base64.StdEncoding.DecodeString(s)
			if err != nil || len(k.PublicKey) != 32 {
				return configError(p, "must be a 32-byte Ed25519 public key in base64")
			}
			return nil
		case "endorsed_by":
			var err error
			k.EndorsedBy, err = r.str(p)
			return err
		case "endorsement":
			s, err := r.str(p)
			if err != nil {
				return err
			}
			if k.Endorsement, err = base64.StdEncoding.DecodeString(s); err != nil {
				return configError(p, "must be base64")
			}
			return nil
		case "created_at":
			_, err := r.str(p)
			return err
		}
		return configError(path, "unknown field "+strconv.Quote(name))
	})
	if err == nil && (k.ID == "" || k.PublicKey == nil) {
		err = configError(path, `needs an "id" and a "public_key"`)
	}
	return k, err
}

func readRoute(r *jsonReader, path string) (Route, error) {
	var rt Route
	err := r.object(path, func(name string) error {
		var err error
		switch name {
		case "method":
			rt.Method, err = r.str(join(path, name))
		case "path":
			rt.Path, err = r.str(join(path, name))
		case "scopes":
			rt.Scopes, err = r.stringList(join(path, name), MaxScopesPerRoute)
		default:
			err = configError(path, "unknown field "+strconv.Quote(name))
		}
		return err
	})
	if err == nil && rt.Path == "" {
		err = configError(path, `needs a "path"`)
	}
	return rt, err
}

// normalize checks c and puts it in canonical form (lower-case header, upper-case methods, sorted
// scopes, defaults for zero values). New calls it too, so a Config built in Go is checked the same.
func (c *Config) normalize() error {
	c.KeyHeader = lower(c.KeyHeader)
	if c.KeyHeader != "" && !isToken(c.KeyHeader) {
		return configError("key_header", "must be an HTTP header name such as authorization or x-api-key")
	}
	if len(c.KeyHeader) > maxHeaderOrParamLength {
		return configError("key_header", "must be at most 64 bytes")
	}
	if hasPrefix(c.KeyHeader, "x-keyplane-") {
		return configError("key_header", "x-keyplane-* headers are set by the verifier")
	}
	if c.KeyQuery != "" && (!isUnreserved(c.KeyQuery) || len(c.KeyQuery) > maxHeaderOrParamLength) {
		return configError("key_query", "must be 1 to 64 letters, digits, '-', '.', '_' or '~'")
	}
	if c.KeyHeader == "" && c.KeyQuery == "" {
		return configError("key_header", "key_header and key_query may not both be empty")
	}
	switch c.FailureMode {
	case "":
		c.FailureMode = FailClosed
	case FailClosed, FailStatic, FailOpen:
	default:
		return configError("failure_mode", `must be "closed", "static" or "open", not `+strconv.Quote(string(c.FailureMode)))
	}
	if c.MaxStalenessSeconds < 0 || c.MaxStalenessSeconds > MaxStalenessLimit {
		return configError("max_staleness_seconds", "must be between 0 and "+strconv.Itoa(MaxStalenessLimit))
	}
	switch {
	case c.RateLimitMaxKeys == 0:
		c.RateLimitMaxKeys = DefaultRateLimitKeys
	case c.RateLimitMaxKeys < 0 || c.RateLimitMaxKeys > MaxRateLimitKeys:
		return configError("rate_limit_max_keys", "must be between 1 and "+strconv.Itoa(MaxRateLimitKeys))
	}
	if len(c.Routes) > MaxRoutes {
		return configError("routes", "at most "+strconv.Itoa(MaxRoutes)+" routes")
	}
	routes := make([]Route, len(c.Routes))
	for i, rt := range c.Routes {
		p := index("routes", i)
		rt.Method = upper(rt.Method)
		if rt.Method != "" && !isToken(rt.Method) {
			return configError(p+".method", "must be an HTTP method such as GET, or omitted for any")
		}
		if msg := checkRoutePath(rt.Path); msg != "" {
			return configError(p+".path", msg)
		}
		if len(rt.Scopes) > MaxScopesPerRoute {
			return configError(p+".scopes", "at most "+strconv.Itoa(MaxScopesPerRoute)+" entries")
		}
		scopes := make([]string, 0, len(rt.Scopes))
		for j, s := range rt.Scopes {
			if !validScope(s) {
				return configError(index(p+".scopes", j), strconv.Quote(s)+" must look like resource:action, e.g. events:write")
			}
			scopes = insertSorted(scopes, s)
		}
		rt.Scopes = scopes
		routes[i] = rt
	}
	c.Routes = routes
	return nil
}

// checkRoutePath returns why p cannot be a route prefix, or "".
func checkRoutePath(p string) string {
	switch {
	case p == "":
		return "is required"
	case p[0] != '/':
		return "must start with /"
	case len(p) > MaxPathLen:
		return "must be at most " + strconv.Itoa(MaxPathLen) + " bytes"
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '?' || c == '#' || c == '%' || c == '\\' {
			return "must be a plain path: no spaces, '?', '#', '%' or '\\'"
		}
	}
	if !canonicalPath(p) {
		return "must not contain empty, '.' or '..' segments"
	}
	return ""
}

// validScope mirrors the control plane's rule: resource:action, each 1 to 32 of [a-z0-9_.-]
// starting with a letter; the action may be "*".
func validScope(s string) bool {
	i := indexByte(s, ':')
	if i < 0 {
		return false
	}
	return scopePart(s[:i]) && (s[i+1:] == "*" || scopePart(s[i+1:]))
}

func scopePart(p string) bool {
	if len(p) < 1 || len(p) > 32 || p[0] < 'a' || p[0] > 'z' {
		return false
	}
	for i := 1; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func insertSorted(l []string, s string) []string {
	i := 0
	for i < len(l) && l[i] < s {
		i++
	}
	if i < len(l) && l[i] == s {
		return l
	}
	l = append(l, "")
	copy(l[i+1:], l[i:])
	l[i] = s
	return l
}

// isToken reports whether s is an RFC 9110 token (header names, methods).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) {
			continue
		}
		switch c {
		case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
			continue
		}
		return false
	}
	return true
}

func isUnreserved(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' && c != '.' && c != '_' && c != '~' {
			return false
		}
	}
	return s != ""
}

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func upper(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'a' && s[i] <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'a' && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
