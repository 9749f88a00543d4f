// Command loadgen puts load on one URL from its own process: C concurrent keep-alive clients for
// a duration, then one line with the throughput and latency percentiles.
//
//	go run ./internal/loadgen -url http://127.0.0.1:8080/v1/auth/verify -token KEY -c 32 -d 5s [-rate 10000]
//
// Output: "requests=N errors=E rps=R p50_ms=A p99_ms=B".
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "", "URL to GET")
	token := flag.String("token", "", "bearer token")
	conc := flag.Int("c", 32, "concurrent clients")
	dur := flag.Duration("d", 5*time.Second, "duration")
	rate := flag.Int("rate", 0, "requests per second in all (0: as fast as the clients go)")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -url is required")
		os.Exit(2)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *conc, MaxConnsPerHost: *conc}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	deadline := time.Now().Add(*dur)
	var mu sync.Mutex
	var lat []time.Duration
	errors := 0
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *conc; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, *url, nil)
			req.Header.Set("Authorization", "Bearer "+*token)
			mine := make([]time.Duration, 0, 1<<14)
			bad := 0
			// With a rate, each client sends on its own schedule (open loop): latency is measured
			// from the scheduled time, so a slow server cannot hide its queueing.
			var every time.Duration
			next := time.Now()
			if *rate > 0 {
				every = time.Duration(int64(*conc) * int64(time.Second) / int64(*rate))
				next = next.Add(time.Duration(i) * every / time.Duration(*conc))
			}
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if every > 0 {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					t0 = next
					next = next.Add(every)
				}
				resp, err := client.Do(req)
				if err != nil {
					bad++
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errors += bad
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	took := time.Since(start)
	if len(lat) == 0 {
		fmt.Printf("requests=0 errors=%d rps=0 p50_ms=0 p99_ms=0\n", errors)
		os.Exit(1)
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	fmt.Printf("requests=%d errors=%d rps=%.0f p50_ms=%.3f p99_ms=%.3f\n", len(lat), errors, float64(len(lat))/took.Seconds(), q(0.5), q(0.99))
}
