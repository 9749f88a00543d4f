package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/keyplane/keyplane/controlplane/store"
)

// ActiveKeys reads the workspace version and its unrevoked keys in one read transaction.
// A million keys share few distinct scope and restriction lists, so their JSON is decoded once
// per distinct text rather than once per row.
func (s *Store) ActiveKeys(ctx context.Context, workspaceID string) (int64, []store.Key, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{Isolation: s.d.snapshotIsolation, ReadOnly: true})
	if err != nil {
		return 0, nil, err
	}
	defer tx.Rollback()
	var version int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT version FROM workspaces WHERE id = $1`), workspaceID).Scan(&version); err != nil {
		if err == sql.ErrNoRows {
			return 0, nil, fmt.Errorf("workspace %s: %w", workspaceID, store.ErrNotFound)
		}
		return 0, nil, err
	}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT id, hash, type, environment, scopes, restrictions, rate_limit,
		rate_window_seconds, enabled, expires_at FROM api_keys WHERE workspace_id = $1 AND revoked_at IS NULL`), workspaceID)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	scopeCache := map[string][]string{}
	restrCache := map[string]store.Restrictions{}
	var keys []store.Key
	for rows.Next() {
		var k store.Key
		var scopes, restr string
		var limit, window, expires sql.NullInt64
		if err := rows.Scan(&k.ID, &k.Hash, &k.Type, &k.Environment, &scopes, &restr, &limit, &window, &k.Enabled, &expires); err != nil {
			return 0, nil, err
		}
		sc, ok := scopeCache[scopes]
		if !ok {
			if err := json.Unmarshal([]byte(scopes), &sc); err != nil {
				return 0, nil, fmt.Errorf("key %s scopes: %w", k.ID, err)
			}
			scopeCache[scopes] = sc
		}
		r, ok := restrCache[restr]
		if !ok {
			if err := json.Unmarshal([]byte(restr), &r); err != nil {
				return 0, nil, fmt.Errorf("key %s restrictions: %w", k.ID, err)
			}
			r = normRestrictions(r)
			restrCache[restr] = r
		}
		k.WorkspaceID, k.Scopes, k.Restrictions = workspaceID, sc, r
		k.RateLimit, k.ExpiresAt = ratePtr(limit, window), timePtr(expires)
		keys = append(keys, k)
	}
	return version, keys, rows.Err()
}
