package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keyplane/keyplane/controlplane/store"
)

// ListChanges returns up to limit changes of the workspace after sequence number after, in order.
func (s *Store) ListChanges(ctx context.Context, workspaceID string, after int64, limit int) ([]store.Change, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT workspace_id, seq, kind, key_id, key_hash, at FROM changes
		WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`), workspaceID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list changes: %w", err)
	}
	defer rows.Close()
	out := []store.Change{}
	for rows.Next() {
		var c store.Change
		var at int64
		if err := rows.Scan(&c.WorkspaceID, &c.Seq, &c.Kind, &c.KeyID, &c.KeyHash, &at); err != nil {
			return nil, err
		}
		c.At = fromMicros(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// LatestVersion is the sequence number of the workspace's newest change.
func (s *Store) LatestVersion(ctx context.Context, workspaceID string) (int64, error) {
	var v int64
	err := s.r.QueryRowContext(ctx, s.q(`SELECT version FROM workspaces WHERE id = $1`), workspaceID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("workspace %s: %w", workspaceID, store.ErrNotFound)
	}
	return v, err
}
