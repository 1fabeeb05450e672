// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/naming"
)

// requestTables are the tables of the dns and http collectors: the
// requests table, which both read (the Drainer drains it once per drain,
// each collector takes the requests of its kind), and the latency table,
// which holds their durations.
var requestTables = []bpf.Table{bpf.TableRequests, bpf.TableLatency}

// requestPrograms are the programs that count requests: the packet
// programs parse the payload, tcp_state tells which side a TCP socket is
// and counts HTTP requests closed without a response.
var requestPrograms = []string{bpf.ProgFlowsIngress, bpf.ProgFlowsEgress, bpf.ProgTCPState}

// requestVariant is the variant of a request's series: its kind, and its
// response code and question type (DNS) or method and status class (HTTP).
func requestVariant(r bpf.Request) uint32 {
	if r.Kind == bpf.RequestHTTP {
		return 1<<16 | uint32(r.Method)<<8 | uint32(r.StatusClass)
	}
	return uint32(r.RCode)<<8 | uint32(r.QType)
}

// variantLabel is a label of a request series read from its variant: its
// byte at shift. The __overflow__ series keep it.
func variantLabel(name string, shift uint, value func(uint8) string) label {
	return label{name: name, ofVariant: true, value: func(_ *naming.Edge, variant uint32) string {
		return value(uint8(variant >> shift))
	}}
}

// requests exports the requests of one kind per flow and their kind's
// durations: the counts from the requests table, the durations from a
// histogram of the latency table.
type requests struct {
	kind      bpf.RequestKind
	counts    *store[uint64, counters]
	durations *histFamilies
}

// requestFamilies names the families of a request collector.
type requestFamilies struct {
	kind bpf.RequestKind
	// labels are the labels of the counts beside the identity labels.
	labels    []label
	counts    familySpec
	histogram bpf.Histogram
	durations familySpec
}

func newRequests(cfg *Config, schema naming.Schema, f requestFamilies) (drainedFamily, error) {
	identity := identityLabels(schema)
	return &requests{
		kind:      f.kind,
		counts:    newStore[uint64, counters](append(identity, f.labels...), cfg.MaxSeries, f.counts),
		durations: newHistFamilies(identity, cfg.MaxSeries, map[bpf.Histogram]familySpec{f.histogram: f.durations}),
	}, nil
}

func (r *requests) stores() []familyStore { return []familyStore{r.counts, r.durations.s} }

func (r *requests) consume(b *flow.Batch) {
	p := flow.Requests.In(b)
	var v [1]uint64
	for i := range p.Increments {
		inc := &p.Increments[i]
		if inc.Value.Kind == r.kind {
			v[0] = inc.Value.Count
			r.counts.add(&inc.Edge, requestVariant(inc.Value.Request), v[:], b.Time)
		}
	}
	if p.Overflow != (bpf.RequestOverflow{}) {
		for _, inc := range p.Overflow.Requests() {
			if inc.Kind == r.kind {
				r.counts.addOverflow(0, requestVariant(inc.Request), &inc.Count, b.Time)
			}
		}
	}
	r.durations.consume(b)
}
