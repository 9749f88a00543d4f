// Package apiv1 holds the JSON shapes of the control plane's REST API, shared by the server
// (controlplane/api) and the Go client (controlplane/client), so neither can drift from the other.
package apiv1

import (
	"encoding/json"
	"time"
)

// ErrorBody is the one error shape every endpoint answers with:
// {"error":{"type":"...","code":"...","message":"..."}}.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Error is the inside of ErrorBody.
type Error struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes, also used as verification result codes.
const (
	CodeValid                   = "valid"
	CodeInvalidAPIKey           = "invalid_api_key"
	CodeExpiredAPIKey           = "expired_api_key"
	CodeDisabledAPIKey          = "disabled_api_key"
	CodeInsufficientPermissions = "insufficient_permissions"
	CodeIPNotAllowed            = "ip_not_allowed"
	CodeHostNotAllowed          = "host_not_allowed"
	CodeRateLimitExceeded       = "rate_limit_exceeded"
	CodeValidation              = "validation_error"
	CodeInvalidJSON             = "invalid_json"
	CodePayloadTooLarge         = "payload_too_large"
	CodeNotFound                = "not_found"
	CodeMethodNotAllowed        = "method_not_allowed"
	CodeDuplicateName           = "duplicate_name"
	CodeKeyLimitReached         = "key_limit_reached"
	CodeKeyRevoked              = "key_revoked"
	CodeSnapshotRebase          = "snapshot_rebase"
	CodeUnavailable             = "service_unavailable"
	CodeInternal                = "internal_error"
)

// RateLimit is Limit requests per WindowSeconds.
type RateLimit struct {
	Limit         int `json:"limit"`
	WindowSeconds int `json:"window_seconds"`
}

// Restrictions limit where a key works; empty lists mean anywhere.
type Restrictions struct {
	AllowedCIDRs []string `json:"allowed_cidrs"`
	AllowedHosts []string `json:"allowed_hosts"`
}

// Workspace is a tenant with its own keys.
type Workspace struct {
	ID               string     `json:"id"`
	Name             string     `json:"name"`
	KeyPrefix        string     `json:"key_prefix"`
	KeyLimit         int        `json:"key_limit"`
	DefaultRateLimit *RateLimit `json:"default_rate_limit"`
	CreatedAt        time.Time  `json:"created_at"`
}

// CreateWorkspaceRequest is the body of POST /v1/workspaces.
type CreateWorkspaceRequest struct {
	Name             string     `json:"name"`
	KeyPrefix        string     `json:"key_prefix,omitempty"`
	KeyLimit         int        `json:"key_limit,omitempty"`
	DefaultRateLimit *RateLimit `json:"default_rate_limit,omitempty"`
}

// WorkspaceList is the body of GET /v1/workspaces.
type WorkspaceList struct {
	Data []Workspace `json:"data"`
}

// Key is an API key's metadata. Key (the secret) is set only in the answer that created it.
type Key struct {
	Key           string          `json:"key,omitempty"`
	ID            string          `json:"id"`
	Prefix        string          `json:"prefix"`
	WorkspaceID   string          `json:"workspace_id"`
	Name          string          `json:"name"`
	Type          string          `json:"type"`
	Environment   string          `json:"environment"`
	Scopes        []string        `json:"scopes"`
	ExternalID    string          `json:"external_id"`
	Metadata      json.RawMessage `json:"metadata"`
	Restrictions  Restrictions    `json:"restrictions"`
	RateLimit     *RateLimit      `json:"rate_limit"`
	Enabled       bool            `json:"enabled"`
	ExpiresAt     *time.Time      `json:"expires_at"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	LastRotatedAt *time.Time      `json:"last_rotated_at"`
	RevokedAt     *time.Time      `json:"revoked_at"`
	ReplacedBy    string          `json:"replaced_by,omitempty"`
}

// CreateKeyRequest is the body of POST /v1/keys. WorkspaceID is needed with the admin token only.
type CreateKeyRequest struct {
	WorkspaceID  string          `json:"workspace_id,omitempty"`
	Name         string          `json:"name"`
	Type         string          `json:"type,omitempty"`
	Environment  string          `json:"environment,omitempty"`
	Scopes       []string        `json:"scopes,omitempty"`
	ExternalID   string          `json:"external_id,omitempty"`
	Metadata     json.RawMessage `json:"metadata,omitempty"`
	Restrictions *Restrictions   `json:"restrictions,omitempty"`
	RateLimit    *RateLimit      `json:"rate_limit,omitempty"`
	Enabled      *bool           `json:"enabled,omitempty"`
	ExpiresAt    *time.Time      `json:"expires_at,omitempty"`
}

// KeyList is the body of GET /v1/keys. NextCursor is empty on the last page.
type KeyList struct {
	Data       []Key  `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// RevokeResult is the body of DELETE /v1/keys/{id}.
type RevokeResult struct {
	Revoked bool   `json:"revoked"`
	KeyID   string `json:"key_id"`
}

// RotateRequest is the body of POST /v1/keys/{id}/rotate.
type RotateRequest struct {
	GracePeriodSeconds int `json:"grace_period_seconds"`
}

// VerifyRequest is the body of POST /v1/keys/verify. IP (a port allowed) and Host are checked
// against the key's restrictions by the edges' rules (verifier.AddrAllowed, verifier.HostAllowed):
// a key restricted by address or host is not valid without them (ip_not_allowed,
// host_not_allowed). Host is what an edge would match: the host of the request's Origin, else of
// its Referer, else its Host header (a port and a trailing dot allowed).
type VerifyRequest struct {
	Key    string   `json:"key"`
	Scopes []string `json:"scopes,omitempty"`
	IP     string   `json:"ip,omitempty"`
	Host   string   `json:"host,omitempty"`
}

// RateLimitStatus is a key's rate limit as of one call.
type RateLimitStatus struct {
	Limit     int       `json:"limit"`
	Remaining int       `json:"remaining"`
	Reset     time.Time `json:"reset"`
}

// VerifyResult answers GET /v1/auth/verify and POST /v1/keys/verify.
type VerifyResult struct {
	Valid       bool             `json:"valid"`
	Code        string           `json:"code"`
	KeyID       string           `json:"key_id,omitempty"`
	WorkspaceID string           `json:"workspace_id,omitempty"`
	Name        string           `json:"name,omitempty"`
	Scopes      []string         `json:"scopes,omitempty"`
	Environment string           `json:"environment,omitempty"`
	Type        string           `json:"type,omitempty"`
	ExpiresAt   *time.Time       `json:"expires_at,omitempty"`
	RateLimit   *RateLimitStatus `json:"rate_limit"`
}
