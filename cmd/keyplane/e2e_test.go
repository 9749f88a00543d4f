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
	os.WriteFile(cfg, []byte(`{`+wasmtest.Policy+`,"failure_mode":"static","max_staleness_seconds":3}`), 0o600)
	start(t, bin, nil, "edge", "--listen", edgeAddr, "--upstream", upstream.URL, "--control-plane", cpURL,
		"--token", edgeKey.Key, "--wasm", module, "--config", cfg, "--wait", "2s")

	e := &wasmtest.Edge{URL: "http://" + edgeAddr, Workspace: ws.ID, Writer: writer, Reader: reader, Limited: limited,
		Upstream: func() http.Header { mu.Lock(); defer mu.Unlock(); return seen },
		Revoke:   func(id string) error { _, err := admin.RevokeKey(ctx, id); return err }}
	waitFor(t, "the edge to have a snapshot", 15*time.Second, func() bool { return e.Call("GET", writer.Key) == 200 })
	wasmtest.CheckEdge(t, e)

	// The control plane stops: the edge serves from its last snapshot until it is past its expiry
	// (4 s) by the configured staleness (3 s), then fails closed.
	serve.Process.Kill()
	serve.Wait()
	stopped := time.Now()
	if got := e.Call("POST", writer.Key); got != 200 {
		t.Fatalf("right after the control plane stopped: %d", got)
	}
	waitFor(t, "the edge to fail closed", 15*time.Second, func() bool { return e.Call("POST", writer.Key) == 503 })
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
