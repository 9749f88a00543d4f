package api

import (
	"strings"
	"testing"

	"github.com/keyplane/keyplane/controlplane/apiv1"
)

// testBadInput sends what a careless or hostile client would, and expects a clear 4xx in the
// error shape every time: never a 500, never a panic.
func testBadInput(t *testing.T, e *env) {
	k := e.create(e.mgr, apiv1.CreateKeyRequest{Name: "existing"})
	typo := []byte(k.Key)
	typo[15] ^= 1
	mgr := e.mgrKey
	for _, tc := range []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"no auth header", "GET", "/v1/keys", "", "", 401, apiv1.CodeInvalidAPIKey},
		{"garbage token", "GET", "/v1/keys", "nope", "", 401, apiv1.CodeInvalidAPIKey},
		{"bad checksum", "GET", "/v1/auth/verify", string(typo), "", 401, apiv1.CodeInvalidAPIKey},
		{"unknown well-formed key", "GET", "/v1/auth/verify", "kp_live_" + strings.Repeat("A", 43) + "000000", "", 401, apiv1.CodeInvalidAPIKey},
		{"malformed json", "POST", "/v1/keys", mgr, `{"name":`, 400, apiv1.CodeInvalidJSON},
		{"not json", "POST", "/v1/keys", mgr, `name=x`, 400, apiv1.CodeInvalidJSON},
		{"empty body", "POST", "/v1/keys", mgr, ``, 400, apiv1.CodeInvalidJSON},
		{"array body", "POST", "/v1/keys", mgr, `[1]`, 400, apiv1.CodeInvalidJSON},
		{"two objects", "POST", "/v1/keys", mgr, `{"name":"a"}{"name":"b"}`, 400, apiv1.CodeInvalidJSON},
		{"unknown field", "POST", "/v1/keys", mgr, `{"name":"a","colour":"red"}`, 400, apiv1.CodeValidation},
		{"wrong type", "POST", "/v1/keys", mgr, `{"name":5}`, 400, apiv1.CodeValidation},
		{"wrong scopes type", "POST", "/v1/keys", mgr, `{"name":"a","scopes":"events:write"}`, 400, apiv1.CodeValidation},
		{"missing name", "POST", "/v1/keys", mgr, `{"scopes":[]}`, 400, apiv1.CodeValidation},
		{"blank name", "POST", "/v1/keys", mgr, `{"name":"  "}`, 400, apiv1.CodeValidation},
		{"control chars in name", "POST", "/v1/keys", mgr, `{"name":"a\u0000b"}`, 400, apiv1.CodeValidation},
		{"duplicate name", "POST", "/v1/keys", mgr, `{"name":"existing"}`, 409, apiv1.CodeDuplicateName},
		{"bad type", "POST", "/v1/keys", mgr, `{"name":"a","type":"ROOT"}`, 400, apiv1.CodeValidation},
		{"bad environment", "POST", "/v1/keys", mgr, `{"name":"a","environment":"prod"}`, 400, apiv1.CodeValidation},
		{"bad scope", "POST", "/v1/keys", mgr, `{"name":"a","scopes":["Events Write"]}`, 400, apiv1.CodeValidation},
		{"bad cidr", "POST", "/v1/keys", mgr, `{"name":"a","restrictions":{"allowed_cidrs":["10.0.0.0/33"]}}`, 400, apiv1.CodeValidation},
		{"bad host", "POST", "/v1/keys", mgr, `{"name":"a","restrictions":{"allowed_hosts":["http://x"]}}`, 400, apiv1.CodeValidation},
		{"expiry in the past", "POST", "/v1/keys", mgr, `{"name":"a","expires_at":"2001-01-01T00:00:00Z"}`, 400, apiv1.CodeValidation},
		{"expiry not a time", "POST", "/v1/keys", mgr, `{"name":"a","expires_at":"tomorrow"}`, 400, apiv1.CodeValidation},
		{"metadata not an object", "POST", "/v1/keys", mgr, `{"name":"a","metadata":[1,2]}`, 400, apiv1.CodeValidation},
		{"metadata too big", "POST", "/v1/keys", mgr, `{"name":"a","metadata":{"x":"` + strings.Repeat("y", 5000) + `"}}`, 400, apiv1.CodeValidation},
		{"zero rate limit", "POST", "/v1/keys", mgr, `{"name":"a","rate_limit":{"limit":0,"window_seconds":1}}`, 400, apiv1.CodeValidation},
		{"oversize body", "POST", "/v1/keys", mgr, `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, 413, apiv1.CodePayloadTooLarge},
		{"malformed key id", "GET", "/v1/keys/not-an-id", mgr, "", 400, apiv1.CodeValidation},
		{"unknown key id", "GET", "/v1/keys/key_" + strings.Repeat("0", 26), mgr, "", 404, apiv1.CodeNotFound},
		{"empty patch", "PATCH", "/v1/keys/" + k.ID, mgr, `{}`, 400, apiv1.CodeValidation},
		{"patch unknown field", "PATCH", "/v1/keys/" + k.ID, mgr, `{"hash":"x"}`, 400, apiv1.CodeValidation},
		{"patch null name", "PATCH", "/v1/keys/" + k.ID, mgr, `{"name":null}`, 400, apiv1.CodeValidation},
		{"patch wrong type", "PATCH", "/v1/keys/" + k.ID, mgr, `{"enabled":"yes"}`, 400, apiv1.CodeValidation},
		{"negative grace", "POST", "/v1/keys/" + k.ID + "/rotate", mgr, `{"grace_period_seconds":-1}`, 400, apiv1.CodeValidation},
		{"revoke without name", "DELETE", "/v1/keys", mgr, "", 400, apiv1.CodeValidation},
		{"bad list limit", "GET", "/v1/keys?limit=0", mgr, "", 400, apiv1.CodeValidation},
		{"bad cursor", "GET", "/v1/keys?cursor=!!", mgr, "", 400, apiv1.CodeValidation},
		{"bad type filter", "GET", "/v1/keys?type=ROOT", mgr, "", 400, apiv1.CodeValidation},
		{"verify bad ip", "POST", "/v1/keys/verify", mgr, `{"key":"x","ip":"999.1.1.1"}`, 400, apiv1.CodeValidation},
		{"workspace bad prefix", "POST", "/v1/workspaces", adminToken, `{"name":"w","key_prefix":"Bad_Prefix"}`, 400, apiv1.CodeValidation},
		{"workspace duplicate", "POST", "/v1/workspaces", adminToken, `{"name":"acme"}`, 409, apiv1.CodeDuplicateName},
		{"workspace by key", "POST", "/v1/workspaces", mgr, `{"name":"w"}`, 403, apiv1.CodeInsufficientPermissions},
		{"unknown route", "GET", "/v1/nothing", mgr, "", 404, apiv1.CodeNotFound},
		{"wrong method", "PUT", "/v1/keys", mgr, "{}", 405, apiv1.CodeMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := readError(t, e.raw(tc.method, tc.path, tc.token, tc.body), tc.status, tc.code)
			if strings.Contains(body, k.Key) || (len(tc.token) > 20 && strings.Contains(body, tc.token)) {
				t.Fatalf("the error echoes a key: %s", body)
			}
		})
	}
	// A key that is sent in a field where it does not belong is not echoed either.
	body := readError(t, e.raw("POST", "/v1/keys", mgr, `{"name":"a","expires_at":"`+k.Key+`"}`), 400, apiv1.CodeValidation)
	if strings.Contains(body, k.Key) {
		t.Fatalf("the error echoes a key: %s", body)
	}
}
