package api

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/internal/pgtest"
)

// BenchmarkCreateKey measures key creations per second through the REST API over real HTTP, with
// 16 concurrent clients, on each store. Each create is a transaction that takes the workspace lock,
// checks the key limit and appends to the change log.
func BenchmarkCreateKey(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			e := benchEnv(b, name)
			ws, err := e.admin.CreateWorkspace(context.Background(), apiv1.CreateWorkspaceRequest{Name: "bench", KeyLimit: 10_000_000})
			if err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			lat := newLatencies()
			b.SetParallelism(8) // 8 x GOMAXPROCS(2) = 16 clients
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					t0 := time.Now()
					_, err := e.admin.CreateKey(context.Background(), apiv1.CreateKeyRequest{WorkspaceID: ws.ID, Name: fmt.Sprint("k", n.Add(1))})
					lat.add(time.Since(t0))
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
			lat.report(b)
		})
	}
}

// BenchmarkVerifyEndpoint measures GET /v1/auth/verify, the central verification a service would
// call per request without an edge, with 16 concurrent clients over real HTTP.
func BenchmarkVerifyEndpoint(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			e := benchEnv(b, name)
			k, err := e.mgr.CreateKey(context.Background(), apiv1.CreateKeyRequest{Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			lat := newLatencies()
			b.SetParallelism(8)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				req, _ := http.NewRequest(http.MethodGet, e.url+"/v1/auth/verify", nil)
				req.Header.Set("Authorization", "Bearer "+k.Key)
				for pb.Next() {
					t0 := time.Now()
					resp, err := hc.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					resp.Body.Close()
					lat.add(time.Since(t0))
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
			lat.report(b)
		})
	}
}

func benchEnv(b *testing.B, backend string) *env {
	var dsn string
	switch backend {
	case "sqlite":
		dsn = b.TempDir() + "/bench.db"
	default:
		dsn = pgtest.NewDatabase(b)
	}
	return newEnvTB(b, dsn)
}

type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func newLatencies() *latencies { return &latencies{d: make([]time.Duration, 0, 1<<16)} }

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

func (l *latencies) report(b *testing.B) {
	if len(l.d) == 0 {
		return
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	q := func(p float64) float64 { return float64(l.d[int(p*float64(len(l.d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op") // throughput and latency say more than ns/op here
}
