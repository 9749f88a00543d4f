package verifier

import (
	"strings"
	"testing"
)

func TestKeyFrom(t *testing.T) {
	bearer := newTestVerifier(t, `{}`, newClock(t0))
	raw := newTestVerifier(t, `{"key_header":"x-api-key"}`, newClock(t0))
	for _, tc := range []struct {
		name string
		v    *Verifier
		in   string
		want string
		ok   bool
	}{
		{"bearer", bearer, "Bearer kp_live_abc", "kp_live_abc", true},
		{"bearer any case", bearer, "bEaReR kp_live_abc", "kp_live_abc", true},
		{"bearer spaces and tab", bearer, " \tBearer \t kp_live_abc \t", "kp_live_abc", true},
		{"bearer empty", bearer, "", "", false},
		{"bearer scheme only", bearer, "Bearer", "", false},
		{"bearer scheme and spaces", bearer, "Bearer   ", "", false},
		{"basic scheme", bearer, "Basic a2V5", "", false},
		{"scheme glued", bearer, "Bearerkp_live_abc", "", false},
		{"two tokens", bearer, "Bearer a b", "", false},
		{"no scheme", bearer, "kp_live_abc", "", false},
		{"raw", raw, "kp_live_abc", "kp_live_abc", true},
		{"raw trimmed", raw, "  kp_live_abc\t", "kp_live_abc", true},
		{"raw bearer is not stripped", raw, "Bearer kp_live_abc", "", false},
		{"raw empty", raw, " ", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.v.KeyFrom(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("KeyFrom(%q) = %q, %v", tc.in, got, ok)
			}
		})
	}
}

func TestExtractKeyAndStrip(t *testing.T) {
	both := newTestVerifier(t, `{"key_query":"api_key"}`, newClock(t0))
	header := newTestVerifier(t, `{}`, newClock(t0))
	for _, tc := range []struct {
		name           string
		v              *Verifier
		hdr, target    string
		want           string
		ok             bool
		strippedTarget string
	}{
		{"header wins", both, "Bearer H", "/p?api_key=Q", "H", true, "/p"},
		{"query when no header", both, "", "/p?a=1&api_key=Q&b=2", "Q", true, "/p?a=1&b=2"},
		{"query when header unusable", both, "Basic x", "/p?api_key=Q", "Q", true, "/p"},
		{"first of repeated", both, "", "/p?api_key=Q1&api_key=Q2", "Q1", true, "/p"},
		{"prefix name is another parameter", both, "", "/p?api_key2=Q", "", false, "/p?api_key2=Q"},
		{"empty value", both, "", "/p?api_key=", "", false, "/p"},
		{"bare name", both, "", "/p?api_key&x=1", "", false, "/p?x=1"},
		{"fragment", both, "", "/p?api_key=Q#frag", "Q", true, "/p#frag"},
		{"no query", both, "", "/p", "", false, "/p"},
		{"query not configured", header, "", "/p?api_key=Q", "", false, "/p?api_key=Q"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.v.ExtractKey(tc.hdr, tc.target)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("ExtractKey = %q, %v", got, ok)
			}
			if s := string(tc.v.AppendStrippedTarget(nil, tc.target)); s != tc.strippedTarget {
				t.Fatalf("stripped %q", s)
			}
		})
	}
}

func TestRequestHost(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  Request
		want string
	}{
		{"host", Request{Host: "api.example.com"}, "api.example.com"},
		{"host with port", Request{Host: "api.example.com:8443"}, "api.example.com"},
		{"host ipv6", Request{Host: "[2001:db8::1]:443"}, "2001:db8::1"},
		{"origin", Request{Host: "h", Origin: "https://app.example.com"}, "app.example.com"},
		{"origin port", Request{Host: "h", Origin: "http://app.example.com:3000"}, "app.example.com"},
		{"origin null", Request{Host: "h", Origin: "null"}, ""},
		{"referer", Request{Host: "h", Referer: "https://user:pw@www.example.com./a/b?c#d"}, "www.example.com"},
		{"referer at in path", Request{Host: "h", Referer: "https://www.example.com/@evil.test"}, "www.example.com"},
		{"referer backslash", Request{Host: "h", Referer: "https://www.example.com\\@evil.test"}, "www.example.com"},
		{"referer relative", Request{Host: "h", Referer: "/page"}, ""},
		{"origin before referer", Request{Host: "h", Origin: "https://o.test", Referer: "https://r.test/"}, "o.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := requestHost(&tc.req); got != tc.want {
				t.Fatalf("got %q", got)
			}
		})
	}
}

func TestCanonicalPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/a": true, "/a/b/": true, "/a.b/c..d/.e": true, "/a%20b": true, "/caf%C3%A9": true,
		"": false, "a": false, "*": false, "//": false, "/a//b": false, "/.": false, "/..": false, "/a/./b": false,
		"/a/../b": false, "/a/..;/b": false, "/a/.;x": false, "/a\\b": false, "/%2e%2e/x": false, "/a%2Fb": false,
		"/%61dmin": false, "/a%5cb": false, "/a%": false, "/a%zz": false, "/a%2": false,
	} {
		if got := canonicalPath(p); got != want {
			t.Errorf("canonicalPath(%q) = %v", p, got)
		}
	}
}

func FuzzKeyFrom(f *testing.F) {
	g := newKeyGen(3)
	k := g.key(f)
	for _, s := range []string{"Bearer " + k, "bearer\t" + k, k, "", "Bearer", "Bearer  a b", "Basic x", " \t "} {
		f.Add(s, "/p?api_key="+k)
	}
	verifiers := []*Verifier{
		newTestVerifier(f, `{}`, newClock(t0)),
		newTestVerifier(f, `{"key_header":"x-api-key"}`, newClock(t0)),
		newTestVerifier(f, `{"key_query":"api_key"}`, newClock(t0)),
	}
	f.Fuzz(func(t *testing.T, hdr, target string) {
		for i, v := range verifiers {
			key, ok := v.KeyFrom(hdr)
			if ok != (key != "") || strings.ContainsAny(key, " \t") || !strings.Contains(hdr, key) {
				t.Fatalf("verifier %d: KeyFrom(%q) = %q, %v", i, hdr, key, ok)
			}
			if ok && v.bearer {
				if again, ok2 := v.KeyFrom("Bearer " + key); !ok2 || again != key {
					t.Fatalf("round trip of %q: %q", key, again)
				}
			}
			key, ok = v.ExtractKey(hdr, target)
			if ok != (key != "") || !(strings.Contains(hdr, key) || strings.Contains(target, key)) {
				t.Fatalf("verifier %d: ExtractKey(%q, %q) = %q, %v", i, hdr, target, key, ok)
			}
			stripped := string(v.AppendStrippedTarget(nil, target))
			if len(stripped) > len(target) {
				t.Fatalf("stripping %q grew it to %q", target, stripped)
			}
			if v.cfg.KeyQuery != "" {
				if k2, ok := v.ExtractKey("", stripped); ok {
					t.Fatalf("key %q survives stripping of %q: %q", k2, target, stripped)
				}
			}
		}
		_ = requestHost(&Request{Host: hdr, Origin: target})
		_ = requestHost(&Request{Referer: hdr})
		_ = canonicalPath(target)
	})
}

func TestParseClientAddr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" when not an address
	}{
		{"10.1.2.3", "10.1.2.3"},
		{"10.1.2.3:5555", "10.1.2.3"},
		{"[::1]:80", "::1"},
		{"2001:db8::1", "2001:db8::1"},
		{"::ffff:10.1.2.3", "10.1.2.3"},
		{"[::ffff:10.1.2.3]:443", "10.1.2.3"},
		{"", ""},
		{"host:80", ""},
		{"999.1.1.1", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			a, ok := ParseClientAddr(tc.in)
			if ok != (tc.want != "") || (ok && a.String() != tc.want) || (!ok && a.IsValid()) {
				t.Fatalf("ParseClientAddr(%q) = %v, %v; want %q", tc.in, a, ok, tc.want)
			}
		})
	}
}
