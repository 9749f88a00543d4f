// Command floor is an http-wasm guest that does nothing but make the host calls the keyplane
// guest makes for an allowed request of a key without restrictions, the same way (through package
// abi), and pass the request on. Benchmarks load it beside the keyplane module, so the host's own
// cost per request (http-wasm-host-go, wazero, the ABI's copies) can be told apart from the
// module's. It is never deployed.
package main

import (
	"github.com/http-wasm/http-wasm-guest-tinygo/handler"
	"github.com/http-wasm/http-wasm-guest-tinygo/handler/api"

	"github.com/keyplane/keyplane/wasm/httpwasm/abi"
	"github.com/keyplane/keyplane/wasm/wasiclock"
)

func main() {}

func init() {
	f := abi.NewFields()
	handler.HandleRequestFn = func(api.Request, api.Response) (bool, uint32) {
		_ = wasiclock.Now()
		_ = f.URI()
		_ = f.Key("Authorization")
		_ = f.Method()
		abi.RemoveRequestHeader("Authorization")
		abi.SetRequestHeader("X-Keyplane-Key-Id", "key_0000000000000000000000000")
		abi.SetRequestHeader("X-Keyplane-Workspace", "ws_00000000000000000000")
		abi.SetRequestHeader("X-Keyplane-Scopes", "events:write")
		return true, 0
	}
}
