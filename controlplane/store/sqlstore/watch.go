package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Watch registers fn to be called after every committed change with the workspace and its new
// version: for SQLite, changes made through this Store; for PostgreSQL, changes committed by any
// replica (LISTEN/NOTIFY). fn must not block.
func (s *Store) Watch(fn func(workspaceID string, version int64)) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	s.watchers = append(s.watchers, fn)
}

func (s *Store) fire(workspaceID string, version int64) {
	s.watchMu.Lock()
	ws := s.watchers
	s.watchMu.Unlock()
	for _, fn := range ws {
		fn(workspaceID, version)
	}
}

// committed is called after a mutation commits: this replica's watchers learn of it at once
// (read-your-writes for its caches). With PostgreSQL the NOTIFY tells every replica, this one
// again; watchers take repeated notices in their stride.
func (s *Store) committed(workspaceID string, version int64) { s.fire(workspaceID, version) }

// listen holds one connection that LISTENs for changes until ctx ends, reconnecting with backoff.
// After a reconnect it cannot know what it missed, so it fires version 0 for workspace "", which
// watchers take as "re-read everything".
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN keyplane_changes")
		}
		if err == nil {
			backoff = 100 * time.Millisecond
			s.fire("", 0)
			for {
				n, werr := conn.WaitForNotification(ctx)
				if werr != nil {
					break
				}
				ws, v, ok := strings.Cut(n.Payload, " ")
				version, perr := strconv.ParseInt(v, 10, 64)
				if ok && perr == nil {
					s.fire(ws, version)
				}
			}
		}
		if conn != nil {
			conn.Close(context.Background())
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
