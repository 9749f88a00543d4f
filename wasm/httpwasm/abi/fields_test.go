package abi

import (
	"net/textproto"
	"testing"
)

func TestCanonicalMatchesNetHTTP(t *testing.T) {
	for _, name := range []string{"authorization", "x-api-key", "X-API-KEY", "x-keyplane-key-id", "a", "-x-", "already-Canonical", "x--y"} {
		if got, want := Canonical(name), textproto.CanonicalMIMEHeaderKey(name); got != want {
			t.Errorf("Canonical(%q) = %q, net/textproto says %q", name, got, want)
		}
	}
}
