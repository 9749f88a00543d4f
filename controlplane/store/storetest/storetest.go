// Package storetest is the contract every store.DataStore must meet. Each implementation's tests
// call Run with a function that opens a fresh, empty store.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyplane/keyplane/controlplane/store"
)

// Opener returns a fresh, empty store; the suite closes it.
type Opener func(t *testing.T) store.DataStore

// Run runs the whole contract against stores made by open.
func Run(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, f *fixture)
	}{
		{"workspaces", testWorkspaces},
		{"create and get", testCreateGet},
		{"duplicate name", testDuplicateName},
		{"key limit", testKeyLimit},
		{"isolation", testIsolation},
		{"list filters and pages", testList},
		{"update", testUpdate},
		{"revoke", testRevoke},
		{"rotate with grace", testRotateGrace},
		{"rotate now", testRotateNow},
		{"change log", testChangeLog},
		{"parallel creates of one name", testParallelCreate},
		{"parallel revokes of one key", testParallelRevoke},
		{"watch", testWatch},
		{"active keys", testActiveKeys},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, &fixture{s: s, ctx: context.Background(), now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
		})
	}
}

type fixture struct {
	s   store.DataStore
	ctx context.Context
	now time.Time
	n   int
}

func (f *fixture) workspace(t *testing.T, name string, limit int) store.Workspace {
	t.Helper()
	w, err := f.s.CreateWorkspace(f.ctx, store.Workspace{ID: "ws_" + name, Name: name, KeyPrefix: "kp", KeyLimit: limit, CreatedAt: f.now})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// newKey returns an unsaved key; each call gets a distinct id and hash.
func (f *fixture) newKey(ws, name string) store.Key {
	f.n++
	h := sha256.Sum256([]byte(fmt.Sprintf("key-%d-%s", f.n, name)))
	at := f.now.Add(time.Duration(f.n) * time.Second)
	return store.Key{
		ID: fmt.Sprintf("key_%04d", f.n), WorkspaceID: ws, Hash: h[:], Prefix: "kp_live_abcd", Name: name,
		Type: store.TypeGeneric, Environment: "live", Scopes: []string{"events:write"}, Enabled: true,
		Restrictions: store.Restrictions{AllowedCIDRs: []string{}, AllowedHosts: []string{}},
		CreatedAt:    at, UpdatedAt: at,
	}
}

func (f *fixture) create(t *testing.T, ws, name string) store.Key {
	t.Helper()
	k, err := f.s.CreateKey(f.ctx, f.newKey(ws, name))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func testWorkspaces(t *testing.T, f *fixture) {
	rl := &store.RateLimit{Limit: 10, WindowSeconds: 1}
	w, err := f.s.CreateWorkspace(f.ctx, store.Workspace{ID: "ws_a", Name: "a", KeyPrefix: "acme", KeyLimit: 5, DefaultRateLimit: rl, CreatedAt: f.now})
	if err != nil {
		t.Fatal(err)
	}
	if w.KeyPrefix != "acme" || w.KeyLimit != 5 || *w.DefaultRateLimit != *rl || !w.CreatedAt.Equal(f.now) {
		t.Fatalf("got %+v", w)
	}
	_, err = f.s.CreateWorkspace(f.ctx, store.Workspace{ID: "ws_b", Name: "a", KeyPrefix: "kp", KeyLimit: 5, CreatedAt: f.now})
	wantErr(t, err, store.ErrDuplicateName)
	_, err = f.s.GetWorkspace(f.ctx, "ws_missing")
	wantErr(t, err, store.ErrNotFound)
	f.workspace(t, "b", 1)
	all, err := f.s.ListWorkspaces(f.ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("list = %v, %v", all, err)
	}
	if err := f.s.Ping(f.ctx); err != nil {
		t.Fatal(err)
	}
}

func testCreateGet(t *testing.T, f *fixture) {
	f.workspace(t, "a", 10)
	in := f.newKey("ws_a", "prod")
	exp := f.now.Add(time.Hour)
	in.ExpiresAt = &exp
	in.Metadata = []byte(`{"team":"billing"}`)
	in.ExternalID = "user_42"
	in.RateLimit = &store.RateLimit{Limit: 100, WindowSeconds: 60}
	in.Restrictions = store.Restrictions{AllowedCIDRs: []string{"10.0.0.0/8"}, AllowedHosts: []string{"api.example.com"}}
	k, err := f.s.CreateKey(f.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []func() (store.Key, error){
		func() (store.Key, error) { return k, nil },
		func() (store.Key, error) { return f.s.GetKey(f.ctx, "ws_a", in.ID) },
		func() (store.Key, error) { return f.s.GetKeyByHash(f.ctx, in.Hash) },
		func() (store.Key, error) { return f.s.GetKeyByID(f.ctx, in.ID) },
		func() (store.Key, error) { return f.s.GetActiveKeyByName(f.ctx, "ws_a", "prod") },
	} {
		g, err := got()
		if err != nil {
			t.Fatal(err)
		}
		if g.ID != in.ID || g.Name != "prod" || string(g.Hash) != string(in.Hash) || !g.ExpiresAt.Equal(exp) ||
			string(g.Metadata) != `{"team":"billing"}` || g.ExternalID != "user_42" || *g.RateLimit != *in.RateLimit ||
			g.Restrictions.AllowedCIDRs[0] != "10.0.0.0/8" || g.Restrictions.AllowedHosts[0] != "api.example.com" ||
			!g.Enabled || !g.CreatedAt.Equal(in.CreatedAt) || g.RevokedAt != nil || !g.Active() {
			t.Fatalf("got %+v", g)
		}
	}
	_, err = f.s.GetKeyByHash(f.ctx, []byte("nope"))
	wantErr(t, err, store.ErrNotFound)
	_, err = f.s.GetKeyByID(f.ctx, "key_missing")
	wantErr(t, err, store.ErrNotFound)
}

func testDuplicateName(t *testing.T, f *fixture) {
	f.workspace(t, "a", 10)
	k := f.create(t, "ws_a", "prod")
	_, err := f.s.CreateKey(f.ctx, f.newKey("ws_a", "prod"))
	wantErr(t, err, store.ErrDuplicateName)
	// A revoked key frees its name.
	if _, err := f.s.RevokeKey(f.ctx, "ws_a", k.ID, f.now); err != nil {
		t.Fatal(err)
	}
	f.create(t, "ws_a", "prod")
	// Renaming onto a taken name is refused too.
	other := f.create(t, "ws_a", "other")
	name := "prod"
	_, err = f.s.UpdateKey(f.ctx, "ws_a", other.ID, store.KeyUpdate{Name: &name, At: f.now})
	wantErr(t, err, store.ErrDuplicateName)
}

func testKeyLimit(t *testing.T, f *fixture) {
	f.workspace(t, "a", 2)
	k := f.create(t, "ws_a", "one")
	f.create(t, "ws_a", "two")
	_, err := f.s.CreateKey(f.ctx, f.newKey("ws_a", "three"))
	wantErr(t, err, store.ErrKeyLimitReached)
	if _, err := f.s.RevokeKey(f.ctx, "ws_a", k.ID, f.now); err != nil {
		t.Fatal(err)
	}
	f.create(t, "ws_a", "three")
	_, err = f.s.CreateKey(f.ctx, f.newKey("ws_missing", "x"))
	wantErr(t, err, store.ErrNotFound)
}

func testIsolation(t *testing.T, f *fixture) {
	f.workspace(t, "a", 10)
	f.workspace(t, "b", 10)
	k := f.create(t, "ws_a", "prod")
	f.create(t, "ws_b", "prod") // names are per workspace
	_, err := f.s.GetKey(f.ctx, "ws_b", k.ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = f.s.RevokeKey(f.ctx, "ws_b", k.ID, f.now)
	wantErr(t, err, store.ErrNotFound)
	name := "x"
	_, err = f.s.UpdateKey(f.ctx, "ws_b", k.ID, store.KeyUpdate{Name: &name, At: f.now})
	wantErr(t, err, store.ErrNotFound)
	_, _, err = f.s.RotateKey(f.ctx, "ws_b", k.ID, f.newKey("ws_b", "y"), f.now)
	wantErr(t, err, store.ErrNotFound)
	list, err := f.s.ListKeys(f.ctx, store.KeyFilter{WorkspaceID: "ws_b"})
	if err != nil || len(list) != 1 || list[0].WorkspaceID != "ws_b" {
		t.Fatalf("list = %+v, %v", list, err)
	}
}

func testList(t *testing.T, f *fixture) {
	f.workspace(t, "a", 100)
	var ids []string
	for i := 0; i < 7; i++ {
		k := f.newKey("ws_a", fmt.Sprintf("k%d", i))
		if i%2 == 1 {
			k.Type = store.TypeAWS
			k.Environment = "test"
		}
		if _, err := f.s.CreateKey(f.ctx, k); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, k.ID)
	}
	if _, err := f.s.RevokeKey(f.ctx, "ws_a", ids[0], f.now); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    store.KeyFilter
		want int
	}{
		{"active", store.KeyFilter{}, 6},
		{"with revoked", store.KeyFilter{IncludeRevoked: true}, 7},
		{"by type", store.KeyFilter{Type: store.TypeAWS}, 3},
		{"by environment", store.KeyFilter{Environment: "live"}, 3},
		{"by name", store.KeyFilter{Name: "k3"}, 1},
		{"no match", store.KeyFilter{Name: "zzz"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.WorkspaceID = "ws_a"
			got, err := f.s.ListKeys(f.ctx, tc.f)
			if err != nil || len(got) != tc.want {
				t.Fatalf("got %d keys, %v; want %d", len(got), err, tc.want)
			}
		})
	}
	// Pages of 2 walk every key exactly once, in creation order.
	var seen []string
	flt := store.KeyFilter{WorkspaceID: "ws_a", IncludeRevoked: true, Limit: 2}
	for {
		page, err := f.s.ListKeys(f.ctx, flt)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, k := range page {
			seen = append(seen, k.ID)
		}
		last := page[len(page)-1]
		flt.AfterCreatedAt, flt.AfterID = last.CreatedAt, last.ID
	}
	if fmt.Sprint(seen) != fmt.Sprint(ids) {
		t.Fatalf("pages %v, want %v", seen, ids)
	}
}

func testUpdate(t *testing.T, f *fixture) {
	f.workspace(t, "a", 10)
	k := f.create(t, "ws_a", "prod")
	name, scopes, meta, ext, off := "renamed", []string{"a:b", "c:d"}, []byte(`{"x":1}`), "ext", false
	exp := f.now.Add(48 * time.Hour)
	rl := store.RateLimit{Limit: 5, WindowSeconds: 10}
	at := f.now.Add(time.Hour)
	got, err := f.s.UpdateKey(f.ctx, "ws_a", k.ID, store.KeyUpdate{
		Name: &name, Scopes: &scopes, Metadata: &meta, ExternalID: &ext, ExpiresAt: &exp, Enabled: &off,
		Restrictions: &store.Restrictions{AllowedCIDRs: []string{"127.0.0.1/32"}}, RateLimit: &rl, At: at,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != name || fmt.Sprint(got.Scopes) != fmt.Sprint(scopes) || string(got.Metadata) != `{"x":1}` ||
		got.ExternalID != ext || !got.ExpiresAt.Equal(exp) || got.Enabled || got.Restrictions.AllowedCIDRs[0] != "127.0.0.1/32" ||
		len(got.Restrictions.AllowedHosts) != 0 || *got.RateLimit != rl || !got.UpdatedAt.Equal(at) || !got.CreatedAt.Equal(k.CreatedAt) {
		t.Fatalf("got %+v", got)
	}
	got, err = f.s.UpdateKey(f.ctx, "ws_a", k.ID, store.KeyUpdate{ClearExpiry: true, ClearRateLimit: true, At: at})
	if err != nil || got.ExpiresAt != nil || got.RateLimit != nil || got.Name != name {
		t.Fatalf("clear: %+v, %v", got, err)
	}
	if _, err := f.s.RevokeKey(f.ctx, "ws_a", k.ID, at); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.UpdateKey(f.ctx, "ws_a", k.ID, store.KeyUpdate{Name: &name, At: at})
	wantErr(t, err, store.ErrAlreadyRevoked)
	_, err = f.s.UpdateKey(f.ctx, "ws_a", "key_missing", store.KeyUpdate{Name: &name, At: at})
	wantErr(t, err, store.ErrNotFound)
}

func testRevoke(t *testing.T, f *fixture) {
	f.workspace(t, "a", 10)
	k := f.create(t, "ws_a", "prod")
	at := f.now.Add(time.Minute)
	got, err := f.s.RevokeKey(f.ctx, "ws_a", k.ID, at)
	if err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(at) || got.Active() {
		t.Fatalf("revoke: %+v, %v", got, err)
	}
	again, err := f.s.RevokeKey(f.ctx, "ws_a", k.ID, at.Add(time.Minute))
	wantErr(t, err, store.ErrAlreadyRevoked)
	if again.ID != k.ID || !again.RevokedAt.Equal(at) {
		t.Fatalf("second revoke changed the key: %+v", again)
	}
	_, err = f.s.RevokeKey(f.ctx, "ws_a", "key_missing", at)
	wantErr(t, err, store.ErrNotFound)
	_, err = f.s.GetActiveKeyByName(f.ctx, "ws_a", "prod")
	wantErr(t, err, store.ErrNotFound)
	byHash, err := f.s.GetKeyByHash(f.ctx, k.Hash)
	if err != nil || byHash.RevokedAt == nil {
		t.Fatalf("a revoked key must still be found by hash, to say why it fails: %+v %v", byHash, err)
	}
}

func testRotateGrace(t *testing.T, f *fixture) {
	f.workspace(t, "a", 1) // rotation must not count against the limit
	old := f.create(t, "ws_a", "prod")
	next := f.newKey("ws_a", "prod")
	next.LastRotatedAt = &next.CreatedAt
	until := next.CreatedAt.Add(time.Hour)
	o, n, err := f.s.RotateKey(f.ctx, "ws_a", old.ID, next, until)
	if err != nil {
		t.Fatal(err)
	}
	if o.ReplacedBy != next.ID || o.RevokedAt != nil || !o.ExpiresAt.Equal(until) || o.Active() {
		t.Fatalf("old %+v", o)
	}
	if n.Name != "prod" || !n.Active() || n.LastRotatedAt == nil {
		t.Fatalf("new %+v", n)
	}
	byName, err := f.s.GetActiveKeyByName(f.ctx, "ws_a", "prod")
	if err != nil || byName.ID != next.ID {
		t.Fatalf("name now belongs to %+v, %v", byName, err)
	}
	_, _, err = f.s.RotateKey(f.ctx, "ws_a", old.ID, f.newKey("ws_a", "prod"), until)
	wantErr(t, err, store.ErrAlreadyRevoked)
}

func testRotateNow(t *testing.T, f *fixture) {
	f.workspace(t, "a", 10)
	old := f.create(t, "ws_a", "prod")
	next := f.newKey("ws_a", "prod")
	o, _, err := f.s.RotateKey(f.ctx, "ws_a", old.ID, next, next.CreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	if o.RevokedAt == nil || !o.RevokedAt.Equal(next.CreatedAt) {
		t.Fatalf("old key must be revoked at once: %+v", o)
	}
	ch, err := f.s.ListChanges(f.ctx, "ws_a", 1, 10)
	if err != nil || len(ch) != 2 || ch[0].Kind != store.ChangeRevoke || ch[1].Kind != store.ChangeCreate {
		t.Fatalf("changes %+v %v", ch, err)
	}
}

func testChangeLog(t *testing.T, f *fixture) {
	f.workspace(t, "a", 10)
	f.workspace(t, "b", 10)
	k := f.create(t, "ws_a", "one")
	f.create(t, "ws_b", "other") // another workspace's log is separate
	off := false
	if _, err := f.s.UpdateKey(f.ctx, "ws_a", k.ID, store.KeyUpdate{Enabled: &off, At: f.now}); err != nil {
		t.Fatal(err)
	}
	next := f.newKey("ws_a", "one")
	if _, _, err := f.s.RotateKey(f.ctx, "ws_a", k.ID, next, next.CreatedAt.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.RevokeKey(f.ctx, "ws_a", next.ID, f.now); err != nil {
		t.Fatal(err)
	}
	_, _ = f.s.RevokeKey(f.ctx, "ws_a", next.ID, f.now) // already revoked: logs nothing
	all, err := f.s.ListChanges(f.ctx, "ws_a", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind, id string
	}{{store.ChangeCreate, k.ID}, {store.ChangeUpdate, k.ID}, {store.ChangeRotate, k.ID}, {store.ChangeCreate, next.ID}, {store.ChangeRevoke, next.ID}}
	if len(all) != len(want) {
		t.Fatalf("changes %+v", all)
	}
	for i, c := range all {
		if c.Seq != int64(i+1) || c.Kind != want[i].kind || c.KeyID != want[i].id || c.WorkspaceID != "ws_a" || len(c.KeyHash) != 32 {
			t.Fatalf("change %d = %+v, want seq %d %+v", i, c, i+1, want[i])
		}
	}
	tail, err := f.s.ListChanges(f.ctx, "ws_a", 3, 1)
	if err != nil || len(tail) != 1 || tail[0].Seq != 4 {
		t.Fatalf("tail %+v %v", tail, err)
	}
	if v, err := f.s.LatestVersion(f.ctx, "ws_a"); err != nil || v != 5 {
		t.Fatalf("version %d %v", v, err)
	}
	if v, err := f.s.LatestVersion(f.ctx, "ws_b"); err != nil || v != 1 {
		t.Fatalf("version b %d %v", v, err)
	}
	_, err = f.s.LatestVersion(f.ctx, "ws_missing")
	wantErr(t, err, store.ErrNotFound)
}

func testParallelCreate(t *testing.T, f *fixture) {
	f.workspace(t, "a", 1000)
	keys := make([]store.Key, 50)
	for i := range keys {
		keys[i] = f.newKey("ws_a", "same")
	}
	var wg sync.WaitGroup
	errs := make([]error, len(keys))
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.s.CreateKey(f.ctx, keys[i])
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrDuplicateName):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d creates succeeded, want exactly 1", ok)
	}
	if v, _ := f.s.LatestVersion(f.ctx, "ws_a"); v != 1 {
		t.Fatalf("version %d: failed creates must not log changes", v)
	}
}

func testParallelRevoke(t *testing.T, f *fixture) {
	f.workspace(t, "a", 10)
	k := f.create(t, "ws_a", "prod")
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.s.RevokeKey(f.ctx, "ws_a", k.ID, f.now)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrAlreadyRevoked):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d revokes did the revoking, want 1", ok)
	}
	ch, err := f.s.ListChanges(f.ctx, "ws_a", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	revokes := 0
	for _, c := range ch {
		if c.Kind == store.ChangeRevoke {
			revokes++
		}
	}
	if revokes != 1 {
		t.Fatalf("change log holds %d revocations, want 1", revokes)
	}
}

// WaitForVersion returns a channel that receives once a Watch notice for workspace reaches version.
func WaitForVersion(s store.DataStore, workspace string, version int64) <-chan struct{} {
	ch := make(chan struct{})
	var once sync.Once
	s.Watch(func(ws string, v int64) {
		if ws == workspace && v >= version {
			once.Do(func() { close(ch) })
		}
	})
	return ch
}

func testWatch(t *testing.T, f *fixture) {
	f.workspace(t, "a", 10)
	created := WaitForVersion(f.s, "ws_a", 1)
	k := f.create(t, "ws_a", "one")
	select {
	case <-created:
	case <-time.After(5 * time.Second):
		t.Fatal("no notice of the create within 5 s")
	}
	revoked := WaitForVersion(f.s, "ws_a", 2)
	if _, err := f.s.RevokeKey(f.ctx, "ws_a", k.ID, f.now); err != nil {
		t.Fatal(err)
	}
	select {
	case <-revoked:
	case <-time.After(5 * time.Second):
		t.Fatal("no notice of the revoke within 5 s")
	}
}

func testActiveKeys(t *testing.T, f *fixture) {
	f.workspace(t, "a", 10)
	f.workspace(t, "b", 10)
	a := f.create(t, "ws_a", "one")
	b := f.create(t, "ws_a", "two")
	f.create(t, "ws_b", "elsewhere")
	if _, err := f.s.RevokeKey(f.ctx, "ws_a", a.ID, f.now); err != nil {
		t.Fatal(err)
	}
	next := f.newKey("ws_a", "two")
	if _, _, err := f.s.RotateKey(f.ctx, "ws_a", b.ID, next, next.CreatedAt.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	v, keys, err := f.s.ActiveKeys(f.ctx, "ws_a")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, k := range keys {
		got[k.ID] = true
		if len(k.Hash) != 32 || k.Scopes == nil || k.Restrictions.AllowedCIDRs == nil {
			t.Fatalf("incomplete key %+v", k)
		}
	}
	// the revoked key is gone; the rotated-out key stays for its grace period, beside its successor
	if v != 5 || len(keys) != 2 || !got[b.ID] || !got[next.ID] {
		t.Fatalf("version %d keys %v", v, got)
	}
	_, _, err = f.s.ActiveKeys(f.ctx, "ws_missing")
	wantErr(t, err, store.ErrNotFound)
}
