package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/store"
)

// patchFields are the fields PATCH /v1/keys/{id} accepts. For expires_at, rate_limit and
// metadata, JSON null removes the value; an absent field is left alone.
var patchFields = []string{"name", "scopes", "metadata", "external_id", "expires_at", "restrictions", "rate_limit", "enabled"}

func (s *Server) updateKey(c *gin.Context) {
	k, err := s.keyOf(c)
	if err != nil {
		s.fail(c, err, "key")
		return
	}
	body, err := s.readBody(c)
	if err != nil {
		s.fail(c, err, "")
		return
	}
	var fields map[string]json.RawMessage
	if err := decodeStrict(body, &fields); err != nil {
		s.fail(c, err, "")
		return
	}
	u, err := s.parsePatch(fields)
	if err != nil {
		s.fail(c, err, "")
		return
	}
	saved, err := s.store.UpdateKey(c.Request.Context(), k.WorkspaceID, k.ID, u)
	if err != nil {
		s.fail(c, err, "key")
		return
	}
	c.JSON(http.StatusOK, toKey(saved))
}

func (s *Server) parsePatch(fields map[string]json.RawMessage) (store.KeyUpdate, error) {
	u := store.KeyUpdate{At: s.clock.Now().UTC()}
	if len(fields) == 0 {
		return u, validation("nothing to update: send one or more of " + strings.Join(patchFields, ", "))
	}
	for name, raw := range fields {
		if !slices.Contains(patchFields, name) {
			return u, validation(fmt.Sprintf("unknown field %q; PATCH accepts %s", name, strings.Join(patchFields, ", ")))
		}
		if err := s.patchField(&u, name, raw); err != nil {
			return u, err
		}
	}
	return u, nil
}

func (s *Server) patchField(u *store.KeyUpdate, name string, raw json.RawMessage) error {
	null := string(raw) == "null"
	field := func(v any) error {
		if null {
			return validation(fmt.Sprintf("field %q cannot be null", name))
		}
		if err := decodeStrict(raw, v); err != nil {
			return validation(fmt.Sprintf("field %q has the wrong type", name))
		}
		return nil
	}
	var err error
	switch name {
	case "name":
		var v string
		if err = field(&v); err == nil {
			if err = checkName(v); err == nil {
				u.Name = &v
			}
		}
	case "scopes":
		var v []string
		if err = field(&v); err == nil {
			if v, err = normScopes(v); err == nil {
				u.Scopes = &v
			}
		}
	case "metadata":
		var v []byte
		if v, err = normMetadata(raw); err == nil {
			if v == nil {
				v = []byte{}
			}
			u.Metadata = &v
		}
	case "external_id":
		var v string
		if err = field(&v); err == nil {
			if err = checkExternalID(v); err == nil {
				u.ExternalID = &v
			}
		}
	case "expires_at":
		if null {
			u.ClearExpiry = true
			return nil
		}
		var v time.Time
		if err = field(&v); err == nil {
			u.ExpiresAt, err = s.checkExpiry(&v)
		}
	case "restrictions":
		var v apiv1.Restrictions
		if err = field(&v); err == nil {
			var r store.Restrictions
			if r, err = normRestrictions(&v); err == nil {
				u.Restrictions = &r
			}
		}
	case "rate_limit":
		if null {
			u.ClearRateLimit = true
			return nil
		}
		var v apiv1.RateLimit
		if err = field(&v); err == nil {
			u.RateLimit, err = checkRateLimit(&v)
		}
	case "enabled":
		var v bool
		if err = field(&v); err == nil {
			u.Enabled = &v
		}
	}
	return err
}
