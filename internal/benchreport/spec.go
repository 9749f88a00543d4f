package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"time"
)

// runs lists the benchmark invocations; quick trims sizes and repetitions.
func runs(quick bool) []run {
	count, long := 5, "3s"
	propagation := run{pkg: "./sync/agent", pattern: "RevocationPropagation", benchtime: "20x", count: 3, prefix: "agent/"}
	if quick {
		count, long = 1, "1s"
		propagation.pattern, propagation.count = "RevocationPropagation/agents=(10|100)$", 1
	}
	rs := []run{
		{pkg: "./controlplane/api", pattern: "CreateKey|RevokeKey|VerifyEndpoint$", benchtime: long, count: min(count, 3), prefix: "api/"},
		{pkg: "./controlplane/api", pattern: "VerifyEndpointLoad", benchtime: "1x", count: min(count, 3), prefix: "api/"},
		propagation,
	}
	snap := run{pkg: "./sync/snapshot", pattern: "BuildFull|Open|BuildDelta", benchtime: "1x", count: count, prefix: "snapshot/"}
	verify := run{pkg: "./verifier", pattern: "^BenchmarkVerify$", benchtime: "1s", count: count, prefix: "verifier/"}
	if quick {
		snap.pattern = "(BuildFull|Open|BuildDelta)/keys=(10K|100K)"
		verify.pattern, verify.benchtime = "^BenchmarkVerify$/keys=(1K|100K)/", "200ms"
	}
	rs = append(rs, snap, verify,
		run{pkg: "./internal/baseline", pattern: ".", benchtime: "20x", count: min(count, 3), prefix: "baseline/"},
		run{pkg: "./wasm/httpwasm", pattern: "Module", benchtime: "5000x", count: min(count, 3), prefix: "httpwasm/"},
		run{pkg: "./wasm/proxywasm", pattern: "Module", benchtime: "2000x", count: min(count, 3), prefix: "proxywasm/"},
	)
	return rs
}

// row is one line of a table: a metric of one benchmark, and optionally its baseline.
type row struct {
	label, bench, unit string
	base, baseUnit     string // ratio = value / baseline value, when base is set
	note               string
}

type section struct {
	title, intro string
	rows         []row
}

