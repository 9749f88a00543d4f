package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyplane/keyplane/controlplane/store"
)

const keyColumns = `id, workspace_id, hash, prefix, name, type, environment, scopes, external_id, metadata,
	restrictions, rate_limit, rate_window_seconds, enabled, expires_at, created_at, updated_at,
	last_rotated_at, revoked_at, replaced_by`

// CreateKey stores k after checking the workspace's key limit under the workspace lock.
func (s *Store) CreateKey(ctx context.Context, k store.Key) (store.Key, error) {
	k.Scopes, k.Restrictions = nonNil(k.Scopes), normRestrictions(k.Restrictions)
	var seq int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Insert first: a duplicate name fails here without ever taking the workspace lock.
		if err := s.insertKey(ctx, tx, k); err != nil {
			return err
		}
		var err error
		if seq, err = bump(ctx, s, tx, k.WorkspaceID, 1, 1); err != nil {
			return err
		}
		return s.logChange(ctx, tx, store.Change{WorkspaceID: k.WorkspaceID, Seq: seq, Kind: store.ChangeCreate, KeyID: k.ID, KeyHash: k.Hash, At: k.CreatedAt})
	})
	if err != nil {
		return store.Key{}, fmt.Errorf("create key: %w", err)
	}
	s.committed(k.WorkspaceID, seq)
	return k, nil
}

func (s *Store) insertKey(ctx context.Context, tx *sql.Tx, k store.Key) error {
	scopes, err := jsonText(nonNil(k.Scopes))
	if err != nil {
		return err
	}
	restr, err := jsonText(normRestrictions(k.Restrictions))
	if err != nil {
		return err
	}
	limit, window := rateArgs(k.RateLimit)
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO api_keys (`+keyColumns+`) VALUES
		($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`),
		k.ID, k.WorkspaceID, k.Hash, k.Prefix, k.Name, k.Type, k.Environment, scopes, k.ExternalID, nullText(k.Metadata),
		restr, limit, window, k.Enabled, nullMicros(k.ExpiresAt), micros(k.CreatedAt), micros(k.UpdatedAt),
		nullMicros(k.LastRotatedAt), nullMicros(k.RevokedAt), sql.NullString{String: k.ReplacedBy, Valid: k.ReplacedBy != ""})
	if err != nil && s.d.isForeignKey(err) {
		return fmt.Errorf("workspace %s: %w", k.WorkspaceID, store.ErrNotFound)
	}
	return s.constraint(err, fmt.Errorf("name %q: %w", k.Name, store.ErrDuplicateName))
}

func (s *Store) logChange(ctx context.Context, tx *sql.Tx, c store.Change) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO changes (workspace_id, seq, kind, key_id, key_hash, at) VALUES ($1, $2, $3, $4, $5, $6)`),
		c.WorkspaceID, c.Seq, c.Kind, c.KeyID, c.KeyHash, micros(c.At))
	return err
}

// GetKey finds a key of the workspace by id; another workspace's key is not found.
func (s *Store) GetKey(ctx context.Context, workspaceID, id string) (store.Key, error) {
	return s.getKey(ctx, s.r, `workspace_id = $1 AND id = $2`, workspaceID, id)
}

// GetKeyByID finds a key of any workspace by id.
func (s *Store) GetKeyByID(ctx context.Context, id string) (store.Key, error) {
	return s.getKey(ctx, s.r, `id = $1`, id)
}

// GetKeyByHash finds a key in any state by its hash.
func (s *Store) GetKeyByHash(ctx context.Context, hash []byte) (store.Key, error) {
	return s.getKey(ctx, s.r, `hash = $1`, hash)
}

