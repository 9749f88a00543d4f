package verifier

// Error types, as the control plane uses them (controlplane/api/errors.go).
const (
	TypeAuthentication = "authentication_error"
	TypePermission     = "permission_error"
	TypeRateLimit      = "rate_limit_error"
	TypeAPI            = "api_error"
)

// Error codes. The first ones are the control plane's (controlplane/apiv1, checked by a test);
// CodeVerifierUnavailable is the edge's own: it has no usable key snapshot.
const (
	CodeInvalidAPIKey           = "invalid_api_key"
	CodeExpiredAPIKey           = "expired_api_key"
	CodeDisabledAPIKey          = "disabled_api_key"
	CodeIPNotAllowed            = "ip_not_allowed"
	CodeHostNotAllowed          = "host_not_allowed"
	CodeInsufficientPermissions = "insufficient_permissions"
	CodeRateLimitExceeded       = "rate_limit_exceeded"
	CodeVerifierUnavailable     = "verifier_unavailable"
)

// Header names and values an edge uses to carry out a Decision.
const (
	// HeaderKeyID, HeaderWorkspace and HeaderScopes go upstream with an allowed request. An edge
	// removes any incoming header of these names from every request first, so that a client can
	// never inject an identity.
	HeaderKeyID     = "x-keyplane-key-id"
	HeaderWorkspace = "x-keyplane-workspace"
	HeaderScopes    = "x-keyplane-scopes"

	HeaderWWWAuthenticate = "www-authenticate"
	// WWWAuthenticate is the value of WWW-Authenticate on every 401.
	WWWAuthenticate = `Bearer realm="keyplane"`

	HeaderRetryAfter         = "retry-after"
	HeaderRateLimitLimit     = "ratelimit-limit"
	HeaderRateLimitRemaining = "ratelimit-remaining"
	HeaderRateLimitReset     = "ratelimit-reset"

	// ContentTypeJSON is the content type of every error body.
	ContentTypeJSON = "application/json"
)

// Reason says why a Decision came out as it did: finer than the error code, for logs and metrics.
type Reason uint8

// Reasons. Several share an error code: ReasonMalformedKey, ReasonBadChecksum, ReasonUnknownKey and
// ReasonNotYetValid all answer 401 invalid_api_key.
const (
	ReasonAllowed           Reason = iota // a verified key, allowed
	ReasonFailOpen                        // no usable state and failure_mode "open": allowed, unauthenticated
	ReasonMissingKey                      // no key in the request
	ReasonMalformedKey                    // not the shape of a key (apikey.ErrMalformed)
	ReasonBadChecksum                     // the shape of a key with a wrong checksum (apikey.ErrChecksum)
	ReasonUnknownKey                      // well formed, not in the snapshot (never issued, or revoked)
	ReasonNotYetValid                     // before the key's not-before time
	ReasonExpiredKey                      // at or after the key's expiry
	ReasonDisabledKey                     // the key is disabled
	ReasonIPNotAllowed                    // the client address is outside the key's CIDRs
	ReasonHostNotAllowed                  // the origin/referer/host is not one of the key's hosts
	ReasonInsufficientScope               // the route needs a scope the key lacks
	ReasonRateLimited                     // the key's rate limit is exhausted on this instance
	ReasonNoState                         // no key snapshot at all
	ReasonStateExpired                    // the snapshot is past its expiry (and past max_staleness)
	numReasons
)

var reasonNames = [numReasons]string{
	"allowed", "fail_open", "missing_key", "malformed_key", "bad_checksum", "unknown_key",
	"not_yet_valid", "expired_key", "disabled_key", "ip_not_allowed", "host_not_allowed",
	"insufficient_scope", "rate_limited", "no_state", "state_expired",
}

// String returns a stable snake_case name, suitable for logs and metric labels.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// answer is the precomputed HTTP answer of a deny reason.
type answer struct {
	status int
	code   string
	body   string // {"error":{"type":...,"code":...,"message":...}}
}

// Messages. Like the control plane, a malformed, unknown or revoked key gets one message: the
// answer tells nothing about which keys exist.
const (
	msgInvalid     = "the API key is invalid or was revoked"
	msgNotYetValid = "the API key is not valid yet"
	msgExpired     = "the API key has expired"
	msgDisabled    = "the API key is disabled"
	msgIP          = "the key may not be used from this address"
	msgHost        = "the key may not be used from this origin or host"
	msgRate        = "rate limit exceeded; retry after the time in Retry-After"
	msgNoState     = "the API key verifier has no key snapshot yet"
	msgStale       = "the API key verifier's key snapshot is out of date"
)

func newAnswer(status int, typ, code, msg string) answer {
	return answer{status: status, code: code, body: errorJSON(typ, code, msg)}
}

// fixedAnswers are the answers that do not depend on the configuration (missing key and
// insufficient scope do: they name the key's place and the route's scopes).
var fixedAnswers = func() (a [numReasons]answer) {
	a[ReasonMalformedKey] = newAnswer(401, TypeAuthentication, CodeInvalidAPIKey, msgInvalid)
	a[ReasonBadChecksum] = a[ReasonMalformedKey]
	a[ReasonUnknownKey] = a[ReasonMalformedKey]
	a[ReasonNotYetValid] = newAnswer(401, TypeAuthentication, CodeInvalidAPIKey, msgNotYetValid)
	a[ReasonExpiredKey] = newAnswer(401, TypeAuthentication, CodeExpiredAPIKey, msgExpired)
	a[ReasonDisabledKey] = newAnswer(401, TypeAuthentication, CodeDisabledAPIKey, msgDisabled)
	a[ReasonIPNotAllowed] = newAnswer(403, TypePermission, CodeIPNotAllowed, msgIP)
	a[ReasonHostNotAllowed] = newAnswer(403, TypePermission, CodeHostNotAllowed, msgHost)
	a[ReasonRateLimited] = newAnswer(429, TypeRateLimit, CodeRateLimitExceeded, msgRate)
	a[ReasonNoState] = newAnswer(503, TypeAPI, CodeVerifierUnavailable, msgNoState)
	a[ReasonStateExpired] = newAnswer(503, TypeAPI, CodeVerifierUnavailable, msgStale)
	return a
}()

// errorJSON renders the control plane's error shape. It runs at load time only.
func errorJSON(typ, code, msg string) string {
	b := make([]byte, 0, 64+len(typ)+len(code)+len(msg))
	b = append(b, `{"error":{"type":`...)
	b = appendJSONString(b, typ)
	b = append(b, `,"code":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, msg)
	b = append(b, "}}"...)
	return string(b)
}

// appendJSONString appends s as a JSON string, escaping what JSON requires and, as encoding/json
// does, <, > and & (so a body is safe to embed in HTML).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