func sections() []section {
	verifyRow := func(size string) row {
		return row{label: "native verifier, " + size + " keys", bench: "verifier/Verify/keys=" + size + "/verify", unit: "ns/op",
			base: "verifier/Verify/keys=" + size + "/sha256", baseUnit: "ns/op", note: "one SHA-256 of the key (goal at most 2x)"}
	}
	return []section{
		{
			title: "Verification, per request",
			intro: "One decision on a key, native (package verifier: format, lookup through a view whose delta revokes 1%, restrictions, scopes, rate limit; 0 allocations), next to one SHA-256 of the same key (the physical floor), and next to what users would otherwise pick per request: a bcrypt cost-10 compare and a PostgreSQL lookup of the key's hash over loopback (100K keys, pgx).",
			rows: []row{
				verifyRow("1K"), verifyRow("100K"), verifyRow("1M"),
				{label: "native verifier allocations, 1M keys", bench: "verifier/Verify/keys=1M/verify", unit: "allocs/op"},
				{label: "one SHA-256 of a key", bench: "baseline/Baseline/sha256", unit: "ns/op"},
				{label: "bcrypt cost-10 compare", bench: "baseline/Baseline/bcrypt-cost10-compare", unit: "ns/op",
					base: "verifier/Verify/keys=1M/verify", baseUnit: "ns/op", note: "the native verifier at 1M keys"},
				{label: "PostgreSQL lookup over loopback, 100K keys", bench: "baseline/Baseline/postgres-lookup/keys=100K", unit: "ns/op",
					base: "verifier/Verify/keys=100K/verify", baseUnit: "ns/op", note: "the native verifier at 100K keys"},
			},
		},
		{
			title: "WebAssembly modules, per request and per instance",
			intro: "Each module loaded from build/wasm in wazero through a third-party host, 100K keys. http-wasm: http-wasm-host-go's net/http middleware, a request through httptest (no network), next to the native middleware on the same path. proxy-wasm: the proxy-wasm Go SDK's host emulator (proxytest), whose own bridge dominates; its native row is the same filter compiled into the emulator. No Envoy binary is reachable here, so Envoy's own per-request cost is not measured.",
			rows: []row{
				{label: "http-wasm, native middleware (baseline)", bench: "httpwasm/Module/native-middleware/keys=100K", unit: "ns/op"},
				{label: "http-wasm, host floor: a TinyGo guest that only reads and sets the same request fields", bench: "httpwasm/Module/host-floor/keys=100K", unit: "ns/op",
					base: "httpwasm/Module/native-middleware/keys=100K", baseUnit: "ns/op", note: "native middleware"},
				{label: "http-wasm, TinyGo module", bench: "httpwasm/Module/httpwasm_(TinyGo)/keys=100K", unit: "ns/op",
					base: "httpwasm/Module/native-middleware/keys=100K", baseUnit: "ns/op", note: "native middleware"},
				{label: "http-wasm, mainline Go module", bench: "httpwasm/Module/httpwasm_(Go)/keys=100K", unit: "ns/op",
					base: "httpwasm/Module/native-middleware/keys=100K", baseUnit: "ns/op", note: "native middleware"},
				{label: "http-wasm, TinyGo vs the native verifier alone", bench: "httpwasm/Module/httpwasm_(TinyGo)/keys=100K", unit: "ns/op",
					base: "verifier/Verify/keys=100K/verify", baseUnit: "ns/op", note: "native verifier (goal within 10x)"},
				{label: "http-wasm TinyGo, guest memory per instance, 100K keys", bench: "httpwasm/Module/httpwasm_(TinyGo)/keys=100K", unit: "mem-MiB/instance"},
				{label: "http-wasm Go, guest memory per instance, 100K keys", bench: "httpwasm/Module/httpwasm_(Go)/keys=100K", unit: "mem-MiB/instance"},
				{label: "http-wasm TinyGo, instance start and snapshot load", bench: "httpwasm/Module/httpwasm_(TinyGo)/keys=100K", unit: "start-ms"},
				{label: "http-wasm Go, instance start and snapshot load", bench: "httpwasm/Module/httpwasm_(Go)/keys=100K", unit: "start-ms"},
				{label: "proxy-wasm, native filter in the emulator (baseline)", bench: "proxywasm/Module/native-in-emulator/keys=100K", unit: "ns/op"},
				{label: "proxy-wasm, TinyGo module in the emulator", bench: "proxywasm/Module/proxywasm_(TinyGo)/keys=100K", unit: "ns/op",
					base: "proxywasm/Module/native-in-emulator/keys=100K", baseUnit: "ns/op", note: "native filter in the emulator"},
				{label: "proxy-wasm, mainline Go module in the emulator", bench: "proxywasm/Module/proxywasm_(Go)/keys=100K", unit: "ns/op",
					base: "proxywasm/Module/native-in-emulator/keys=100K", baseUnit: "ns/op", note: "native filter in the emulator"},
			},
		},
		{
			title: "Revocation propagation",
			intro: "Time from the REST call that revokes a key until each of N agents, long-polling one control plane (SQLite) on this machine, refuses it. Every agent of every iteration is a sample. The systems users compare with: Unkey up to 60 s, Kong polls every 5 s, a vendor caches 5 s, Zuplo's edge cache 60 s.",
			rows: []row{
				{label: "10 agents, p50", bench: "agent/RevocationPropagation/agents=10", unit: "p50-ms"},
				{label: "10 agents, p99", bench: "agent/RevocationPropagation/agents=10", unit: "p99-ms"},
				{label: "100 agents, p50", bench: "agent/RevocationPropagation/agents=100", unit: "p50-ms"},
				{label: "100 agents, p99", bench: "agent/RevocationPropagation/agents=100", unit: "p99-ms"},
				{label: "1000 agents, p50", bench: "agent/RevocationPropagation/agents=1000", unit: "p50-ms"},
				{label: "1000 agents, p99", bench: "agent/RevocationPropagation/agents=1000", unit: "p99-ms"},
			},
		},
		{
			title: "Snapshots",
			intro: "Signed full snapshots and deltas (docs/snapshot-format.md). Goals at 1M keys: build under 2 s, at most 24 bytes per key on the wire and 48 resident at an edge.",
			rows: []row{
				{label: "build, 10K keys", bench: "snapshot/BuildFull/keys=10K", unit: "ns/op"},
				{label: "build, 100K keys", bench: "snapshot/BuildFull/keys=100K", unit: "ns/op"},
				{label: "build, 1M keys", bench: "snapshot/BuildFull/keys=1M", unit: "ns/op"},
				{label: "wire bytes per key, 1M", bench: "snapshot/BuildFull/keys=1M", unit: "wire-B/key"},
				{label: "wire bytes per key, 100K", bench: "snapshot/BuildFull/keys=100K", unit: "wire-B/key"},
				{label: "load and verify, 1M keys", bench: "snapshot/Open/keys=1M", unit: "ns/op"},
				{label: "resident bytes per key, 1M", bench: "snapshot/Open/keys=1M", unit: "resident-B/key"},
				{label: "resident bytes per key, 100K", bench: "snapshot/Open/keys=100K", unit: "resident-B/key"},
				{label: "delta bytes per change, 1M keys, 1% revoked", bench: "snapshot/BuildDelta/keys=1M/rev=1pct", unit: "delta-B/change"},
				{label: "filter bytes per revoked key, 1M keys, 1% revoked", bench: "snapshot/BuildDelta/keys=1M/rev=1pct", unit: "filter-B/revoked"},
				{label: "filter bytes per revoked key, 100K keys, 10% revoked", bench: "snapshot/BuildDelta/keys=100K/rev=10pct", unit: "filter-B/revoked"},
			},
		},
		{
			title: "Control plane",
			intro: "Through the REST API over loopback HTTP. Creations, revocations and the plain verify rows: 16 concurrent clients in the server's process (client and server share the 2 cores). The load rows: internal/loadgen in a second process, 32 keep-alive clients for 5 s per run, as fast as they go or at a steady 10,000 req/s (open loop: latency counted from each request's scheduled time). PostgreSQL runs with durable commits. Creations in one workspace queue on its lock until commit (what keeps its change log gap-free in commit order), so one workspace is bounded by commit latency and workspaces scale apart. Goals: at least 1,000 key creations/s on PostgreSQL; the central verify endpoint at 10,000 req/s with p99 under 5 ms.",
			rows: []row{
				{label: "key creations, SQLite, one workspace", bench: "api/CreateKey/sqlite/workspaces=1", unit: "creates/s"},
				{label: "key creations, SQLite, spread over 8 workspaces", bench: "api/CreateKey/sqlite/workspaces=8", unit: "creates/s"},
				{label: "key creations, PostgreSQL, one workspace", bench: "api/CreateKey/postgres/workspaces=1", unit: "creates/s"},
				{label: "key creations, PostgreSQL, spread over 8 workspaces", bench: "api/CreateKey/postgres/workspaces=8", unit: "creates/s"},
				{label: "key revocations, SQLite", bench: "api/RevokeKey/sqlite", unit: "revokes/s"},
				{label: "key revocations, PostgreSQL", bench: "api/RevokeKey/postgres", unit: "revokes/s"},
				{label: "GET /v1/auth/verify from a second process, as fast as 32 clients go, SQLite", bench: "api/VerifyEndpointLoad/sqlite/rate=max", unit: "req/s"},
				{label: "the same, p99", bench: "api/VerifyEndpointLoad/sqlite/rate=max", unit: "p99-ms"},
				{label: "GET /v1/auth/verify from a second process at 10,000 req/s, SQLite", bench: "api/VerifyEndpointLoad/sqlite/rate=10000", unit: "req/s"},
				{label: "the same, p50", bench: "api/VerifyEndpointLoad/sqlite/rate=10000", unit: "p50-ms"},
				{label: "the same, p99 (goal under 5 ms)", bench: "api/VerifyEndpointLoad/sqlite/rate=10000", unit: "p99-ms"},
				{label: "GET /v1/auth/verify from a second process, as fast as 32 clients go, PostgreSQL", bench: "api/VerifyEndpointLoad/postgres/rate=max", unit: "req/s"},
				{label: "the same, p99", bench: "api/VerifyEndpointLoad/postgres/rate=max", unit: "p99-ms"},
				{label: "GET /v1/auth/verify from a second process at 10,000 req/s, PostgreSQL", bench: "api/VerifyEndpointLoad/postgres/rate=10000", unit: "req/s"},
				{label: "the same, p50", bench: "api/VerifyEndpointLoad/postgres/rate=10000", unit: "p50-ms"},
				{label: "the same, p99 (goal under 5 ms)", bench: "api/VerifyEndpointLoad/postgres/rate=10000", unit: "p99-ms"},
				{label: "GET /v1/auth/verify, SQLite", bench: "api/VerifyEndpoint/sqlite", unit: "req/s"},
				{label: "GET /v1/auth/verify, SQLite, p99", bench: "api/VerifyEndpoint/sqlite", unit: "p99-ms"},
				{label: "GET /v1/auth/verify, PostgreSQL", bench: "api/VerifyEndpoint/postgres", unit: "req/s"},
				{label: "GET /v1/auth/verify, PostgreSQL, p99", bench: "api/VerifyEndpoint/postgres", unit: "p99-ms"},
			},
		},
	}
}

