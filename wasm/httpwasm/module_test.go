package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/sync/agent"
	"github.com/keyplane/keyplane/sync/trust"
	"github.com/keyplane/keyplane/wasm/edgehost"
	"github.com/keyplane/keyplane/wasm/wasmtest"
)

// TestModule loads the built guest (TinyGo and mainline Go) through http-wasm-host-go on wazero,
// in front of a test upstream, with a real sync agent keeping the snapshot directory.
func TestModule(t *testing.T) {
	for _, m := range wasmtest.Modules(t, "httpwasm") {
		t.Run(m.Name, func(t *testing.T) { testModule(t, m.Bytes) })
	}
}

func testModule(t *testing.T, wasm []byte) {
	ctx := context.Background()
	cp := wasmtest.StartControlPlane(t)
	steady := cp.Create(t, apiv1.CreateKeyRequest{Name: "steady"})
	dir := t.TempDir()
	a, err := agent.New(agent.Config{URL: cp.URL, Token: cp.SnapshotKey.Key, StateDir: dir, Trusted: trust.All(cp.Ring.Public()), Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Step(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{%s,"snapshot_dir":%q}`, wasmtest.Policy, dir)
	mw, err := edgehost.New(ctx, wasm, []byte(cfg), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close(ctx)
	var mu sync.Mutex
	var seen http.Header
	up := mw.NewHandler(ctx, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		io.WriteString(w, "upstream")
	}))
	srv := httptest.NewServer(up)
	defer srv.Close()
	call := func(method, key string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/events", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			if hdr[i] == "Host" {
				req.Host = hdr[i+1]
			} else {
				req.Header.Set(hdr[i], hdr[i+1])
			}
		}
		req.Header.Set("X-Keyplane-Key-Id", "key_SPOOFED")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	writer, reader, office := cp.Keys["writer"], cp.Keys["reader"], cp.Keys["office"]
	local, site := cp.Keys["local"].Key, cp.Keys["site"].Key
	for _, tc := range []struct {
		name, method, key string
		status            int
		code              string
		hdr               []string
	}{
		{"no key", "GET", "", 401, "invalid_api_key", nil},
		{"garbage", "GET", "nope", 401, "invalid_api_key", nil},
		{"valid", "POST", writer.Key, 200, "", nil},
		{"missing scope", "POST", reader.Key, 403, "insufficient_permissions", nil},
		{"route without scopes", "GET", reader.Key, 200, "", nil},
		{"outside the key's CIDR (127.0.0.1)", "POST", office.Key, 403, "ip_not_allowed", nil},
		{"inside the key's CIDR", "POST", local, 200, "", nil},
		{"the key's host, by Origin", "POST", site, 200, "", []string{"Origin", "https://app.example.com"}},
		{"another host, by Origin", "POST", site, 403, "host_not_allowed", []string{"Origin", "https://evil.example"}},
		{"the key's host, by Referer", "POST", site, 200, "", []string{"Referer", "https://app.example.com/page"}},
		{"the key's host, by Host", "POST", site, 200, "", []string{"Host", "app.example.com:8443"}},
		{"another host, by Host", "POST", site, 403, "host_not_allowed", []string{"Host", "api.example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := call(tc.method, tc.key, tc.hdr...)
			if resp.StatusCode != tc.status || (tc.code != "" && !strings.Contains(body, `"code":"`+tc.code+`"`)) {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	if resp, _ := call("POST", writer.Key); resp.StatusCode != 200 { // the writer's second this minute
		t.Fatal(resp.Status)
	}
	mu.Lock()
	if seen.Get("Authorization") != "" || seen.Get("X-Keyplane-Key-Id") != writer.ID ||
		seen.Get("X-Keyplane-Workspace") != cp.Workspace.ID || seen.Get("X-Keyplane-Scopes") != "events:write" {
		t.Fatalf("upstream saw %v", seen)
	}
	mu.Unlock()
	// The limit (3 a minute) is kept per guest instance, and the host recycles pooled instances
	// (docs/wasm.md), so the 429 is looked for within a few more requests rather than exactly at
	// the fourth.
	limited := false
	for i := 0; i < 10 && !limited; i++ {
		resp, _ := call("POST", writer.Key)
		if resp.StatusCode == 429 {
			limited = true
			if resp.Header.Get("Retry-After") == "" || resp.Header.Get("RateLimit-Limit") != "3" {
				t.Fatalf("429 headers %v", resp.Header)
			}
		}
	}
	if !limited {
		t.Fatal("12 requests at a limit of 3 a minute were all allowed")
	}

	// A revocation arrives by delta: the agent writes it, the guest notices state.json change.
	if _, err := cp.Admin.RevokeKey(ctx, reader.ID); err != nil {
		t.Fatal(err)
	}
	if err := a.Step(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		resp, _ := call("GET", reader.Key)
		if resp.StatusCode == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the revoked key still gets %d after 3 s", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A tampered snapshot in the directory is refused. An instance that had verified the old state
	// keeps serving it; one the host creates afterwards finds nothing it can verify and fails
	// closed (503). Either way no key of the tampered snapshot is ever let through.
	late := cp.Create(t, apiv1.CreateKeyRequest{Name: "late"})
	blob, _ := os.ReadFile(filepath.Join(dir, agent.BaseFile))
	blob[len(blob)/2] ^= 1
	os.WriteFile(filepath.Join(dir, agent.BaseFile), blob, 0o644)
	os.WriteFile(filepath.Join(dir, agent.StateFile), []byte(`{"workspace":"x","version":999,"has_delta":false}`), 0o644)
	time.Sleep(3 * checkEvery) // the guest looks at state.json every checkEvery
	for i := 0; i < 5; i++ {
		if resp, _ := call("GET", steady.Key); resp.StatusCode != 200 && resp.StatusCode != 503 {
			t.Fatalf("a valid key after the directory was tampered with: %d", resp.StatusCode)
		}
		if resp, _ := call("GET", late.Key); resp.StatusCode == 200 {
			t.Fatal("a key only the tampered snapshot could hold was let through")
		}
	}
}
