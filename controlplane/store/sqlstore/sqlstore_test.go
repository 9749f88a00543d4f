package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyplane/keyplane/controlplane/store"
	"github.com/keyplane/keyplane/controlplane/store/sqlstore"
	"github.com/keyplane/keyplane/controlplane/store/storetest"
	"github.com/keyplane/keyplane/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.DataStore {
		return open(t, filepath.Join(t.TempDir(), "keyplane.db"))
	})
}

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.DataStore {
		return open(t, pgtest.NewDatabase(t))
	})
}

func open(t *testing.T, url string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMigrationsAreIdempotent(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "k.db") }},
		{"postgres", func(t *testing.T) string { return pgtest.NewDatabase(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url(t)
			s := open(t, url)
			ctx := context.Background()
			if _, err := s.CreateWorkspace(ctx, store.Workspace{ID: "ws_1", Name: "one", KeyPrefix: "kp", KeyLimit: 1}); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s = open(t, url) // reopening applies nothing twice and keeps the data
			defer s.Close()
			if _, err := s.GetWorkspace(ctx, "ws_1"); err != nil {
				t.Fatal(err)
			}
			if s.Dialect() != tc.name {
				t.Fatalf("dialect %s", s.Dialect())
			}
		})
	}
}

// TestPostgresReplicasWake checks that a change committed through one replica's store wakes the
// watchers of another replica on the same database (LISTEN/NOTIFY).
func TestPostgresReplicasWake(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	if _, err := a.CreateWorkspace(ctx, store.Workspace{ID: "ws_1", Name: "one", KeyPrefix: "kp", KeyLimit: 10}); err != nil {
		t.Fatal(err)
	}
	woke := storetest.WaitForVersion(b, "ws_1", 1)
	// b's listener connects in the background and notices sent before it listens are lost, so
	// keep committing changes until one wakes b.
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		h := make([]byte, 32)
		h[0] = byte(i)
		if _, err := a.CreateKey(ctx, store.Key{ID: fmt.Sprint("key_", i), WorkspaceID: "ws_1", Hash: h, Name: fmt.Sprint("k", i),
			Type: store.TypeGeneric, Environment: "live", Enabled: true}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-woke:
			return
		case <-deadline:
			t.Fatal("replica b was not told of replica a's changes within 5 s")
		case <-tick.C:
		}
	}
}
