// Package verifier is the decision every keyplane edge makes for a request: given the request's API
// key and attributes and the current verified key snapshot, allow it (with the identity to pass
// upstream) or deny it (with the status, error code, JSON body and headers to answer with).
//
// It is shared by the WebAssembly modules (proxy-wasm, http-wasm; built with TinyGo for wasip1)
// and the Go middleware, so it uses the standard library and the repository's own verifier/apikey,
// verifier/ratelimit and sync/snapshot only, no reflection, and allocates nothing per request once
// a key has been seen (a key's first rate-limited request may grow the rate-limit table; a
// policy's first use builds its cached form).
//
// The order of checks, and the answer of each, is specified in docs/verifier.md.
package verifier

import (
	"net/netip"
	"strconv"
	"time"
	"unsafe"

	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/verifier/apikey"
)

// Lookuper is a verified key state: *snapshot.View (a base snapshot and its newest delta) or
// *snapshot.Snapshot. Those two are called directly; any other implementation is called through
// the interface, which costs one small allocation per request (the hash escapes).
type Lookuper interface {
	Lookup(hash *[32]byte) (snapshot.Entry, bool)
	Header() snapshot.Header
}

// Freshness says until when a state may be used.
type Freshness struct {
	// ExpiresAt is the expiry (unix seconds) of the newest verified snapshot or delta the state
	// reflects. Zero means the state's own Header().ExpiresAt; if that is zero too the state never
	// expires.
	ExpiresAt int64
}

// Source is what the sync agent offers: the current verified state, or nil before the first one,
// and its freshness. Current is called once per request and must be cheap and safe for concurrent
// use (an atomic pointer load).
type Source interface {
	Current() (Lookuper, Freshness)
}

// Clock tells the time; tests inject one. The default is the system's (systemClock).
type Clock interface{ Now() time.Time }

// Request is what the verifier needs of a request. The edge fills it from the request without
// copying: every field may point into the proxy's buffers for the duration of Check.
type Request struct {
	Method   string     // "GET", "POST", ...
	Path     string     // the request target; a query or fragment is ignored
	Host     string     // Host header or :authority, port allowed
	Origin   string     // Origin header, "" when absent
	Referer  string     // Referer header, "" when absent
	ClientIP netip.Addr // the client's address; the zero Addr fails every CIDR restriction
	Key      string     // the key as extracted (ExtractKey, KeyFrom); "" when none
	// Attributes, when set, supplies Host, Origin, Referer and ClientIP in place of the fields
	// above, and is asked only for a key whose policy restricts hosts or addresses. A wasm module
	// sets it: there each header read is a call into the proxy, and most keys have no restriction.
	Attributes Attributes
}

// Attributes are the request attributes that only restricted keys need (see Request.Attributes).
type Attributes interface {
	Host() string
	Origin() string
	Referer() string
	ClientIP() netip.Addr
}

// RateLimit is the state of the key's rate limit after this request, for the IETF RateLimit-*
// headers. Limit is 0 when the key has no rate limit.
type RateLimit struct {
	Limit      uint32 // RateLimit-Limit
	Remaining  uint32 // RateLimit-Remaining
	Reset      int64  // RateLimit-Reset: seconds until the full burst is available again
	RetryAfter int64  // Retry-After: seconds, set on 429 only
}

// Decision is the outcome of Check: a value with no pointer made for the request (its strings point
// into the configuration or the snapshot).
type Decision struct {
	// Allowed: forward the request upstream. Otherwise answer with Status, Body (ContentTypeJSON),
	// WWW-Authenticate on 401 and Retry-After plus RateLimit-* on 429.
	Allowed bool
	// Unauthenticated marks an allow by failure_mode "open" without a usable state: send no
	// identity headers.
	Unauthenticated bool
	// Stale marks a decision made from a state past its expiry, within max_staleness_seconds
	// (failure_mode "static" or "open"). Edges may count or log these.
	Stale bool
	// StripKey: remove the key header (and key_query parameter) before forwarding.
	StripKey bool
	Reason   Reason
	Status   int    // 200 when allowed
	Code     string // error code; "" when allowed
	Body     string // JSON error body; "" when allowed
	// WWWAuthenticate is the WWW-Authenticate value on a 401, else "".
	WWWAuthenticate string
	// Workspace (x-keyplane-workspace) is set once the key was found in a state.
	Workspace string
	// Scopes (x-keyplane-scopes) are the key's scopes joined by ",", set when allowed.
	Scopes    string
	RateLimit RateLimit
	keyID     [apikey.IDLen]byte
	hasKeyID  bool
}

