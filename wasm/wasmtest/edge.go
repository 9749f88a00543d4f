package wasmtest

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/keyplane/keyplane/controlplane/apiv1"
)

// Edge is an edge under an end-to-end test: a proxy with a keyplane module (or `keyplane edge`)
// in front of an upstream, configured with Policy's routes.
type Edge struct {
	URL       string             // the edge, e.g. "http://127.0.0.1:8000"; requests go to URL+"/events"
	Upstream  func() http.Header // the headers the upstream saw last
	Workspace string             // the keys' workspace id
	Writer    apiv1.Key          // holds events:write
	Reader    apiv1.Key          // holds only events:read
	Limited   apiv1.Key          // a rate limit that ten requests exceed (may be Writer)
	Revoke    func(id string) error
}

// Call sends method /events through the edge with key as a bearer token (none when ""), and
// returns the status (0 when the edge did not answer).
func (e *Edge) Call(method, key string) int {
	req, _ := http.NewRequest(method, e.URL+"/events", nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// CheckEdge makes the checks every end-to-end test of an edge makes: no key, garbage, a valid key
// and a key without the route's scope (401, 401, 200, 403); that the upstream sees the key's id
// and workspace and not the key; that Limited is refused with 429 within ten requests; and that
// Reader, once revoked, is refused within a second. Writer stays valid, and is not called again
// when it is also Limited.
func CheckEdge(t *testing.T, e *Edge) {
	t.Helper()
	for _, tc := range []struct {
		name, method, key string
		status            int
	}{
		{"no key", "GET", "", 401},
		{"garbage", "GET", "nope", 401},
		{"missing scope", "POST", e.Reader.Key, 403},
		{"valid", "POST", e.Writer.Key, 200}, // last: the upstream's headers below are its
	} {
		if got := e.Call(tc.method, tc.key); got != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.status)
		}
	}
	if h := e.Upstream(); h.Get("Authorization") != "" || h.Get("X-Keyplane-Key-Id") != e.Writer.ID || h.Get("X-Keyplane-Workspace") != e.Workspace {
		t.Errorf("the upstream saw %v", h)
	}
	limited := false
	for i := 0; i < 10 && !limited; i++ {
		limited = e.Call("GET", e.Limited.Key) == 429
	}
	if !limited {
		t.Errorf("%s's rate limit was never answered with 429", e.Limited.Name)
	}
	start := time.Now()
	if err := e.Revoke(e.Reader.ID); err != nil {
		t.Fatal(err)
	}
	for e.Call("GET", e.Reader.Key) != 401 {
		if time.Since(start) > time.Second {
			t.Fatalf("the revoked key still passes the edge after %v", time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("revocation reached the edge in %v", time.Since(start))
}