func render(md *bytes.Buffer, results map[string]map[string][]float64, quick bool, took time.Duration) {
	cmd := "make bench"
	if quick {
		cmd = "make bench-quick"
	}
	fmt.Fprintf(md, "# Benchmarks\n\nWritten by `%s` (`go run ./internal/benchreport`) on %s, in %s.\n\n", cmd, time.Now().UTC().Format("2006-01-02"), took.Round(time.Second))
	fmt.Fprintf(md, "Machine: %d cores (%s), %s. Each figure is the median of the runs listed with it; ratios compare two figures of this same run.\n\n", runtime.NumCPU(), cpuModel(), runtime.Version())
	md.WriteString("This is a shared virtual machine: its speed varies between runs (one SHA-256 of a key measured from 0.5 to 1.7 µs on the day this report was first written), so absolute figures move by up to 2x from run to run; the ratios within one run are the comparison to trust.\n\n")
	fmt.Fprintf(md, "## Module sizes\n\nbuild/wasm, as `make wasm` builds them. Goal: the TinyGo proxy-wasm module under 400 KB.\n\n| module | bytes |\n| --- | ---: |\n")
	for _, f := range []string{"proxywasm.wasm", "proxywasm-go.wasm", "httpwasm.wasm", "httpwasm-go.wasm"} {
		if st, err := os.Stat("build/wasm/" + f); err == nil {
			fmt.Fprintf(md, "| %s | %d |\n", f, st.Size())
		}
	}
	md.WriteString("\n")
	for _, s := range sections() {
		fmt.Fprintf(md, "## %s\n\n%s\n\n| what | value | unit | runs | vs baseline |\n| --- | ---: | --- | ---: | --- |\n", s.title, s.intro)
		for _, r := range s.rows {
			v, ok := results[r.bench][r.unit]
			if !ok {
				fmt.Fprintf(md, "| %s | not measured |  |  |  |\n", r.label)
				continue
			}
			val, unit := median(v), r.unit
			if unit == "ns/op" && val > 1e6 {
				val, unit = val/1e6, "ms"
			}
			ratio := ""
			if bv, ok := results[r.base][r.baseUnit]; ok && r.base != "" {
				ratio = fmt.Sprintf("%.2fx %s", median(v)/median(bv), r.note)
			}
			fmt.Fprintf(md, "| %s | %s | %s | %d | %s |\n", r.label, format(val), unit, len(v), ratio)
		}
		md.WriteString("\n")
	}
}

func format(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
