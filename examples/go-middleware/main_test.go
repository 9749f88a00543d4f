package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyplane/keyplane/controlplane/api"
	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/client"
	"github.com/keyplane/keyplane/controlplane/signing"
	"github.com/keyplane/keyplane/controlplane/store/sqlstore"
)

// TestExample runs the example against a real control plane, as its doc comment says to.
func TestExample(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ring, _ := signing.Generate(rand.Reader, time.Now())
	cp := httptest.NewServer(api.New(api.Config{Store: st, Keyring: signing.Static{R: ring}, AdminToken: "admin",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer cp.Close()
	defer cancel()
	admin := client.New(client.Config{BaseURL: cp.URL, Token: "admin"})
	ws, _ := admin.CreateWorkspace(ctx, apiv1.CreateWorkspaceRequest{Name: "demo"})
	edge, _ := admin.CreateKey(ctx, apiv1.CreateKeyRequest{WorkspaceID: ws.ID, Name: "edge", Scopes: []string{"snapshots:read"}})
	user, _ := admin.CreateKey(ctx, apiv1.CreateKeyRequest{WorkspaceID: ws.ID, Name: "user", Scopes: []string{"events:read"}})

	h, err := newServer(ctx, cp.URL, edge.Key, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc := httptest.NewServer(h)
	defer svc.Close()
	do := func(method string) (int, map[string]string) {
		req, _ := http.NewRequest(method, svc.URL+"/events", nil)
		req.Header.Set("Authorization", "Bearer "+user.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]string
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := do("GET")
		if code == 200 {
			if body["key_id"] != user.ID || body["workspace"] != ws.ID {
				t.Fatalf("identity %v", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /events: %d", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, _ := do("POST"); code != http.StatusForbidden {
		t.Fatalf("POST without events:write: %d", code)
	}
}
