package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/client"
	"github.com/keyplane/keyplane/controlplane/store/sqlstore"
	"github.com/keyplane/keyplane/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

const adminToken = "kpadmin_test_token"

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// lockedBuffer collects log lines from concurrent handlers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// env is one control plane on real HTTP over one store.
type env struct {
	t      testing.TB
	url    string
	clock  *fakeClock
	logs   *lockedBuffer
	admin  *client.Client
	ws     apiv1.Workspace
	mgr    *client.Client // a key of ws with keys:manage
	mgrKey string
	keys   []string // every full key handed out, to look for in logs
}

func backends() map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "kp.db") },
		"postgres": func(t *testing.T) string { return pgtest.NewDatabase(t) },
	}
}

func newEnv(t *testing.T, dsn string) *env { return newEnvTB(t, dsn) }

func newEnvTB(t testing.TB, dsn string) *env {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, clock: &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}, logs: &lockedBuffer{}}
	srv := New(Config{Store: st, AdminToken: adminToken, Clock: e.clock,
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	e.url = hs.URL
	e.admin = client.New(client.Config{BaseURL: hs.URL, Token: adminToken})
	e.ws, err = e.admin.CreateWorkspace(context.Background(), apiv1.CreateWorkspaceRequest{Name: "acme", KeyPrefix: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	k := e.create(e.admin, apiv1.CreateKeyRequest{WorkspaceID: e.ws.ID, Name: "manager", Scopes: []string{"keys:manage"}})
	e.mgr, e.mgrKey = e.as(k.Key), k.Key
	t.Cleanup(func() {
		logs := e.logs.String()
		for _, k := range e.keys {
			if strings.Contains(logs, k) {
				t.Errorf("a full key reached the log")
			}
		}
		if strings.Contains(logs, adminToken) {
			t.Errorf("the admin token reached the log")
		}
	})
	return e
}

func (e *env) as(token string) *client.Client {
	return client.New(client.Config{BaseURL: e.url, Token: token})
}

func (e *env) create(c *client.Client, req apiv1.CreateKeyRequest) apiv1.Key {
	e.t.Helper()
	k, err := c.CreateKey(context.Background(), req)
	if err != nil {
		e.t.Fatalf("create %q: %v", req.Name, err)
	}
	e.keys = append(e.keys, k.Key)
	return k
}

// code returns the API error code of err ("" for nil), failing on transport errors.
func code(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var ae *client.Error
	if !errors.As(err, &ae) {
		t.Fatalf("not an API error: %v", err)
	}
	return ae.Code
}

func TestAPI(t *testing.T) {
	for name, dsn := range backends() {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				fn   func(t *testing.T, e *env)
			}{
				{"lifecycle", testLifecycle},
				{"rotate with grace", testRotate},
				{"self rotation", testSelfRotate},
				{"workspace isolation", testIsolation},
				{"scopes of management keys", testManagementScopes},
				{"rate limit", testRateLimit},
				{"expiry", testExpiry},
				{"central verify", testCentralVerify},
				{"parallel creates and revokes", testParallel},
				{"key limit", testKeyLimit},
				{"bad input", testBadInput},
			} {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, newEnv(t, dsn(t))) })
			}
		})
	}
}

