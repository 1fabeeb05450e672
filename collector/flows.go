// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/naming"
)

func init() {
	// tcp_state tells the packet path which side of a TCP connection a socket is.
	registerDrained("flows", []bpf.Table{bpf.TableFlows}, []string{bpf.ProgFlowsIngress, bpf.ProgFlowsEgress, bpf.ProgTCPState}, newFlows)
}

// flows exports bytes and packets per flow, direction and application
// protocol (app_protocol).
type flows struct {
	s *store[uint64, counters] // transmit bytes, transmit packets, receive bytes, receive packets
}

func newFlows(cfg *Config, schema naming.Schema, _ Sources) (drainedFamily, error) {
	return &flows{s: newStore[uint64, counters](withApp(identityLabels(schema), schema), cfg.MaxSeries,
		familySpec{"podflow_flow_transmit_bytes_total", "Bytes local sockets sent, IP header included (one per datagram: an IP-fragmented datagram counts one header), per flow."},
		familySpec{"podflow_flow_transmit_packets_total", "Packets local sockets sent, per flow: wire segments (a GSO packet counts as its segments); a datagram sent as IP fragments counts once."},
		familySpec{"podflow_flow_receive_bytes_total", "Bytes local sockets received, IP header included (one per datagram: a reassembled datagram counts one header), per flow."},
		familySpec{"podflow_flow_receive_packets_total", "Packets local sockets received, per flow: wire segments (a GRO packet counts as its segments); a datagram reassembled from IP fragments counts once."},
	)}, nil
}

func (f *flows) stores() []familyStore { return []familyStore{f.s} }

func (f *flows) consume(b *flow.Batch) {
	p := flow.Flows.In(b)
	var v [4]uint64
	for i := range p.Increments {
		inc := &p.Increments[i]
		c := &inc.Value
		v = [4]uint64{c.TxBytes, c.TxPackets, c.RxBytes, c.RxPackets}
		f.s.add(&inc.Edge, 0, v[:], b.Time)
	}
	o := &p.Overflow
	for c, n := range [4]uint64{o.TxBytes, o.TxPackets, o.RxBytes, o.RxPackets} {
		f.s.addOverflow(c, 0, &n, b.Time)
	}
}
