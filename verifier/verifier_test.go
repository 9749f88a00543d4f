package verifier

import (
	"crypto/sha256"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/verifier/apikey"
	"github.com/keyplane/keyplane/verifier/ratelimit"
)

func TestCheck(t *testing.T) {
	f := newFixture(t)
	k := f.keys
	type mod func(*Request)
	path := func(m, p string) mod { return func(r *Request) { r.Method, r.Path = m, p } }
	ip := func(s string) mod { return func(r *Request) { r.ClientIP = netip.MustParseAddr(s) } }
	noIP := func(r *Request) { r.ClientIP = netip.Addr{} }
	host := func(h string) mod { return func(r *Request) { r.Host = h } }
	origin := func(o string) mod { return func(r *Request) { r.Origin = o } }
	referer := func(o string) mod { return func(r *Request) { r.Referer = o } }
	for _, tc := range []struct {
		name   string
		key    string
		mods   []mod
		state  Lookuper // default f.view
		none   bool     // no state at all
		want   Reason
		status int
		code   string
	}{
		{name: "valid", key: k["events"], want: ReasonAllowed, status: 200},
		{name: "valid through base snapshot", key: k["events"], state: f.base, want: ReasonAllowed, status: 200},
		{name: "valid through other lookuper", key: k["events"], state: lookupOnly{f.base}, want: ReasonAllowed, status: 200},
		{name: "missing key", key: "", want: ReasonMissingKey, status: 401, code: CodeInvalidAPIKey},
		{name: "malformed", key: "hello world", want: ReasonMalformedKey, status: 401, code: CodeInvalidAPIKey},
		{name: "malformed long", key: strings.Repeat("a", 10000), want: ReasonMalformedKey, status: 401, code: CodeInvalidAPIKey},
		{name: "bad checksum", key: flipChecksum(k["events"]), want: ReasonBadChecksum, status: 401, code: CodeInvalidAPIKey},
		{name: "unknown", key: k["unknown"], want: ReasonUnknownKey, status: 401, code: CodeInvalidAPIKey},
		{name: "revoked via delta", key: k["revoked"], want: ReasonUnknownKey, status: 401, code: CodeInvalidAPIKey},
		{name: "revoked key still valid in base alone", key: k["revoked"], state: f.base, want: ReasonAllowed, status: 200},
		{name: "created in delta", key: k["created"], want: ReasonAllowed, status: 200},
		{name: "created in delta unknown to base", key: k["created"], state: f.base, want: ReasonUnknownKey, status: 401, code: CodeInvalidAPIKey},
		{name: "disabled by delta", key: k["changed"], want: ReasonDisabledKey, status: 401, code: CodeDisabledAPIKey},
		{name: "disabled", key: k["disabled"], want: ReasonDisabledKey, status: 401, code: CodeDisabledAPIKey},
		{name: "not yet valid", key: k["notyet"], want: ReasonNotYetValid, status: 401, code: CodeInvalidAPIKey},
		{name: "expired", key: k["expired"], want: ReasonExpiredKey, status: 401, code: CodeExpiredAPIKey},
		{name: "expiring later", key: k["expiring"], want: ReasonAllowed, status: 200},
		{name: "ip allowed v4", key: k["ip"], mods: []mod{ip("10.200.0.1")}, want: ReasonAllowed, status: 200},
		{name: "ip allowed v4-mapped v6", key: k["ip"], mods: []mod{ip("::ffff:10.0.0.1")}, want: ReasonAllowed, status: 200},
		{name: "ip allowed v6", key: k["ip"], mods: []mod{ip("2001:db8::1")}, want: ReasonAllowed, status: 200},
		{name: "ip denied", key: k["ip"], mods: []mod{ip("11.0.0.1")}, want: ReasonIPNotAllowed, status: 403, code: CodeIPNotAllowed},
		{name: "ip unknown denied", key: k["ip"], mods: []mod{noIP}, want: ReasonIPNotAllowed, status: 403, code: CodeIPNotAllowed},
		{name: "unrestricted key any ip", key: k["events"], mods: []mod{noIP}, want: ReasonAllowed, status: 200},
		{name: "host allowed wildcard", key: k["host"], mods: []mod{host("a.example.com")}, want: ReasonAllowed, status: 200},
		{name: "host allowed wildcard deep, port, case", key: k["host"], mods: []mod{host("X.Y.Example.COM:8443")}, want: ReasonAllowed, status: 200},
		{name: "host allowed exact", key: k["host"], mods: []mod{host("api.example.org")}, want: ReasonAllowed, status: 200},
		{name: "host allowed trailing dot", key: k["host"], mods: []mod{host("api.example.org.")}, want: ReasonAllowed, status: 200},
		{name: "host denied apex of wildcard", key: k["host"], mods: []mod{host("example.com")}, want: ReasonHostNotAllowed, status: 403, code: CodeHostNotAllowed},
		{name: "host denied suffix trick", key: k["host"], mods: []mod{host("evilexample.com")}, want: ReasonHostNotAllowed, status: 403, code: CodeHostNotAllowed},
		{name: "host denied other", key: k["host"], mods: []mod{host("api.example.net")}, want: ReasonHostNotAllowed, status: 403, code: CodeHostNotAllowed},
		{name: "host denied empty", key: k["host"], mods: []mod{host("")}, want: ReasonHostNotAllowed, status: 403, code: CodeHostNotAllowed},
		{name: "origin wins over host", key: k["host"], mods: []mod{host("api.example.org"), origin("https://evil.test")}, want: ReasonHostNotAllowed, status: 403, code: CodeHostNotAllowed},
		{name: "origin allowed", key: k["host"], mods: []mod{host("api.other.test"), origin("https://app.example.com:8443")}, want: ReasonAllowed, status: 200},
		{name: "origin null denied", key: k["host"], mods: []mod{host("api.example.org"), origin("null")}, want: ReasonHostNotAllowed, status: 403, code: CodeHostNotAllowed},
		{name: "referer allowed", key: k["host"], mods: []mod{host("api.other.test"), referer("https://u:p@www.example.com/page?q=1")}, want: ReasonAllowed, status: 200},
		{name: "referer denied", key: k["host"], mods: []mod{host("api.example.org"), referer("https://www.example.net/x.example.com")}, want: ReasonHostNotAllowed, status: 403, code: CodeHostNotAllowed},
		{name: "route write scope ok", key: k["events"], mods: []mod{path("POST", "/events")}, want: ReasonAllowed, status: 200},
		{name: "route write scope missing", key: k["reader"], mods: []mod{path("POST", "/events")}, want: ReasonInsufficientScope, status: 403, code: CodeInsufficientPermissions},
		{name: "method-specific route falls to read", key: k["reader"], mods: []mod{path("GET", "/events/42?x=1")}, want: ReasonAllowed, status: 200},
		{name: "read route scope missing", key: k["none"], mods: []mod{path("GET", "/events")}, want: ReasonInsufficientScope, status: 403, code: CodeInsufficientPermissions},
		{name: "prefix is bytewise", key: k["none"], mods: []mod{path("GET", "/events-archive")}, want: ReasonInsufficientScope, status: 403, code: CodeInsufficientPermissions},
		{name: "first match wins over later catch-all", key: k["reader"], mods: []mod{path("DELETE", "/events/1")}, want: ReasonAllowed, status: 200},
		{name: "unmatched needs only a valid key", key: k["none"], mods: []mod{path("GET", "/status")}, want: ReasonAllowed, status: 200},
		{name: "admin prefix with slash", key: k["events"], mods: []mod{path("GET", "/admin/users")}, want: ReasonInsufficientScope, status: 403, code: CodeInsufficientPermissions},
		{name: "admin prefix ok", key: k["admin"], mods: []mod{path("GET", "/admin/users")}, want: ReasonAllowed, status: 200},
		{name: "admin without slash is not admin", key: k["events"], mods: []mod{path("GET", "/admin")}, want: ReasonAllowed, status: 200},
		{name: "dot-dot path needs every route", key: k["events"], mods: []mod{path("GET", "/public/../admin/x")}, want: ReasonInsufficientScope, status: 403, code: CodeInsufficientPermissions},
		{name: "encoded slash needs every route", key: k["events"], mods: []mod{path("GET", "/admin%2Fx")}, want: ReasonInsufficientScope, status: 403, code: CodeInsufficientPermissions},
		{name: "double slash needs every route", key: k["events"], mods: []mod{path("GET", "//admin/x")}, want: ReasonInsufficientScope, status: 403, code: CodeInsufficientPermissions},
		{name: "odd path with full key", key: k["admin"], mods: []mod{path("GET", "/a/./b")}, want: ReasonAllowed, status: 200},
		{name: "HEAD follows GET route", key: k["none"], mods: []mod{path("HEAD", "/events")}, want: ReasonInsufficientScope, status: 403, code: CodeInsufficientPermissions},
		{name: "no state", key: k["events"], none: true, want: ReasonNoState, status: 503, code: CodeVerifierUnavailable},
		{name: "typed nil view", key: k["events"], state: (*snapshot.View)(nil), want: ReasonNoState, status: 503, code: CodeVerifierUnavailable},
		{name: "no state still refuses garbage first", key: "garbage", none: true, want: ReasonMalformedKey, status: 401, code: CodeInvalidAPIKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock(t0)
			v := newTestVerifier(t, testConfigJSON, clock)
			req := get(tc.key)
			for _, m := range tc.mods {
				m(req)
			}
			state := tc.state
			if state == nil && !tc.none {
				state = f.view
			}
			d := v.Check(req, state, Freshness{})
			if d.Reason != tc.want || d.Status != tc.status || d.Code != tc.code || d.Allowed != (tc.status == 200) {
				t.Fatalf("got reason %v status %d code %q allowed %v; want %v %d %q", d.Reason, d.Status, d.Code, d.Allowed, tc.want, tc.status, tc.code)
			}
			// The same request with its restricted attributes behind Request.Attributes (as wasm
			// modules pass them): the same decision, and the attributes asked for only when the
			// key's policy restricts them.
			attrs := &countingAttributes{r: *req}
			lazy := Request{Method: req.Method, Path: req.Path, Key: req.Key, Attributes: attrs}
			if ld := newTestVerifier(t, testConfigJSON, newClock(t0)).Check(&lazy, state, Freshness{}); ld.Reason != d.Reason {
				t.Fatalf("through Attributes: %v, want %v", ld.Reason, d.Reason)
			}
			if restricted := tc.key == k["ip"] || tc.key == k["host"]; attrs.calls > 0 && !restricted {
				t.Fatalf("Attributes asked %d times for a key without restrictions", attrs.calls)
			}
			checkDecisionShape(t, d)
			if d.Allowed {
				h := apikey.Hash(tc.key)
				if d.KeyID() != apikey.ID(h) || d.Workspace != "ws_test" {
					t.Fatalf("identity %q %q", d.KeyID(), d.Workspace)
				}
			}
		})
	}
}

