// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/naming"
	"github.com/podflow/podflow_exporter/naming/namingtest"
)

// replaySource yields the same flows on every drain, like a busy node.
type replaySource struct {
	keys   []bpf.FlowKey
	perCPU []bpf.FlowCounters
}

// Drain implements flow.Source.
func (r *replaySource) Drain(fn func(bpf.FlowKey, bpf.FlowCounters)) (bpf.FlowCounters, error) {
	sum := sumOf(r.perCPU)
	for _, k := range r.keys {
		fn(k, sum)
	}
	return bpf.FlowCounters{}, nil
}

// BenchmarkFlowsCollect measures the collector's own share of a scrape
// (drain, resolve, account, emit) for n flows from a source that costs
// nothing, steady state (every series exists, or the rest in __overflow__):
//
//	go test -run '^$' -bench FlowsCollect ./collector/
func BenchmarkFlowsCollect(b *testing.B) {
	for _, c := range []struct{ n, budget int }{{1_000, 1_000}, {10_000, 10_000}, {100_000, 100_000}, {100_000, 5_000}} {
		n := c.n
		b.Run(fmt.Sprintf("flows=%d/budget=%d", n, c.budget), func(b *testing.B) {
			src := &replaySource{perCPU: []bpf.FlowCounters{{TxBytes: 100, TxPackets: 1, RxBytes: 50, RxPackets: 1}, {TxBytes: 1, TxPackets: 1}}}
			addr := netip.MustParseAddr("10.64.0.1")
			for range n {
				src.keys = append(src.keys, bpf.FlowKey{CgroupID: 1, Local: addrWeb, Remote: addr, ServerPort: 53, Protocol: 17, Role: bpf.RoleClient})
				addr = addr.Next()
			}
			cg := namingtest.Cgroups{1: "/system.slice/web.service"}
			pcfg := pipelineConfig()
			pipeline, err := flow.New(&pcfg, flow.Options{Inputs: []flow.Input{flow.Flows.From(src)}, Resolver: naming.NewHostResolver(cg, naming.RemoteByAddress)}, nopLogger())
			if err != nil {
				b.Fatal(err)
			}
			c, err := New(testConfig(c.budget, "flows"), Sources{Pipeline: pipeline}, nopLogger())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ch := make(chan prometheus.Metric, 1024)
			done := make(chan int)
			go func() {
				for {
					count := 0
					for m := range ch {
						if m == nil {
							break
						}
						count++
					}
					done <- count
				}
			}()
			collect := func() int {
				c.Collect(ch)
				ch <- nil
				return <-done
			}
			series := collect() // creates every series
			b.ReportAllocs()
			for b.Loop() {
				series = collect()
			}
			perScrape := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(perScrape*1e9/float64(n), "ns/flow")
			b.ReportMetric(perScrape*1e9/float64(series), "ns/series")
		})
	}
}