// DenialHeaders calls set for each header a denial carries: Content-Type, WWW-Authenticate on a
// 401, and Retry-After with the RateLimit-* fields on a 429 (names in lower case). Every edge
// answers through it, so the headers are the same everywhere.
func (d *Decision) DenialHeaders(set func(name, value string)) { d.denialHeaders(nil, set) }

// DenialHeadersCopied is DenialHeaders for a set that copies each value before it returns, such as
// a call into the proxy from a wasm module: the numbers of a 429 are formatted into scratch, one at
// a time, rather than into new strings, so that it allocates nothing.
func (d *Decision) DenialHeadersCopied(scratch *[20]byte, set func(name, value string)) {
	d.denialHeaders(scratch, set)
}

func (d *Decision) denialHeaders(scratch *[20]byte, set func(name, value string)) {
	set("content-type", ContentTypeJSON)
	if d.WWWAuthenticate != "" {
		set(HeaderWWWAuthenticate, d.WWWAuthenticate)
	}
	if d.RateLimit.Limit == 0 {
		return
	}
	set(HeaderRateLimitLimit, formatNumber(scratch, int64(d.RateLimit.Limit)))
	set(HeaderRateLimitRemaining, formatNumber(scratch, int64(d.RateLimit.Remaining)))
	set(HeaderRateLimitReset, formatNumber(scratch, d.RateLimit.Reset))
	if d.RateLimit.RetryAfter > 0 {
		set(HeaderRetryAfter, formatNumber(scratch, d.RateLimit.RetryAfter))
	}
}

// formatNumber formats v in decimal: into a new string, or, given scratch, as a view of it (valid
// until the next call with the same scratch; 20 bytes hold any int64).
func formatNumber(scratch *[20]byte, v int64) string {
	if scratch == nil {
		return strconv.FormatInt(v, 10)
	}
	b := strconv.AppendInt(scratch[:0], v, 10)
	return unsafe.String(&b[0], len(b))
}

// IdentityHeaders calls set with each identity header of an allowed decision, or, for an
// unauthenticated one (fail-open), del with each name. Either way a value the client sent is
// gone: set must replace, not add.
func (d *Decision) IdentityHeaders(set func(name, value string), del func(name string)) {
	d.identityHeaders(d.KeyID(), set, del)
}

// IdentityHeadersCopied is IdentityHeaders for a set that copies each value before it returns,
// such as a call into the proxy from a wasm module. It passes the key id as a view of scratch
// rather than as a new string, so that it allocates nothing. A set that keeps the string (a Go
// map, or the proxy-wasm SDK's emulator running a filter natively) would see it change when
// scratch is reused: use IdentityHeaders there.
func (d *Decision) IdentityHeadersCopied(scratch *[apikey.IDLen]byte, set func(name, value string), del func(name string)) {
	id := ""
	if d.hasKeyID {
		*scratch = d.keyID
		id = unsafe.String(&scratch[0], apikey.IDLen)
	}
	d.identityHeaders(id, set, del)
}

func (d *Decision) identityHeaders(id string, set func(name, value string), del func(name string)) {
	if d.Unauthenticated {
		del(HeaderKeyID)
		del(HeaderWorkspace)
		del(HeaderScopes)
		return
	}
	set(HeaderKeyID, id)
	set(HeaderWorkspace, d.Workspace)
	set(HeaderScopes, d.Scopes)
}

