// Package client is a typed Go client for the control plane's REST API. The keyplane CLI is built
// on it, and Go services can import it to manage or verify keys.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyplane/keyplane/controlplane/apiv1"
)

// Client talks to one control plane with one token (the admin token or an API key).
type Client struct {
	base  string
	token string
	http  *http.Client
}

// Config configures New. HTTPClient defaults to one with a 30 s timeout that keeps up to 64 idle
// connections to the control plane: the standard library's 2 would make a busy client open and
// close a connection per request.
type Config struct {
	BaseURL    string // e.g. http://127.0.0.1:8080
	Token      string
	HTTPClient *http.Client
}

// New returns a Client.
func New(cfg Config) *Client {
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		hc = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	}
	return &Client{base: strings.TrimRight(cfg.BaseURL, "/"), token: cfg.Token, http: hc}
}

// Error is an error answer of the API.
type Error struct {
	Status     int
	Type       string
	Code       string
	Message    string
	RetryAfter time.Duration // set on 429
}

func (e *Error) Error() string {
	return fmt.Sprintf("keyplane: %d %s: %s", e.Status, e.Code, e.Message)
}

// do sends a request with a JSON body (when in is not nil) and decodes a JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var eb apiv1.ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
			eb.Error = apiv1.Error{Type: "api_error", Code: "http_" + strconv.Itoa(resp.StatusCode), Message: strings.TrimSpace(string(data))}
		}
		e := &Error{Status: resp.StatusCode, Type: eb.Error.Type, Code: eb.Error.Code, Message: eb.Error.Message}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("keyplane: decoding %s %s: %w", method, path, err)
	}
	return nil
}

// CreateWorkspace creates a workspace (admin token).
func (c *Client) CreateWorkspace(ctx context.Context, req apiv1.CreateWorkspaceRequest) (apiv1.Workspace, error) {
	var out apiv1.Workspace
	return out, c.do(ctx, http.MethodPost, "/v1/workspaces", nil, req, &out)
}

// ListWorkspaces lists every workspace (admin token).
func (c *Client) ListWorkspaces(ctx context.Context) ([]apiv1.Workspace, error) {
	var out apiv1.WorkspaceList
	return out.Data, c.do(ctx, http.MethodGet, "/v1/workspaces", nil, nil, &out)
}

// GetWorkspace gets one workspace.
func (c *Client) GetWorkspace(ctx context.Context, id string) (apiv1.Workspace, error) {
	var out apiv1.Workspace
	return out, c.do(ctx, http.MethodGet, "/v1/workspaces/"+url.PathEscape(id), nil, nil, &out)
}

// CreateKey creates a key; the answer's Key field holds the secret, shown this once.
func (c *Client) CreateKey(ctx context.Context, req apiv1.CreateKeyRequest) (apiv1.Key, error) {
	var out apiv1.Key
	return out, c.do(ctx, http.MethodPost, "/v1/keys", nil, req, &out)
}

// ListOptions filters ListKeys. WorkspaceID is needed with the admin token only.
type ListOptions struct {
	WorkspaceID    string
	Type           string
	Environment    string
	Name           string
	IncludeRevoked bool
	Limit          int
	Cursor         string
}

