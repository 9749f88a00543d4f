package api

import (
	"crypto/rand"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/store"
	"github.com/keyplane/keyplane/verifier/apikey"
)

func (s *Server) createWorkspace(c *gin.Context) {
	var req apiv1.CreateWorkspaceRequest
	if err := s.decode(c, &req); err != nil {
		s.fail(c, err, "")
		return
	}
	if req.KeyPrefix == "" {
		req.KeyPrefix = "kp"
	}
	if req.KeyLimit == 0 {
		req.KeyLimit = s.keyLimit
	}
	switch {
	case len(req.Name) > 64:
		s.fail(c, validation("name must be at most 64 bytes"), "")
		return
	case !apikey.ValidPrefix(req.KeyPrefix):
		s.fail(c, validation("key_prefix must be 2 to 12 lower-case letters or digits, starting with a letter"), "")
		return
	case req.KeyLimit < 1 || req.KeyLimit > 10_000_000:
		s.fail(c, validation("key_limit must be between 1 and 10000000"), "")
		return
	}
	if err := checkName(req.Name); err != nil {
		s.fail(c, err, "")
		return
	}
	rl, err := checkRateLimit(req.DefaultRateLimit)
	if err != nil {
		s.fail(c, err, "")
		return
	}
	w, err := s.store.CreateWorkspace(c.Request.Context(), store.Workspace{
		ID: "ws_" + rand.Text()[:20], Name: req.Name, KeyPrefix: req.KeyPrefix, KeyLimit: req.KeyLimit,
		DefaultRateLimit: rl, CreatedAt: s.clock.Now().UTC().Truncate(time.Microsecond),
	})
	if err != nil {
		s.fail(c, err, "workspace")
		return
	}
	c.JSON(http.StatusCreated, toWorkspace(w))
}

func (s *Server) listWorkspaces(c *gin.Context) {
	all, err := s.store.ListWorkspaces(c.Request.Context())
	if err != nil {
		s.fail(c, err, "workspace")
		return
	}
	out := apiv1.WorkspaceList{Data: make([]apiv1.Workspace, 0, len(all))}
	for _, w := range all {
		out.Data = append(out.Data, toWorkspace(w))
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getWorkspace(c *gin.Context) {
	p := caller(c)
	id := c.Param("id")
	if !p.admin && id != p.key.WorkspaceID {
		s.fail(c, notFound("workspace not found"), "")
		return
	}
	w, err := s.workspace(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err, "workspace")
		return
	}
	c.JSON(http.StatusOK, toWorkspace(w))
}

func toWorkspace(w store.Workspace) apiv1.Workspace {
	out := apiv1.Workspace{ID: w.ID, Name: w.Name, KeyPrefix: w.KeyPrefix, KeyLimit: w.KeyLimit, CreatedAt: w.CreatedAt}
	if w.DefaultRateLimit != nil {
		out.DefaultRateLimit = &apiv1.RateLimit{Limit: w.DefaultRateLimit.Limit, WindowSeconds: w.DefaultRateLimit.WindowSeconds}
	}
	return out
}
