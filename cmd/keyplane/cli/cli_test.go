package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyplane/keyplane/controlplane"
	"github.com/keyplane/keyplane/controlplane/apiv1"
)

// startControlPlane runs a real control plane on 127.0.0.1 with a fresh data dir and returns its
// URL, the data dir and the banner it printed.
func startControlPlane(t *testing.T) (string, string, *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- controlplane.Run(ctx, controlplane.Config{Addr: "127.0.0.1:0", DataDir: dir, Out: &out,
			Logger: discardLogger(), Ready: func(a string) { ready <- a }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("control plane: %v", err)
		}
	})
	select {
	case addr := <-ready:
		return "http://" + addr, dir, &out
	case err := <-done:
		t.Fatalf("control plane did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("control plane did not start in 10 s")
	}
	return "", "", nil
}

func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return out.String() + errb.String(), code
}

func TestCLI(t *testing.T) {
	url, dir, banner := startControlPlane(t)
	tokenFile := filepath.Join(dir, controlplane.AdminTokenFile)
	st, err := os.Stat(tokenFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v %v", st, err)
	}
	b, _ := os.ReadFile(tokenFile)
	token := strings.TrimSpace(string(b))
	if !strings.Contains(banner.String(), token) {
		t.Fatal("the generated admin token must be printed once at first start")
	}
	t.Setenv("KEYPLANE_URL", url)
	t.Setenv("KEYPLANE_TOKEN", token)

	out, code := run(t, "workspaces", "create", "--name", "demo", "--key-prefix", "demo", "--json")
	var ws apiv1.Workspace
	if code != 0 || json.Unmarshal([]byte(out), &ws) != nil || ws.KeyPrefix != "demo" {
		t.Fatalf("workspaces create: %d %s", code, out)
	}
	if out, code := run(t, "workspaces", "list"); code != 0 || !strings.Contains(out, ws.ID) || !strings.Contains(out, "KEY PREFIX") {
		t.Fatalf("workspaces list: %d %s", code, out)
	}
	out, code = run(t, "keys", "create", "--workspace", ws.ID, "--name", "first", "--scopes", "events:write, events:read",
		"--rate-limit", "10/1s", "--expires-in", "24h", "--json")
	var k apiv1.Key
	if code != 0 || json.Unmarshal([]byte(out), &k) != nil || !strings.HasPrefix(k.Key, "demo_live_") || k.RateLimit.Limit != 10 || k.ExpiresAt == nil {
		t.Fatalf("keys create: %d %s", code, out)
	}
	if out, code := run(t, "keys", "list", "--workspace", ws.ID); code != 0 || !strings.Contains(out, k.ID) || strings.Contains(out, k.Key) {
		t.Fatalf("keys list: %d %s", code, out)
	}
	if out, code := run(t, "keys", "update", k.ID, "--disable", "--name", "renamed"); code != 0 || !strings.Contains(out, "disabled") || !strings.Contains(out, "renamed") {
		t.Fatalf("keys update: %d %s", code, out)
	}
	if out, code := run(t, "keys", "verify", k.Key); code != 0 || !strings.Contains(out, "disabled_api_key") {
		t.Fatalf("keys verify: %d %s", code, out)
	}
	if out, code := run(t, "keys", "update", k.ID, "--enable", "--no-expiry", "--rate-limit", "none"); code != 0 || !strings.Contains(out, "active") {
		t.Fatalf("keys update: %d %s", code, out)
	}
	out, code = run(t, "keys", "rotate", k.ID, "--grace", "1h")
	if code != 0 || !strings.Contains(out, "shown once") || !strings.Contains(out, "demo_live_") {
		t.Fatalf("keys rotate: %d %s", code, out)
	}
	if out, code := run(t, "keys", "get", k.ID); code != 0 || !strings.Contains(out, "rotated") {
		t.Fatalf("keys get: %d %s", code, out)
	}
	if out, code := run(t, "keys", "revoke", "--name", "renamed", "--workspace", ws.ID); code != 0 || !strings.Contains(out, "revoked key_") {
		t.Fatalf("keys revoke: %d %s", code, out)
	}
	if out, code := run(t, "keys", "verify", k.Key, "--json"); code != 0 || !strings.Contains(out, `"valid": true`) {
		t.Fatalf("the old key is still in its grace period: %d %s", code, out)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"unknown flag", []string{"keys", "list", "--colour"}, 2, "flag provided but not defined"},
		{"missing argument", []string{"keys", "get"}, 2, "needs one argument"},
		{"api error", []string{"keys", "create", "--name", "x"}, 1, "workspace_id is required"},
		{"bad rate", []string{"keys", "create", "--name", "x", "--rate-limit", "fast"}, 2, "--rate-limit"},
		{"help", []string{"--help"}, 0, "Usage:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := run(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, output %q; want exit %d and %q", code, out, tc.code, tc.want)
			}
		})
	}
	t.Setenv("KEYPLANE_TOKEN", "")
	if out, code := run(t, "keys", "list"); code != 1 || !strings.Contains(out, "KEYPLANE_TOKEN") {
		t.Fatalf("no token: %d %s", code, out)
	}
}

func TestAdminTokenKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		var out bytes.Buffer
		err := controlplane.Run(ctx, controlplane.Config{Addr: "127.0.0.1:0", DataDir: dir, Out: &out, Logger: discardLogger(),
			Ready: func(string) { cancel() }})
		if err != nil {
			t.Fatal(err)
		}
		printed := strings.Contains(out.String(), "kpadmin_")
		if printed != (i == 0) {
			t.Fatalf("start %d printed the token: %v (only the first start may)", i, printed)
		}
	}
}