// GetActiveKeyByName finds the workspace's active key called name.
func (s *Store) GetActiveKeyByName(ctx context.Context, workspaceID, name string) (store.Key, error) {
	return s.getKey(ctx, s.r, `workspace_id = $1 AND name = $2 AND revoked_at IS NULL AND replaced_by IS NULL`, workspaceID, name)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) getKey(ctx context.Context, db querier, where string, args ...any) (store.Key, error) {
	k, err := scanKey(db.QueryRowContext(ctx, s.q(`SELECT `+keyColumns+` FROM api_keys WHERE `+where), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return k, fmt.Errorf("key: %w", store.ErrNotFound)
	}
	return k, err
}

// ListKeys returns up to f.Limit keys in (created_at, id) order after the cursor.
func (s *Store) ListKeys(ctx context.Context, f store.KeyFilter) ([]store.Key, error) {
	where := []string{`workspace_id = $1`}
	args := []any{f.WorkspaceID}
	add := func(cond string, v ...any) {
		for _, a := range v {
			args = append(args, a)
			cond = strings.Replace(cond, "$?", "$"+strconv.Itoa(len(args)), 1)
		}
		where = append(where, cond)
	}
	if f.Type != "" {
		add(`type = $?`, f.Type)
	}
	if f.Environment != "" {
		add(`environment = $?`, f.Environment)
	}
	if f.Name != "" {
		add(`name = $?`, f.Name)
	}
	if !f.IncludeRevoked {
		add(`revoked_at IS NULL`)
	}
	if f.AfterID != "" {
		c := micros(f.AfterCreatedAt)
		add(`(created_at > $? OR (created_at = $? AND id > $?))`, c, c, f.AfterID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+keyColumns+` FROM api_keys WHERE `+strings.Join(where, " AND ")+
		` ORDER BY created_at, id LIMIT `+strconv.Itoa(limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	out := []store.Key{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// UpdateKey applies u to an unrevoked key and logs the change.
func (s *Store) UpdateKey(ctx context.Context, workspaceID, id string, u store.KeyUpdate) (store.Key, error) {
	var seq int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		seq, err = bump(ctx, s, tx, workspaceID, 1, 0)
		if err != nil {
			return err
		}
		k, err := s.getKey(ctx, tx, `workspace_id = $1 AND id = $2`, workspaceID, id)
		if err != nil {
			return err
		}
		if k.RevokedAt != nil {
			return fmt.Errorf("key %s: %w", id, store.ErrAlreadyRevoked)
		}
		applyUpdate(&k, u)
		scopes, err := jsonText(nonNil(k.Scopes))
		if err != nil {
			return err
		}
		restr, err := jsonText(normRestrictions(k.Restrictions))
		if err != nil {
			return err
		}
		limit, window := rateArgs(k.RateLimit)
		_, err = tx.ExecContext(ctx, s.q(`UPDATE api_keys SET name = $1, scopes = $2, metadata = $3, external_id = $4,
			expires_at = $5, restrictions = $6, rate_limit = $7, rate_window_seconds = $8, enabled = $9, updated_at = $10
			WHERE id = $11`),
			k.Name, scopes, nullText(k.Metadata), k.ExternalID, nullMicros(k.ExpiresAt), restr, limit, window, k.Enabled,
			micros(k.UpdatedAt), id)
		if err != nil {
			return s.constraint(err, fmt.Errorf("name %q: %w", k.Name, store.ErrDuplicateName))
		}
		return s.logChange(ctx, tx, store.Change{WorkspaceID: workspaceID, Seq: seq, Kind: store.ChangeUpdate, KeyID: id, KeyHash: k.Hash, At: u.At})
	})
	if err != nil {
		return store.Key{}, fmt.Errorf("update key: %w", err)
	}
	s.committed(workspaceID, seq)
	return s.GetKey(ctx, workspaceID, id)
}

func applyUpdate(k *store.Key, u store.KeyUpdate) {
	if u.Name != nil {
		k.Name = *u.Name
	}
	if u.Scopes != nil {
		k.Scopes = *u.Scopes
	}
	if u.Metadata != nil {
		k.Metadata = *u.Metadata
	}
	if u.ExternalID != nil {
		k.ExternalID = *u.ExternalID
	}
	if u.ClearExpiry {
		k.ExpiresAt = nil
	}
	if u.ExpiresAt != nil {
		k.ExpiresAt = u.ExpiresAt
	}
	if u.Restrictions != nil {
		k.Restrictions = *u.Restrictions
	}
	if u.ClearRateLimit {
		k.RateLimit = nil
	}
	if u.RateLimit != nil {
		k.RateLimit = u.RateLimit
	}
	if u.Enabled != nil {
		k.Enabled = *u.Enabled
	}
	k.UpdatedAt = u.At
}

// RevokeKey revokes a key once; later calls report store.ErrAlreadyRevoked and write nothing.
func (s *Store) RevokeKey(ctx context.Context, workspaceID, id string, at time.Time) (store.Key, error) {
	var seq int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Every mutation of an existing key takes the workspace lock before the key's, so they
		// never deadlock, and concurrent revokes queue here: the first revokes, the rest find the
		// key revoked and write nothing.
		var err error
		seq, err = bump(ctx, s, tx, workspaceID, 1, 0)
		if err != nil {
			return err
		}
		k, err := s.getKey(ctx, tx, `workspace_id = $1 AND id = $2`, workspaceID, id)
		if err != nil {
			return err
		}
		if k.RevokedAt != nil {
			return store.ErrAlreadyRevoked // rolls back the version bump
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE api_keys SET revoked_at = $1, updated_at = $1 WHERE id = $2`), micros(at), id); err != nil {
			return err
		}
		if k.Active() {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE workspaces SET active_keys = active_keys - 1 WHERE id = $1`), workspaceID); err != nil {
				return err
			}
		}
		return s.logChange(ctx, tx, store.Change{WorkspaceID: workspaceID, Seq: seq, Kind: store.ChangeRevoke, KeyID: id, KeyHash: k.Hash, At: at})
	})
	k, gerr := s.GetKey(ctx, workspaceID, id)
	switch {
	case err == nil:
		s.committed(workspaceID, seq)
		return k, gerr
	case errors.Is(err, store.ErrAlreadyRevoked) && gerr != nil:
		return store.Key{}, fmt.Errorf("revoke key: %w", gerr)
	case errors.Is(err, store.ErrAlreadyRevoked):
		return k, fmt.Errorf("revoke key %s: %w", id, err)
	}
	return store.Key{}, fmt.Errorf("revoke key: %w", err)
}

