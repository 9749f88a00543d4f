//go:build !tinygo

package verifier

import "crypto/sha256"

// keyHash is SHA-256 of a key: crypto/sha256 (assembly) in Go builds.
func keyHash(p []byte) [32]byte { return sha256.Sum256(p) }
