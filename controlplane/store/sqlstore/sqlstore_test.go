package sqlstore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

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