// HasKeyID reports whether the decision carries a key id: whenever a well-formed key was hashed
// (allowed, or denied after the format check). Only allowed, authenticated decisions send it
// upstream; the others may log it.
func (d *Decision) HasKeyID() bool { return d.hasKeyID }

// AppendKeyID appends the key's public id (x-keyplane-key-id) to dst; nothing when there is none.
func (d *Decision) AppendKeyID(dst []byte) []byte {
	if !d.hasKeyID {
		return dst
	}
	return append(dst, d.keyID[:]...)
}

// KeyID returns the key's public id, or "". It allocates; edges use AppendKeyID.
func (d *Decision) KeyID() string {
	if !d.hasKeyID {
		return ""
	}
	return string(d.keyID[:])
}

// Verifier decides requests. It is safe for concurrent use; its only mutable state is the
// per-instance rate-limit table and the cache of derived policies.
type Verifier struct {
	cfg         Config
	clock       Clock
	system      *systemClock // clock, when it is the default: read without an interface call
	bearer      bool
	routes      []route
	missing     answer
	policies    policyCache
	limiter     limiter
	maxStaleSec int64
}

// Option configures New.
type Option func(*Verifier)

// Now is the verifier's clock, for edges that check snapshot freshness by the same time.
func (v *Verifier) Now() time.Time { return v.clock.Now() }

// WithClock sets the clock (default: the system's, read as systemClock says).
func WithClock(c Clock) Option { return func(v *Verifier) { v.clock = c } }

// New returns a verifier for cfg, which is checked as ParseConfig checks a document.
func New(cfg Config, opts ...Option) (*Verifier, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	v := &Verifier{cfg: cfg, bearer: cfg.KeyHeader == DefaultKeyHeader}
	for _, o := range opts {
		o(v)
	}
	if v.clock == nil {
		v.system = newSystemClock()
		v.clock = v.system
	}
	v.routes = compileRoutes(cfg.Routes)
	v.policies.routes = v.routes
	v.limiter.init(cfg.RateLimitMaxKeys)
	v.maxStaleSec = cfg.MaxStalenessSeconds
	var where string
	switch {
	case v.bearer:
		where = "send it as Authorization: Bearer <key>"
	case cfg.KeyHeader != "":
		where = "send it in the " + cfg.KeyHeader + " header"
	default:
		where = "send it in the " + cfg.KeyQuery + " query parameter"
	}
	if cfg.KeyHeader != "" && cfg.KeyQuery != "" {
		where += " or the " + cfg.KeyQuery + " query parameter"
	}
	v.missing = newAnswer(401, TypeAuthentication, CodeInvalidAPIKey, "missing or malformed API key: "+where)
	return v, nil
}

// Config returns the verifier's (normalized) configuration.
func (v *Verifier) Config() Config { return v.cfg }

// CheckSource decides req against src's current state.
func (v *Verifier) CheckSource(req *Request, src Source) Decision {
	if src == nil {
		return v.Check(req, nil, Freshness{})
	}
	l, f := src.Current()
	return v.Check(req, l, f)
}

