package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/store"
	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/verifier/apikey"
)

// scopeWorkspace returns the workspace a call acts on: the caller key's own, or for the admin the
// one named by want (a body field or query parameter). A key naming another workspace gets 404,
// never that workspace's data.
func scopeWorkspace(p *principal, want string) (string, error) {
	switch {
	case p.admin && want == "":
		return "", validation("workspace_id is required with the admin token")
	case p.admin:
		return want, nil
	case want != "" && want != p.key.WorkspaceID:
		return "", notFound("workspace not found")
	}
	return p.key.WorkspaceID, nil
}

// keyOf loads the key named by the :id path parameter within the caller's reach.
func (s *Server) keyOf(c *gin.Context) (store.Key, error) {
	id := c.Param("id")
	if err := checkKeyID(id); err != nil {
		return store.Key{}, err
	}
	p := caller(c)
	if p.admin {
		return s.store.GetKeyByID(c.Request.Context(), id)
	}
	return s.store.GetKey(c.Request.Context(), p.key.WorkspaceID, id)
}

// newKey generates a key for workspace w: the secret, its hash, id and display prefix. It draws
// again in the 2^-64 case of a hash that no snapshot can hold (snapshot.Publishable).
func (s *Server) newKey(w store.Workspace, env string) (string, store.Key, error) {
	var raw string
	var h [32]byte
	for {
		var err error
		if raw, err = apikey.Generate(w.KeyPrefix, env, s.rand); err != nil {
			return "", store.Key{}, err
		}
		if h = apikey.Hash(raw); snapshot.Publishable(&h) {
			break
		}
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	return raw, store.Key{
		ID: apikey.ID(h), WorkspaceID: w.ID, Hash: h[:], Prefix: apikey.DisplayPrefix(raw), Environment: env,
		CreatedAt: now, UpdatedAt: now,
	}, nil
}

func (s *Server) createKey(c *gin.Context) {
	var req apiv1.CreateKeyRequest
	if err := s.decode(c, &req); err != nil {
		s.fail(c, err, "")
		return
	}
	wsID, err := scopeWorkspace(caller(c), req.WorkspaceID)
	if err != nil {
		s.fail(c, err, "")
		return
	}
	if req.Type == "" {
		req.Type = store.TypeGeneric
	}
	if req.Environment == "" {
		req.Environment = "live"
	}
	k, err := s.validKey(req)
	if err != nil {
		s.fail(c, err, "")
		return
	}
	w, err := s.workspace(c.Request.Context(), wsID)
	if err != nil {
		s.fail(c, err, "workspace")
		return
	}
	raw, gen, err := s.newKey(w, req.Environment)
	if err != nil {
		s.fail(c, err, "")
		return
	}
	k.ID, k.WorkspaceID, k.Hash, k.Prefix, k.CreatedAt, k.UpdatedAt = gen.ID, gen.WorkspaceID, gen.Hash, gen.Prefix, gen.CreatedAt, gen.UpdatedAt
	saved, err := s.store.CreateKey(c.Request.Context(), k)
	if err != nil {
		s.fail(c, err, "key")
		return
	}
	out := toKey(saved)
	out.Key = raw // the only time the key leaves the control plane
	c.JSON(http.StatusCreated, out)
}

// validKey checks a create request and returns the key it describes (without id, hash or times).
func (s *Server) validKey(req apiv1.CreateKeyRequest) (store.Key, error) {
	k := store.Key{Name: req.Name, Type: req.Type, Environment: req.Environment, ExternalID: req.ExternalID, Enabled: true}
	if req.Enabled != nil {
		k.Enabled = *req.Enabled
	}
	var err error
	for _, check := range []func() error{
		func() error { return checkName(req.Name) },
		func() error { return checkType(req.Type) },
		func() error { return checkEnv(req.Environment) },
		func() error { k.Scopes, err = normScopes(req.Scopes); return err },
		func() error { return checkExternalID(req.ExternalID) },
		func() error { k.Metadata, err = normMetadata(req.Metadata); return err },
		func() error { k.Restrictions, err = normRestrictions(req.Restrictions); return err },
		func() error { k.RateLimit, err = checkRateLimit(req.RateLimit); return err },
		func() error { k.ExpiresAt, err = s.checkExpiry(req.ExpiresAt); return err },
	} {
		if err := check(); err != nil {
			return store.Key{}, err
		}
	}
	return k, nil
}

func (s *Server) getKey(c *gin.Context) {
	k, err := s.keyOf(c)
	if err != nil {
		s.fail(c, err, "key")
		return
	}
	c.JSON(http.StatusOK, toKey(k))
}

func (s *Server) listKeys(c *gin.Context) {
	q := c.Request.URL.Query()
	wsID, err := scopeWorkspace(caller(c), q.Get("workspace_id"))
	if err != nil {
		s.fail(c, err, "")
		return
	}
	f := store.KeyFilter{WorkspaceID: wsID, Type: q.Get("type"), Environment: q.Get("environment"), Name: q.Get("name"), Limit: 100}
	if err := s.parseListQuery(q.Get, &f); err != nil {
		s.fail(c, err, "")
		return
	}
	keys, err := s.store.ListKeys(c.Request.Context(), f)
	if err != nil {
		s.fail(c, err, "key")
		return
	}
	out := apiv1.KeyList{Data: make([]apiv1.Key, 0, len(keys))}
	for _, k := range keys {
		out.Data = append(out.Data, toKey(k))
	}
	if len(keys) == f.Limit {
		last := keys[len(keys)-1]
		out.NextCursor = encodeCursor(last.CreatedAt, last.ID)
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) parseListQuery(get func(string) string, f *store.KeyFilter) error {
	if f.Type != "" {
		if err := checkType(f.Type); err != nil {
			return err
		}
	}
	if f.Environment != "" {
		if err := checkEnv(f.Environment); err != nil {
			return err
		}
	}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return validation("limit must be an integer from 1 to 1000")
		}
		f.Limit = n
	}
	if v := get("include_revoked"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return validation("include_revoked must be true or false")
		}
		f.IncludeRevoked = b
	}
	if v := get("cursor"); v != "" {
		at, id, ok := decodeCursor(v)
		if !ok {
			return validation("cursor is not one this API returned")
		}
		f.AfterCreatedAt, f.AfterID = at, id
	}
	return nil
}

