package middleware_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyplane/keyplane/controlplane/api"
	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/client"
	"github.com/keyplane/keyplane/controlplane/signing"
	"github.com/keyplane/keyplane/controlplane/store/sqlstore"
	"github.com/keyplane/keyplane/sync/agent"
	"github.com/keyplane/keyplane/sync/trust"
	"github.com/keyplane/keyplane/verifier"
	"github.com/keyplane/keyplane/verifier/middleware"
)

// TestMiddleware runs a real control plane, and a Go service protected by the middleware with its
// sync agent in-process, all on 127.0.0.1.
func TestMiddleware(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ring, _ := signing.Generate(rand.Reader, time.Now())
	cp := httptest.NewServer(api.New(api.Config{Store: st, Keyring: signing.Static{R: ring}, AdminToken: "admin", Logger: quiet}))
	defer cp.Close()
	admin := client.New(client.Config{BaseURL: cp.URL, Token: "admin"})
	ws, _ := admin.CreateWorkspace(ctx, apiv1.CreateWorkspaceRequest{Name: "w"})
	mk := func(name string, scopes ...string) apiv1.Key {
		k, err := admin.CreateKey(ctx, apiv1.CreateKeyRequest{WorkspaceID: ws.ID, Name: name, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	edge := mk("edge", "snapshots:read")
	writer := mk("writer", "events:write")
	reader := mk("reader", "events:read")

	cfg, err := verifier.ParseConfig([]byte(`{"routes":[{"method":"POST","path":"/events","scopes":["events:write"]},{"path":"/","scopes":[]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := middleware.New(middleware.Config{Verifier: cfg, Agent: agent.Config{URL: cp.URL, Token: edge.Key,
		Trusted: trust.All(ring.Public()), Wait: 5 * time.Second, Logger: quiet}})
	if err != nil {
		t.Fatal(err)
	}
	go m.Run(ctx)
	defer cancel() // before the control plane closes: its Close waits for the agent's long poll
	var seen http.Header
	svc := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		io.WriteString(w, "ok")
	})))
	defer svc.Close()

	call := func(method, key string, hdr ...string) *http.Response {
		req, _ := http.NewRequest(method, svc.URL+"/events", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	deadline := time.Now().Add(5 * time.Second)
	for call("GET", writer.Key).StatusCode == http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("the agent never delivered a snapshot")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, tc := range []struct {
		name, method, key string
		status            int
	}{
		{"no key", "GET", "", 401},
		{"garbage", "GET", "nope", 401},
		{"valid", "POST", writer.Key, 200},
		{"missing scope", "POST", reader.Key, 403},
		{"route without scopes", "GET", reader.Key, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := call(tc.method, tc.key).StatusCode; got != tc.status {
				t.Fatalf("status %d, want %d", got, tc.status)
			}
		})
	}
	seen = nil
	call("POST", writer.Key, middleware.HeaderKeyID, "key_SPOOFED")
	if seen.Get("Authorization") != "" || seen.Get(middleware.HeaderKeyID) != writer.ID ||
		seen.Get(middleware.HeaderWorkspace) != ws.ID || seen.Get(middleware.HeaderScopes) != "events:write" {
		t.Fatalf("upstream saw %v", seen)
	}
	if strings.Contains(seen.Get(middleware.HeaderKeyID), "SPOOFED") {
		t.Fatal("a client-sent identity header reached the upstream")
	}

	start := time.Now()
	if _, err := admin.RevokeKey(ctx, writer.ID); err != nil {
		t.Fatal(err)
	}
	for call("POST", writer.Key).StatusCode != http.StatusUnauthorized {
		if time.Since(start) > time.Second {
			t.Fatal("the revoked key still works after 1 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("revocation took effect at the service in %v", time.Since(start))
}