func TestSyncSnapshotAndSigningKeys(t *testing.T) {
	url, dir, _ := startControlPlane(t)
	b, _ := os.ReadFile(filepath.Join(dir, controlplane.AdminTokenFile))
	t.Setenv("KEYPLANE_URL", url)
	t.Setenv("KEYPLANE_TOKEN", strings.TrimSpace(string(b)))
	out, code := run(t, "workspaces", "create", "--name", "edge", "--json")
	var ws apiv1.Workspace
	if code != 0 || json.Unmarshal([]byte(out), &ws) != nil {
		t.Fatalf("%d %s", code, out)
	}
	out, code = run(t, "keys", "create", "--workspace", ws.ID, "--name", "edge", "--scopes", "snapshots:read", "--json")
	var k apiv1.Key
	if code != 0 || json.Unmarshal([]byte(out), &k) != nil {
		t.Fatalf("%d %s", code, out)
	}
	state := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		var o, e bytes.Buffer
		done <- MainContext(ctx, []string{"sync", "--control-plane", url, "--token", k.Key, "--out", state, "--wait", "1s"}, &o, &e)
	}()
	snap := filepath.Join(state, "snapshot.kps")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(state, "state.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("keyplane sync wrote no state in 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if c := <-done; c != 0 {
		t.Fatalf("sync exited %d", c)
	}
	if out, code := run(t, "snapshot", "inspect", snap); code != 0 || !strings.Contains(out, ws.ID) || !strings.Contains(out, "keys:       1") {
		t.Fatalf("inspect: %d %s", code, out)
	}
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	out, code = run(t, "signing-keys", "list", "--data", dir)
	if code != 0 {
		t.Fatalf("signing-keys list: %d %s", code, out)
	}
	os.WriteFile(keysFile, []byte(out), 0o600)
	if out, code := run(t, "snapshot", "verify", "--signing-keys", keysFile, snap); code != 0 || !strings.Contains(out, "verified:") {
		t.Fatalf("verify: %d %s", code, out)
	}
	// After a rotation that drops the old key, the old snapshot no longer verifies against the new
	// key alone: verify must fail, with a non-zero exit.
	if out, code := run(t, "signing-keys", "rotate", "--data", dir); code != 0 || !strings.Contains(out, "new signing key") {
		t.Fatalf("rotate: %d %s", code, out)
	}
	if out, code := run(t, "signing-keys", "rotate", "--data", dir); code != 0 {
		t.Fatalf("rotate: %d %s", code, out)
	}
	out, _ = run(t, "signing-keys", "list", "--data", dir)
	os.WriteFile(keysFile, []byte(out), 0o600)
	if out, code := run(t, "snapshot", "verify", "--signing-keys", keysFile, snap); code == 0 {
		t.Fatalf("verify with keys that no longer include the signer passed: %s", out)
	}
	tampered := filepath.Join(t.TempDir(), "t.kps")
	raw, _ := os.ReadFile(snap)
	raw[len(raw)/2] ^= 1
	os.WriteFile(tampered, raw, 0o600)
	if _, code := run(t, "snapshot", "verify", "--signing-keys", keysFile, tampered); code == 0 {
		t.Fatal("a tampered snapshot verified")
	}
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	cpAddr, edgeAddr, upAddr := freePort(t), freePort(t), freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int)
	go func() {
		done <- MainContext(ctx, []string{"demo", "--data", dir, "--addr", cpAddr, "--edge", edgeAddr, "--upstream", upAddr}, &out, io.Discard)
	}()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Try, in another shell") {
		if time.Now().After(deadline) {
			t.Fatalf("demo did not start: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Follow the printed instructions, through the client instead of the shell.
	b, _ := os.ReadFile(filepath.Join(dir, controlplane.AdminTokenFile))
	t.Setenv("KEYPLANE_URL", "http://"+cpAddr)
	t.Setenv("KEYPLANE_TOKEN", strings.TrimSpace(string(b)))
	ws := regexp.MustCompile(`--workspace (ws_\w+)`).FindStringSubmatch(out.String())
	if ws == nil {
		t.Fatalf("no workspace in %s", out.String())
	}
	o, code := run(t, "keys", "create", "--workspace", ws[1], "--name", "alice", "--scopes", "events:write", "--json")
	var k apiv1.Key
	if code != 0 || json.Unmarshal([]byte(o), &k) != nil {
		t.Fatalf("%d %s", code, o)
	}
	post := func(key string) int {
		req, _ := http.NewRequest("POST", "http://"+edgeAddr+"/events", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for deadline := time.Now().Add(10 * time.Second); post(k.Key) != 200; {
		if time.Now().After(deadline) {
			t.Fatalf("the new key never passed the edge: %d", post(k.Key))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c := post(""); c != 401 {
		t.Fatalf("no key: %d", c)
	}
	if o, code := run(t, "keys", "revoke", "--name", "alice", "--workspace", ws[1]); code != 0 {
		t.Fatalf("%d %s", code, o)
	}
	for deadline := time.Now().Add(time.Second); post(k.Key) != 401; {
		if time.Now().After(deadline) {
			t.Fatal("the revoked key still passes the edge after 1 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
