package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/keyplane/keyplane/internal/turns"
	"github.com/keyplane/keyplane/wasm/wasmtest"
)

// BenchmarkModule measures one request's headers through the proxy-wasm filter in the SDK's host
// emulator on wazero (the proxy-wasm ABI included), with 100K keys, for both builds.
func BenchmarkModule(b *testing.B) {
	log.SetOutput(io.Discard) // the emulator logs every dispatched call, which splits benchmark lines
	defer log.SetOutput(os.Stderr)
	const n = 100_000
	syn := wasmtest.NewSynthetic(b, n)
	cfg := fmt.Sprintf(`{%s,"control_plane":{"cluster":"keyplane","token":"t"},"signing_keys":%s}`, wasmtest.Policy, syn.SigningKeys)
	bearer := make([]string, n) // the Authorization values, made once: not the host's cost
	for i, k := range syn.Keys {
		bearer[i] = "Bearer " + k
	}
	// start starts the plugin in an emulator and hands it the snapshot it asked for (the host
	// floor asks for none); request sends one request with the i-th key through it.
	start := func(b *testing.B, vm types.VMContext) (request func(i int), reset func()) {
		host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration([]byte(cfg)))
		if host.StartPlugin() != types.OnPluginStartStatusOK {
			b.Fatal("plugin start")
		}
		if calls := host.GetCalloutAttributesFromContext(proxytest.PluginContextID); len(calls) > 0 {
			host.CallOnHttpCallResponse(calls[0].CalloutID, [][2]string{{":status", "200"}}, nil, syn.Blob)
		}
		hs := [][2]string{{":method", "POST"}, {":path", "/events"}, {":authority", "api.example.com"}, {"authorization", ""}}
		return func(i int) {
			hs[3][1] = bearer[i%n]
			id := host.InitializeHttpContext()
			if host.CallOnRequestHeaders(id, hs, false) != types.ActionContinue {
				b.Fatalf("denied: %+v", host.GetSentLocalResponse(id))
			}
			host.CompleteHttpContext(id)
		}, reset
	}
	run := func(b *testing.B, vm types.VMContext) {
		request, reset := start(b, vm)
		defer reset()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			request(i)
		}
	}
	// The same filter compiled natively into the emulator: the emulator's own cost per request,
	// which the wasm rows include too.
	b.Run("native-in-emulator/keys=100K", func(b *testing.B) { run(b, &vm{}) })
	modules := wasmtest.Modules(b, "proxywasm")
	modules = append(modules, wasmtest.Module{Name: "host-floor", Bytes: wasmtest.Read(b, "proxywasm-floor.wasm")})
	vms := map[string]types.VMContext{}
	for _, m := range modules {
		wvm, err := proxytest.NewWasmVMContext(m.Bytes)
		if err != nil {
			b.Fatal(err)
		}
		defer wvm.Close()
		vms[m.Name] = wvm
		b.Run(fmt.Sprintf("%s/keys=100K", m.Name), func(b *testing.B) { run(b, wvm) })
	}
	// paired: the TinyGo module and the native verifier alone (same keys and routes) in turns
	// (package turns), so that both see the machine at the same speed. (The emulator
	// holds a global lock while it runs, so the floor cannot take turns with the module: it has
	// its own row above.)
	b.Run("paired/keys=100K", func(b *testing.B) {
		mod, resetMod := start(b, vms["proxywasm (TinyGo)"]) // wasmtest.Modules skipped or failed if missing
		defer resetMod()
		v, snap := syn.Native(b, []byte(`{`+wasmtest.Policy+`}`))
		t := turns.Run(b, wasmtest.PairedRound, mod, syn.NativeCheck(b, v, snap))
		b.ReportMetric(t[0], "module-ns/op")
		b.ReportMetric(t[1], "native-ns/op")
		b.ReportMetric(t[0]/t[1], "x-native")
	})
}
