package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/store"
)

// rotateKey issues a successor with the same name and policy; the old key keeps working for the
// grace period (0 revokes it at once), so clients can switch without downtime.
func (s *Server) rotateKey(c *gin.Context) {
	old, err := s.keyOf(c)
	if err != nil {
		s.fail(c, err, "key")
		return
	}
	var req apiv1.RotateRequest
	if c.Request.ContentLength != 0 {
		if err := s.decode(c, &req); err != nil {
			s.fail(c, err, "")
			return
		}
	}
	if req.GracePeriodSeconds < 0 || req.GracePeriodSeconds > maxGraceSeconds {
		s.fail(c, validation("grace_period_seconds must be between 0 and 2592000 (30 days)"), "")
		return
	}
	s.rotate(c, old, time.Duration(req.GracePeriodSeconds)*time.Second)
}

// selfRotate rotates the key that authenticates the call; the old key stops working at once.
func (s *Server) selfRotate(c *gin.Context) {
	s.rotate(c, caller(c).key, 0)
}

func (s *Server) rotate(c *gin.Context, old store.Key, grace time.Duration) {
	if !old.Active() {
		s.fail(c, store.ErrAlreadyRevoked, "key")
		return
	}
	w, err := s.workspace(c.Request.Context(), old.WorkspaceID)
	if err != nil {
		s.fail(c, err, "workspace")
		return
	}
	raw, next, err := s.newKey(w, old.Environment)
	if err != nil {
		s.fail(c, err, "")
		return
	}
	next.Name, next.Type, next.Scopes, next.ExternalID, next.Metadata = old.Name, old.Type, old.Scopes, old.ExternalID, old.Metadata
	next.Restrictions, next.RateLimit, next.Enabled, next.ExpiresAt = old.Restrictions, old.RateLimit, old.Enabled, old.ExpiresAt
	next.LastRotatedAt = &next.CreatedAt
	_, created, err := s.store.RotateKey(c.Request.Context(), old.WorkspaceID, old.ID, next, next.CreatedAt.Add(grace))
	if err != nil {
		s.fail(c, err, "key")
		return
	}
	out := toKey(created)
	out.Key = raw
	c.JSON(http.StatusCreated, out)
}
