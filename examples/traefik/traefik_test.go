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

	e := &wasmtest.Edge{URL: "http://" + web, Workspace: cp.Workspace.ID,
		Writer: cp.Keys["writer"], Reader: cp.Keys["reader"], Limited: cp.Keys["writer"], // 3 a minute
		Upstream: func() http.Header { mu.Lock(); defer mu.Unlock(); return seen },
		Revoke:   func(id string) error { _, err := cp.Admin.RevokeKey(ctx, id); return err }}
	deadline := time.Now().Add(60 * time.Second)
	for e.Call("GET", e.Reader.Key) != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("Traefik never passed a valid key (last: %d)", e.Call("GET", e.Reader.Key))
		}
		time.Sleep(200 * time.Millisecond)
	}
	wasmtest.CheckEdge(t, e)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
