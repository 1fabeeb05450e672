// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"github.com/podflow/podflow_exporter/bpf"
)

func init() {
	// tcp_state records the connect latency, tcp_rtt the smoothed RTT.
	registerDrained("latency", bpf.TableLatency, []string{bpf.ProgTCPRTT, bpf.ProgTCPState}, newLatency)
}

// latency exports TCP round-trip and connect times per flow as
// histograms: family h holds the samples of bpf.Histogram h. Each family's
// budget (--collector.max-series-per-family) counts label sets; one label
// set is histSeries (24) series.
type latency struct {
	s *store[hist, histograms]
}

func newLatency(cfg *Config, src Sources) (drainedFamily, error) {
	if src.Latency == nil || src.Resolver == nil {
		return nil, errNoSource
	}
	families := make([]familySpec, bpf.NumHistograms)
	families[bpf.HistRTT] = familySpec{"podflow_tcp_rtt_seconds",
		"Smoothed round-trip time of TCP sockets, one sample each time the kernel updates it, per flow."}
	families[bpf.HistConnect] = familySpec{"podflow_tcp_connect_duration_seconds",
		"Time TCP connects of local sockets took from SYN sent to established, per (client) flow."}
	return &latency{s: newStore[hist, histograms](src.Schema.identityLabels(), cfg.MaxSeries, families...)}, nil
}

func (l *latency) stores() []familyStore { return []familyStore{l.s} }

func (l *latency) consume(b *Batch) {
	var incs [bpf.NumHistograms]hist
	for i := range b.Latency {
		inc := &b.Latency[i]
		incs[inc.Histogram] = hist{}
		incs[inc.Histogram].addBucket(inc.Bucket, &inc.LatencyBucket)
		// Every bucket of a flow is one label set.
		l.s.add(&inc.Edge, 0, incs[:], b.Time)
		incs[inc.Histogram] = hist{}
	}
	for h := range bpf.NumHistograms {
		var o hist
		for bucket := range bpf.LatencyBuckets {
			o.addBucket(bucket, b.Overflow.Latency.Bucket(bpf.Histogram(h), bucket))
		}
		l.s.addOverflow(h, &o, b.Time)
	}
}