// countingAttributes serves a request's restricted attributes and counts the calls.
type countingAttributes struct {
	r     Request
	calls int
}

func (a *countingAttributes) Host() string         { a.calls++; return a.r.Host }
func (a *countingAttributes) Origin() string       { a.calls++; return a.r.Origin }
func (a *countingAttributes) Referer() string      { a.calls++; return a.r.Referer }
func (a *countingAttributes) ClientIP() netip.Addr { a.calls++; return a.r.ClientIP }

// checkDecisionShape checks the invariants every decision keeps.
func checkDecisionShape(t *testing.T, d Decision) {
	t.Helper()
	if d.Allowed {
		if d.Body != "" || d.Code != "" || d.WWWAuthenticate != "" || d.Status != 200 {
			t.Fatalf("allowed decision with error fields: %+v", d)
		}
		if d.Unauthenticated != (d.Reason == ReasonFailOpen) || d.Unauthenticated == d.HasKeyID() {
			t.Fatalf("identity inconsistent: %+v", d)
		}
		return
	}
	var body apiv1.ErrorBody
	dec := json.NewDecoder(strings.NewReader(d.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("body %q: %v", d.Body, err)
	}
	if body.Error.Code != d.Code || body.Error.Message == "" {
		t.Fatalf("body %q does not match code %q", d.Body, d.Code)
	}
	wantType := map[int]string{401: TypeAuthentication, 403: TypePermission, 429: TypeRateLimit, 503: TypeAPI}[d.Status]
	if body.Error.Type != wantType {
		t.Fatalf("type %q for status %d", body.Error.Type, d.Status)
	}
	if (d.Status == 401) != (d.WWWAuthenticate == `Bearer realm="keyplane"`) {
		t.Fatalf("WWW-Authenticate %q on %d", d.WWWAuthenticate, d.Status)
	}
	if (d.Status == 429) != (d.RateLimit.RetryAfter > 0) {
		t.Fatalf("Retry-After %d on %d", d.RateLimit.RetryAfter, d.Status)
	}
	if d.Scopes != "" {
		t.Fatalf("denied decision carries scopes %q", d.Scopes)
	}
}

func TestIdentityAndStrip(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name      string
		doc       string
		key       string
		strip     bool
		scopes    string
		rateLimit uint32
	}{
		{"default strips", testConfigJSON, f.keys["events"], true, "events:read,events:write", 0},
		{"no strip", `{"strip_key":false}`, f.keys["admin"], false, "admin:all,events:read,events:write", 0},
		{"no scopes", `{}`, f.keys["none"], true, "", 0},
		{"rate limited key reports limit", `{}`, f.keys["limited"], true, "events:read", 2},
		{"delta key", `{}`, f.keys["created"], true, "events:read", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestVerifier(t, tc.doc, newClock(t0))
			d := v.Check(get(tc.key), f.view, Freshness{})
			if !d.Allowed || d.StripKey != tc.strip || d.Scopes != tc.scopes || d.Workspace != "ws_test" || d.Unauthenticated {
				t.Fatalf("%+v", d)
			}
			h := apikey.Hash(tc.key)
			if got := string(d.AppendKeyID([]byte("id="))); got != "id="+apikey.ID(h) {
				t.Fatalf("key id %q", got)
			}
			if d.RateLimit.Limit != tc.rateLimit {
				t.Fatalf("rate limit %+v", d.RateLimit)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t)
	clock := newClock(t0)
	v := newTestVerifier(t, testConfigJSON, clock)
	key := f.keys["limited"] // 2 per 10 s: a burst of 2, then one every 5 s
	check := func(want Reason) Decision {
		t.Helper()
		d := v.Check(get(key), f.view, Freshness{})
		if d.Reason != want {
			t.Fatalf("at %v: %v, want %v (%+v)", clock.Now().Unix()-t0, d.Reason, want, d.RateLimit)
		}
		checkDecisionShape(t, d)
		return d
	}
	d := check(ReasonAllowed)
	if d.RateLimit != (RateLimit{Limit: 2, Remaining: 1, Reset: 5}) {
		t.Fatalf("first: %+v", d.RateLimit)
	}
	d = check(ReasonAllowed)
	if d.RateLimit != (RateLimit{Limit: 2, Remaining: 0, Reset: 10}) {
		t.Fatalf("second: %+v", d.RateLimit)
	}
	d = check(ReasonRateLimited)
	if d.Status != 429 || d.Code != CodeRateLimitExceeded || d.RateLimit.RetryAfter != 5 || d.RateLimit.Remaining != 0 {
		t.Fatalf("third: %+v", d)
	}
	// Another key of the same policy has its own state.
	if d := v.Check(get(f.keys["limited2"]), f.view, Freshness{}); !d.Allowed {
		t.Fatalf("other key: %v", d.Reason)
	}
	// A denied request (scope) spends nothing: still limited, and Retry-After counts down.
	clock.advance(2500 * time.Millisecond)
	d = check(ReasonRateLimited)
	if d.RateLimit.RetryAfter != 3 { // 2.5 s, rounded up
		t.Fatalf("retry after %d", d.RateLimit.RetryAfter)
	}
	clock.advance(2500 * time.Millisecond)
	check(ReasonAllowed)
	check(ReasonRateLimited)
	clock.advance(time.Minute)
	d = check(ReasonAllowed)
	if d.RateLimit.Remaining != 1 {
		t.Fatalf("after idle: %+v", d.RateLimit)
	}
}

func TestFailureModes(t *testing.T) {
	f := newFixture(t)
	exp := f.expires
	good, bad := f.keys["events"], f.keys["unknown"]
	type want struct {
		reason Reason
		stale  bool
	}
	for _, tc := range []struct {
		name  string
		mode  string
		now   int64
		state Lookuper
		fresh Freshness
		key   string
		want  want
	}{
		{"closed fresh", "closed", exp - 1, f.view, Freshness{}, good, want{ReasonAllowed, false}},
		{"closed no state", "closed", t0, nil, Freshness{}, good, want{ReasonNoState, false}},
		{"closed expired state", "closed", exp, f.view, Freshness{}, good, want{ReasonStateExpired, false}},
		{"closed freshness overrides header", "closed", t0, f.view, Freshness{ExpiresAt: t0}, good, want{ReasonStateExpired, false}},
		{"closed freshness extends header", "closed", exp + 10, f.view, Freshness{ExpiresAt: exp + 11}, good, want{ReasonAllowed, false}},
		{"static fresh", "static", t0, f.view, Freshness{}, good, want{ReasonAllowed, false}},
		{"static no state", "static", t0, nil, Freshness{}, good, want{ReasonNoState, false}},
		{"static within staleness", "static", exp + 299, f.view, Freshness{}, good, want{ReasonAllowed, true}},
		{"static within staleness unknown key", "static", exp + 299, f.view, Freshness{}, bad, want{ReasonUnknownKey, true}},
		{"static beyond staleness", "static", exp + 300, f.view, Freshness{}, good, want{ReasonStateExpired, false}},
		{"static never-expiring state", "static", exp + 1e6, lookupOnly{noExpiry(t)}, Freshness{}, good, want{ReasonAllowed, false}},
		{"open fresh checks keys", "open", t0, f.view, Freshness{}, bad, want{ReasonUnknownKey, false}},
		{"open no state allows", "open", t0, nil, Freshness{}, bad, want{ReasonFailOpen, false}},
		{"open no state allows no key", "open", t0, nil, Freshness{}, "", want{ReasonFailOpen, false}},
		{"open within staleness checks keys", "open", exp + 299, f.view, Freshness{}, bad, want{ReasonUnknownKey, true}},
		{"open within staleness allows good key", "open", exp + 299, f.view, Freshness{}, good, want{ReasonAllowed, true}},
		{"open beyond staleness allows", "open", exp + 300, f.view, Freshness{}, bad, want{ReasonFailOpen, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestVerifier(t, `{"failure_mode":"`+tc.mode+`","max_staleness_seconds":300}`, newClock(tc.now))
			for _, d := range []Decision{
				v.Check(get(tc.key), tc.state, tc.fresh),
				v.CheckSource(get(tc.key), staticSource{tc.state, tc.fresh}),
			} {
				if d.Reason != tc.want.reason || d.Stale != tc.want.stale {
					t.Fatalf("got %v stale=%v, want %v stale=%v", d.Reason, d.Stale, tc.want.reason, tc.want.stale)
				}
				checkDecisionShape(t, d)
				if d.Reason == ReasonFailOpen && (!d.Allowed || !d.Unauthenticated || d.HasKeyID() || d.Workspace != "" || d.Scopes != "") {
					t.Fatalf("fail-open decision carries identity: %+v", d)
				}
			}
		})
	}
	t.Run("nil source", func(t *testing.T) {
		v := newTestVerifier(t, `{}`, newClock(t0))
		if d := v.CheckSource(get(good), nil); d.Reason != ReasonNoState {
			t.Fatal(d.Reason)
		}
	})
}

func TestMissingKeyMessages(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`{}`, "Authorization: Bearer <key>"},
		{`{"key_header":"X-API-Key"}`, "x-api-key header"},
		{`{"key_header":"","key_query":"api_key"}`, "api_key query parameter"},
		{`{"key_query":"api_key"}`, "Bearer <key> or the api_key query parameter"},
	} {
		v := newTestVerifier(t, tc.doc, newClock(t0))
		d := v.Check(get(""), nil, Freshness{})
		var body apiv1.ErrorBody
		if err := json.Unmarshal([]byte(d.Body), &body); err != nil || d.Reason != ReasonMissingKey || !strings.Contains(body.Error.Message, tc.want) {
			t.Fatalf("%s: %s", tc.doc, d.Body)
		}
	}
}

