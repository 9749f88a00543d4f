//go:build embedwasm

package cli

import _ "embed"

// embeddedModule is the TinyGo http-wasm module, embedded by `make run` (-tags embedwasm).
//
//go:embed embedded/httpwasm.wasm
var embeddedModule []byte
