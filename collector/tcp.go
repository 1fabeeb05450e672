// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/bpf"
)

// TCPSource yields the TCP handshake outcomes, retransmits and resets
// counted since its previous drain.
type TCPSource interface {
	DrainTCP(fn func(bpf.FlowKey, []bpf.TCPCounters)) ([]bpf.TCPCounters, error)
}

func init() {
	register("tcp", true, []string{bpf.ProgTCPState, bpf.ProgRetransmit, bpf.ProgResetSent, bpf.ProgResetRecv, bpf.ProgICMPSent}, newTCPCollector)
}

// failureReasons names the reason label of each connect failure event.
var failureReasons = map[bpf.TCPEvent]string{
	bpf.TCPFailRefused:     "refused",
	bpf.TCPFailTimeout:     "timeout",
	bpf.TCPFailUnreachable: "unreachable",
	bpf.TCPFailReset:       "reset",
	bpf.TCPFailAborted:     "aborted",
	bpf.TCPFailOther:       "other",
}

// tcpCollector exports the outcome of every TCP handshake, and the
// retransmits and resets of TCP connections, per flow.
type tcpCollector struct {
	src TCPSource
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	// handshakes holds connect attempts and successes (client flows) and
	// accepts (server flows); failures one row per flow and reason;
	// health retransmits and resets.
	handshakes, failures, health *table
	// names interns the identities resolved names flows with; each table
	// interns those of its own rows.
	names    peers
	resolved resolutions[bpf.TCPCounters]
}

// Columns of tcpCollector.handshakes.
const (
	colAttempts = iota
	colEstablished
	colAccepted
)

// healthEvents are the events of tcpCollector.health, one per column.
var healthEvents = []bpf.TCPEvent{bpf.TCPRetransmit, bpf.TCPResetSent, bpf.TCPResetReceived}

func newTCPCollector(cfg *Config, src Sources) (Collector, error) {
	if src.TCP == nil || src.Resolver == nil {
		return nil, errNoSource
	}
	labels := src.Schema.identityLabels()
	reason := label{"reason", func(k *seriesKey, _ *peers) string { return failureReasons[bpf.TCPEvent(k.variant)] }}
	c := &tcpCollector{
		src:   src.TCP,
		ttl:   cfg.IdleTTL,
		now:   time.Now,
		names: newPeers(),
		handshakes: newTable(labels, cfg.MaxSeries,
			columnSpec{"podflow_tcp_connect_attempts_total", "TCP connects local sockets started (SYN sent)."},
			columnSpec{"podflow_tcp_connect_established_total", "TCP connects of local sockets that completed the handshake."},
			columnSpec{"podflow_tcp_accepted_connections_total", "TCP connections local listeners completed the handshake for."},
		),
		failures: newTable(append(labels, reason), cfg.MaxSeries,
			columnSpec{"podflow_tcp_connect_failures_total", "TCP connects of local sockets that failed, by reason: refused (RST), timeout (no answer), unreachable (ICMP), reset, aborted (closed by the application first), other."},
		),
		health: newTable(labels, cfg.MaxSeries,
			columnSpec{"podflow_tcp_retransmitted_segments_total", "TCP segments local sockets retransmitted, per flow."},
			columnSpec{"podflow_tcp_resets_sent_total", "TCP resets (RST) the kernel sent, per flow; for segments no socket took (e.g. to a closed port) the local side is the pod that has the address, else the host."},
			columnSpec{"podflow_tcp_resets_received_total", "TCP resets (RST) local sockets received, per flow."},
		),
	}
	c.resolved = newResolutions("tcp", src.Resolver, &c.names, cfg.HoldUnresolved,
		func(a, b bpf.TCPCounters) bpf.TCPCounters { a.Add(&b); return a },
		func(_ bpf.FlowKey, sk seriesKey, v bpf.TCPCounters, now int64) {
			facts := seriesKey{role: sk.role, protocol: sk.protocol, port: sk.port}
			c.count(*c.names.get(sk.local), *c.names.get(sk.remote), facts, &v, now)
		})
	return c, nil
}

func (c *tcpCollector) tables() []*table { return []*table{c.handshakes, c.failures, c.health} }

func (c *tcpCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, t := range c.tables() {
		t.describe(ch)
	}
	describeFamilyStats(ch)
	describeResolutionStats(ch)
}

func (c *tcpCollector) Update(ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now().UnixNano()
	c.resolved.start()
	overflow, err := c.src.DrainTCP(func(k bpf.FlowKey, perCPU []bpf.TCPCounters) {
		var sum bpf.TCPCounters
		for i := range perCPU {
			sum.Add(&perCPU[i])
		}
		c.resolved.add(k, sum, now)
	})
	c.resolved.finish(now)
	var o bpf.TCPCounters
	for i := range overflow {
		o.Add(&overflow[i])
	}
	c.handshakes.columns[colAttempts].addOverflow(o.Events[bpf.TCPConnectAttempt], now)
	c.handshakes.columns[colEstablished].addOverflow(o.Events[bpf.TCPConnectEstablished], now)
	c.handshakes.columns[colAccepted].addOverflow(o.Events[bpf.TCPAccepted], now)
	for ev := range failureReasons {
		c.failures.columns[0].addOverflow(o.Events[ev], now)
	}
	for col, ev := range healthEvents {
		c.health.columns[col].addOverflow(o.Events[ev], now)
	}
	cutoff := now - int64(c.ttl)
	c.resolved.expire(cutoff)
	c.names.expire(cutoff)
	for _, t := range c.tables() {
		t.expire(now, c.ttl)
		t.collect(ch)
		t.collectStats(ch)
	}
	c.resolved.collectStats(ch)
	return err
}

// count adds the events of one kernel flow to the tables, interning its
// identities only in the tables it has events for.
func (c *tcpCollector) count(local, remote Peer, facts seriesKey, sum *bpf.TCPCounters, now int64) {
	handshakes := [maxColumns]uint64{
		colAttempts:    sum.Events[bpf.TCPConnectAttempt],
		colEstablished: sum.Events[bpf.TCPConnectEstablished],
		colAccepted:    sum.Events[bpf.TCPAccepted],
	}
	if handshakes != ([maxColumns]uint64{}) {
		k := c.handshakes.key(local, remote, facts, now)
		c.handshakes.add(&k, &handshakes, now)
	}
	var health [maxColumns]uint64
	for col, ev := range healthEvents {
		health[col] = sum.Events[ev]
	}
	if health != ([maxColumns]uint64{}) {
		k := c.health.key(local, remote, facts, now)
		c.health.add(&k, &health, now)
	}
	var failure *seriesKey
	for ev := range failureReasons {
		if n := sum.Events[ev]; n > 0 {
			if failure == nil {
				k := c.failures.key(local, remote, facts, now)
				failure = &k
			}
			withReason := *failure
			withReason.variant = uint32(ev)
			c.failures.add(&withReason, &[maxColumns]uint64{n}, now)
		}
	}
}
