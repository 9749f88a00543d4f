package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/client"
	"github.com/keyplane/keyplane/wasm/wasmtest"
)

// TestEndToEnd runs the product as a user would: `keyplane serve` (embedded SQLite) and
// `keyplane edge` (the TinyGo http-wasm module) as processes on 127.0.0.1, in front of a test
// upstream.
func TestEndToEnd(t *testing.T) {
	wasmtest.Read(t, "httpwasm.wasm") // skips, or fails under make test, when it is not built
	module := filepath.Join(wasmtest.Dir(), "httpwasm.wasm")
	dir := t.TempDir()
	bin := filepath.Join(dir, "keyplane")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cpAddr, edgeAddr := freeAddr(t), freeAddr(t)
	cpURL := "http://" + cpAddr
	serve := start(t, bin, []string{"KEYPLANE_ADMIN_TOKEN=e2e-admin"}, "serve", "--addr", cpAddr, "--data", filepath.Join(dir, "data"), "--snapshot-ttl", "4s")
	waitHTTP(t, cpURL+"/readyz", 200)

	ctx := context.Background()
	admin := client.New(client.Config{BaseURL: cpURL, Token: "e2e-admin"})
	ws, err := admin.CreateWorkspace(ctx, apiv1.CreateWorkspaceRequest{Name: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(req apiv1.CreateKeyRequest) apiv1.Key {
		req.WorkspaceID = ws.ID
		k, err := admin.CreateKey(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	edgeKey := mk(apiv1.CreateKeyRequest{Name: "edge", Scopes: []string{"snapshots:read"}})
	writer := mk(apiv1.CreateKeyRequest{Name: "writer", Scopes: []string{"events:write"}})
	reader := mk(apiv1.CreateKeyRequest{Name: "reader", Scopes: []string{"events:read"}})
	limited := mk(apiv1.CreateKeyRequest{Name: "limited", RateLimit: &apiv1.RateLimit{Limit: 2, WindowSeconds: 60}})

	var mu sync.Mutex
	var seen http.Header
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		io.WriteString(w, "hello from upstream")
	}))
	defer upstream.Close()
	cfg := filepath.Join(dir, "edge.json")
	os.WriteFile(cfg, []byte(`{"routes":[{"method":"POST","path":"/events","scopes":["events:write"]},{"path":"/","scopes":[]}],
		"failure_mode":"static","max_staleness_seconds":3}`), 0o600)
	start(t, bin, nil, "edge", "--listen", edgeAddr, "--upstream", upstream.URL, "--control-plane", cpURL,
		"--token", edgeKey.Key, "--wasm", module, "--config", cfg, "--wait", "2s")

	call := func(method, key string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+edgeAddr+"/events", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	waitFor(t, "the edge to have a snapshot", 15*time.Second, func() bool {
		c, err := net.Dial("tcp", edgeAddr)
		if err != nil {
			return false
		}
		c.Close()
		return call("GET", reader.Key).StatusCode == 200
	})
	for _, tc := range []struct {
		name, method, key string
		status            int
	}{
		{"no key", "GET", "", 401},
		{"valid", "POST", writer.Key, 200},
		{"missing scope", "POST", reader.Key, 403},
	} {
		if got := call(tc.method, tc.key).StatusCode; got != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.status)
		}
	}
	call("POST", writer.Key)
	mu.Lock()
	if seen.Get("Authorization") != "" || seen.Get("X-Keyplane-Key-Id") != writer.ID || seen.Get("X-Keyplane-Workspace") != ws.ID {
		t.Errorf("the upstream saw %v", seen)
	}
	mu.Unlock()
	got429 := false
	for i := 0; i < 10 && !got429; i++ {
		got429 = call("GET", limited.Key).StatusCode == 429
	}
	if !got429 {
		t.Error("a key limited to 2 a minute was never refused with 429")
	}

	start := time.Now()
	if _, err := admin.RevokeKey(ctx, writer.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the revocation at the edge", 2*time.Second, func() bool { return call("POST", writer.Key).StatusCode == 401 })
	if d := time.Since(start); d > time.Second {
		t.Errorf("the revocation took %v to reach the edge, want under 1 s", d)
	} else {
		t.Logf("revocation reached the edge in %v", d)
	}

	// The control plane stops: the edge serves from its last snapshot until it is past its expiry
	// (4 s) by the configured staleness (3 s), then fails closed.
	serve.Process.Kill()
	serve.Wait()
	stopped := time.Now()
	if got := call("GET", reader.Key).StatusCode; got != 200 {
		t.Fatalf("right after the control plane stopped: %d", got)
	}
	waitFor(t, "the edge to fail closed", 15*time.Second, func() bool { return call("GET", reader.Key).StatusCode == 503 })
	t.Logf("served %v from the last snapshot after the control plane stopped", time.Since(stopped).Round(100*time.Millisecond))
	if time.Since(stopped) < 3*time.Second {
		t.Errorf("failed closed after %v, before the configured staleness", time.Since(stopped))
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the binary until the test ends; its output goes to the test log on failure.
func start(t *testing.T, bin string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("keyplane %s output:\n%s", args[0], out.String())
		}
	})
	return cmd
}

func waitHTTP(t *testing.T, url string, status int) {
	waitFor(t, url, 10*time.Second, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == status
	})
}

func waitFor(t *testing.T, what string, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
