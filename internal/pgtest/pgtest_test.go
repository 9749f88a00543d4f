package pgtest_test

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

func connect(t *testing.T, ctx context.Context, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func dbName(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", dsn, err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// Two databases from NewDatabase are real, separate and empty.
func TestNewDatabaseIsolated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	dsnA, dsnB := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	if dsnA == dsnB {
		t.Fatalf("NewDatabase returned the same DSN twice: %s", dsnA)
	}
	a, b := connect(t, ctx, dsnA), connect(t, ctx, dsnB)

	var version string
	if err := a.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(version, "PostgreSQL") {
		t.Fatalf("version() = %q, want it to mention PostgreSQL", version)
	}
	t.Logf("server: %s", version)

	for _, c := range []struct {
		conn *pgx.Conn
		dsn  string
	}{{a, dsnA}, {b, dsnB}} {
		var current string
		if err := c.conn.QueryRow(ctx, "SELECT current_database()").Scan(&current); err != nil {
			t.Fatal(err)
		}
		if want := dbName(t, c.dsn); current != want {
			t.Fatalf("connected to database %q, want %q", current, want)
		}
	}

	if _, err := a.Exec(ctx, "CREATE TABLE probe (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Exec(ctx, "INSERT INTO probe VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	exists := func(conn *pgx.Conn) bool {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT to_regclass('public.probe') IS NOT NULL").Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !exists(a) {
		t.Fatal("table probe missing in the database that created it")
	}
	if exists(b) {
		t.Fatal("table probe leaked into the other database")
	}
}

// The database is dropped when the test that asked for it finishes, even if
// the test left a connection open.
func TestNewDatabaseDroppedOnCleanup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	serverURL := pgtest.ServerURL(t) // first, so the test skips as a whole if there is no server

	var name string
	t.Run("user", func(t *testing.T) {
		dsn := pgtest.NewDatabase(t)
		name = dbName(t, dsn)
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn // deliberately left open: DROP ... WITH (FORCE) must cope
	})
	if name == "" {
		t.Fatal("subtest did not create a database")
	}

	admin := connect(t, ctx, serverURL)
	var n int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database %s still exists after its test finished", name)
	}
}
