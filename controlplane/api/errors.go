package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/store"
)

// apiError is an error with its HTTP status and the public error shape. Its message goes to
// clients, so it never holds a key or an internal detail.
type apiError struct {
	status int
	body   apiv1.Error
}

func (e *apiError) Error() string { return e.body.Code + ": " + e.body.Message }

func newError(status int, typ, code, msg string) *apiError {
	return &apiError{status: status, body: apiv1.Error{Type: typ, Code: code, Message: msg}}
}

func badRequest(code, msg string) *apiError {
	return newError(http.StatusBadRequest, "invalid_request_error", code, msg)
}

func validation(msg string) *apiError { return badRequest(apiv1.CodeValidation, msg) }

func unauthorized(code, msg string) *apiError {
	return newError(http.StatusUnauthorized, "authentication_error", code, msg)
}

func forbidden(code, msg string) *apiError {
	return newError(http.StatusForbidden, "permission_error", code, msg)
}

func notFound(msg string) *apiError {
	return newError(http.StatusNotFound, "not_found_error", apiv1.CodeNotFound, msg)
}

// fromStore maps the store's errors to HTTP; this is the only place that does.
func fromStore(err error, what string) *apiError {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound(what + " not found")
	case errors.Is(err, store.ErrDuplicateName):
		return newError(http.StatusConflict, "conflict_error", apiv1.CodeDuplicateName, "an active "+what+" already has this name")
	case errors.Is(err, store.ErrKeyLimitReached):
		return newError(http.StatusConflict, "conflict_error", apiv1.CodeKeyLimitReached, "the workspace holds its maximum number of active keys")
	case errors.Is(err, store.ErrAlreadyRevoked):
		return newError(http.StatusConflict, "conflict_error", apiv1.CodeKeyRevoked, "the key is revoked or was rotated")
	}
	return nil
}

// fail answers c with err: an *apiError as it is, a store error mapped, anything else as a 500
// whose details go only to the log.
func (s *Server) fail(c *gin.Context, err error, what string) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = fromStore(err, what)
	}
	if ae == nil {
		s.log.ErrorContext(c.Request.Context(), "request failed", "route", c.FullPath(), "err", err)
		ae = newError(http.StatusInternalServerError, "api_error", apiv1.CodeInternal, "internal error")
	}
	if ae.status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="keyplane"`)
	}
	c.AbortWithStatusJSON(ae.status, apiv1.ErrorBody{Error: ae.body})
}
