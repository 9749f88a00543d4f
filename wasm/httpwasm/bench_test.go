package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/http-wasm/http-wasm-host-go/handler"
	nethttp "github.com/http-wasm/http-wasm-host-go/handler/nethttp"
	"github.com/tetratelabs/wazero"

	"github.com/keyplane/keyplane/internal/turns"
	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/verifier"
	"github.com/keyplane/keyplane/verifier/middleware"
	"github.com/keyplane/keyplane/wasm/wasmtest"
)

// BenchmarkModule measures one request through the http-wasm guest in http-wasm-host-go on
// wazero (the host ABI included, no network), with 100K keys in the snapshot, for the TinyGo and
// the mainline Go build. It also reports the guest's linear memory (one instance) and how long the
// first instance took to start and load the snapshot.
func BenchmarkModule(b *testing.B) {
	parent := b
	const n = 100_000
	syn := wasmtest.NewSynthetic(b, n)
	dir := b.TempDir()
	syn.WriteStateDir(b, dir)
	cfg := []byte(fmt.Sprintf(`{%s,"snapshot_dir":%q}`, wasmtest.Policy, dir))
	bearer := make([]string, n) // the Authorization values, made once: not the host's cost
	for i, k := range syn.Keys {
		bearer[i] = "Bearer " + k
	}
	// The native verifier behind the same net/http handler path: what the host's part costs.
	b.Run("native-middleware/keys=100K", func(b *testing.B) {
		v, snap := syn.Native(b, cfg)
		h := middleware.NewWithSource(v, staticSource{snap}).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		serve(b, h, bearer)
	})
	modules := wasmtest.Modules(b, "httpwasm")
	modules = append(modules, wasmtest.Module{Name: "host-floor", Bytes: wasmtest.Read(b, "httpwasm-floor.wasm")})
	wasmOf := map[string][]byte{}
	for _, m := range modules {
		wasmOf[m.Name] = m.Bytes
		b.Run(fmt.Sprintf("%s/keys=100K", m.Name), func(b *testing.B) {
			start := time.Now()
			h, mem := newModuleHandler(parent, m.Bytes, cfg, dir)
			req := httptest.NewRequest("POST", "/events", nil)
			req.Header.Set("Authorization", bearer[0])
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req) // the first request loads the snapshot in the eagerly made instance
			started := time.Since(start)
			if w.Code != 200 {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
			startMem := mem()
			serve(b, h, bearer)
			b.StopTimer()
			b.ReportMetric(startMem/(1<<20), "mem-MiB/instance")
			b.ReportMetric(float64(started.Microseconds())/1000, "start-ms")
		})
	}
	// paired: the TinyGo module, the host floor and the native verifier alone (the same keys and
	// configuration, the request's fields given directly) in turns (package turns).
	b.Run("paired/keys=100K", func(b *testing.B) {
		mod, _ := newModuleHandler(parent, wasmOf["httpwasm (TinyGo)"], cfg, dir)
		floor, _ := newModuleHandler(parent, wasmOf["host-floor"], cfg, dir)
		v, snap := syn.Native(b, cfg)
		toMod, toFloor := sendTo(b, mod, bearer), sendTo(b, floor, bearer)
		for i := 0; i < 1000; i++ { // warm both instances
			toMod(i)
			toFloor(i)
		}
		t := turns.Run(b, wasmtest.PairedRound, toMod, toFloor, syn.NativeCheck(b, v, snap))
		b.ReportMetric(t[0], "module-ns/op")
		b.ReportMetric(t[1], "floor-ns/op")
		b.ReportMetric(t[2], "native-ns/op")
		b.ReportMetric(t[0]/t[2], "x-native")
		b.ReportMetric(t[1]/t[2], "floor-x-native")
	})
}

// newModuleHandler loads a guest in http-wasm-host-go on its own wazero runtime, with the state
// directory mounted, and returns its handler in front of an empty upstream, and the size of one
// instance's memory.
func newModuleHandler(b *testing.B, wasm, cfg []byte, dir string) (http.Handler, func() float64) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	mc := wazero.NewModuleConfig().WithStartFunctions("_initialize").WithSysWalltime().WithSysNanotime().
		WithFSConfig(wazero.NewFSConfig().WithReadOnlyDirMount(dir, dir))
	mw, err := nethttp.NewMiddleware(ctx, wasm, handler.GuestConfig(cfg), handler.ModuleConfig(mc),
		handler.Runtime(func(context.Context) (wazero.Runtime, error) { return rt, nil }))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { mw.Close(ctx) })
	mem := func() float64 {
		if mod := rt.Module("1"); mod != nil {
			return float64(mod.Memory().Size())
		}
		return 0
	}
	return mw.NewHandler(ctx, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})), mem
}

// serve times b.N requests through h (sendTo).
func serve(b *testing.B, h http.Handler, bearer []string) {
	send := sendTo(b, h, bearer)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		send(i)
	}
}

// sendTo returns a function that sends request i through h with key i, on one reused request and
// a response writer that only keeps the status (what is timed is the handler, not httptest's
// allocations), and fails b unless it is let through.
func sendTo(b *testing.B, h http.Handler, bearer []string) func(i int) {
	req := httptest.NewRequest("POST", "/events", nil)
	w := &statusWriter{h: http.Header{}}
	return func(i int) {
		req.Header.Set("Authorization", bearer[i%len(bearer)])
		w.code = 0
		clear(w.h)
		h.ServeHTTP(w, req)
		if w.code != 0 && w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
	}
}

// statusWriter is a ResponseWriter that discards the body.
type statusWriter struct {
	h    http.Header
	code int
}

func (w *statusWriter) Header() http.Header { return w.h }
func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *statusWriter) Write(p []byte) (int, error) {
	w.WriteHeader(200)
	return len(p), nil
}

type staticSource struct{ s *snapshot.Snapshot }

func (s staticSource) Current() (verifier.Lookuper, verifier.Freshness) {
	return s.s, verifier.Freshness{}
}
