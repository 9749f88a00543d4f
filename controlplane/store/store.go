// Package store defines what the control plane keeps: workspaces, API keys (hashed), and the
// ordered change log that edges learn from. One DataStore interface, grouped by entity, is
// implemented once per database family in sqlstore and checked by one contract suite (storetest).
//
// The store never reads the clock: every time arrives in the values it is given, so tests control
// time and two replicas agree on what "now" was for a change.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors the handlers map to HTTP. Implementations wrap them with %w.
var (
	ErrNotFound        = errors.New("not found")
	ErrDuplicateName   = errors.New("duplicate name")
	ErrKeyLimitReached = errors.New("key limit reached")
	ErrAlreadyRevoked  = errors.New("already revoked")
)

// DataStore is everything the control plane needs from a database.
type DataStore interface {
	Workspaces
	Keys
	Changes
	Ping(ctx context.Context) error
	Close() error
}

// Workspaces are the tenants: each has its own keys, prefix, limits and change log.
type Workspaces interface {
	CreateWorkspace(ctx context.Context, w Workspace) (Workspace, error)
	GetWorkspace(ctx context.Context, id string) (Workspace, error)
	ListWorkspaces(ctx context.Context) ([]Workspace, error)
}

// Keys is the key lifecycle. Every mutation appends to the workspace's change log in the same
// transaction and returns the key as stored.
type Keys interface {
	// CreateKey stores k. It fails with ErrDuplicateName when an active key of the workspace has
	// the name, and ErrKeyLimitReached when the workspace holds its maximum of active keys.
	CreateKey(ctx context.Context, k Key) (Key, error)
	GetKey(ctx context.Context, workspaceID, id string) (Key, error)
	// GetKeyByID finds a key in any workspace: for the admin, who belongs to none.
	GetKeyByID(ctx context.Context, id string) (Key, error)
	// GetKeyByHash finds a key in any state (revoked included) by the SHA-256 of the full key.
	GetKeyByHash(ctx context.Context, hash []byte) (Key, error)
	// GetActiveKeyByName finds the workspace's active key with that name.
	GetActiveKeyByName(ctx context.Context, workspaceID, name string) (Key, error)
	ListKeys(ctx context.Context, f KeyFilter) ([]Key, error)
	// ActiveKeys returns every unrevoked key of the workspace (rotated-out keys in their grace
	// period included) and the workspace version they are consistent with, read in one
	// transaction: what a full snapshot is built from.
	ActiveKeys(ctx context.Context, workspaceID string) (version int64, keys []Key, err error)
	UpdateKey(ctx context.Context, workspaceID, id string, u KeyUpdate) (Key, error)
	// RevokeKey makes the key invalid for good. Revoking a revoked key returns the key and
	// ErrAlreadyRevoked, and writes nothing.
	RevokeKey(ctx context.Context, workspaceID, id string, at time.Time) (Key, error)
	// RotateKey stores next as the successor of the key oldID, which stops being active (its name
	// passes to next) and stays valid until oldUntil, or is revoked at once when oldUntil is not
	// after next.CreatedAt.
	RotateKey(ctx context.Context, workspaceID, oldID string, next Key, oldUntil time.Time) (old, created Key, err error)
}

// Changes is the ordered log of what edges must learn: one entry per key mutation, numbered
// without gaps per workspace in commit order, so "everything after N" is a complete answer.
type Changes interface {
	ListChanges(ctx context.Context, workspaceID string, after int64, limit int) ([]Change, error)
	// LatestVersion is the sequence number of the workspace's newest change (0 for none).
	LatestVersion(ctx context.Context, workspaceID string) (int64, error)
	// Watch registers fn to be called after each committed change, with the workspace and its
	// new version, including changes committed by other replicas sharing the database. A call
	// with workspace "" and version 0 means notices may have been missed: re-read everything.
	// fn must not block.
	Watch(fn func(workspaceID string, version int64))
}

// Workspace is a tenant.
type Workspace struct {
	ID               string
	Name             string
	KeyPrefix        string
	KeyLimit         int
	DefaultRateLimit *RateLimit
	CreatedAt        time.Time
}

// Key types the vendors agree on.
const (
	TypeGeneric    = "GENERIC"
	TypeOnboarding = "ONBOARDING"
	TypeGCP        = "GCP"
	TypeAWS        = "AWS"
)

// Key is an API key as stored: never the key itself, only its hash and what is public about it.
type Key struct {
	ID            string
	WorkspaceID   string
	Hash          []byte // SHA-256 of the full key
	Prefix        string // display prefix such as kp_live_4f9Q
	Name          string
	Type          string
	Environment   string
	Scopes        []string
	ExternalID    string
	Metadata      []byte // a JSON object, or nil
	Restrictions  Restrictions
	RateLimit     *RateLimit
	Enabled       bool
	ExpiresAt     *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	LastRotatedAt *time.Time
	RevokedAt     *time.Time
	ReplacedBy    string // the successor's id after a rotation
}

// Active reports whether the key still counts against the workspace: neither revoked nor replaced.
func (k Key) Active() bool { return k.RevokedAt == nil && k.ReplacedBy == "" }

// Restrictions limit where a key may be used. Empty lists mean anywhere.
type Restrictions struct {
	AllowedCIDRs []string `json:"allowed_cidrs"`
	AllowedHosts []string `json:"allowed_hosts"`
}

// RateLimit is Limit requests per WindowSeconds.
type RateLimit struct {
	Limit         int `json:"limit"`
	WindowSeconds int `json:"window_seconds"`
}

// KeyFilter selects keys for ListKeys, in (CreatedAt, ID) order after the cursor.
type KeyFilter struct {
	WorkspaceID    string
	Type           string
	Environment    string
	Name           string
	IncludeRevoked bool
	AfterCreatedAt time.Time // cursor: both zero for the first page
	AfterID        string
	Limit          int
}

// KeyUpdate holds the fields a PATCH may change; nil leaves a field alone. ClearExpiry and
// ClearRateLimit remove a value, since nil cannot say that.
type KeyUpdate struct {
	Name           *string
	Scopes         *[]string
	Metadata       *[]byte
	ExternalID     *string
	ExpiresAt      *time.Time
	ClearExpiry    bool
	Restrictions   *Restrictions
	RateLimit      *RateLimit
	ClearRateLimit bool
	Enabled        *bool
	At             time.Time
}

// Change kinds.
const (
	ChangeCreate = "create"
	ChangeUpdate = "update"
	ChangeRevoke = "revoke"
	ChangeRotate = "rotate" // the old key of a rotation: replaced, valid until its new expiry
)

// Change is one entry of a workspace's change log.
type Change struct {
	WorkspaceID string
	Seq         int64
	Kind        string
	KeyID       string
	KeyHash     []byte
	At          time.Time
}
