package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

func openSQLite(path string) (*Store, error) {
	// WAL lets readers run beside the single writer; BEGIN IMMEDIATE takes the write lock at the
	// start of a transaction, so two writers never deadlock upgrading read locks.
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	readDSN := "file:" + path + "?" + q.Encode() // readers begin deferred: they never take the write lock
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: sqlite: %w", err)
	}
	w.SetMaxOpenConns(1) // SQLite has one writer at a time: queue in Go, not in busy retries
	r, err := sql.Open("sqlite", readDSN)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlstore: sqlite: %w", err)
	}
	r.SetMaxOpenConns(8)
	if err := w.Ping(); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlstore: sqlite %s: %w", path, err)
	}
	return &Store{
		d: dialect{
			name: "sqlite",
			// SQLite numbers parameters ?1, ?2 ...; the queries never hold '$' in literals.
			rebind: func(q string) string { return strings.ReplaceAll(q, "$", "?") },
			isForeignKey: func(err error) bool {
				var se *sqlite.Error
				return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
			},
			snapshotIsolation: sql.LevelDefault, // a read transaction under WAL already sees one snapshot
			isUnique: func(err error) bool {
				var se *sqlite.Error
				return errors.As(err, &se) &&
					(se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
			},
		},
		w: w,
		r: r,
		close: func() error {
			return errors.Join(r.Close(), w.Close())
		},
	}, nil
}
