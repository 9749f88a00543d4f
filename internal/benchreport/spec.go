package main

import (
	"bytes"
	"fmt"
	"runtime"
	"time"
)

// runs lists the benchmark invocations; quick trims sizes and repetitions.
func runs(quick bool) []run {
	count, long := 5, "3s"
	if quick {
		count, long = 1, "1s"
	}
	rs := []run{
		{pkg: "./controlplane/api", pattern: "CreateKey|VerifyEndpoint", benchtime: long, count: min(count, 3), prefix: "api/"},
		{pkg: "./sync/agent", pattern: "RevocationPropagation", benchtime: "20x", count: min(count, 3), prefix: "agent/"},
	}
	snap := run{pkg: "./sync/snapshot", pattern: "BuildFull|Open|BuildDelta", benchtime: "1x", count: count, prefix: "snapshot/"}
	if quick {
		snap.pattern = "(BuildFull|Open|BuildDelta)/(10K|100K)"
	}
	rs = append(rs, snap)
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
	return []section{
		{
			title: "Revocation propagation",
			intro: "Time from the REST call that revokes a key until each of N agents, long-polling one control plane (SQLite) on this machine, refuses it. Every agent of every iteration is a sample. The systems users compare with: Unkey up to 60 s, Kong polls every 5 s, a vendor caches 5 s, Zuplo's edge cache 60 s.",
			rows: []row{
				{label: "10 agents, p50", bench: "agent/RevocationPropagation/agents=10", unit: "p50-ms"},
				{label: "10 agents, p99", bench: "agent/RevocationPropagation/agents=10", unit: "p99-ms"},
				{label: "100 agents, p50", bench: "agent/RevocationPropagation/agents=100", unit: "p50-ms"},
				{label: "100 agents, p99", bench: "agent/RevocationPropagation/agents=100", unit: "p99-ms"},
			},
		},
		{
			title: "Snapshots",
			intro: "Signed full snapshots and deltas (docs/snapshot-format.md). Goals at 1M keys: build under 2 s, at most 24 bytes per key on the wire and 48 resident at an edge.",
			rows: []row{
				{label: "build, 10K keys", bench: "snapshot/BuildFull/10K", unit: "ns/op"},
				{label: "build, 100K keys", bench: "snapshot/BuildFull/100K", unit: "ns/op"},
				{label: "build, 1M keys", bench: "snapshot/BuildFull/1M", unit: "ns/op"},
				{label: "wire bytes per key, 1M", bench: "snapshot/BuildFull/1M", unit: "wire-B/key"},
				{label: "wire bytes per key, 100K", bench: "snapshot/BuildFull/100K", unit: "wire-B/key"},
				{label: "load and verify, 1M keys", bench: "snapshot/Open/1M", unit: "ns/op"},
				{label: "resident bytes per key, 1M", bench: "snapshot/Open/1M", unit: "resident-B/key"},
				{label: "resident bytes per key, 100K", bench: "snapshot/Open/100K", unit: "resident-B/key"},
				{label: "delta bytes per change, 1M keys, 1% revoked", bench: "snapshot/BuildDelta/1M/rev=1pct", unit: "delta-B/change"},
				{label: "filter bytes per revoked key, 1M keys, 1% revoked", bench: "snapshot/BuildDelta/1M/rev=1pct", unit: "filter-B/revoked"},
				{label: "filter bytes per revoked key, 100K keys, 10% revoked", bench: "snapshot/BuildDelta/100K/rev=10pct", unit: "filter-B/revoked"},
			},
		},
		{
			title: "Control plane",
			intro: "Through the REST API over loopback HTTP, 16 concurrent clients in the same process as the server (so client and server share the 2 cores). PostgreSQL runs with durable commits. Goal: at least 1,000 key creations/s on PostgreSQL.",
			rows: []row{
				{label: "key creations, SQLite", bench: "api/CreateKey/sqlite", unit: "creates/s"},
				{label: "key creations, PostgreSQL", bench: "api/CreateKey/postgres", unit: "creates/s"},
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
