//go:build traefik

// The Traefik end-to-end test: `make e2e-traefik` (it builds Traefik v3.6.12 once, which takes
// minutes, so it is kept out of make test).
package traefik

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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyplane/keyplane/sync/agent"
	"github.com/keyplane/keyplane/sync/trust"
	"github.com/keyplane/keyplane/wasm/wasmtest"
)

const pluginDir = "plugins-local/src/github.com/keyplane/keyplane/wasm/httpwasm"

func TestTraefik(t *testing.T) {
	bin := os.Getenv("TRAEFIK_BIN")
	if bin == "" {
		t.Fatal("TRAEFIK_BIN is not set: run make e2e-traefik")
	}
	module := wasmtest.Modules(t, "httpwasm")[0].Bytes // the TinyGo build
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cp := wasmtest.StartControlPlane(t)
	state := t.TempDir()
	a, err := agent.New(agent.Config{URL: cp.URL, Token: cp.SnapshotKey.Key, StateDir: state, Trusted: trust.All(cp.Ring.Public()), Wait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Step(ctx); err != nil {
		t.Fatal(err)
	}
	go a.Run(ctx)

	var mu sync.Mutex
	var seen http.Header
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		io.WriteString(w, "upstream")
	}))
	defer upstream.Close()

	// The example's files, with this run's ports and directories.
	work := t.TempDir()
	web := freeAddr(t)
	replace := strings.NewReplacer("127.0.0.1:8000", web, "/var/lib/keyplane/edge", state, "http://127.0.0.1:9000", upstream.URL)
	for _, f := range []string{"traefik.yml", "dynamic.yml", filepath.Join(pluginDir, ".traefik.yml")} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(work, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(work, f), []byte(replace.Replace(string(b))), 0o644)
	}
	os.WriteFile(filepath.Join(work, pluginDir, "plugin.wasm"), module, 0o644)
	cmd := exec.Command(bin, "--configFile="+filepath.Join(work, "traefik.yml"))
	cmd.Dir = work
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("traefik output:\n%s", out.String())
		}
	}()

	call := func(method, key string) *http.Response {
		req, _ := http.NewRequest(method, "http://"+web+"/events", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return &http.Response{StatusCode: 0}
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	writer, reader := cp.Keys["writer"], cp.Keys["reader"]
	deadline := time.Now().Add(60 * time.Second)
	for call("GET", reader.Key).StatusCode != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("Traefik never passed a valid key (last: %d)", call("GET", reader.Key).StatusCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, tc := range []struct {
		name, method, key string
		status            int
	}{
		{"no key", "GET", "", 401},
		{"garbage", "GET", "nope", 401},
		{"valid", "POST", writer.Key, 200},
		{"missing scope", "POST", reader.Key, 403},
	} {
		if got := call(tc.method, tc.key).StatusCode; got != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.status)
		}
	}
	mu.Lock()
	if seen.Get("Authorization") != "" || seen.Get("X-Keyplane-Key-Id") != writer.ID || seen.Get("X-Keyplane-Workspace") != cp.Workspace.ID {
		t.Errorf("the upstream saw %v", seen)
	}
	mu.Unlock()
	limited := false
	for i := 0; i < 10 && !limited; i++ {
		limited = call("POST", writer.Key).StatusCode == 429
	}
	if !limited {
		t.Error("the writer's limit of 3 a minute was never enforced")
	}
	start := time.Now()
	if _, err := cp.Admin.RevokeKey(ctx, reader.ID); err != nil {
		t.Fatal(err)
	}
	for call("GET", reader.Key).StatusCode != 401 {
		if time.Since(start) > time.Second {
			t.Fatal("the revoked key still passes Traefik after 1 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("revocation reached Traefik in %v", time.Since(start))
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
