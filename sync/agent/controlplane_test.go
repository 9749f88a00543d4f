package agent

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyplane/keyplane/controlplane/api"
	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/client"
	"github.com/keyplane/keyplane/controlplane/signing"
	"github.com/keyplane/keyplane/controlplane/store/sqlstore"
	"github.com/keyplane/keyplane/sync/trust"
	"github.com/keyplane/keyplane/verifier/apikey"
)

// controlPlane runs the real control plane on a fixed loopback address, so a test can stop it and
// start it again where agents expect it.
type controlPlane struct {
	t    testing.TB
	addr string
	db   string
	keys signing.Static
	srv  *http.Server
}

func (cp *controlPlane) start() {
	cp.t.Helper()
	st, err := sqlstore.Open(context.Background(), cp.db)
	if err != nil {
		cp.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cp.addr)
	if err != nil {
		cp.t.Fatal(err)
	}
	cp.addr = ln.Addr().String()
	cp.srv = &http.Server{Handler: api.New(api.Config{Store: st, Keyring: cp.keys, AdminToken: "admin",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})}
	cp.srv.RegisterOnShutdown(func() { st.Close() })
	go cp.srv.Serve(ln)
}

func (cp *controlPlane) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	cp.srv.Shutdown(ctx) // long polls in flight are cut: the agents see errors and back off
	cp.srv.Close()
}

func TestAgainstTheControlPlane(t *testing.T) {
	ring, err := signing.Generate(randReader{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cp := &controlPlane{t: t, addr: "127.0.0.1:0", db: filepath.Join(t.TempDir(), "cp.db"), keys: signing.Static{R: ring}}
	cp.start()
	defer func() { cp.stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	admin := client.New(client.Config{BaseURL: "http://" + cp.addr, Token: "admin"})
	ws, err := admin.CreateWorkspace(ctx, apiv1.CreateWorkspaceRequest{Name: "w"})
	if err != nil {
		t.Fatal(err)
	}
	edge, _ := admin.CreateKey(ctx, apiv1.CreateKeyRequest{WorkspaceID: ws.ID, Name: "edge", Scopes: []string{"snapshots:read"}})
	user, _ := admin.CreateKey(ctx, apiv1.CreateKeyRequest{WorkspaceID: ws.ID, Name: "user"})
	userHash := apikey.Hash(user.Key)

	dir := t.TempDir()
	updates := make(chan *State, 16)
	a, err := New(Config{URL: "http://" + cp.addr, Token: edge.Key, Trusted: trust.All(ring.Public()), StateDir: dir,
		Wait: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnUpdate: func(s *State) {
			select {
			case updates <- s:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	go a.Run(ctx)
	waitFor := func(what string, ok func(*State) bool) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			if s := a.Current(); s != nil && ok(s) {
				return
			}
			select {
			case <-updates:
			case <-time.After(20 * time.Millisecond):
			case <-deadline:
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("the first snapshot", func(s *State) bool { _, ok := s.Lookup(&userHash); return ok })

	start := time.Now()
	if _, err := admin.RevokeKey(ctx, user.ID); err != nil {
		t.Fatal(err)
	}
	waitFor("the revocation", func(s *State) bool { _, ok := s.Lookup(&userHash); return !ok })
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the revocation took %v to reach the agent", d)
	} else {
		t.Logf("revocation reached the agent in %v", d)
	}

	// The control plane goes away: the agent keeps its verified state.
	cp.stop()
	time.Sleep(300 * time.Millisecond) // the agent fails a few polls meanwhile
	edgeHash := apikey.Hash(edge.Key)
	if s := a.Current(); s == nil {
		t.Fatal("the agent dropped its state when the control plane stopped")
	} else if _, ok := s.Lookup(&edgeHash); !ok {
		t.Fatal("the agent no longer finds a valid key")
	}
	// A restarted agent on the same directory serves without any control plane.
	b, err := New(Config{URL: "http://" + cp.addr, Token: edge.Key, Trusted: trust.All(ring.Public()), StateDir: dir,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil || b.Current() == nil {
		t.Fatalf("restart from disk: %v", err)
	}
	if _, ok := b.Current().Lookup(&userHash); ok {
		t.Fatal("the restarted agent forgot the revocation")
	}

	// The control plane returns with a change made meanwhile: the agent catches up.
	cp.start()
	admin = client.New(client.Config{BaseURL: "http://" + cp.addr, Token: "admin"})
	late, err := admin.CreateKey(ctx, apiv1.CreateKeyRequest{WorkspaceID: ws.ID, Name: "late"})
	if err != nil {
		t.Fatal(err)
	}
	lateHash := apikey.Hash(late.Key)
	waitFor("the change made while away", func(s *State) bool { _, ok := s.Lookup(&lateHash); return ok })
}
