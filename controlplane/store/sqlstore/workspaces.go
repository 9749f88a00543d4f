package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keyplane/keyplane/controlplane/store"
)

const workspaceColumns = `id, name, key_prefix, key_limit, rate_limit, rate_window_seconds, created_at`

// CreateWorkspace stores w; a taken name is store.ErrDuplicateName.
func (s *Store) CreateWorkspace(ctx context.Context, w store.Workspace) (store.Workspace, error) {
	limit, window := rateArgs(w.DefaultRateLimit)
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO workspaces (`+workspaceColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`),
		w.ID, w.Name, w.KeyPrefix, w.KeyLimit, limit, window, micros(w.CreatedAt))
	if err != nil {
		return store.Workspace{}, fmt.Errorf("create workspace: %w", s.constraint(err, store.ErrDuplicateName))
	}
	return s.GetWorkspace(ctx, w.ID)
}

// GetWorkspace finds a workspace by id.
func (s *Store) GetWorkspace(ctx context.Context, id string) (store.Workspace, error) {
	w, err := scanWorkspace(s.r.QueryRowContext(ctx, s.q(`SELECT `+workspaceColumns+` FROM workspaces WHERE id = $1`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return w, fmt.Errorf("workspace %s: %w", id, store.ErrNotFound)
	}
	return w, err
}

// ListWorkspaces returns every workspace, oldest first.
func (s *Store) ListWorkspaces(ctx context.Context) ([]store.Workspace, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+workspaceColumns+` FROM workspaces ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Workspace
	for rows.Next() {
		w, err := scanWorkspace(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanWorkspace(r scanner) (store.Workspace, error) {
	var w store.Workspace
	var limit, window sql.NullInt64
	var created int64
	if err := r.Scan(&w.ID, &w.Name, &w.KeyPrefix, &w.KeyLimit, &limit, &window, &created); err != nil {
		return store.Workspace{}, err
	}
	w.DefaultRateLimit = ratePtr(limit, window)
	w.CreatedAt = fromMicros(created)
	return w, nil
}
