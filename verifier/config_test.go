package verifier

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want Config
	}{
		{"empty object gives defaults", `{}`, DefaultConfig()},
		{"the documented example", `{"key_header":"authorization","key_query":"","routes":[{"method":"POST","path":"/events","scopes":["events:write"]},{"path":"/","scopes":[]}],"failure_mode":"closed","max_staleness_seconds":300,"strip_key":true}`,
			Config{KeyHeader: "authorization", Routes: []Route{{Method: "POST", Path: "/events", Scopes: []string{"events:write"}}, {Path: "/", Scopes: []string{}}},
				FailureMode: FailClosed, MaxStalenessSeconds: 300, StripKey: true, RateLimitMaxKeys: DefaultRateLimitKeys}},
		{"header normalized, query only", `{"key_header":"", "key_query":"api_key"}`,
			Config{KeyQuery: "api_key", FailureMode: FailClosed, MaxStalenessSeconds: 300, StripKey: true, RateLimitMaxKeys: DefaultRateLimitKeys}},
		{"raw header upper case", `{"key_header":"X-API-Key"}`,
			Config{KeyHeader: "x-api-key", FailureMode: FailClosed, MaxStalenessSeconds: 300, StripKey: true, RateLimitMaxKeys: DefaultRateLimitKeys}},
		{"methods upper-cased, scopes sorted and deduplicated", `{"routes":[{"method":"post","path":"/a","scopes":["b:c","a:b","b:c"]}]}`,
			Config{KeyHeader: "authorization", Routes: []Route{{Method: "POST", Path: "/a", Scopes: []string{"a:b", "b:c"}}},
				FailureMode: FailClosed, MaxStalenessSeconds: 300, StripKey: true, RateLimitMaxKeys: DefaultRateLimitKeys}},
		{"every field", " {\"failure_mode\":\"static\",\"max_staleness_seconds\":0,\"strip_key\":false,\"rate_limit_max_keys\":5,\"key_query\":\"k\"}\n",
			Config{KeyHeader: "authorization", KeyQuery: "k", FailureMode: FailStatic, StripKey: false, RateLimitMaxKeys: 5}},
		{"escapes", `{"routes":[{"path":"\/v1\u002fx","scopes":["a:\u0062"]}]}`,
			Config{KeyHeader: "authorization", Routes: []Route{{Path: "/v1/x", Scopes: []string{"a:b"}}},
				FailureMode: FailClosed, MaxStalenessSeconds: 300, StripKey: true, RateLimitMaxKeys: DefaultRateLimitKeys}},
		{"open", `{"failure_mode":"open"}`,
			Config{KeyHeader: "authorization", FailureMode: FailOpen, MaxStalenessSeconds: 300, StripKey: true, RateLimitMaxKeys: DefaultRateLimitKeys}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConfig([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want.Routes == nil && got.Routes != nil && len(got.Routes) == 0 {
				got.Routes = nil
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
			if _, err := New(got); err != nil {
				t.Fatalf("New refuses a parsed config: %v", err)
			}
		})
	}
}

func TestParseConfigRefuses(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"empty", ``, "empty document"},
		{"not an object", `[]`, "must be an object"},
		{"null", `null`, "must be an object"},
		{"unknown field", `{"key_headers":"x"}`, `unknown field "key_headers"`},
		{"unknown route field", `{"routes":[{"path":"/","scope":["a:b"]}]}`, `routes[0]: unknown field "scope"`},
		{"duplicate field", `{"strip_key":true,"strip_key":false}`, "strip_key: duplicate field"},
		{"trailing data", `{} {}`, "data after the document"},
		{"trailing comma", `{"strip_key":true,}`, "expected a member name"},
		{"unterminated", `{"strip_key":true`, "expected ',' or '}'"},
		{"bad mode", `{"failure_mode":"fail-open"}`, `failure_mode: must be "closed", "static" or "open"`},
		{"mode wrong type", `{"failure_mode":1}`, "failure_mode: must be a string, not a number"},
		{"staleness negative", `{"max_staleness_seconds":-1}`, "max_staleness_seconds: must be between 0 and"},
		{"staleness fraction", `{"max_staleness_seconds":1.5}`, "max_staleness_seconds: must be an integer"},
		{"staleness exponent", `{"max_staleness_seconds":1e3}`, "max_staleness_seconds: must be an integer"},
		{"staleness string", `{"max_staleness_seconds":"300"}`, "max_staleness_seconds: must be an integer, not a string"},
		{"staleness huge", `{"max_staleness_seconds":99999999999999999999}`, "must be between"},
		{"leading zero", `{"max_staleness_seconds":0300}`, "invalid number"},
		{"strip not bool", `{"strip_key":"yes"}`, "strip_key: must be true or false, not a string"},
		{"strip truthy", `{"strip_key":truex}`, "strip_key: must be true or false"},
		{"bad header", `{"key_header":"x api key"}`, "key_header: must be an HTTP header name"},
		{"identity header as key header", `{"key_header":"x-keyplane-key-id"}`, "key_header: x-keyplane-* headers"},
		{"no key source", `{"key_header":""}`, "key_header and key_query may not both be empty"},
		{"bad query name", `{"key_query":"api key"}`, "key_query: must be 1 to 64"},
		{"routes not array", `{"routes":{}}`, "routes: must be an array, not an object"},
		{"route not object", `{"routes":["/"]}`, "routes[0]: must be an object, not a string"},
		{"route without path", `{"routes":[{"scopes":[]}]}`, `routes[0]: needs a "path"`},
		{"route relative path", `{"routes":[{"path":"events"}]}`, "routes[0].path: must start with /"},
		{"route path with query", `{"routes":[{"path":"/a?b"}]}`, "routes[0].path: must be a plain path"},
		{"route path with dots", `{"routes":[{"path":"/a/../b"}]}`, "routes[0].path: must not contain empty"},
		{"route path with double slash", `{"routes":[{"path":"//a"}]}`, "routes[0].path: must not contain empty"},
		{"route bad method", `{"routes":[{"method":"GE T","path":"/"}]}`, "routes[0].method: must be an HTTP method"},
		{"route bad scope", `{"routes":[{"path":"/","scopes":["Events:write"]}]}`, `routes[0].scopes[0]: "Events:write" must look like resource:action`},
		{"route scope no colon", `{"routes":[{"path":"/","scopes":["events"]}]}`, "must look like resource:action"},
		{"route scopes not strings", `{"routes":[{"path":"/","scopes":[1]}]}`, "routes[0].scopes[0]: must be a string, not a number"},
		{"route scopes null", `{"routes":[{"path":"/","scopes":null}]}`, "routes[0].scopes: must be an array, not null"},
		{"rate keys zero", `{"rate_limit_max_keys":0}`, "rate_limit_max_keys: must be between 1"},
		{"control char in string", "{\"key_header\":\"a\x01\"}", "control character"},
		{"bad escape", `{"key_header":"\x"}`, "invalid escape"},
		{"lone surrogate", `{"key_header":"\ud800"}`, "unpaired surrogate"},
		{"invalid utf8", "{\"key_header\":\"\xff\"}", "invalid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), "verifier config: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestNewChecksGoConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"zero config has no key source", Config{}, "key_header and key_query"},
		{"bad route", Config{KeyHeader: "authorization", Routes: []Route{{Path: "x"}}}, "routes[0].path"},
		{"bad mode", Config{KeyHeader: "authorization", FailureMode: "maybe"}, "failure_mode"},
		{"bad staleness", Config{KeyHeader: "authorization", MaxStalenessSeconds: -5}, "max_staleness_seconds"},
		{"bad rate keys", Config{KeyHeader: "authorization", RateLimitMaxKeys: -1}, "rate_limit_max_keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	v, err := New(Config{KeyHeader: "Authorization", Routes: []Route{{Method: "get", Path: "/x", Scopes: []string{"a:b"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if c := v.Config(); c.KeyHeader != "authorization" || c.FailureMode != FailClosed || c.Routes[0].Method != "GET" || c.RateLimitMaxKeys != DefaultRateLimitKeys {
		t.Fatalf("not normalized: %+v", c)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(testConfigJSON))
	f.Add([]byte(`{"routes":[{"path":"/\ud83d\ude00","scopes":["a:*"]}]}`))
	f.Add([]byte(`{"max_staleness_seconds":-0}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		cfg, err := ParseConfig(doc)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "verifier config: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		if _, err := New(cfg); err != nil {
			t.Fatalf("parsed config refused by New: %v", err)
		}
	})
}

func TestEdgeSettings(t *testing.T) {
	pub := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	cfg, err := ParseConfig([]byte(`{"control_plane":{"cluster":"keyplane","authority":"cp:8080","token":"kp_live_x","poll_ms":500,"wait_seconds":20},
		"snapshot_dir":"/keyplane","signing_keys":[{"id":"sk_1","public_key":"` + pub + `","created_at":"2030-01-01T00:00:00Z"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if cp := cfg.ControlPlane; cp.Cluster != "keyplane" || cp.Authority != "cp:8080" || cp.PollMillis != 500 || cp.WaitSeconds != 20 ||
		cfg.SnapshotDir != "/keyplane" || len(cfg.SigningKeys) != 1 || len(cfg.SigningKeys[0].PublicKey) != 32 {
		t.Fatalf("%+v", cfg)
	}
	for name, doc := range map[string]string{
		"control plane without token": `{"control_plane":{"cluster":"c"}}`,
		"unknown control plane field": `{"control_plane":{"cluster":"c","token":"t","colour":1}}`,
		"poll too fast":               `{"control_plane":{"cluster":"c","token":"t","poll_ms":1}}`,
		"short public key":            `{"signing_keys":[{"id":"a","public_key":"AAAA"}]}`,
		"key without id":              `{"signing_keys":[{"public_key":"` + pub + `"}]}`,
	} {
		if _, err := ParseConfig([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseSigningKeys(t *testing.T) {
	pub := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	keys, err := ParseSigningKeys([]byte(`{"keys":[{"id":"sk_1","public_key":"` + pub + `","endorsed_by":"sk_0","endorsement":"AAAA"}]}`))
	if err != nil || len(keys) != 1 || keys[0].ID != "sk_1" {
		t.Fatalf("%v %v", keys, err)
	}
	if keys[0].EndorsedBy != "sk_0" || len(keys[0].Endorsement) != 3 {
		t.Fatalf("endorsement not kept: %+v", keys[0])
	}
	if _, err := ParseSigningKeys([]byte(`{"keys":[{"id":"a","public_key":"` + pub + `","endorsement":"not base64!"}]}`)); err == nil {
		t.Fatal("a bad endorsement was accepted")
	}
	if _, err := ParseSigningKeys([]byte(`{"other":[]}`)); err == nil {
		t.Fatal("unknown field accepted")
	}
}

func TestTrust(t *testing.T) {
	a := SigningKey{ID: "a", PublicKey: []byte{1}}
	b := SigningKey{ID: "b", PublicKey: []byte{2}}
	got := Trust(Trust(nil, []SigningKey{a}), []SigningKey{b})
	if len(got) != 2 || got["a"][0] != 1 || got["b"][0] != 2 {
		t.Fatalf("Trust: %v", got)
	}
}
