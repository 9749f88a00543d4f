// Package wasmtest is what the wasm modules' tests share: the built modules, and a real control
// plane with the keys every edge test needs.
package wasmtest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/keyplane/keyplane/controlplane/api"
	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/client"
	"github.com/keyplane/keyplane/controlplane/signing"
	"github.com/keyplane/keyplane/controlplane/store/sqlstore"
	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/sync/trust"
	"github.com/keyplane/keyplane/verifier"
	"github.com/keyplane/keyplane/verifier/apikey"
)

// Module is one built .wasm file.
type Module struct {
	Name  string // e.g. "proxywasm (TinyGo)"
	Bytes []byte
}

// Modules returns the builds of module m (proxywasm or httpwasm) that `make wasm` writes to
// build/wasm: TinyGo's and mainline Go's (see Read for a missing one).
func Modules(t testing.TB, m string) []Module {
	return []Module{{Name: m + " (TinyGo)", Bytes: Read(t, m+".wasm")}, {Name: m + " (Go)", Bytes: Read(t, m+"-go.wasm")}}
}

// Read returns the file that `make wasm` writes to build/wasm. A missing file skips the test, or
// fails it when KEYPLANE_REQUIRE_WASM is set, as `make test` and `make bench` do after building.
func Read(t testing.TB, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(Dir(), file))
	if err != nil {
		if os.Getenv("KEYPLANE_REQUIRE_WASM") != "" {
			t.Fatalf("%s: %v (make wasm builds it)", file, err)
		}
		t.Skipf("%s not built: run make wasm (%v)", file, err)
	}
	return data
}

// Dir is build/wasm, where `make wasm` writes the modules.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "build", "wasm")
}

// ControlPlane is a real control plane on 127.0.0.1 with a workspace and keys.
type ControlPlane struct {
	URL         string
	Admin       *client.Client
	Workspace   apiv1.Workspace
	SnapshotKey apiv1.Key            // snapshots:read
	Keys        map[string]apiv1.Key // by name
	SigningKeys json.RawMessage      // the "keys" array of GET /v1/signing-keys
	Ring        *signing.Ring
}

// StartControlPlane starts it with these keys: "writer" (events:write, 3 requests a minute),
// "reader" (events:read), "office" (events:write, only from 10.0.0.0/8), "local" (events:write,
// only from 127.0.0.0/8), "site" (events:write, only for app.example.com).
func StartControlPlane(t testing.TB) *ControlPlane {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := signing.Generate(rand.Reader, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{Store: st, Keyring: signing.Static{R: ring}, AdminToken: "admin",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close(); st.Close() })
	cp := &ControlPlane{URL: srv.URL, Admin: client.New(client.Config{BaseURL: srv.URL, Token: "admin"}), Keys: map[string]apiv1.Key{}, Ring: ring}
	if cp.Workspace, err = cp.Admin.CreateWorkspace(ctx, apiv1.CreateWorkspaceRequest{Name: "edge-test"}); err != nil {
		t.Fatal(err)
	}
	cp.SnapshotKey = cp.Create(t, apiv1.CreateKeyRequest{Name: "edge", Scopes: []string{"snapshots:read"}})
	cp.Create(t, apiv1.CreateKeyRequest{Name: "writer", Scopes: []string{"events:write"}, RateLimit: &apiv1.RateLimit{Limit: 3, WindowSeconds: 60}})
	cp.Create(t, apiv1.CreateKeyRequest{Name: "reader", Scopes: []string{"events:read"}})
	cp.Create(t, apiv1.CreateKeyRequest{Name: "office", Scopes: []string{"events:write"}, Restrictions: &apiv1.Restrictions{AllowedCIDRs: []string{"10.0.0.0/8"}}})
	cp.Create(t, apiv1.CreateKeyRequest{Name: "local", Scopes: []string{"events:write"}, Restrictions: &apiv1.Restrictions{AllowedCIDRs: []string{"127.0.0.0/8"}}})
	cp.Create(t, apiv1.CreateKeyRequest{Name: "site", Scopes: []string{"events:write"}, Restrictions: &apiv1.Restrictions{AllowedHosts: []string{"app.example.com"}}})
	keys, err := json.Marshal(ring.Public().Keys)
	if err != nil {
		t.Fatal(err)
	}
	cp.SigningKeys = keys
	return cp
}

