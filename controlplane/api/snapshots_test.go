package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/store/sqlstore"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/sync/trust"
	"github.com/keyplane/keyplane/verifier/apikey"
)

func fetch(t *testing.T, e *env, path, token string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestSnapshots(t *testing.T) {
	for name, dsn := range backends() {
		t.Run(name, func(t *testing.T) { testSnapshots(t, newEnv(t, dsn(t))) })
	}
}

func testSnapshots(t *testing.T, e *env) {
	ctx := context.Background()
	reader := e.create(e.mgr, apiv1.CreateKeyRequest{Name: "edge", Scopes: []string{"snapshots:read"}})
	user := e.create(e.mgr, apiv1.CreateKeyRequest{Name: "user", Scopes: []string{"events:write"}, RateLimit: &apiv1.RateLimit{Limit: 7, WindowSeconds: 60}})

	_, body := fetch(t, e, "/v1/signing-keys", reader.Key)
	doc, err := trust.Parse(body)
	if err != nil || len(doc.Keys) != 1 {
		t.Fatalf("signing keys %s: %v", body, err)
	}
	trusted := trust.All(doc)

	resp, blob := fetch(t, e, "/v1/snapshots/latest", reader.Key)
	if resp.StatusCode != 200 || resp.Header.Get("Keyplane-Snapshot-Version") == "" {
		t.Fatalf("latest: %d %s", resp.StatusCode, blob)
	}
	base, err := snapshot.Open(blob, trusted, snapshot.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	h := apikey.Hash(user.Key)
	if en, ok := base.Lookup(&h); !ok || en.Policy.RateLimit != 7 || en.Policy.Scopes[0] != "events:write" {
		t.Fatalf("the user key is not in the snapshot as created: %+v %v", en, ok)
	}
	if resp, _ := fetch(t, e, "/v1/snapshots/latest", reader.Key, "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	if resp, _ := fetch(t, e, "/v1/snapshots/latest", user.Key); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a key without snapshots:read: %d", resp.StatusCode)
	}

	v := base.Header().Version
	digest := sha256.Sum256(blob)
	q := fmt.Sprintf("/v1/snapshots/delta?base=%d&base_digest=%s&since=%d", v, hex.EncodeToString(digest[:]), v)
	start := time.Now()
	if resp, _ := fetch(t, e, q+"&wait=1", reader.Key); resp.StatusCode != http.StatusNotModified || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("a quiet long poll must wait and answer 304: %d after %v", resp.StatusCode, time.Since(start))
	}

	// A revocation wakes a parked long poll with a delta that refuses the key.
	type result struct {
		resp *http.Response
		body []byte
	}
	got := make(chan result, 1)
	go func() {
		resp, body := fetch(t, e, q+"&wait=30", reader.Key)
		got <- result{resp, body}
	}()
	time.Sleep(100 * time.Millisecond) // let the poll park; if it has not, it answers at once anyway
	revokedAt := time.Now()
	if _, err := e.mgr.RevokeKey(ctx, user.ID); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the long poll did not wake")
	}
	if r.resp.StatusCode != 200 {
		t.Fatalf("delta: %d %s", r.resp.StatusCode, r.body)
	}
	t.Logf("revocation reached the long poll in %v", time.Since(revokedAt))
	d, err := snapshot.OpenDelta(r.body, trusted, snapshot.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	view, err := base.Apply(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := view.Lookup(&h); ok {
		t.Fatal("the revoked key is still found through the delta")
	}
	rh := apikey.Hash(reader.Key)
	if _, ok := view.Lookup(&rh); !ok {
		t.Fatal("an unrevoked key is denied through the delta")
	}

	for name, tc := range map[string]struct {
		query  string
		status int
	}{
		"future base":   {fmt.Sprintf("/v1/snapshots/delta?base=%d&base_digest=%s&since=%d&wait=0", v+100, hex.EncodeToString(digest[:]), v+100), http.StatusConflict},
		"missing base":  {"/v1/snapshots/delta?since=1", http.StatusBadRequest},
		"bad digest":    {fmt.Sprintf("/v1/snapshots/delta?base=%d&base_digest=zz&since=%d", v, v), http.StatusBadRequest},
		"wait too long": {q + "&wait=600", http.StatusBadRequest},
	} {
		if resp, body := fetch(t, e, tc.query, reader.Key); resp.StatusCode != tc.status {
			t.Errorf("%s: %d %s, want %d", name, resp.StatusCode, body, tc.status)
		}
	}
	// A new full snapshot no longer holds the key.
	_, blob = fetch(t, e, "/v1/snapshots/latest", reader.Key)
	full, err := snapshot.Open(blob, trusted, snapshot.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := full.Lookup(&h); ok || full.Header().Version <= v {
		t.Fatalf("new full snapshot: version %d, revoked key found %v", full.Header().Version, ok)
	}
}

// TestLongPollAcrossReplicas parks a long poll on replica B and revokes through replica A: B
// must answer with the delta (PostgreSQL LISTEN/NOTIFY), well before the poll's wait.
func TestLongPollAcrossReplicas(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	a := newEnvTB(t, dsn)
	b := replica(t, dsn) // a second replica: its own server and publisher on the same database
	ctx := context.Background()
	reader := a.create(a.mgr, apiv1.CreateKeyRequest{Name: "edge", Scopes: []string{"snapshots:read"}})
	user := a.create(a.mgr, apiv1.CreateKeyRequest{Name: "user"})
	_, blob := fetch(t, b, "/v1/snapshots/latest", reader.Key)
	_, docb := fetch(t, b, "/v1/signing-keys", reader.Key)
	doc, err := trust.Parse(docb)
	if err != nil {
		t.Fatal(err)
	}
	base, err := snapshot.Open(blob, trust.All(doc), snapshot.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	v := base.Header().Version
	d := sha256.Sum256(blob)
	q := fmt.Sprintf("/v1/snapshots/delta?base=%d&base_digest=%x&since=%d&wait=20", v, d[:], v)
	got := make(chan int, 1)
	go func() {
		resp, _ := fetch(t, b, q, reader.Key)
		got <- resp.StatusCode
	}()
	time.Sleep(200 * time.Millisecond) // parked or not, the answer must be the delta
	start := time.Now()
	if _, err := a.mgr.RevokeKey(ctx, user.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-got:
		if code != http.StatusOK {
			t.Fatalf("replica B answered %d", code)
		}
		t.Logf("replica B answered %v after the revocation on replica A", time.Since(start))
	case <-time.After(10 * time.Second):
		t.Fatal("replica B's long poll did not wake on replica A's change")
	}
}

// replica serves the API over a second store on the same database.
func replica(t *testing.T, dsn string) *env {
	st, err := sqlstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hs := httptest.NewServer(New(Config{Store: st, AdminToken: adminToken, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(hs.Close)
	return &env{t: t, url: hs.URL}
}

// TestKeyCacheAcrossReplicas: replica B caches a key it verified; a revocation through replica A
// must reach B's cache through LISTEN/NOTIFY.
func TestKeyCacheAcrossReplicas(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	a := newEnvTB(t, dsn)
	b := replica(t, dsn)
	user := a.create(a.mgr, apiv1.CreateKeyRequest{Name: "user"})
	if resp, body := fetch(t, b, "/v1/auth/verify", user.Key); resp.StatusCode != 200 {
		t.Fatalf("B: %d %s", resp.StatusCode, body)
	}
	start := time.Now()
	if _, err := a.mgr.RevokeKey(context.Background(), user.ID); err != nil {
		t.Fatal(err)
	}
	for {
		resp, _ := fetch(t, b, "/v1/auth/verify", user.Key)
		if resp.StatusCode == http.StatusUnauthorized {
			t.Logf("replica B refused the key %v after replica A revoked it", time.Since(start))
			return
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("replica B still accepts a key revoked on replica A after 2 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
