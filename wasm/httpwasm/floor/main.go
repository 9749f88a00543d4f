// Command floor is an http-wasm guest that does nothing but read the same request fields as the
// keyplane guest and pass the request on. Benchmarks load it beside the keyplane module, so the
// host's own cost per request (http-wasm-host-go, wazero, the ABI's copies) can be told apart from
// the module's. It is never deployed.
package main

import (
	"github.com/http-wasm/http-wasm-guest-tinygo/handler"
	"github.com/http-wasm/http-wasm-guest-tinygo/handler/api"
)

func main() {}

func init() {
	handler.HandleRequestFn = func(req api.Request, _ api.Response) (bool, uint32) {
		h := req.Headers()
		_ = req.GetURI()
		_ = req.GetMethod()
		_ = req.GetSourceAddr()
		h.Get("Authorization")
		h.Get("Host")
		h.Get("Origin")
		h.Get("Referer")
		h.Remove("Authorization")
		h.Set("X-Keyplane-Key-Id", "key_0000000000000000000000000")
		h.Set("X-Keyplane-Workspace", "ws_00000000000000000000")
		h.Set("X-Keyplane-Scopes", "events:write")
		return true, 0
	}
}