// Check decides req against the state l (nil when there is none yet) whose freshness is f.
func (v *Verifier) Check(req *Request, l Lookuper, f Freshness) Decision {
	var nowNs, now int64
	if v.system != nil {
		nowNs = v.system.unixNano()
		now = nowNs / 1e9 // after 1970: rounds down as time.Time.Unix does
	} else {
		t := v.clock.Now()
		nowNs, now = t.UnixNano(), t.Unix()
	}
	d := Decision{StripKey: v.cfg.StripKey}

	// The state: usable (fresh, or stale within the failure mode's allowance) or not.
	var view *snapshot.View
	var snap *snapshot.Snapshot
	switch s := l.(type) {
	case *snapshot.View:
		if s == nil {
			l = nil
		}
		view = s
	case *snapshot.Snapshot:
		if s == nil {
			l = nil
		}
		snap = s
	}
	unusable := ReasonAllowed
	if l == nil {
		unusable = ReasonNoState
	} else {
		exp := f.ExpiresAt
		if exp == 0 {
			switch {
			case view != nil:
				exp = view.Header().ExpiresAt
			case snap != nil:
				exp = snap.Header().ExpiresAt
			default:
				exp = l.Header().ExpiresAt
			}
		}
		if exp != 0 && now >= exp {
			if v.cfg.FailureMode == FailClosed || exp < 0 || now-exp >= v.maxStaleSec {
				unusable = ReasonStateExpired
			} else {
				d.Stale = true
			}
		}
	}
	if unusable != ReasonAllowed && v.cfg.FailureMode == FailOpen {
		d.Allowed, d.Unauthenticated, d.Reason, d.Status = true, true, ReasonFailOpen, 200
		return d
	}

	// The key's format and checksum, before any lookup.
	key := req.Key
	if key == "" {
		return v.deny(d, ReasonMissingKey, &v.missing)
	}
	if bad := checkKey(key); bad != ReasonAllowed {
		return v.deny(d, bad, nil)
	}
	if unusable != ReasonAllowed {
		return v.deny(d, unusable, nil)
	}

	// Hash once: the lookup uses the first half, the public id is the second.
	h := hashKey(key)
	var e snapshot.Entry
	var found bool
	switch {
	case view != nil:
		e, found = view.Lookup(&h)
		if found {
			d.Workspace = view.Header().Workspace
		}
	case snap != nil:
		e, found = snap.Lookup(&h)
		if found {
			d.Workspace = snap.Header().Workspace
		}
	default:
		hh := h // escapes through the interface; h stays on the stack
		e, found = l.Lookup(&hh)
		if found {
			d.Workspace = l.Header().Workspace
		}
	}
	// Work that does not depend on the entry comes after the lookup rather than before it: at 1M
	// keys the entry is a cache miss, and the processor does this while it waits.
	apikey.PutID(&d.keyID, &h)
	d.hasKeyID = true
	route := v.matchRoute(req.Method, req.Path)
	switch {
	case !found:
		return v.deny(d, ReasonUnknownKey, nil)
	case e.ExpiresAt != 0 && now >= e.ExpiresAt:
		return v.deny(d, ReasonExpiredKey, nil)
	case e.Disabled:
		return v.deny(d, ReasonDisabledKey, nil)
	case e.NotBefore != 0 && now < e.NotBefore:
		return v.deny(d, ReasonNotYetValid, nil)
	}

	// Restrictions, scopes, then the rate limit (a denied request does not spend it).
	pi := v.policies.get(&e, nowNs)
	if pi.cidrRestricted && !pi.ipAllowed(req.clientIP()) {
		return v.deny(d, ReasonIPNotAllowed, nil)
	}
	if pi.hostRestricted && !pi.hostAllowed(requestHost(req)) {
		return v.deny(d, ReasonHostNotAllowed, nil)
	}
	if r := v.scopeDenial(pi, route, req.Method); r != nil {
		return v.deny(d, ReasonInsufficientScope, &r.answer)
	}
	if !pi.limit.Unlimited() {
		rd := v.limiter.allow(&h, pi.limit, nowNs)
		d.RateLimit = RateLimit{Limit: rd.Limit, Remaining: rd.Remaining, Reset: ceilSeconds(rd.Reset)}
		if !rd.Allowed {
			d.RateLimit.RetryAfter = max(ceilSeconds(rd.RetryAfter), 1)
			return v.deny(d, ReasonRateLimited, nil)
		}
	}
	d.Allowed, d.Reason, d.Status = true, ReasonAllowed, 200
	d.Scopes = pi.scopes
	return d
}

// deny fills d with the answer of reason (a, when given, overrides the fixed one).
func (v *Verifier) deny(d Decision, reason Reason, a *answer) Decision {
	if a == nil {
		a = &fixedAnswers[reason]
	}
	d.Reason, d.Status, d.Code, d.Body = reason, a.status, a.code, a.body
	if a.status == 401 {
		d.WWWAuthenticate = WWWAuthenticate
	}
	return d
}

func ceilSeconds(ns int64) int64 { return (ns + 1e9 - 1) / 1e9 }
