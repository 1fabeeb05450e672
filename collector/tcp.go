// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"slices"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/naming"
)

func init() {
	registerDrained("tcp", []bpf.Table{bpf.TableTCP}, []string{bpf.ProgTCPState, bpf.ProgRetransmit, bpf.ProgResetSent, bpf.ProgResetRecv, bpf.ProgICMPSent}, newTCP)
}

// failureReasons names the reason label of each connect failure event.
var failureReasons = bpf.ConnectFailureReasons()

// tcp exports the outcome of every TCP handshake, and the retransmits
// and resets of TCP connections, per flow and application protocol
// (app_protocol: none for the handshake's events, before any payload).
type tcp struct {
	// handshakes holds connect attempts and successes (client flows) and
	// accepts (server flows); failures one row per flow and reason;
	// health retransmits and resets.
	handshakes, failures, health *store[uint64, counters]
}

// Families of tcp.handshakes.
const (
	colAttempts = iota
	colEstablished
	colAccepted
)

// handshakeEvents are the events of tcp.handshakes, one per family.
var handshakeEvents = [...]bpf.TCPEvent{colAttempts: bpf.TCPConnectAttempt, colEstablished: bpf.TCPConnectEstablished, colAccepted: bpf.TCPAccepted}

// healthEvents are the events of tcp.health, one per family.
var healthEvents = []bpf.TCPEvent{bpf.TCPRetransmit, bpf.TCPResetSent, bpf.TCPResetReceived}

func newTCP(cfg *Config, schema naming.Schema, _ Sources) (drainedFamily, error) {
	labels := slices.Clip(withApp(identityLabels(schema), schema))
	reason := label{name: "reason", value: func(_ *naming.Edge, variant uint32) string { return failureReasons[bpf.TCPEvent(variant)] }}
	return &tcp{
		handshakes: newStore[uint64, counters](labels, cfg.MaxSeries,
			familySpec{"podflow_tcp_connect_attempts_total", "TCP connects local sockets started (SYN sent)."},
			familySpec{"podflow_tcp_connect_established_total", "TCP connects of local sockets that completed the handshake."},
			familySpec{"podflow_tcp_accepted_connections_total", "TCP connections local listeners completed the handshake for."},
		),
		failures: newStore[uint64, counters](append(labels, reason), cfg.MaxSeries,
			familySpec{"podflow_tcp_connect_failures_total", "TCP connects of local sockets that failed, by reason: refused (RST), timeout (no answer), unreachable (ICMP), reset, aborted (closed by the application first), other."},
		),
		health: newStore[uint64, counters](labels, cfg.MaxSeries,
			familySpec{"podflow_tcp_retransmitted_segments_total", "TCP segments local sockets retransmitted, per flow."},
			familySpec{"podflow_tcp_resets_sent_total", "TCP resets (RST) the kernel sent, per flow; for segments no socket took (e.g. to a closed port) the local side is the pod that has the address, else the host."},
			familySpec{"podflow_tcp_resets_received_total", "TCP resets (RST) local sockets received, per flow."},
		),
	}, nil
}

func (c *tcp) stores() []familyStore { return []familyStore{c.handshakes, c.failures, c.health} }

func (c *tcp) consume(b *flow.Batch) {
	p := flow.TCP.In(b)
	for i := range p.Increments {
		c.count(&p.Increments[i].Edge, &p.Increments[i].Value, b.Time)
	}
	o := &p.Overflow
	now := b.Time
	for col, ev := range handshakeEvents {
		c.handshakes.addOverflow(col, 0, &o.Events[ev], now)
	}
	for ev := range failureReasons {
		c.failures.addOverflow(0, 0, &o.Events[ev], now)
	}
	for col, ev := range healthEvents {
		c.health.addOverflow(col, 0, &o.Events[ev], now)
	}
}

// count adds the events of one edge to the stores.
func (c *tcp) count(e *naming.Edge, sum *bpf.TCPCounters, now int64) {
	var handshakes [3]uint64
	for col, ev := range handshakeEvents {
		handshakes[col] = sum.Events[ev]
	}
	if handshakes != ([3]uint64{}) {
		c.handshakes.add(e, 0, handshakes[:], now)
	}
	var health [3]uint64
	for col, ev := range healthEvents {
		health[col] = sum.Events[ev]
	}
	if health != ([3]uint64{}) {
		c.health.add(e, 0, health[:], now)
	}
	for ev := range failureReasons {
		if n := sum.Events[ev]; n > 0 {
			c.failures.add(e, uint32(ev), []uint64{n}, now)
		}
	}
}
