// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/bpf"
)

// LatencySource yields the latency samples recorded since its previous drain.
type LatencySource interface {
	// DrainLatency hands fn each flow's per-CPU increments of one bucket
	// of one histogram (the key's Variant, see bpf.LatencyBucketOf) and
	// returns the per-CPU samples that no flow entry could hold.
	DrainLatency(fn func(bpf.FlowKey, []bpf.LatencyBucket)) ([]bpf.LatencyOverflow, error)
}

func init() {
	// tcp_state records the connect latency, tcp_rtt the smoothed RTT.
	register("latency", true, []string{bpf.ProgTCPRTT, bpf.ProgTCPState}, newLatencyCollector)
}

// latencyCollector exports TCP round-trip and connect times per flow as
// histograms. Each family's budget (--collector.flows.max-series) counts
// label sets; one label set is histSeries (24) series.
type latencyCollector struct {
	src LatencySource
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex
	table    *histTable
	resolved resolutions[bpf.LatencyBucket]
}

func newLatencyCollector(cfg *Config, src Sources) (Collector, error) {
	if src.Latency == nil || src.Resolver == nil {
		return nil, errNoSource
	}
	families := make([]columnSpec, bpf.NumHistograms)
	families[bpf.HistRTT] = columnSpec{"podflow_tcp_rtt_seconds",
		"Smoothed round-trip time of TCP sockets, one sample each time the kernel updates it, per flow."}
	families[bpf.HistConnect] = columnSpec{"podflow_tcp_connect_duration_seconds",
		"Time TCP connects of local sockets took from SYN sent to established, per (client) flow."}
	c := &latencyCollector{
		src:   src.Latency,
		ttl:   cfg.IdleTTL,
		now:   time.Now,
		table: newHistTable(src.Schema.identityLabels(), cfg.MaxSeries, families...),
	}
	c.resolved = newResolutions("latency", src.Resolver, &c.table.peers, cfg.HoldUnresolved,
		func(a, b bpf.LatencyBucket) bpf.LatencyBucket { a.Add(&b); return a },
		func(k bpf.FlowKey, sk seriesKey, v bpf.LatencyBucket, now int64) {
			h, b := bpf.LatencyBucketOf(k.Variant)
			c.table.add(&sk, h, b, &v, now)
		})
	return c, nil
}

func (c *latencyCollector) Describe(ch chan<- *prometheus.Desc) {
	c.table.describe(ch)
	describeFamilyStats(ch)
	describeResolutionStats(ch)
}

func (c *latencyCollector) Update(ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now().UnixNano()
	c.resolved.start()
	overflow, err := c.src.DrainLatency(func(k bpf.FlowKey, perCPU []bpf.LatencyBucket) {
		h, b := bpf.LatencyBucketOf(k.Variant)
		if h < 0 || int(h) >= bpf.NumHistograms || b >= bpf.LatencyBuckets {
			return
		}
		var sum bpf.LatencyBucket
		for i := range perCPU {
			sum.Add(&perCPU[i])
		}
		// Every bucket of a flow is one label set: resolved ignores the variant.
		c.resolved.add(k, sum, now)
	})
	c.resolved.finish(now)
	for i := range overflow {
		for h, fam := range c.table.families {
			for b := range bpf.LatencyBuckets {
				fam.addOverflow(b, overflow[i].Bucket(bpf.Histogram(h), b), now)
			}
		}
	}
	c.resolved.expire(now - int64(c.ttl))
	c.table.expire(now, c.ttl)
	c.table.collect(ch)
	c.table.collectStats(ch)
	c.resolved.collectStats(ch)
	return err
}