// RotateKey replaces oldID with next; see store.Keys.
func (s *Store) RotateKey(ctx context.Context, workspaceID, oldID string, next store.Key, oldUntil time.Time) (store.Key, store.Key, error) {
	at := next.CreatedAt
	var seq int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		seq, err = bump(ctx, s, tx, workspaceID, 2, 0) // the successor replaces the old key in the count
		if err != nil {
			return err
		}
		old, err := s.getKey(ctx, tx, `workspace_id = $1 AND id = $2`, workspaceID, oldID)
		if err != nil {
			return err
		}
		if !old.Active() {
			return fmt.Errorf("key %s: %w", oldID, store.ErrAlreadyRevoked)
		}
		kind := store.ChangeRotate
		revokedAt := sql.NullInt64{}
		expires := nullMicros(old.ExpiresAt)
		if !oldUntil.After(at) {
			kind = store.ChangeRevoke
			revokedAt = sql.NullInt64{Int64: micros(at), Valid: true}
		} else if old.ExpiresAt == nil || oldUntil.Before(*old.ExpiresAt) {
			expires = nullMicros(&oldUntil)
		}
		// The old key gives up its name first, so the successor can take it under the unique index.
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE api_keys SET replaced_by = $1, revoked_at = $2, expires_at = $3, updated_at = $4
			WHERE id = $5`), next.ID, revokedAt, expires, micros(at), oldID); err != nil {
			return err
		}
		if err := s.insertKey(ctx, tx, next); err != nil {
			return err
		}
		if err := s.logChange(ctx, tx, store.Change{WorkspaceID: workspaceID, Seq: seq - 1, Kind: kind, KeyID: oldID, KeyHash: old.Hash, At: at}); err != nil {
			return err
		}
		return s.logChange(ctx, tx, store.Change{WorkspaceID: workspaceID, Seq: seq, Kind: store.ChangeCreate, KeyID: next.ID, KeyHash: next.Hash, At: at})
	})
	if err != nil {
		return store.Key{}, store.Key{}, fmt.Errorf("rotate key: %w", err)
	}
	s.committed(workspaceID, seq)
	old, err := s.GetKey(ctx, workspaceID, oldID)
	if err != nil {
		return store.Key{}, store.Key{}, err
	}
	created, err := s.GetKey(ctx, workspaceID, next.ID)
	return old, created, err
}

func scanKey(r scanner) (store.Key, error) {
	var k store.Key
	var scopes, restr string
	var metadata, replacedBy sql.NullString
	var limit, window, expires, rotated, revoked sql.NullInt64
	var created, updated int64
	err := r.Scan(&k.ID, &k.WorkspaceID, &k.Hash, &k.Prefix, &k.Name, &k.Type, &k.Environment, &scopes, &k.ExternalID,
		&metadata, &restr, &limit, &window, &k.Enabled, &expires, &created, &updated, &rotated, &revoked, &replacedBy)
	if err != nil {
		return store.Key{}, err
	}
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return store.Key{}, fmt.Errorf("key %s scopes: %w", k.ID, err)
	}
	if err := json.Unmarshal([]byte(restr), &k.Restrictions); err != nil {
		return store.Key{}, fmt.Errorf("key %s restrictions: %w", k.ID, err)
	}
	k.Restrictions = normRestrictions(k.Restrictions)
	if metadata.Valid {
		k.Metadata = []byte(metadata.String)
	}
	k.RateLimit = ratePtr(limit, window)
	k.ExpiresAt = timePtr(expires)
	k.CreatedAt = fromMicros(created)
	k.UpdatedAt = fromMicros(updated)
	k.LastRotatedAt = timePtr(rotated)
	k.RevokedAt = timePtr(revoked)
	k.ReplacedBy = replacedBy.String
	return k, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func normRestrictions(r store.Restrictions) store.Restrictions {
	return store.Restrictions{AllowedCIDRs: nonNil(r.AllowedCIDRs), AllowedHosts: nonNil(r.AllowedHosts)}
}
