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
		run{pkg: "./wasm/verifyprobe", pattern: "InGuest", benchtime: "200x", count: min(count, 3), prefix: "probe/"},
		run{pkg: "./wasm/httpwasm", pattern: "Module/(native|httpwasm|host)", benchtime: "5000x", count: min(count, 3), prefix: "httpwasm/"},
		run{pkg: "./wasm/httpwasm", pattern: "Module/paired", benchtime: "1000x", count: min(count, 3), prefix: "httpwasm/"},
		run{pkg: "./wasm/proxywasm", pattern: "Module/(native|proxywasm|host)", benchtime: "2000x", count: min(count, 3), prefix: "proxywasm/"},
		run{pkg: "./wasm/proxywasm", pattern: "Module/paired", benchtime: "150x", count: min(count, 3), prefix: "proxywasm/"},
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
	verifyRows := func(size string) []row {
		paired := "verifier/Verify/keys=" + size + "/paired"
		return []row{
			{label: "native verifier, " + size + " keys", bench: "verifier/Verify/keys=" + size + "/verify", unit: "ns/op"},
			{label: "paired with one SHA-256 of the same keys, " + size + ": verifier", bench: paired, unit: "verify-ns/op"},
			{label: "paired, " + size + ": one SHA-256", bench: paired, unit: "sha256-ns/op"},
			{label: "paired, " + size + ": verifier vs one SHA-256 (goal at most 2x)", bench: paired, unit: "x-sha256"},
		}
	}
	return []section{
		{
			title: "Verification, per request",
			intro: "One decision on a key, native (package verifier: format, lookup through a view whose delta revokes 1%, restrictions, scopes, rate limit; 0 allocations), next to one SHA-256 of the same key (the physical floor), and next to what users would otherwise pick per request: a bcrypt cost-10 compare and a PostgreSQL lookup of the key's hash over loopback (100K keys, pgx).",
			rows: append(append(append(verifyRows("1K"), verifyRows("100K")...), verifyRows("1M")...),
				row{label: "native verifier allocations, 1M keys", bench: "verifier/Verify/keys=1M/verify", unit: "allocs/op"},
				row{label: "one SHA-256 of a key", bench: "baseline/Baseline/sha256", unit: "ns/op"},
				row{label: "bcrypt cost-10 compare", bench: "baseline/Baseline/bcrypt-cost10-compare", unit: "ns/op",
					base: "verifier/Verify/keys=1M/verify", baseUnit: "ns/op", note: "the native verifier at 1M keys"},
				row{label: "PostgreSQL lookup over loopback, 100K keys", bench: "baseline/Baseline/postgres-lookup/keys=100K", unit: "ns/op",
					base: "verifier/Verify/keys=100K/verify", baseUnit: "ns/op", note: "the native verifier at 100K keys"},
			),
		},
		{
			title: "WebAssembly modules, per request and per instance",
			intro: "Each module loaded from build/wasm in wazero through a third-party host, 100K keys. The paired rows alternate rounds of 16 requests between the module and the native verifier alone (package verifier, same keys and routes, the request's fields given directly) in one process, so that both see this machine at the same speed; their ratio is the goal's (within 10x). The host floor is a TinyGo guest that makes the same calls into the host as keyplane's module for an allowed request and does nothing else: what the host costs per request before any verification. Inside the guest: wasm/verifyprobe, the verifier alone in a TinyGo module, no host calls. http-wasm: http-wasm-host-go's net/http middleware, no network. proxy-wasm: the proxy-wasm Go SDK's host emulator (proxytest), whose bridge is reflection and a new wazero call engine for every value it copies into the guest; no Envoy binary is reachable here.",
			rows: []row{
				{label: "inside a TinyGo guest: one decision, allowed key", bench: "probe/InGuest/allowed/keys=100K", unit: "guest-ns/op"},
				{label: "the same by the native verifier, paired", bench: "probe/InGuest/allowed/keys=100K", unit: "native-ns/op"},
				{label: "inside a TinyGo guest vs native", bench: "probe/InGuest/allowed/keys=100K", unit: "x-native"},
				{label: "inside a TinyGo guest: one decision, unknown key", bench: "probe/InGuest/unknown-key/keys=100K", unit: "guest-ns/op"},
				{label: "http-wasm, native middleware on the same net/http path", bench: "httpwasm/Module/native-middleware/keys=100K", unit: "ns/op"},
				{label: "http-wasm, host floor", bench: "httpwasm/Module/host-floor/keys=100K", unit: "ns/op",
					base: "httpwasm/Module/native-middleware/keys=100K", baseUnit: "ns/op", note: "native middleware"},
				{label: "http-wasm, TinyGo module", bench: "httpwasm/Module/httpwasm_(TinyGo)/keys=100K", unit: "ns/op",
					base: "httpwasm/Module/native-middleware/keys=100K", baseUnit: "ns/op", note: "native middleware"},
				{label: "http-wasm, mainline Go module", bench: "httpwasm/Module/httpwasm_(Go)/keys=100K", unit: "ns/op",
					base: "httpwasm/Module/native-middleware/keys=100K", baseUnit: "ns/op", note: "native middleware"},
				{label: "http-wasm paired: TinyGo module", bench: "httpwasm/Module/paired/keys=100K", unit: "module-ns/op"},
				{label: "http-wasm paired: host floor", bench: "httpwasm/Module/paired/keys=100K", unit: "floor-ns/op"},
				{label: "http-wasm paired: native verifier", bench: "httpwasm/Module/paired/keys=100K", unit: "native-ns/op"},
				{label: "http-wasm paired: TinyGo module vs native verifier (goal within 10x)", bench: "httpwasm/Module/paired/keys=100K", unit: "x-native"},
				{label: "http-wasm paired: host floor vs native verifier", bench: "httpwasm/Module/paired/keys=100K", unit: "floor-x-native"},
				{label: "http-wasm TinyGo, guest memory per instance, 100K keys", bench: "httpwasm/Module/httpwasm_(TinyGo)/keys=100K", unit: "mem-MiB/instance"},
				{label: "http-wasm Go, guest memory per instance, 100K keys", bench: "httpwasm/Module/httpwasm_(Go)/keys=100K", unit: "mem-MiB/instance"},
				{label: "http-wasm TinyGo, instance start and snapshot load", bench: "httpwasm/Module/httpwasm_(TinyGo)/keys=100K", unit: "start-ms"},
				{label: "http-wasm Go, instance start and snapshot load", bench: "httpwasm/Module/httpwasm_(Go)/keys=100K", unit: "start-ms"},
				{label: "proxy-wasm, native filter in the emulator", bench: "proxywasm/Module/native-in-emulator/keys=100K", unit: "ns/op"},
				{label: "proxy-wasm, host floor in the emulator", bench: "proxywasm/Module/host-floor/keys=100K", unit: "ns/op",
					base: "proxywasm/Module/native-in-emulator/keys=100K", baseUnit: "ns/op", note: "native filter in the emulator"},
				{label: "proxy-wasm, TinyGo module in the emulator", bench: "proxywasm/Module/proxywasm_(TinyGo)/keys=100K", unit: "ns/op",
					base: "proxywasm/Module/host-floor/keys=100K", baseUnit: "ns/op", note: "the host floor"},
				{label: "proxy-wasm, mainline Go module in the emulator", bench: "proxywasm/Module/proxywasm_(Go)/keys=100K", unit: "ns/op",
					base: "proxywasm/Module/host-floor/keys=100K", baseUnit: "ns/op", note: "the host floor"},
				{label: "proxy-wasm paired: TinyGo module vs native verifier (goal within 10x)", bench: "proxywasm/Module/paired/keys=100K", unit: "x-native"},
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