// Create makes a key in the workspace and remembers it by name.
func (cp *ControlPlane) Create(t testing.TB, req apiv1.CreateKeyRequest) apiv1.Key {
	t.Helper()
	req.WorkspaceID = cp.Workspace.ID
	k, err := cp.Admin.CreateKey(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	cp.Keys[req.Name] = k
	return k
}

// Policy is the route table every edge test uses.
const Policy = `"routes":[{"method":"POST","path":"/events","scopes":["events:write"]},{"path":"/","scopes":[]}]`

// Synthetic is a signed snapshot of n generated keys, built without a control plane, for
// benchmarks that need many keys.
type Synthetic struct {
	Keys        []string         // the full keys, all valid
	Blob        []byte           // the signed full snapshot
	SigningKeys json.RawMessage  // the "keys" array of a signing-keys document that trusts it
	Trusted     snapshot.Trusted // the same keys, for snapshot.Open
}

// NewSynthetic builds a snapshot of n keys (scope events:write, no limits) for workspace ws.
func NewSynthetic(t testing.TB, n int) *Synthetic {
	t.Helper()
	ring, err := signing.Generate(rand.Reader, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := &Synthetic{Keys: make([]string, n)}
	keys := make([]snapshot.Key, n)
	for i := range keys {
		k, err := apikey.Generate("kp", "live", rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s.Keys[i] = k
		keys[i] = snapshot.Key{Hash: apikey.Hash(k), Policy: snapshot.Policy{Scopes: []string{"events:write"}, Environment: "live", Type: "GENERIC"}}
	}
	signer := ring.Signer()
	now := time.Now()
	if s.Blob, err = snapshot.BuildFull(snapshot.Header{Workspace: "ws_bench", Version: 1, IssuedAt: now.Unix(),
		ExpiresAt: now.Add(24 * time.Hour).Unix(), KeyID: signer.KeyID}, keys, signer); err != nil {
		t.Fatal(err)
	}
	if s.SigningKeys, err = json.Marshal(ring.Public().Keys); err != nil {
		t.Fatal(err)
	}
	s.Trusted = trust.All(ring.Public())
	return s
}

// Native returns the native verifier for the configuration document cfg and the opened snapshot,
// for benchmarks that set a module beside it.
func (s *Synthetic) Native(t testing.TB, cfg []byte) (*verifier.Verifier, *snapshot.Snapshot) {
	t.Helper()
	vcfg, err := verifier.ParseConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(vcfg)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Open(s.Blob, s.Trusted, snapshot.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return v, snap
}

// PairedRound is the round of the wasm benchmarks' turns (package turns): short, so that no module
// sits idle for long, as http-wasm-host-go keeps instances in a sync.Pool, which drops one that two
// garbage collections find idle, and a new instance loads the snapshot again.
const PairedRound = 16

// NativeCheck returns a function that decides POST /events with key i%len(keys) by v against
// snap, and fails b on a denial.
func (s *Synthetic) NativeCheck(b *testing.B, v *verifier.Verifier, snap *snapshot.Snapshot) func(i int) {
	req := verifier.Request{Method: "POST", Path: "/events", Host: "api.example.com"}
	return func(i int) {
		req.Key = s.Keys[i%len(s.Keys)]
		if d := v.Check(&req, snap, verifier.Freshness{}); !d.Allowed {
			b.Fatal(d.Reason)
		}
	}
}

// WriteStateDir lays the snapshot out as `keyplane sync --out` does, for the http-wasm guest.
func (s *Synthetic) WriteStateDir(t testing.TB, dir string) {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "snapshot.kps"), s.Blob, 0o644))
	must(os.WriteFile(filepath.Join(dir, "trusted.json"), []byte(`{"keys":`+string(s.SigningKeys)+`}`), 0o644))
	must(os.WriteFile(filepath.Join(dir, "state.json"), []byte(`{"workspace":"ws_bench","version":1,"has_delta":false}`), 0o644))
}
