package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/store"
	"github.com/keyplane/keyplane/verifier"
	"github.com/keyplane/keyplane/verifier/apikey"
	"github.com/keyplane/keyplane/verifier/ratelimit"
)

// Management scopes. A key with keys:manage manages its own workspace's keys; keys:read may only
// look; keys:verify may call the central verify endpoint.
const (
	scopeKeysManage = "keys:manage"
	scopeKeysRead   = "keys:read"
	scopeKeysVerify = "keys:verify"
)

const principalKey = "keyplane.principal"

// principal is who is calling: the admin (every workspace) or one API key (its own workspace).
type principal struct {
	admin bool
	key   store.Key
	rate  *ratelimit.Decision // the key's rate limit as of this call; nil when unlimited
}

func (p *principal) String() string {
	if p.admin {
		return "admin"
	}
	return p.key.ID
}

func caller(c *gin.Context) *principal { return c.MustGet(principalKey).(*principal) }

// bearer extracts the token of an Authorization: Bearer header.
func bearer(r *http.Request) (string, *apiError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", unauthorized(apiv1.CodeInvalidAPIKey, "missing Authorization: Bearer <key> header")
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", unauthorized(apiv1.CodeInvalidAPIKey, "the Authorization header must be: Bearer <key>")
	}
	return token, nil
}

// authenticate identifies the caller of every /v1 route and applies the key's rate limit.
func (s *Server) authenticate(c *gin.Context) {
	token, aerr := bearer(c.Request)
	if aerr != nil {
		s.fail(c, aerr, "")
		return
	}
	h := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(h[:], s.adminHash[:]) == 1 {
		c.Set(principalKey, &principal{admin: true})
		return
	}
	ctx := c.Request.Context()
	k, code, err := s.checkKey(ctx, token)
	if err != nil {
		s.fail(c, err, "")
		return
	}
	if code != apiv1.CodeValid {
		s.fail(c, unauthorized(code, keyMessages[code]), "")
		return
	}
	// The edge's rule (verifier.AddrAllowed): an address that does not parse fails a restriction.
	if ip, _ := netip.ParseAddr(c.RemoteIP()); !verifier.AddrAllowed(k.Restrictions.AllowedCIDRs, ip) {
		s.fail(c, forbidden(apiv1.CodeIPNotAllowed, "the key may not be used from this address"), "")
		return
	}
	p := &principal{key: k}
	c.Set(principalKey, p)
	d, err := s.rateLimit(ctx, k)
	if err != nil {
		s.fail(c, err, "")
		return
	}
	p.rate = d
	if d != nil {
		setRateHeaders(c, d)
		if !d.Allowed {
			c.Header("Retry-After", strconv.FormatInt(ceilSeconds(d.RetryAfter), 10))
			s.fail(c, newError(http.StatusTooManyRequests, "rate_limit_error", apiv1.CodeRateLimitExceeded,
				"rate limit exceeded; retry after the time in Retry-After"), "")
		}
	}
}

var keyMessages = map[string]string{
	apiv1.CodeInvalidAPIKey:  "the API key is invalid or was revoked",
	apiv1.CodeExpiredAPIKey:  "the API key has expired",
	apiv1.CodeDisabledAPIKey: "the API key is disabled",
}

// checkKey decides whether raw is a usable key, returning the stored key and a code from apiv1
// (CodeValid when usable). The checksum turns away typos and garbage before any lookup.
func (s *Server) checkKey(ctx context.Context, raw string) (store.Key, string, error) {
	if _, err := apikey.Parse(raw); err != nil {
		return store.Key{}, apiv1.CodeInvalidAPIKey, nil
	}
	k, err := s.keys.get(ctx, s.store, apikey.Hash(raw))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Key{}, apiv1.CodeInvalidAPIKey, nil
	case err != nil:
		return store.Key{}, "", err
	case k.RevokedAt != nil:
		return k, apiv1.CodeInvalidAPIKey, nil
	case k.ExpiresAt != nil && !s.clock.Now().Before(*k.ExpiresAt):
		return k, apiv1.CodeExpiredAPIKey, nil
	case !k.Enabled:
		return k, apiv1.CodeDisabledAPIKey, nil
	}
	return k, apiv1.CodeValid, nil
}

// require lets through the admin and keys holding any one of scopes.
func (s *Server) require(scopes ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := caller(c)
		if p.admin {
			return
		}
		for _, sc := range scopes {
			if slices.Contains(p.key.Scopes, sc) {
				return
			}
		}
		s.fail(c, forbidden(apiv1.CodeInsufficientPermissions, "the key needs one of the scopes: "+strings.Join(scopes, ", ")), "")
	}
}

func (s *Server) requireAdmin(c *gin.Context) {
	if !caller(c).admin {
		s.fail(c, forbidden(apiv1.CodeInsufficientPermissions, "this endpoint needs the admin token"), "")
	}
}

func (s *Server) requireKey(c *gin.Context) {
	if caller(c).admin {
		s.fail(c, forbidden(apiv1.CodeInsufficientPermissions, "this endpoint is called with an API key, not the admin token"), "")
	}
}

// workspace returns a workspace, cached: workspaces do not change once created.
func (s *Server) workspace(ctx context.Context, id string) (store.Workspace, error) {
	if w, ok := s.workspaces.Load(id); ok {
		return w.(store.Workspace), nil
	}
	w, err := s.store.GetWorkspace(ctx, id)
	if err == nil {
		s.workspaces.Store(id, w)
	}
	return w, err
}
