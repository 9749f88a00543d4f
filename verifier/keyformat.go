package verifier

import (
	"errors"
	"unsafe"

	"github.com/keyplane/keyplane/verifier/apikey"
)

// checkKey runs apikey.Check and names the outcome as a Reason.
func checkKey(s string) Reason {
	err := apikey.Check(s)
	switch {
	case errors.Is(err, apikey.ErrChecksum):
		return ReasonBadChecksum
	case err != nil:
		return ReasonMalformedKey
	}
	return ReasonAllowed
}

// hashKey is SHA-256 of the key, read in place: keyHash only reads its argument, and a []byte
// conversion of a key longer than 32 bytes would allocate (or, copied to a stack buffer first,
// cost a copy each request).
func hashKey(s string) [32]byte {
	return keyHash(unsafe.Slice(unsafe.StringData(s), len(s)))
}
