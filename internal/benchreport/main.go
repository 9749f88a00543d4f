// Command benchreport runs the project's benchmarks side by side in one run and writes
// docs/benchmarks.md: a table per area, each figure next to its baseline measured in the same run.
//
//	go run ./internal/benchreport [-quick] [-out docs/benchmarks.md]
//
// It is what `make bench` (and `make bench-quick`) runs. Every figure in the README points here.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	quick := flag.Bool("quick", false, "fewer and shorter runs, no 1M-key sizes (under 3 minutes)")
	out := flag.String("out", "docs/benchmarks.md", "where to write the report")
	flag.Parse()
	start := time.Now()
	results := map[string]map[string][]float64{} // benchmark -> unit -> values over runs
	for _, r := range runs(*quick) {
		fmt.Fprintf(os.Stderr, "benchreport: %s\n", strings.Join(r.args(), " "))
		cmd := exec.Command("go", r.args()...)
		cmd.Env = append(os.Environ(), "KEYPLANE_REQUIRE_POSTGRES=1")
		var buf bytes.Buffer
		cmd.Stdout = &buf
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %s failed: %v\n%s", r.pkg, err, buf.String())
			os.Exit(1)
		}
		parse(buf.Bytes(), r.prefix, results)
	}
	var md bytes.Buffer
	render(&md, results, *quick, time.Since(start))
	if err := os.WriteFile(*out, md.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(md.Bytes())
}

// run is one `go test -bench` invocation.
type run struct {
	pkg, pattern, benchtime string
	count                   int
	prefix                  string // names results, so two packages' Benchmark names cannot collide
}

func (r run) args() []string {
	return []string{"test", "-run", "^$", "-bench", r.pattern, "-benchtime", r.benchtime, "-count", strconv.Itoa(r.count), "-timeout", "30m", r.pkg}
}

var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// parse reads benchmark lines: name, iterations, then value-unit pairs.
func parse(out []byte, prefix string, into map[string]map[string][]float64) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name := prefix + strings.TrimPrefix(m[1], "Benchmark")
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			if into[name] == nil {
				into[name] = map[string][]float64{}
			}
			into[name][f[i+1]] = append(into[name][f[i+1]], v)
		}
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if _, v, ok := strings.Cut(l, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}