func TestCodesMatchControlPlane(t *testing.T) {
	for got, want := range map[string]string{
		CodeInvalidAPIKey:           apiv1.CodeInvalidAPIKey,
		CodeExpiredAPIKey:           apiv1.CodeExpiredAPIKey,
		CodeDisabledAPIKey:          apiv1.CodeDisabledAPIKey,
		CodeIPNotAllowed:            apiv1.CodeIPNotAllowed,
		CodeHostNotAllowed:          apiv1.CodeHostNotAllowed,
		CodeInsufficientPermissions: apiv1.CodeInsufficientPermissions,
		CodeRateLimitExceeded:       apiv1.CodeRateLimitExceeded,
	} {
		if got != want {
			t.Errorf("%q != control plane %q", got, want)
		}
	}
	if e := errorJSON("t<", "c\"", "m\n\x01&"); e != `{"error":{"type":"t\u003c","code":"c\"","message":"m\n\u0001\u0026"}}` {
		t.Fatal(e)
	}
	for r := Reason(0); r < numReasons; r++ {
		if r.String() == "unknown" || r.String() == "" {
			t.Fatalf("reason %d has no name", r)
		}
	}
}

func TestCheckAllocatesNothing(t *testing.T) {
	f := newFixture(t)
	clock := newClock(t0)
	v := newTestVerifier(t, testConfigJSON, clock)
	vOpen := newTestVerifier(t, `{"failure_mode":"open"}`, clock)
	k := f.keys
	limited := get(k["limited"])
	for i := 0; i < 3; i++ { // spend the burst: from here on the key is denied
		v.Check(limited, f.view, Freshness{})
	}
	for _, tc := range []struct {
		name  string
		v     *Verifier
		req   *Request
		state Lookuper
		want  Reason
	}{
		{"allowed view", v, get(k["events"]), f.view, ReasonAllowed},
		{"allowed snapshot", v, get(k["events"]), f.base, ReasonAllowed},
		{"allowed with route", v, &Request{Method: "POST", Path: "/events?a=b", Host: "h", Key: k["events"]}, f.view, ReasonAllowed},
		{"allowed with host and ip", v, &Request{Method: "GET", Path: "/", Origin: "https://A.Example.com", Key: k["host"]}, f.view, ReasonAllowed},
		{"allowed with rate limit", v, get(k["busy"]), f.view, ReasonAllowed},
		{"missing", v, get(""), f.view, ReasonMissingKey},
		{"malformed", v, get("kp_live_nope"), f.view, ReasonMalformedKey},
		{"bad checksum", v, get(flipChecksum(k["events"])), f.view, ReasonBadChecksum},
		{"unknown", v, get(k["unknown"]), f.view, ReasonUnknownKey},
		{"revoked", v, get(k["revoked"]), f.view, ReasonUnknownKey},
		{"disabled", v, get(k["disabled"]), f.view, ReasonDisabledKey},
		{"not yet valid", v, get(k["notyet"]), f.view, ReasonNotYetValid},
		{"expired", v, get(k["expired"]), f.view, ReasonExpiredKey},
		{"ip", v, get(k["ip"]), f.view, ReasonIPNotAllowed},
		{"host", v, &Request{Method: "GET", Path: "/", Referer: "https://evil.test/", Key: k["host"]}, f.view, ReasonHostNotAllowed},
		{"scope", v, &Request{Method: "POST", Path: "/events", Key: k["reader"]}, f.view, ReasonInsufficientScope},
		{"scope odd path", v, &Request{Method: "GET", Path: "/x/../admin/", Key: k["reader"]}, f.view, ReasonInsufficientScope},
		{"rate limited", v, limited, f.view, ReasonRateLimited},
		{"no state", v, get(k["events"]), nil, ReasonNoState},
		{"fail open", vOpen, get(k["events"]), nil, ReasonFailOpen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d Decision
			check := func() { d = tc.v.Check(tc.req, tc.state, Freshness{}) }
			check() // warm: the policy cache and the rate-limit table
			if n := testing.AllocsPerRun(200, check); n != 0 {
				t.Fatalf("%v allocations per request", n)
			}
			if d.Reason != tc.want {
				t.Fatalf("reason %v, want %v", d.Reason, tc.want)
			}
		})
	}
	t.Run("key helpers", func(t *testing.T) {
		vq := newTestVerifier(t, `{"key_query":"api_key"}`, clock)
		hdr := "Bearer " + k["events"]
		target := "/p?a=1&api_key=" + k["events"]
		buf := make([]byte, 0, 256)
		if n := testing.AllocsPerRun(200, func() {
			v.KeyFrom(hdr)
			vq.ExtractKey("", target)
			buf = vq.AppendStrippedTarget(buf[:0], target)
		}); n != 0 {
			t.Fatalf("%v allocations", n)
		}
	})
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	var l limiter
	l.init(160) // 10 per shard
	lim := ratelimit.Limit{Count: 1, Window: 3600e9}
	now := int64(t0) * 1e9
	for i := 0; i < 10000; i++ {
		h := hashN(i)
		if d := l.allow(&h, lim, now); !d.Allowed {
			t.Fatalf("fresh key %d denied", i)
		}
		if n := l.size(); n > 160 {
			t.Fatalf("%d states held, limit 160", n)
		}
	}
	// The newest keys are remembered.
	h := hashN(9999)
	if d := l.allow(&h, lim, now); d.Allowed {
		t.Fatal("the last key's state was lost")
	}
	// Idle states go first: after the window every state is idle.
	now += 3601e9
	for i := 0; i < 1000; i++ {
		h := hashN(100000 + i)
		l.allow(&h, lim, now)
	}
	if n := l.size(); n > 160 {
		t.Fatalf("%d states held", n)
	}
}