// ListKeys returns one page of keys; pass the answer's NextCursor to get the next.
func (c *Client) ListKeys(ctx context.Context, o ListOptions) (apiv1.KeyList, error) {
	q := url.Values{}
	for k, v := range map[string]string{"workspace_id": o.WorkspaceID, "type": o.Type, "environment": o.Environment, "name": o.Name, "cursor": o.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.IncludeRevoked {
		q.Set("include_revoked", "true")
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	var out apiv1.KeyList
	return out, c.do(ctx, http.MethodGet, "/v1/keys", q, nil, &out)
}

// GetKey gets a key's metadata.
func (c *Client) GetKey(ctx context.Context, id string) (apiv1.Key, error) {
	var out apiv1.Key
	return out, c.do(ctx, http.MethodGet, "/v1/keys/"+url.PathEscape(id), nil, nil, &out)
}

// KeyUpdate is a PATCH: nil fields stay as they are; the Clear flags remove a value.
type KeyUpdate struct {
	Name           *string
	Scopes         *[]string
	ExternalID     *string
	Metadata       json.RawMessage
	Restrictions   *apiv1.Restrictions
	RateLimit      *apiv1.RateLimit
	ClearRateLimit bool
	Enabled        *bool
	ExpiresAt      *time.Time
	ClearExpiry    bool
}

func (u KeyUpdate) body() map[string]any {
	m := map[string]any{}
	set := func(name string, ok bool, v any) {
		if ok {
			m[name] = v
		}
	}
	set("name", u.Name != nil, u.Name)
	set("scopes", u.Scopes != nil, u.Scopes)
	set("external_id", u.ExternalID != nil, u.ExternalID)
	set("metadata", u.Metadata != nil, u.Metadata)
	set("restrictions", u.Restrictions != nil, u.Restrictions)
	set("rate_limit", u.RateLimit != nil || u.ClearRateLimit, u.RateLimit)
	set("enabled", u.Enabled != nil, u.Enabled)
	set("expires_at", u.ExpiresAt != nil || u.ClearExpiry, u.ExpiresAt)
	return m
}

// UpdateKey changes a key's attributes.
func (c *Client) UpdateKey(ctx context.Context, id string, u KeyUpdate) (apiv1.Key, error) {
	var out apiv1.Key
	return out, c.do(ctx, http.MethodPatch, "/v1/keys/"+url.PathEscape(id), nil, u.body(), &out)
}

// RevokeKey revokes a key at once; revoking twice is not an error.
func (c *Client) RevokeKey(ctx context.Context, id string) (apiv1.RevokeResult, error) {
	var out apiv1.RevokeResult
	return out, c.do(ctx, http.MethodDelete, "/v1/keys/"+url.PathEscape(id), nil, nil, &out)
}

// RevokeKeyByName revokes the active key called name (workspaceID with the admin token only).
func (c *Client) RevokeKeyByName(ctx context.Context, name, workspaceID string) (apiv1.RevokeResult, error) {
	q := url.Values{"name": {name}}
	if workspaceID != "" {
		q.Set("workspace_id", workspaceID)
	}
	var out apiv1.RevokeResult
	return out, c.do(ctx, http.MethodDelete, "/v1/keys", q, nil, &out)
}

// RotateKey issues a successor of key id; the old key works for grace more.
func (c *Client) RotateKey(ctx context.Context, id string, grace time.Duration) (apiv1.Key, error) {
	var out apiv1.Key
	return out, c.do(ctx, http.MethodPost, "/v1/keys/"+url.PathEscape(id)+"/rotate", nil,
		apiv1.RotateRequest{GracePeriodSeconds: int(grace / time.Second)}, &out)
}

// SelfRotate replaces the client's own key (the token must be an API key); the old one stops
// working at once.
func (c *Client) SelfRotate(ctx context.Context) (apiv1.Key, error) {
	var out apiv1.Key
	return out, c.do(ctx, http.MethodPost, "/v1/keys/rotate", nil, nil, &out)
}

// Verify checks the client's own key (GET /v1/auth/verify).
func (c *Client) Verify(ctx context.Context) (apiv1.VerifyResult, error) {
	var out apiv1.VerifyResult
	return out, c.do(ctx, http.MethodGet, "/v1/auth/verify", nil, nil, &out)
}

// VerifyKey checks another key centrally (POST /v1/keys/verify).
func (c *Client) VerifyKey(ctx context.Context, req apiv1.VerifyRequest) (apiv1.VerifyResult, error) {
	var out apiv1.VerifyResult
	return out, c.do(ctx, http.MethodPost, "/v1/keys/verify", nil, req, &out)
}
