package api

import (
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/store"
	"github.com/keyplane/keyplane/verifier"
	"github.com/keyplane/keyplane/verifier/ratelimit"
)

// authVerify answers GET /v1/auth/verify for the key that authenticated the call: by the time it
// runs, authenticate has checked the key and charged its rate limit.
func (s *Server) authVerify(c *gin.Context) {
	p := caller(c)
	c.JSON(http.StatusOK, s.verifyResult(p.key, apiv1.CodeValid, p.rate))
}

// verifyKey is central verification for services without an edge: POST /v1/keys/verify.
// Every outcome is a 200 whose body says valid or not and why; the verified key's rate limit
// is charged, as an edge would.
func (s *Server) verifyKey(c *gin.Context) {
	var req apiv1.VerifyRequest
	if err := s.decode(c, &req); err != nil {
		s.fail(c, err, "")
		return
	}
	scopes, err := normScopes(req.Scopes)
	if err != nil {
		s.fail(c, err, "")
		return
	}
	var ip netip.Addr
	if req.IP != "" {
		var ok bool
		if ip, ok = verifier.ParseClientAddr(req.IP); !ok {
			s.fail(c, validation("ip must be an IPv4 or IPv6 address, with or without a port"), "")
			return
		}
	}
	ctx := c.Request.Context()
	k, code, err := s.checkKey(ctx, req.Key)
	if err != nil {
		s.fail(c, err, "")
		return
	}
	if p := caller(c); code != apiv1.CodeInvalidAPIKey && !p.admin && k.WorkspaceID != p.key.WorkspaceID {
		k, code = store.Key{}, apiv1.CodeInvalidAPIKey // another workspace's key does not exist for this caller
	}
	if code != apiv1.CodeValid {
		c.JSON(http.StatusOK, apiv1.VerifyResult{Valid: false, Code: code})
		return
	}
	// The edge's rules, from package verifier, so that both answer alike: a key restricted by
	// address or host is refused without one.
	switch {
	case !verifier.AddrAllowed(k.Restrictions.AllowedCIDRs, ip):
		code = apiv1.CodeIPNotAllowed
	case !verifier.HostAllowed(k.Restrictions.AllowedHosts, req.Host):
		code = apiv1.CodeHostNotAllowed
	case !hasAll(k.Scopes, scopes):
		code = apiv1.CodeInsufficientPermissions
	}
	var rate *ratelimit.Decision
	if code == apiv1.CodeValid {
		if rate, err = s.rateLimit(ctx, k); err != nil {
			s.fail(c, err, "")
			return
		}
		if rate != nil && !rate.Allowed {
			code = apiv1.CodeRateLimitExceeded
		}
	}
	c.JSON(http.StatusOK, s.verifyResult(k, code, rate))
}

func (s *Server) verifyResult(k store.Key, code string, d *ratelimit.Decision) apiv1.VerifyResult {
	out := apiv1.VerifyResult{
		Valid: code == apiv1.CodeValid, Code: code, KeyID: k.ID, WorkspaceID: k.WorkspaceID, Name: k.Name,
		Scopes: k.Scopes, Environment: k.Environment, Type: k.Type, ExpiresAt: k.ExpiresAt,
	}
	if d != nil {
		out.RateLimit = &apiv1.RateLimitStatus{
			Limit: int(d.Limit), Remaining: int(d.Remaining),
			Reset: s.clock.Now().Add(time.Duration(d.Reset)).UTC().Truncate(time.Second),
		}
	}
	return out
}

func hasAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
