// Package sqlstore implements store.DataStore with hand-written SQL over database/sql, for
// PostgreSQL (pgx) and an embedded SQLite file (modernc.org/sqlite, pure Go). The queries are
// shared; what differs per dialect (schema, placeholders, constraint errors, connection set-up)
// lives in postgres.go and sqlite.go.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/keyplane/keyplane/controlplane/store"
)

// dialect is what differs between the databases.
type dialect struct {
	name           string
	rebind         func(string) string // from $1 placeholders to the driver's
	isUnique       func(error) bool    // a unique-constraint violation
	isForeignKey   func(error) bool    // a foreign-key violation
	lockMigrations string              // statement that serializes migrations across replicas
	// snapshotIsolation makes a read transaction see one consistent state.
	snapshotIsolation sql.IsolationLevel
}

// Store is a store.DataStore on a SQL database.
type Store struct {
	d     dialect
	w     *sql.DB // writes (SQLite allows one writer: a pool of one connection)
	r     *sql.DB // reads (the same pool as w on PostgreSQL)
	close func() error

	watchMu  sync.Mutex
	watchers []func(workspaceID string, version int64)
}

// Open connects to url and applies pending migrations. A url starting with postgres:// or
// postgresql:// selects PostgreSQL; anything else is the path of a SQLite file.
func Open(ctx context.Context, url string) (*Store, error) {
	var s *Store
	var err error
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		s, err = openPostgres(ctx, url)
	} else {
		s, err = openSQLite(url)
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlstore: migrate %s: %w", s.d.name, err)
	}
	return s, nil
}

// Dialect names the database family: "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.d.name }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.r.PingContext(ctx) }

// Close releases the connections.
func (s *Store) Close() error { return s.close() }

func (s *Store) q(query string) string { return s.d.rebind(query) }

// tx runs fn in a write transaction, committing when it returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// constraint turns a unique violation into err, and leaves other errors alone.
func (s *Store) constraint(err, unique error) error {
	if err != nil && s.d.isUnique(err) {
		return unique
	}
	return err
}

// bump advances the workspace's version by n and its count of active keys by delta, under the
// workspace's row lock, and returns the new version. Every mutation calls it: the lock orders a
// workspace's changes, so sequence numbers are gap-free in commit order, and a positive delta
// that would pass the key limit changes nothing and fails with store.ErrKeyLimitReached.
// Mutations call it as late as they can, so the lock is held briefly.
func bump(ctx context.Context, s *Store, tx *sql.Tx, workspaceID string, n, delta int) (int64, error) {
	var version int64
	err := tx.QueryRowContext(ctx, s.q(`UPDATE workspaces SET version = version + $1, active_keys = active_keys + $2
		WHERE id = $3 AND ($2 <= 0 OR active_keys + $2 <= key_limit) RETURNING version`), n, delta, workspaceID).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		var limit int
		if tx.QueryRowContext(ctx, s.q(`SELECT key_limit FROM workspaces WHERE id = $1`), workspaceID).Scan(&limit) == nil {
			return 0, fmt.Errorf("workspace %s holds its limit of %d keys: %w", workspaceID, limit, store.ErrKeyLimitReached)
		}
		return 0, fmt.Errorf("workspace %s: %w", workspaceID, store.ErrNotFound)
	}
	return version, err
}