func hashN(i int) [32]byte {
	h := sha256.Sum256([]byte(strconv.Itoa(i)))
	return h
}

// TestLimiterMatchesReference runs random requests of random keys at random times through the
// limiter and through a plain map with ratelimit.Limit.Allow: with room for every live key, they
// must decide alike (the table forgets only idle states, which equal no state).
func TestLimiterMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var l limiter
	l.init(1 << 16)
	ref := map[[32]byte]int64{}
	slow := ratelimit.Limit{Count: 3, Window: 1000e9} // never idle during the test
	fast := ratelimit.Limit{Count: 2, Window: 100e6}  // idle, and dropped, most of the time
	now := int64(t0) * 1e9
	for i := 0; i < 200000; i++ {
		now += rng.Int64N(2e6)
		k := rng.IntN(20000)
		h := hashN(k)
		lim := slow
		if k%4 != 0 {
			lim = fast
		}
		tat := ref[h]
		want := lim.Allow(&tat, now)
		ref[h] = tat
		if got := l.allow(&h, lim, now); got != want {
			t.Fatalf("step %d: got %+v, want %+v", i, got, want)
		}
	}
	if n := l.size(); n >= 20000 {
		t.Fatalf("idle states were never dropped: %d held", n)
	}
}

func TestPolicyCacheIsSwept(t *testing.T) {
	f := newFixture(t)
	clock := newClock(t0)
	v := newTestVerifier(t, testConfigJSON, clock)
	for _, name := range []string{"events", "reader", "admin", "ip", "host"} {
		v.Check(get(f.keys[name]), f.view, Freshness{})
	}
	if n := v.policies.size(); n != 5 {
		t.Fatalf("%d cached policies", n)
	}
	// Only "events" keeps being used: after two sweep intervals the others are gone.
	for i := 0; i < 3; i++ {
		clock.advance(11 * time.Second)
		v.Check(get(f.keys["events"]), f.view, Freshness{ExpiresAt: t0 + 1e6})
	}
	if n := v.policies.size(); n != 1 {
		t.Fatalf("%d cached policies after sweeps", n)
	}
}

