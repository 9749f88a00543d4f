//go:build !embedwasm

package cli

// embeddedModule is empty in builds without -tags embedwasm: `keyplane edge` then uses --wasm or
// the native verifier.
var embeddedModule []byte
