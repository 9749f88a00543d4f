// Command floor is a proxy-wasm filter that does nothing but make the calls into the proxy that
// keyplane's filter makes for an allowed request of a key without restrictions, and let the
// request go on. Benchmarks load it beside the keyplane module, so the host's own cost per request
// (the proxy-wasm SDK's emulator, wazero, the ABI's copies) can be told apart from the module's.
// It is never deployed.
package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/keyplane/keyplane/wasm/wasiclock"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct{ types.DefaultPluginContext }

func (*plugin) NewHttpContext(uint32) types.HttpContext { return &request{} }

type request struct{ types.DefaultHttpContext }

func (*request) OnHttpRequestHeaders(int, bool) types.Action {
	_ = wasiclock.Now()
	_, _ = proxywasm.GetHttpRequestHeader(":path")
	_, _ = proxywasm.GetHttpRequestHeader("authorization")
	_, _ = proxywasm.GetHttpRequestHeader(":method")
	_ = proxywasm.RemoveHttpRequestHeader("authorization")
	_ = proxywasm.ReplaceHttpRequestHeader("x-keyplane-key-id", "key_0000000000000000000000000")
	_ = proxywasm.ReplaceHttpRequestHeader("x-keyplane-workspace", "ws_00000000000000000000")
	_ = proxywasm.ReplaceHttpRequestHeader("x-keyplane-scopes", "events:write")
	return types.ActionContinue
}
