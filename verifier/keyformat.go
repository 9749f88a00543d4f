package verifier

import (
	"errors"

	"github.com/keyplane/keyplane/verifier/apikey"
)

// checkKey runs apikey.Check and names the outcome as a Reason.
func checkKey(s string, buf *[apikey.MaxLen]byte) (int, Reason) {
	n, err := apikey.Check(s, buf)
	switch {
	case errors.Is(err, apikey.ErrChecksum):
		return n, ReasonBadChecksum
	case err != nil:
		return n, ReasonMalformedKey
	}
	return n, ReasonAllowed
}