func TestConcurrentChecks(t *testing.T) {
	f := newFixture(t)
	v := newTestVerifier(t, testConfigJSON, newClock(t0))
	done := make(chan bool)
	for g := 0; g < 4; g++ {
		go func() {
			ok := true
			for i := 0; i < 500; i++ {
				ok = ok && v.Check(get(f.keys["events"]), f.view, Freshness{}).Allowed
				v.Check(get(f.keys["limited"]), f.view, Freshness{})
			}
			done <- ok
		}()
	}
	for g := 0; g < 4; g++ {
		if !<-done {
			t.Fatal("a valid key was denied")
		}
	}
}

// TestLimiterShardDelete fills a shard table with keys that crowd into a few home slots near the
// end (long probe runs that wrap around), deletes random ones, and checks that every remaining key
// is still found, with its state, and no deleted one is.
func TestLimiterShardDelete(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := 0; round < 200; round++ {
		s := &limiterShard{slots: make([]rateSlot, 256)}
		ref := map[[2]uint64]int64{}
		for len(ref) < 190 {
			k := [2]uint64{240 + rng.Uint64N(32) + rng.Uint64()<<8, rng.Uint64() | 1}
			if _, dup := ref[k]; dup {
				continue
			}
			i, found := s.find(k[0], k[1])
			if found {
				t.Fatal("found a key never inserted")
			}
			tat := rng.Int64()
			s.slots[i] = rateSlot{hi: k[0], lo: k[1], tat: tat}
			s.n++
			ref[k] = tat
		}
		for k := range ref {
			if rng.IntN(2) == 0 {
				i, found := s.find(k[0], k[1])
				if !found {
					t.Fatalf("round %d: key lost before delete", round)
				}
				s.deleteAt(i)
				delete(ref, k)
			}
		}
		if s.n != len(ref) {
			t.Fatalf("count %d, want %d", s.n, len(ref))
		}
		for k, tat := range ref {
			i, found := s.find(k[0], k[1])
			if !found || s.slots[i].tat != tat {
				t.Fatalf("round %d: key %x lost after deletes", round, k)
			}
		}
	}
}

