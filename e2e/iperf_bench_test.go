// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// BenchmarkIperf measures TCP throughput across a veth pair with the
// exporter running (attached at the real cgroup root, scraped every second)
// and without it, alternating (without, with, with, without, ...) so drift
// hits both equally, and reports the median of the per-round ratios.
//
//	go test -run '^$' -bench Iperf -benchtime 6x ./e2e/
//
// Each iteration is one round: two runs of 5 seconds.
func BenchmarkIperf(b *testing.B) {
	const seconds = 5
	env := testnet.New(b)
	a, c := env.Netns("iperf-a"), env.Netns("iperf-b")
	_, lc := env.Veth(a, []netip.Prefix{netip.MustParsePrefix("10.220.0.1/24")}, c, []netip.Prefix{netip.MustParsePrefix("10.220.0.2/24")})
	testnet.StartIperfServer(b, c, nil, lc.Addr(false).String())
	run := func() float64 { return testnet.Iperf(b, a, nil, lc.Addr(false).String(), seconds) }
	var exporterCPU []float64 // share of one core, per run with the exporter
	withExporter := func() float64 {
		exp := startExporter(b, "--log.level=warn")
		scrapes := scrapeEvery(exp, benchScrapeInterval(), nil)
		cpuBefore := processCPU(b, exp.cmd.Process.Pid)
		bps := run()
		cpu := processCPU(b, exp.cmd.Process.Pid) - cpuBefore
		stopScrapes(b, scrapes)
		if code := exp.stop(); code != 0 {
			b.Fatalf("exporter exit code %d", code)
		}
		exporterCPU = append(exporterCPU, cpu.Seconds()/seconds)
		return bps
	}

	var ratios, without, with []float64
	round := 0
	for b.Loop() {
		var w, wo float64
		if round%2 == 0 {
			wo, w = run(), withExporter()
		} else {
			w, wo = withExporter(), run()
		}
		round++
		ratios = append(ratios, w/wo)
		without = append(without, wo)
		with = append(with, w)
		b.Logf("round %d: without %.2f Gbit/s, with %.2f Gbit/s, ratio %.4f, exporter CPU %.2f%% of a core",
			round, wo/1e9, w/1e9, w/wo, 100*exporterCPU[len(exporterCPU)-1])
	}
	b.ReportMetric(median(with)/1e9, "Gbit/s-with")
	b.ReportMetric(median(without)/1e9, "Gbit/s-without")
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(100*median(exporterCPU), "exporter-%cpu")
}

// benchScrapeInterval is how often the benchmarks scrape the exporter: every
// second, or PODFLOW_BENCH_SCRAPE_EVERY.
func benchScrapeInterval() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("PODFLOW_BENCH_SCRAPE_EVERY")); err == nil {
		return d
	}
	return time.Second
}

// stopScrapes ends s's scrapes, failing the benchmark if any failed.
func stopScrapes(b *testing.B, s *scraper) {
	if n, errs := s.stop(); len(errs) > 0 {
		b.Fatalf("%d scrapes, failed: %v", n, errs)
	}
}

// processCPU returns the user and system CPU time process pid has used.
func processCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
