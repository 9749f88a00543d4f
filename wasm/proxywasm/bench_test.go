package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/keyplane/keyplane/wasm/wasmtest"
)

// BenchmarkModule measures one request's headers through the proxy-wasm filter in the SDK's host
// emulator on wazero (the proxy-wasm ABI included), with 100K keys, for both builds.
func BenchmarkModule(b *testing.B) {
	log.SetOutput(io.Discard) // the emulator logs every dispatched call, which splits benchmark lines
	defer log.SetOutput(os.Stderr)
	const n = 100_000
	syn := wasmtest.NewSynthetic(b, n)
	cfg := fmt.Sprintf(`{"routes":[{"method":"POST","path":"/events","scopes":["events:write"]}],`+
		`"control_plane":{"cluster":"keyplane","token":"t"},"signing_keys":%s}`, syn.SigningKeys)
	run := func(b *testing.B, vm types.VMContext) {
		host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration([]byte(cfg)))
		defer reset()
		if host.StartPlugin() != types.OnPluginStartStatusOK {
			b.Fatal("plugin start")
		}
		calls := host.GetCalloutAttributesFromContext(proxytest.PluginContextID)
		host.CallOnHttpCallResponse(calls[0].CalloutID, [][2]string{{":status", "200"}}, nil, syn.Blob)
		hs := [][2]string{{":method", "POST"}, {":path", "/events"}, {":authority", "api.example.com"}, {"authorization", ""}}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			hs[3][1] = "Bearer " + syn.Keys[i%n]
			id := host.InitializeHttpContext()
			if host.CallOnRequestHeaders(id, hs, false) != types.ActionContinue {
				b.Fatalf("denied: %+v", host.GetSentLocalResponse(id))
			}
			host.CompleteHttpContext(id)
		}
	}
	// The same filter compiled natively into the emulator: the emulator's own cost per request,
	// which the wasm rows include too.
	b.Run("native-in-emulator/keys=100K", func(b *testing.B) { run(b, &vm{}) })
	for _, m := range wasmtest.Modules(b, "proxywasm") {
		b.Run(fmt.Sprintf("%s/keys=100K", m.Name), func(b *testing.B) {
			wvm, err := proxytest.NewWasmVMContext(m.Bytes)
			if err != nil {
				b.Fatal(err)
			}
			defer wvm.Close()
			run(b, wvm)
		})
	}
}
