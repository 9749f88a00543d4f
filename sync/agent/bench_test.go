package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/client"
	"github.com/keyplane/keyplane/controlplane/signing"
	"github.com/keyplane/keyplane/sync/trust"
	"github.com/keyplane/keyplane/verifier/apikey"
)

// BenchmarkRevocationPropagation measures, for N agents long-polling one control plane (SQLite)
// on this machine, the time from the REST call that revokes a key until each agent refuses it.
// Each iteration revokes one key; p50 and p99 are over every agent of every iteration.
func BenchmarkRevocationPropagation(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) { benchPropagation(b, n) })
	}
}

func benchPropagation(b *testing.B, n int) {
	ring, err := signing.Generate(randReader{}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	cp := &controlPlane{t: b, addr: "127.0.0.1:0", db: filepath.Join(b.TempDir(), "cp.db"), keys: signing.Static{R: ring}}
	cp.start()
	defer cp.stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	admin := client.New(client.Config{BaseURL: "http://" + cp.addr, Token: "admin"})
	ws, err := admin.CreateWorkspace(ctx, apiv1.CreateWorkspaceRequest{Name: "w", KeyLimit: 1_000_000})
	if err != nil {
		b.Fatal(err)
	}
	edge, err := admin.CreateKey(ctx, apiv1.CreateKeyRequest{WorkspaceID: ws.ID, Name: "edge", Scopes: []string{"snapshots:read"}})
	if err != nil {
		b.Fatal(err)
	}

	var mu sync.Mutex
	var watch [32]byte // the key being revoked
	var revokedAt time.Time
	var lat []time.Duration
	pending := 0
	done := make(chan struct{}, 1)
	agents := make([]*Agent, n)
	for i := range agents {
		var seen bool // per agent: has it refused the current key yet
		var myKey [32]byte
		a, err := New(Config{URL: "http://" + cp.addr, Token: edge.Key, Trusted: trust.All(ring.Public()),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			OnUpdate: func(s *State) {
				mu.Lock()
				defer mu.Unlock()
				if myKey != watch {
					myKey, seen = watch, false
				}
				if _, ok := s.Lookup(&myKey); ok || seen || revokedAt.IsZero() {
					return
				}
				seen = true
				lat = append(lat, time.Since(revokedAt))
				if pending--; pending == 0 {
					done <- struct{}{}
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
		agents[i] = a
		go a.Run(ctx)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		k, err := admin.CreateKey(ctx, apiv1.CreateKeyRequest{WorkspaceID: ws.ID, Name: fmt.Sprint("k", i)})
		if err != nil {
			b.Fatal(err)
		}
		h := apikey.Hash(k.Key)
		for _, a := range agents { // every agent holds the key before it is revoked
			for s := a.Current(); s == nil || !has(s, &h); s = a.Current() {
				time.Sleep(time.Millisecond)
			}
		}
		mu.Lock()
		watch, pending, revokedAt = h, n, time.Now()
		mu.Unlock()
		b.StartTimer()
		if _, err := admin.RevokeKey(ctx, k.ID); err != nil {
			b.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Fatalf("%d agents did not see the revocation in 30 s", pending)
		}
		mu.Lock()
		revokedAt = time.Time{}
		mu.Unlock()
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}

func has(s *State, h *[32]byte) bool { _, ok := s.Lookup(h); return ok }
