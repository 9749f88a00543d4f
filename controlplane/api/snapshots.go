package api

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/publish"
)

// Snapshot endpoints, for edges: an API key with scope snapshots:read reads its own workspace's
// snapshots; the admin names the workspace with ?workspace_id=.
const (
	scopeSnapshotsRead = "snapshots:read"
	snapshotMediaType  = "application/vnd.keyplane.snapshot"
	maxWait            = 60 * time.Second
)

func (s *Server) latestSnapshot(c *gin.Context) {
	ws, err := scopeWorkspace(caller(c), c.Query("workspace_id"))
	if err != nil {
		s.fail(c, err, "")
		return
	}
	b, err := s.publisher.Full(c.Request.Context(), ws)
	if err != nil {
		s.fail(c, err, "workspace")
		return
	}
	c.Header("ETag", b.ETag())
	c.Header("Keyplane-Snapshot-Version", strconv.FormatInt(b.Version, 10))
	if inm := c.GetHeader("If-None-Match"); inm != "" && inm == b.ETag() {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, snapshotMediaType, b.Bytes)
}

// deltaSnapshot is a long poll: GET /v1/snapshots/delta?base=A&base_digest=HEX&since=V&wait=30
// answers as soon as the workspace has a change after V with the cumulative delta from base A
// (the agent's full snapshot, named by version and digest), 304 when wait runs out first, and
// 409 snapshot_rebase when no delta can serve the base: then the agent fetches a full snapshot.
func (s *Server) deltaSnapshot(c *gin.Context) {
	ws, err := scopeWorkspace(caller(c), c.Query("workspace_id"))
	if err != nil {
		s.fail(c, err, "")
		return
	}
	q := c.Request.URL.Query()
	base, err1 := strconv.ParseInt(q.Get("base"), 10, 64)
	since, err2 := strconv.ParseInt(q.Get("since"), 10, 64)
	digest, err3 := hex.DecodeString(q.Get("base_digest"))
	if err1 != nil || err2 != nil || err3 != nil || len(digest) != 32 || base < 1 || since < base {
		s.fail(c, validation("need base (version of the agent's full snapshot), base_digest (its SHA-256 in hex) and since (the version the agent holds, at least base)"), "")
		return
	}
	wait := time.Duration(0)
	if v := q.Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || time.Duration(n)*time.Second > maxWait {
			s.fail(c, validation("wait must be 0 to 60 seconds"), "")
			return
		}
		wait = time.Duration(n) * time.Second
	}
	var d [32]byte
	copy(d[:], digest)
	b, err := s.publisher.Delta(c.Request.Context(), ws, base, d, since, wait)
	switch {
	case errors.Is(err, publish.ErrRebase):
		s.fail(c, newError(http.StatusConflict, "invalid_request_error", apiv1.CodeSnapshotRebase,
			"no delta serves this base: fetch /v1/snapshots/latest"), "")
		return
	case err != nil:
		if c.Request.Context().Err() != nil {
			return // the agent went away
		}
		s.fail(c, err, "workspace")
		return
	case b == nil:
		c.Status(http.StatusNotModified)
		return
	}
	c.Header("Keyplane-Snapshot-Version", strconv.FormatInt(b.Version, 10))
	c.Header("Keyplane-Base-Version", strconv.FormatInt(b.Base, 10))
	c.Data(http.StatusOK, snapshotMediaType, b.Bytes)
}

func (s *Server) signingKeys(c *gin.Context) {
	r, err := s.keyring.Ring()
	if err != nil {
		s.fail(c, err, "")
		return
	}
	c.JSON(http.StatusOK, r.Public())
}
