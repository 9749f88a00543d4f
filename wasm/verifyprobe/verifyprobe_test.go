package main

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/keyplane/keyplane/internal/turns"
	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/sync/state"
	"github.com/keyplane/keyplane/verifier"
	"github.com/keyplane/keyplane/verifier/apikey"
	"github.com/keyplane/keyplane/wasm/wasmtest"
)

var kindNames = [NumKinds]string{"allowed", "unknown-key", "bad-checksum", "malformed", "no-key", "missing-scope"}

// probe is the TinyGo module loaded in wazero over a synthetic state of n keys.
type probe struct {
	run, mallocs api.Function
	syn          *wasmtest.Synthetic
	presented    []string // the valid keys the probe presents, in its order
}

func startProbe(t testing.TB, n int) *probe {
	t.Helper()
	bin := wasmtest.Read(t, "verifyprobe.wasm")
	p := &probe{syn: wasmtest.NewSynthetic(t, n)}
	dir := t.TempDir()
	p.syn.WriteStateDir(t, dir)
	p.presented = p.syn.Keys[:min(n, 4096)]
	unknown, err := apikey.Generate("kp", "live", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	list := strings.Join(p.presented, "\n") + "\n" + unknown + "\n"
	if err := os.WriteFile(filepath.Join(dir, "keys.txt"), []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { rt.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	mod, err := rt.InstantiateWithConfig(ctx, bin, wazero.NewModuleConfig().WithStartFunctions("_initialize").
		WithSysWalltime().WithSysNanotime().WithStderr(os.Stderr).
		WithFSConfig(wazero.NewFSConfig().WithReadOnlyDirMount(dir, "/state")))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := mod.ExportedFunction("setup").Call(ctx); err != nil || res[0] != 0 {
		t.Fatalf("setup: %v %v", res, err)
	}
	p.run, p.mallocs = mod.ExportedFunction("run"), mod.ExportedFunction("mallocs")
	return p
}

// decide has the guest decide n requests of kind.
func (p *probe) decide(t testing.TB, kind, n int) {
	res, err := p.run.Call(context.Background(), uint64(kind), uint64(n))
	if err != nil || res[0] != 1 {
		t.Fatalf("run %s: %v %v (0: a decision was not the expected one)", kindNames[kind], res, err)
	}
}

func (p *probe) heapAllocs(t testing.TB) uint64 {
	res, err := p.mallocs.Call(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

// TestNoAllocationPerRequest holds the verifier, built with TinyGo and run in wazero, to no heap
// allocation per decision, for every kind of request.
func TestNoAllocationPerRequest(t *testing.T) {
	p := startProbe(t, 5000)
	for kind := 0; kind < NumKinds; kind++ {
		t.Run(kindNames[kind], func(t *testing.T) {
			p.decide(t, kind, 500) // warm: policy cache entries are made once
			before := p.heapAllocs(t)
			p.decide(t, kind, 5000)
			if got := p.heapAllocs(t) - before; got != 0 {
				t.Fatalf("%d heap allocations in 5000 decisions", got)
			}
		})
	}
}

// BenchmarkInGuest measures one decision inside the TinyGo module (the verifier alone, no host
// calls: an edge adds those) beside the same decision by the native verifier on the same state
// and keys, in turns (package turns) so that both see the machine at the same speed. 100K keys.
func BenchmarkInGuest(b *testing.B) {
	p := startProbe(b, 100_000)
	cfg, err := verifier.ParseConfig([]byte(Config))
	if err != nil {
		b.Fatal(err)
	}
	v, err := verifier.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	base, err := snapshot.Open(p.syn.Blob, p.syn.Trusted, snapshot.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	var rules state.Rules
	cur, err := rules.Restore(base, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, kind := range []int{KindAllowed, KindUnknown} {
		b.Run(kindNames[kind]+"/keys=100K", func(b *testing.B) {
			const batch = 256 // decisions per call into the guest
			req := verifier.Request{Method: "POST", Path: "/events", Host: "api.example.com"}
			if kind == KindUnknown {
				req.Key, _ = apikey.Generate("kp", "live", rand.Reader)
			}
			keys, fresh := cur.Keys(), verifier.Freshness{ExpiresAt: cur.ExpiresAt()}
			next := 0
			t := turns.Run(b, 1, func(int) { p.decide(b, kind, batch) }, func(int) {
				for i := 0; i < batch; i++ {
					if kind == KindAllowed {
						next = (next + 1) % len(p.presented)
						req.Key = p.presented[next]
					}
					if d := v.Check(&req, keys, fresh); d.Allowed != (kind == KindAllowed) {
						b.Fatal(d.Reason)
					}
				}
			})
			b.ReportMetric(t[0]/batch, "guest-ns/op")
			b.ReportMetric(t[1]/batch, "native-ns/op")
			b.ReportMetric(t[0]/t[1], "x-native")
		})
	}
}
