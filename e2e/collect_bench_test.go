// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"strconv"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/collector"
	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/internal/cgroups"
	"github.com/podflow/podflow_exporter/internal/testnet"
	"github.com/podflow/podflow_exporter/naming"
)

// BenchmarkScrape measures one scrape with N flows in the kernel tables:
// the real tables are filled by real packets (one datagram to each of N
// addresses), then drained, summed, resolved and emitted by the real
// collectors. With the default budget (5000 series per family) most of 100k
// flows fold into __overflow__; with budget=N every flow is its own series
// (2 per flow here: bytes and packets sent).
//
//	go test -run '^$' -bench Scrape -benchtime 5x ./e2e/
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("flows=%d/drain", n), func(b *testing.B) { benchScrape(b, n, n, "drain") })
		for _, budget := range []int{5000, n} {
			for _, stage := range []string{"collect", "gather+encode"} {
				b.Run(fmt.Sprintf("flows=%d/budget=%d/%s", n, budget, stage), func(b *testing.B) { benchScrape(b, n, budget, stage) })
			}
		}
	}
}

// benchScrape times one stage of a scrape: drain (the kernel tables only),
// collect (drain, resolve, emit: what podflow controls), or gather+encode
// (all of it, as /metrics does, client_golang's part included).
func benchScrape(b *testing.B, n, budget int, stage string) {
	env := testnet.New(b)
	// The sprayed addresses are routed to a sink namespace that drops them.
	ns, sink := env.Netns("spray"), env.Netns("sink")
	_, lsink := env.Veth(ns, []netip.Prefix{netip.MustParsePrefix("10.63.0.1/24")}, sink, []netip.Prefix{netip.MustParsePrefix("10.63.0.2/24")})
	ns.Run("ip", "route", "add", "10.64.0.0/10", "via", lsink.Addr(false).String())
	cg := env.Root.Child("sprayer")

	tr, err := bpf.Load(&bpf.Config{FlowTableEntries: uint32(n + n/4), TCPTableEntries: 1024, LatencyTableEntries: 1024, DropTableEntries: 1024, RequestTableEntries: 1024}, bpf.Options{
		CgroupRoot: env.Root.Path, Programs: []string{bpf.ProgFlowsEgress, bpf.ProgFlowsIngress, bpf.ProgTCPState},
		EphemeralPorts: bpf.ReadEphemeralPortRange(),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	flags := collectorConfig(b, budget)
	pcfg := flow.DefaultConfig()
	pipeline, err := flow.New(&pcfg, flow.Options{
		Inputs:   flow.FromTracer(tr, flags.Tables()...),
		Resolver: naming.NewHostResolver(cgroups.NewIndex(env.Root.Path), naming.RemoteByAddress),
	}, log.NewNopLogger())
	if err != nil {
		b.Fatal(err)
	}
	pf, err := collector.New(flags, collector.Sources{Pipeline: pipeline, Tracer: tr}, log.NewNopLogger())
	if err != nil {
		b.Fatal(err)
	}
	defer pf.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(pf)

	spray := func() { testnet.RunHelper(b, ns, cg, "udp-spray", "10.64.0.1", strconv.Itoa(n), "53") }
	scrape := func() int {
		switch stage {
		case "drain":
			flows := 0
			if _, err := bpf.Flows.Drain(tr, func(bpf.FlowKey, bpf.FlowCounters) { flows++ }); err != nil {
				b.Fatal(err)
			}
			return 2 * flows
		case "gather+encode":
			mfs, err := reg.Gather()
			if err != nil {
				b.Fatal(err)
			}
			enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
			series := 0
			for _, mf := range mfs {
				series += len(mf.GetMetric())
				if err := enc.Encode(mf); err != nil {
					b.Fatal(err)
				}
			}
			return series
		}
		ch := make(chan prometheus.Metric, 1024)
		done := make(chan int)
		go func() {
			c := 0
			for range ch {
				c++
			}
			done <- c
		}()
		pf.Collect(ch)
		close(ch)
		return <-done
	}
	// Warm up: the first scrape creates every series.
	spray()
	scrape()

	var mallocs uint64
	series := 0
	for b.Loop() {
		b.StopTimer()
		spray()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		series = scrape()
		b.StopTimer()
		runtime.ReadMemStats(&after)
		mallocs += after.Mallocs - before.Mallocs
		b.StartTimer()
	}
	per := float64(b.N)
	elapsed := b.Elapsed()
	b.ReportMetric(float64(elapsed.Microseconds())/1000/per, "ms/scrape")
	b.ReportMetric(float64(elapsed.Nanoseconds())/per/float64(n), "ns/flow")
	b.ReportMetric(float64(elapsed.Nanoseconds())/per/float64(series), "ns/series")
	b.ReportMetric(float64(mallocs)/per/float64(n), "allocs/flow")
	b.ReportMetric(float64(series), "series")
}

// collectorConfig enables only the flows collector, with a budget of n.
func collectorConfig(b *testing.B, n int) *collector.Config {
	app := kingpin.New("bench", "")
	cfg := collector.AddFlags(app)
	if _, err := app.Parse([]string{"--collector.max-series-per-family=" + strconv.Itoa(n), "--no-collector.tcp", "--no-collector.latency", "--no-collector.drops", "--no-collector.bpf",
		"--no-collector.dns", "--no-collector.http"}); err != nil {
		b.Fatal(err)
	}
	return cfg
}
