package api

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/internal/pgtest"
)

// BenchmarkCreateKey measures key creations per second through the REST API over real HTTP, with
// 16 concurrent clients, on each store, into one workspace and spread over 8. Each create is a
// transaction that takes its workspace's lock until commit (which keeps the change log gap-free
// in commit order), so one workspace is bounded by commit latency and workspaces scale apart.
func BenchmarkCreateKey(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		for _, nws := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/workspaces=%d", name, nws), func(b *testing.B) {
				e := benchEnv(b, name)
				ws := make([]string, nws)
				for i := range ws {
					w, err := e.admin.CreateWorkspace(context.Background(), apiv1.CreateWorkspaceRequest{Name: fmt.Sprint("bench", i), KeyLimit: 10_000_000})
					if err != nil {
						b.Fatal(err)
					}
					ws[i] = w.ID
				}
				var n atomic.Int64
				lat := newLatencies()
				b.SetParallelism(8) // 8 x GOMAXPROCS(2) = 16 clients
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := n.Add(1)
						t0 := time.Now()
						_, err := e.admin.CreateKey(context.Background(), apiv1.CreateKeyRequest{WorkspaceID: ws[int(i)%nws], Name: fmt.Sprint("k", i)})
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

// BenchmarkVerifyEndpointLoad puts GET /v1/auth/verify under load from a second process
// (internal/loadgen, 32 keep-alive clients for 5 s): as fast as they go (max), and at a steady
// 10,000 req/s, the goal's rate (its p99 should stay under 5 ms). One iteration is one load run;
// run it with -benchtime 1x.
func BenchmarkVerifyEndpointLoad(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "loadgen")
	if out, err := exec.Command("go", "build", "-o", bin, "../../internal/loadgen").CombinedOutput(); err != nil {
		b.Fatalf("building loadgen: %v\n%s", err, out)
	}
	for _, tc := range []struct{ store, rate string }{{"sqlite", "max"}, {"sqlite", "10000"}, {"postgres", "max"}, {"postgres", "10000"}} {
		b.Run(tc.store+"/rate="+tc.rate, func(b *testing.B) {
			e := benchEnv(b, tc.store)
			k, err := e.mgr.CreateKey(context.Background(), apiv1.CreateKeyRequest{Name: "load"})
			if err != nil {
				b.Fatal(err)
			}
			rate := "0"
			if tc.rate != "max" {
				rate = tc.rate
			}
			var rps, p50, p99 float64
			for i := 0; i < b.N; i++ {
				out, err := exec.Command(bin, "-url", e.url+"/v1/auth/verify", "-token", k.Key, "-c", "32", "-d", "5s", "-rate", rate).Output()
				if err != nil {
					b.Fatalf("loadgen: %v: %s", err, out)
				}
				var n, errs int
				if _, err := fmt.Sscanf(string(out), "requests=%d errors=%d rps=%f p50_ms=%f p99_ms=%f", &n, &errs, &rps, &p50, &p99); err != nil || errs > 0 {
					b.Fatalf("loadgen said %q (%v)", out, err)
				}
			}
			b.ReportMetric(rps, "req/s")
			b.ReportMetric(p50, "p50-ms")
			b.ReportMetric(p99, "p99-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkRevokeKey measures revocations per second through the REST API (16 clients), each a
// transaction that takes the workspace lock and appends to the change log.
func BenchmarkRevokeKey(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			e := benchEnv(b, name)
			ws, err := e.admin.CreateWorkspace(context.Background(), apiv1.CreateWorkspaceRequest{Name: "bench", KeyLimit: 10_000_000})
			if err != nil {
				b.Fatal(err)
			}
			ids := make(chan string, b.N)
			for i := 0; i < b.N; i++ {
				k, err := e.admin.CreateKey(context.Background(), apiv1.CreateKeyRequest{WorkspaceID: ws.ID, Name: fmt.Sprint("k", i)})
				if err != nil {
					b.Fatal(err)
				}
				ids <- k.ID
			}
			close(ids)
			b.SetParallelism(8)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := e.admin.RevokeKey(context.Background(), <-ids); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "revokes/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