// TestDenialHeadersCopied: the copying form sends what DenialHeaders sends, without allocating.
func TestDenialHeadersCopied(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    Decision
	}{
		{"401", Decision{Status: 401, WWWAuthenticate: WWWAuthenticate}},
		{"429", Decision{Status: 429, RateLimit: RateLimit{Limit: 100_000, Remaining: 0, Reset: 86_400, RetryAfter: 3_600}}},
		{"429 largest", Decision{Status: 429, RateLimit: RateLimit{Limit: 1<<32 - 1, Remaining: 1<<32 - 2, Reset: 1<<63 - 1, RetryAfter: 1<<63 - 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want, got []string
			tc.d.DenialHeaders(func(n, v string) { want = append(want, n+": "+v) })
			var scratch [20]byte
			tc.d.DenialHeadersCopied(&scratch, func(n, v string) { got = append(got, n+": "+v) }) // copies
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("copied:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			var sink [64]byte
			allocs := testing.AllocsPerRun(100, func() {
				tc.d.DenialHeadersCopied(&scratch, func(n, v string) { copy(sink[:], v) })
			})
			if allocs != 0 {
				t.Fatalf("%v allocations", allocs)
			}
		})
	}
}

// TestHostAndAddrAllowed: the exported rules the control plane's central verification shares.
func TestHostAndAddrAllowed(t *testing.T) {
	hosts := []string{"api.example.com", "*.example.org"}
	for _, tc := range []struct {
		name  string
		hosts []string
		host  string
		want  bool
	}{
		{"no restriction", nil, "", true},
		{"exact", hosts, "api.example.com", true},
		{"exact, any case, a port, a trailing dot", hosts, "API.Example.com.:8443", true},
		{"not ASCII, though it lower-cases to the name", hosts, "\u212Aey.example.com", false},
		{"below the wildcard", hosts, "a.b.example.org", true},
		{"the wildcard's own name", hosts, "example.org", false},
		{"a leading dot", hosts, ".example.org", false},
		{"no host", hosts, "", false},
		{"another host", hosts, "evil.com", false},
	} {
		t.Run("host/"+tc.name, func(t *testing.T) {
			if got := HostAllowed(tc.hosts, tc.host); got != tc.want {
				t.Fatalf("HostAllowed(%q, %q) = %v", tc.hosts, tc.host, got)
			}
		})
	}
	cidrs := []string{"10.0.0.0/8", "2001:db8::/32"}
	for _, tc := range []struct {
		name  string
		cidrs []string
		ip    netip.Addr
		want  bool
	}{
		{"no restriction, no address", nil, netip.Addr{}, true},
		{"inside", cidrs, netip.MustParseAddr("10.1.2.3"), true},
		{"inside, IPv4-mapped", cidrs, netip.MustParseAddr("::ffff:10.1.2.3"), true},
		{"inside, IPv6", cidrs, netip.MustParseAddr("2001:db8::1"), true},
		{"outside", cidrs, netip.MustParseAddr("192.168.1.1"), false},
		{"no address", cidrs, netip.Addr{}, false},
	} {
		t.Run("addr/"+tc.name, func(t *testing.T) {
			if got := AddrAllowed(tc.cidrs, tc.ip); got != tc.want {
				t.Fatalf("AddrAllowed(%q, %v) = %v", tc.cidrs, tc.ip, got)
			}
		})
	}
}