// A cursor is the (created_at, id) of the last key of the previous page.
func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + "." + id))
}

func decodeCursor(s string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", false
	}
	us, id, ok := strings.Cut(string(b), ".")
	n, err := strconv.ParseInt(us, 10, 64)
	if !ok || err != nil || checkKeyID(id) != nil {
		return time.Time{}, "", false
	}
	return time.UnixMicro(n).UTC(), id, true
}

func (s *Server) revokeKey(c *gin.Context) {
	k, err := s.keyOf(c)
	if err != nil {
		s.fail(c, err, "key")
		return
	}
	s.revoke(c, k)
}

func (s *Server) revokeKeyByName(c *gin.Context) {
	q := c.Request.URL.Query()
	name := q.Get("name")
	if name == "" {
		s.fail(c, validation("name is required: DELETE /v1/keys?name=... or DELETE /v1/keys/{id}"), "")
		return
	}
	wsID, err := scopeWorkspace(caller(c), q.Get("workspace_id"))
	if err != nil {
		s.fail(c, err, "")
		return
	}
	k, err := s.store.GetActiveKeyByName(c.Request.Context(), wsID, name)
	if err != nil {
		s.fail(c, err, "key")
		return
	}
	s.revoke(c, k)
}

// revoke is idempotent: revoking a revoked key answers as the first time did.
func (s *Server) revoke(c *gin.Context, k store.Key) {
	_, err := s.store.RevokeKey(c.Request.Context(), k.WorkspaceID, k.ID, s.clock.Now().UTC())
	if err != nil && !errors.Is(err, store.ErrAlreadyRevoked) {
		s.fail(c, err, "key")
		return
	}
	c.JSON(http.StatusOK, apiv1.RevokeResult{Revoked: true, KeyID: k.ID})
}

func toKey(k store.Key) apiv1.Key {
	out := apiv1.Key{
		ID: k.ID, Prefix: k.Prefix, WorkspaceID: k.WorkspaceID, Name: k.Name, Type: k.Type, Environment: k.Environment,
		Scopes: k.Scopes, ExternalID: k.ExternalID, Metadata: json.RawMessage(k.Metadata),
		Restrictions: apiv1.Restrictions{AllowedCIDRs: k.Restrictions.AllowedCIDRs, AllowedHosts: k.Restrictions.AllowedHosts},
		Enabled:      k.Enabled, ExpiresAt: k.ExpiresAt, CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt,
		LastRotatedAt: k.LastRotatedAt, RevokedAt: k.RevokedAt, ReplacedBy: k.ReplacedBy,
	}
	if out.Metadata == nil {
		out.Metadata = json.RawMessage("{}")
	}
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	if k.RateLimit != nil {
		out.RateLimit = &apiv1.RateLimit{Limit: k.RateLimit.Limit, WindowSeconds: k.RateLimit.WindowSeconds}
	}
	return out
}
