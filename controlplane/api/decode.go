package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyplane/keyplane/controlplane/apiv1"
)

// readBody reads the request body up to the configured limit; a larger body is a 413.
func (s *Server) readBody(c *gin.Context) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, newError(http.StatusRequestEntityTooLarge, "invalid_request_error", apiv1.CodePayloadTooLarge,
			fmt.Sprintf("the body is larger than %d bytes", s.maxBody))
	case err != nil:
		return nil, badRequest(apiv1.CodeInvalidJSON, "could not read the body")
	}
	return body, nil
}

// decode reads a JSON body into v strictly: one object, no unknown fields, right types.
func (s *Server) decode(c *gin.Context, v any) error {
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	return decodeStrict(body, v)
}

func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest(apiv1.CodeInvalidJSON, "the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest(apiv1.CodeInvalidJSON, "the body must hold a single JSON object")
	}
	return nil
}

// jsonError explains a decoding failure without echoing the input, which may hold a key.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return badRequest(apiv1.CodeInvalidJSON, fmt.Sprintf("malformed JSON at byte %d", syntax.Offset))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return badRequest(apiv1.CodeInvalidJSON, "the body must be a JSON object")
		}
		return validation(fmt.Sprintf("field %q must be %s", field, jsonKind(typ.Type.Kind().String())))
	case errors.As(err, new(*time.ParseError)):
		return validation("times must be RFC 3339 timestamps such as 2030-01-02T15:04:05Z")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest(apiv1.CodeInvalidJSON, "the JSON body ends too early")
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	// DisallowUnknownFields reports `json: unknown field "x"`: the name is the client's own.
	if msg := err.Error(); len(msg) > 6 && msg[:6] == "json: " {
		return validation(msg[6:])
	}
	return badRequest(apiv1.CodeInvalidJSON, "malformed JSON")
}

func jsonKind(k string) string {
	switch k {
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "int", "int64", "int32", "uint32", "uint64":
		return "an integer"
	case "bool":
		return "a boolean"
	case "ptr":
		return "a value of another type"
	}
	return "a " + k
}