func testLifecycle(t *testing.T, e *env) {
	ctx := context.Background()
	exp := e.clock.Now().Add(24 * time.Hour)
	k := e.create(e.mgr, apiv1.CreateKeyRequest{
		Name: "prod", Type: "AWS", Environment: "test", Scopes: []string{"events:write", "events:read", "events:write"},
		Metadata: json.RawMessage(`{"plan": "pro"}`), ExternalID: "cust_1", ExpiresAt: &exp,
		Restrictions: &apiv1.Restrictions{AllowedCIDRs: []string{"127.0.0.1"}, AllowedHosts: []string{"API.example.com"}},
		RateLimit:    &apiv1.RateLimit{Limit: 100, WindowSeconds: 60},
	})
	if !strings.HasPrefix(k.Key, "acme_test_") || !strings.HasPrefix(k.ID, "key_") || k.Prefix != k.Key[:len("acme_test_")+4] ||
		k.WorkspaceID != e.ws.ID || k.Type != "AWS" || strings.Join(k.Scopes, ",") != "events:read,events:write" ||
		string(k.Metadata) != `{"plan":"pro"}` || k.Restrictions.AllowedCIDRs[0] != "127.0.0.1/32" ||
		k.Restrictions.AllowedHosts[0] != "api.example.com" || !k.Enabled || !k.ExpiresAt.Equal(exp) {
		t.Fatalf("created %+v", k)
	}
	got, err := e.mgr.GetKey(ctx, k.ID)
	if err != nil || got.Key != "" || got.Name != "prod" {
		t.Fatalf("get: %+v %v (the key must never be returned again)", got, err)
	}
	raw := getRaw(t, e, "/v1/keys/"+k.ID, e.mgrKey)
	if strings.Contains(raw, k.Key) || strings.Contains(raw, "hash") {
		t.Fatalf("GET exposes secret material: %s", raw)
	}
	list, err := e.mgr.ListKeys(ctx, client.ListOptions{Type: "AWS"})
	if err != nil || len(list.Data) != 1 || list.Data[0].ID != k.ID || list.Data[0].Key != "" {
		t.Fatalf("list: %+v %v", list, err)
	}
	user := e.as(k.Key)
	v, err := user.Verify(ctx)
	if err != nil || !v.Valid || v.KeyID != k.ID || v.Environment != "test" || v.RateLimit == nil || v.RateLimit.Remaining != 99 {
		t.Fatalf("verify: %+v %v", v, err)
	}
	off := false
	if _, err := e.mgr.UpdateKey(ctx, k.ID, client.KeyUpdate{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	if _, err := user.Verify(ctx); code(t, err) != apiv1.CodeDisabledAPIKey {
		t.Fatalf("disabled key: %v", err)
	}
	on, name := true, "prod-renamed"
	upd, err := e.mgr.UpdateKey(ctx, k.ID, client.KeyUpdate{Enabled: &on, Name: &name, ClearExpiry: true, ClearRateLimit: true})
	if err != nil || upd.Name != name || upd.ExpiresAt != nil || upd.RateLimit != nil || !upd.Enabled {
		t.Fatalf("update: %+v %v", upd, err)
	}
	if v, err := user.Verify(ctx); err != nil || v.RateLimit != nil {
		t.Fatalf("re-enabled: %+v %v", v, err)
	}
	res, err := e.mgr.RevokeKey(ctx, k.ID)
	if err != nil || !res.Revoked || res.KeyID != k.ID {
		t.Fatalf("revoke: %+v %v", res, err)
	}
	if _, err := user.Verify(ctx); code(t, err) != apiv1.CodeInvalidAPIKey {
		t.Fatalf("revoked key: %v", err)
	}
	if res, err := e.mgr.RevokeKey(ctx, k.ID); err != nil || !res.Revoked {
		t.Fatalf("second revoke: %+v %v", res, err)
	}
	byName := e.create(e.mgr, apiv1.CreateKeyRequest{Name: "by-name"})
	if res, err := e.mgr.RevokeKeyByName(ctx, "by-name", ""); err != nil || res.KeyID != byName.ID {
		t.Fatalf("revoke by name: %+v %v", res, err)
	}
	if _, err := e.mgr.RevokeKeyByName(ctx, "by-name", ""); code(t, err) != apiv1.CodeNotFound {
		t.Fatalf("no active key has the name any more: %v", err)
	}
}

func testRotate(t *testing.T, e *env) {
	ctx := context.Background()
	old := e.create(e.mgr, apiv1.CreateKeyRequest{Name: "svc", Scopes: []string{"events:write"}})
	next, err := e.mgr.RotateKey(ctx, old.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.keys = append(e.keys, next.Key)
	if next.Name != "svc" || next.ID == old.ID || next.Key == "" || next.LastRotatedAt == nil || next.Scopes[0] != "events:write" {
		t.Fatalf("next %+v", next)
	}
	for _, k := range []string{old.Key, next.Key} {
		if _, err := e.as(k).Verify(ctx); err != nil {
			t.Fatalf("both keys work during the grace period: %v", err)
		}
	}
	e.clock.Add(time.Hour)
	if _, err := e.as(old.Key).Verify(ctx); code(t, err) != apiv1.CodeExpiredAPIKey {
		t.Fatalf("old key after the grace period: %v", err)
	}
	if _, err := e.mgr.RotateKey(ctx, old.ID, 0); code(t, err) != apiv1.CodeKeyRevoked {
		t.Fatalf("rotating a rotated key: %v", err)
	}
	now, err := e.mgr.RotateKey(ctx, next.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.keys = append(e.keys, now.Key)
	if _, err := e.as(next.Key).Verify(ctx); code(t, err) != apiv1.CodeInvalidAPIKey {
		t.Fatalf("grace 0 revokes at once: %v", err)
	}
}

func testSelfRotate(t *testing.T, e *env) {
	ctx := context.Background()
	k := e.create(e.mgr, apiv1.CreateKeyRequest{Name: "self"})
	next, err := e.as(k.Key).SelfRotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.keys = append(e.keys, next.Key)
	if _, err := e.as(k.Key).Verify(ctx); code(t, err) != apiv1.CodeInvalidAPIKey {
		t.Fatalf("old key after self-rotation: %v", err)
	}
	if v, err := e.as(next.Key).Verify(ctx); err != nil || v.Name != "self" {
		t.Fatalf("new key: %+v %v", v, err)
	}
}

func testIsolation(t *testing.T, e *env) {
	ctx := context.Background()
	other, err := e.admin.CreateWorkspace(ctx, apiv1.CreateWorkspaceRequest{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	theirs := e.create(e.admin, apiv1.CreateKeyRequest{WorkspaceID: other.ID, Name: "theirs", Scopes: []string{"keys:manage"}})
	if !strings.HasPrefix(theirs.Key, "kp_live_") {
		t.Fatalf("default prefix: %s", theirs.Prefix)
	}
	mine := e.create(e.mgr, apiv1.CreateKeyRequest{Name: "mine"})
	them := e.as(theirs.Key)
	for name, err := range map[string]error{
		"get":    func() error { _, err := them.GetKey(ctx, mine.ID); return err }(),
		"update": func() error { n := "x"; _, err := them.UpdateKey(ctx, mine.ID, client.KeyUpdate{Name: &n}); return err }(),
		"revoke": func() error { _, err := them.RevokeKey(ctx, mine.ID); return err }(),
		"rotate": func() error { _, err := them.RotateKey(ctx, mine.ID, 0); return err }(),
		"create": func() error {
			_, err := them.CreateKey(ctx, apiv1.CreateKeyRequest{WorkspaceID: e.ws.ID, Name: "sneaky"})
			return err
		}(),
		"workspace": func() error { _, err := them.GetWorkspace(ctx, e.ws.ID); return err }(),
	} {
		if code(t, err) != apiv1.CodeNotFound {
			t.Errorf("%s across workspaces: %v, want not_found", name, err)
		}
	}
	list, err := them.ListKeys(ctx, client.ListOptions{})
	if err != nil || len(list.Data) != 1 || list.Data[0].ID != theirs.ID {
		t.Fatalf("list sees only its workspace: %+v %v", list, err)
	}
	if v, err := them.VerifyKey(ctx, apiv1.VerifyRequest{Key: mine.Key}); err != nil || v.Valid || v.Code != apiv1.CodeInvalidAPIKey || v.KeyID != "" {
		t.Fatalf("central verify of another workspace's key: %+v %v", v, err)
	}
	if _, err := e.mgr.GetKey(ctx, mine.ID); err != nil {
		t.Fatal(err)
	}
}

func testManagementScopes(t *testing.T, e *env) {
	ctx := context.Background()
	reader := e.as(e.create(e.mgr, apiv1.CreateKeyRequest{Name: "reader", Scopes: []string{"keys:read"}}).Key)
	plain := e.as(e.create(e.mgr, apiv1.CreateKeyRequest{Name: "plain", Scopes: []string{"events:write"}}).Key)
	if _, err := reader.ListKeys(ctx, client.ListOptions{}); err != nil {
		t.Fatalf("keys:read lists: %v", err)
	}
	if _, err := reader.CreateKey(ctx, apiv1.CreateKeyRequest{Name: "x"}); code(t, err) != apiv1.CodeInsufficientPermissions {
		t.Fatalf("keys:read creates: %v", err)
	}
	if _, err := plain.ListKeys(ctx, client.ListOptions{}); code(t, err) != apiv1.CodeInsufficientPermissions {
		t.Fatalf("plain key lists: %v", err)
	}
	if _, err := e.mgr.CreateWorkspace(ctx, apiv1.CreateWorkspaceRequest{Name: "nope"}); code(t, err) != apiv1.CodeInsufficientPermissions {
		t.Fatalf("a key creates workspaces: %v", err)
	}
	if _, err := e.admin.Verify(ctx); code(t, err) != apiv1.CodeInsufficientPermissions {
		t.Fatalf("admin token on /v1/auth/verify: %v", err)
	}
	if _, err := e.admin.ListKeys(ctx, client.ListOptions{}); code(t, err) != apiv1.CodeValidation {
		t.Fatalf("admin must name the workspace: %v", err)
	}
	if l, err := e.admin.ListKeys(ctx, client.ListOptions{WorkspaceID: e.ws.ID}); err != nil || len(l.Data) != 3 {
		t.Fatalf("admin lists: %+v %v", l, err)
	}
}

func testRateLimit(t *testing.T, e *env) {
	ctx := context.Background()
	k := e.create(e.mgr, apiv1.CreateKeyRequest{Name: "limited", RateLimit: &apiv1.RateLimit{Limit: 2, WindowSeconds: 60}})
	for i := 0; i < 2; i++ {
		if _, err := e.as(k.Key).Verify(ctx); err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, e.url+"/v1/auth/verify", nil)
	req.Header.Set("Authorization", "Bearer "+k.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readError(t, resp, http.StatusTooManyRequests, apiv1.CodeRateLimitExceeded)
	for h, want := range map[string]string{"Retry-After": "30", "RateLimit-Limit": "2", "RateLimit-Remaining": "0", "RateLimit-Reset": "60"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	e.clock.Add(30 * time.Second)
	if v, err := e.as(k.Key).Verify(ctx); err != nil || v.RateLimit.Remaining != 0 {
		t.Fatalf("after Retry-After: %+v %v", v, err)
	}
	// The workspace default applies to keys without their own limit.
	w, err := e.admin.CreateWorkspace(ctx, apiv1.CreateWorkspaceRequest{Name: "limited-ws", DefaultRateLimit: &apiv1.RateLimit{Limit: 1, WindowSeconds: 10}})
	if err != nil {
		t.Fatal(err)
	}
	d := e.as(e.create(e.admin, apiv1.CreateKeyRequest{WorkspaceID: w.ID, Name: "d"}).Key)
	if _, err := d.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Verify(ctx); code(t, err) != apiv1.CodeRateLimitExceeded {
		t.Fatalf("workspace default: %v", err)
	}
}

func testExpiry(t *testing.T, e *env) {
	ctx := context.Background()
	exp := e.clock.Now().Add(time.Minute)
	k := e.create(e.mgr, apiv1.CreateKeyRequest{Name: "short", ExpiresAt: &exp})
	if _, err := e.as(k.Key).Verify(ctx); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	if _, err := e.as(k.Key).Verify(ctx); code(t, err) != apiv1.CodeExpiredAPIKey {
		t.Fatalf("expired: %v", err)
	}
}

func testCentralVerify(t *testing.T, e *env) {
	ctx := context.Background()
	verifier := e.as(e.create(e.mgr, apiv1.CreateKeyRequest{Name: "gateway", Scopes: []string{"keys:verify"}}).Key)
	k := e.create(e.mgr, apiv1.CreateKeyRequest{Name: "user", Scopes: []string{"events:write"},
		Restrictions: &apiv1.Restrictions{AllowedCIDRs: []string{"10.0.0.0/8"}, AllowedHosts: []string{"*.example.com"}},
		RateLimit:    &apiv1.RateLimit{Limit: 4, WindowSeconds: 3600}})
	bad := []byte(k.Key)
	bad[20] ^= 1
	for _, tc := range []struct {
		name string
		req  apiv1.VerifyRequest
		want string
	}{
		{"valid", apiv1.VerifyRequest{Key: k.Key, Scopes: []string{"events:write"}, IP: "10.1.2.3", Host: "api.example.com"}, apiv1.CodeValid},
		{"missing scope", apiv1.VerifyRequest{Key: k.Key, Scopes: []string{"billing:read"}, IP: "10.1.2.3", Host: "api.example.com"}, apiv1.CodeInsufficientPermissions},
		{"ip outside", apiv1.VerifyRequest{Key: k.Key, IP: "192.168.1.1", Host: "api.example.com"}, apiv1.CodeIPNotAllowed},
		{"host outside", apiv1.VerifyRequest{Key: k.Key, IP: "10.1.2.3", Host: "evil.com"}, apiv1.CodeHostNotAllowed},
		{"typo", apiv1.VerifyRequest{Key: string(bad)}, apiv1.CodeInvalidAPIKey},
		{"garbage", apiv1.VerifyRequest{Key: "hello"}, apiv1.CodeInvalidAPIKey},
		{"no ip for an ip-restricted key", apiv1.VerifyRequest{Key: k.Key, Host: "api.example.com"}, apiv1.CodeIPNotAllowed},
		{"no host for a host-restricted key", apiv1.VerifyRequest{Key: k.Key, IP: "10.1.2.3"}, apiv1.CodeHostNotAllowed},
		{"the wildcard's own name", apiv1.VerifyRequest{Key: k.Key, IP: "10.1.2.3", Host: "example.com"}, apiv1.CodeHostNotAllowed},
		{"a dot before the wildcard's suffix", apiv1.VerifyRequest{Key: k.Key, IP: "10.1.2.3", Host: ".example.com"}, apiv1.CodeHostNotAllowed},
		{"valid again, host with a port", apiv1.VerifyRequest{Key: k.Key, IP: "10.9.9.9", Host: "a.b.example.com:8443"}, apiv1.CodeValid},
		{"valid, ip with a port and a fully qualified host", apiv1.VerifyRequest{Key: k.Key, IP: "10.1.2.3:5555", Host: "api.example.com."}, apiv1.CodeValid},
		{"valid third", apiv1.VerifyRequest{Key: k.Key, IP: "10.1.2.3", Host: "API.example.com"}, apiv1.CodeValid},
		{"rate limited", apiv1.VerifyRequest{Key: k.Key, IP: "10.1.2.3", Host: "api.example.com"}, apiv1.CodeRateLimitExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := verifier.VerifyKey(ctx, tc.req)
			if err != nil || v.Code != tc.want || v.Valid != (tc.want == apiv1.CodeValid) {
				t.Fatalf("got %+v %v, want %s", v, err, tc.want)
			}
		})
	}
}

func testParallel(t *testing.T, e *env) {
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	created, conflicts := 0, 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := e.mgr.CreateKey(ctx, apiv1.CreateKeyRequest{Name: "same"})
			mu.Lock()
			defer mu.Unlock()
			switch c := code(t, err); c {
			case "":
				created++
				e.keys = append(e.keys, k.Key)
			case apiv1.CodeDuplicateName:
				conflicts++
			default:
				t.Errorf("unexpected %v", err)
			}
		}()
	}
	wg.Wait()
	if created != 1 || conflicts != 49 {
		t.Fatalf("%d created, %d conflicts; want 1 and 49", created, conflicts)
	}
	k := e.create(e.mgr, apiv1.CreateKeyRequest{Name: "victim"})
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res, err := e.mgr.RevokeKey(ctx, k.ID); err != nil || !res.Revoked {
				t.Errorf("revoke: %+v %v", res, err)
			}
		}()
	}
	wg.Wait()
}

func testKeyLimit(t *testing.T, e *env) {
	ctx := context.Background()
	w, err := e.admin.CreateWorkspace(ctx, apiv1.CreateWorkspaceRequest{Name: "small", KeyLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.create(e.admin, apiv1.CreateKeyRequest{WorkspaceID: w.ID, Name: "one"})
	if _, err := e.admin.CreateKey(ctx, apiv1.CreateKeyRequest{WorkspaceID: w.ID, Name: "two"}); code(t, err) != apiv1.CodeKeyLimitReached {
		t.Fatalf("over the limit: %v", err)
	}
}

// raw sends a request without the client, for what the client would never send.
func (e *env) raw(method, path, token, body string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func getRaw(t *testing.T, e *env, path, token string) string {
	t.Helper()
	resp := e.raw(http.MethodGet, path, token, "")
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

// readError checks an error answer's status and shape and returns its body.
func readError(t *testing.T, resp *http.Response, status int, wantCode string) string {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, b)
	}
	var eb apiv1.ErrorBody
	if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Code != wantCode || eb.Error.Type == "" || eb.Error.Message == "" {
		t.Fatalf("body %s, want code %s in the error shape", b, wantCode)
	}
	if status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("401 without WWW-Authenticate")
	}
	return string(b)
}
