package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/http-wasm/http-wasm-host-go/handler"
	nethttp "github.com/http-wasm/http-wasm-host-go/handler/nethttp"
	"github.com/tetratelabs/wazero"

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
	const n = 100_000
	syn := wasmtest.NewSynthetic(b, n)
	dir := b.TempDir()
	syn.WriteStateDir(b, dir)
	cfg := []byte(fmt.Sprintf(`{"routes":[{"method":"POST","path":"/events","scopes":["events:write"]}],"snapshot_dir":%q}`, dir))
	bearer := make([]string, n) // the Authorization values, made once: not the host's cost
	for i, k := range syn.Keys {
		bearer[i] = "Bearer " + k
	}
	// The native verifier behind the same net/http handler path: what the host's part costs.
	b.Run("native-middleware/keys=100K", func(b *testing.B) {
		vcfg, err := verifier.ParseConfig(cfg)
		if err != nil {
			b.Fatal(err)
		}
		v, err := verifier.New(vcfg)
		if err != nil {
			b.Fatal(err)
		}
		snap, err := snapshot.Open(syn.Blob, syn.Trusted, snapshot.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		h := middleware.NewWithSource(v, staticSource{snap}).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		serve(b, h, bearer)
	})
	modules := wasmtest.Modules(b, "httpwasm")
	if floor, err := os.ReadFile(filepath.Join(wasmtest.Dir(), "httpwasm-floor.wasm")); err == nil {
		modules = append(modules, wasmtest.Module{Name: "host-floor", Bytes: floor})
	}
	for _, m := range modules {
		b.Run(fmt.Sprintf("%s/keys=100K", m.Name), func(b *testing.B) {
			ctx := context.Background()
			rt := wazero.NewRuntime(ctx)
			mc := wazero.NewModuleConfig().WithStartFunctions("_initialize").WithSysWalltime().WithSysNanotime().
				WithFSConfig(wazero.NewFSConfig().WithReadOnlyDirMount(dir, dir))
			start := time.Now()
			mw, err := nethttp.NewMiddleware(ctx, m.Bytes, handler.GuestConfig(cfg), handler.ModuleConfig(mc),
				handler.Runtime(func(context.Context) (wazero.Runtime, error) { return rt, nil }))
			if err != nil {
				b.Fatal(err)
			}
			defer mw.Close(ctx)
			h := mw.NewHandler(ctx, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			req := httptest.NewRequest("POST", "/events", nil)
			req.Header.Set("Authorization", "Bearer "+syn.Keys[0])
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req) // the first request loads the snapshot in the eagerly made instance
			started := time.Since(start)
			if w.Code != 200 {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
			var mem uint32
			if mod := rt.Module("1"); mod != nil {
				mem = mod.Memory().Size()
			}
			serve(b, h, bearer)
			b.StopTimer()
			b.ReportMetric(float64(mem)/(1<<20), "mem-MiB/instance")
			b.ReportMetric(float64(started.Microseconds())/1000, "start-ms")
		})
	}
}

// serve times b.N requests through h, each with the next key, on one reused request and a
// response writer that only keeps the status: what is timed is the handler, not httptest's
// allocations.
func serve(b *testing.B, h http.Handler, bearer []string) {
	req := httptest.NewRequest("POST", "/events", nil)
	w := &statusWriter{h: http.Header{}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
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
