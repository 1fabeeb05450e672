// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/naming"
)

func init() {
	// tcp_state records the connect latency, tcp_rtt the smoothed RTT.
	registerDrained("latency", []bpf.Table{bpf.TableLatency}, []string{bpf.ProgTCPRTT, bpf.ProgTCPState}, newLatency)
}

// latency exports TCP round-trip and connect times per flow as
// histograms. The latency table's DNS and HTTP histograms are the dns and
// http collectors'. Each family's budget (--collector.max-series-per-family)
// counts label sets; one label set is histSeries (24) series.
type latency struct {
	h *histFamilies
}

func newLatency(cfg *Config, schema naming.Schema, _ Sources) (drainedFamily, error) {
	return &latency{h: newHistFamilies(identityLabels(schema), cfg.MaxSeries, map[bpf.Histogram]familySpec{
		bpf.HistRTT: {"podflow_tcp_rtt_seconds",
			"Smoothed round-trip time of TCP sockets, one sample each time the kernel updates it, per flow."},
		bpf.HistConnect: {"podflow_tcp_connect_duration_seconds",
			"Time TCP connects of local sockets took from SYN sent to established, per (client) flow."},
	})}, nil
}

func (l *latency) stores() []familyStore { return []familyStore{l.h.s} }

func (l *latency) consume(b *flow.Batch) { l.h.consume(b) }

// histFamilies are histogram families of some of the latency table's
// histograms, in one store: family c holds the samples of hists[c].
type histFamilies struct {
	hists  []bpf.Histogram
	column [bpf.NumHistograms]int // -1: not of this store
	s      *store[hist, histograms]
}

// newHistFamilies returns the families of the histograms specs names.
func newHistFamilies(labels []label, maxSeries int, specs map[bpf.Histogram]familySpec) *histFamilies {
	h := &histFamilies{}
	var families []familySpec
	for i := range h.column {
		h.column[i] = -1
		if spec, ok := specs[bpf.Histogram(i)]; ok {
			h.column[i] = len(h.hists)
			h.hists = append(h.hists, bpf.Histogram(i))
			families = append(families, spec)
		}
	}
	h.s = newStore[hist, histograms](labels, maxSeries, families...)
	return h
}

// consume adds the samples of b's latency increments and overflow of
// h's histograms.
func (h *histFamilies) consume(b *flow.Batch) {
	p := flow.Latency.In(b)
	incs := make([]hist, len(h.hists))
	for i := range p.Increments {
		inc := &p.Increments[i]
		c := h.column[inc.Value.Histogram]
		if c < 0 {
			continue
		}
		incs[c] = hist{}
		incs[c].addBucket(inc.Value.Bucket, &inc.Value.LatencyBucket)
		// Every bucket of a flow is one label set.
		h.s.add(&inc.Edge, 0, incs, b.Time)
		incs[c] = hist{}
	}
	for c, hg := range h.hists {
		var o hist
		for bucket := range bpf.LatencyBuckets {
			o.addBucket(bucket, p.Overflow.Bucket(hg, bucket))
		}
		h.s.addOverflow(c, 0, &o, b.Time)
	}
}
