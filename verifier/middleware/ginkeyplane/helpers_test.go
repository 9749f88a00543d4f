package ginkeyplane_test

import "crypto/ed25519"

type publicKey = ed25519.PublicKey

func ed25519Key(seed [32]byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(seed[:]) }
