// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/bpf"
)

// TCPSource yields the TCP handshake outcomes counted since its previous drain.
type TCPSource interface {
	DrainTCP(fn func(bpf.FlowKey, []bpf.TCPCounters)) ([]bpf.TCPCounters, error)
}

func init() {
	register("tcp", true, []string{bpf.ProgTCPState}, newTCPCollector)
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

// tcpCollector exports the outcome of every TCP handshake per flow.
type tcpCollector struct {
	src      TCPSource
	resolver Resolver
	ttl      time.Duration
	now      func() time.Time

	mu                                      sync.Mutex
	attempts, established, failed, accepted *family
}

func newTCPCollector(cfg *Config, src Sources) (Collector, error) {
	if src.TCP == nil || src.Resolver == nil {
		return nil, errNoSource
	}
	labels := src.Schema.identityLabels()
	reason := label{"reason", func(k *seriesKey) string { return failureReasons[bpf.TCPEvent(k.variant)] }}
	return &tcpCollector{
		src:      src.TCP,
		resolver: src.Resolver,
		ttl:      cfg.IdleTTL,
		now:      time.Now,
		attempts: newFamily("podflow_tcp_connect_attempts_total",
			"TCP connects local sockets started (SYN sent).", labels, cfg.MaxSeries),
		established: newFamily("podflow_tcp_connect_established_total",
			"TCP connects of local sockets that completed the handshake.", labels, cfg.MaxSeries),
		failed: newFamily("podflow_tcp_connect_failures_total",
			"TCP connects of local sockets that failed, by reason: refused (RST), timeout (no answer), unreachable (ICMP), reset, aborted (closed by the application first), other.",
			append(labels, reason), cfg.MaxSeries),
		accepted: newFamily("podflow_tcp_accepted_connections_total",
			"TCP connections local listeners completed the handshake for.", labels, cfg.MaxSeries),
	}, nil
}

func (c *tcpCollector) families() []*family {
	return []*family{c.attempts, c.established, c.failed, c.accepted}
}

func (c *tcpCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.families() {
		ch <- f.desc
	}
	describeFamilyStats(ch)
}

func (c *tcpCollector) Update(ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	overflow, err := c.src.DrainTCP(func(k bpf.FlowKey, perCPU []bpf.TCPCounters) {
		var sum bpf.TCPCounters
		for i := range perCPU {
			sum.Add(&perCPU[i])
		}
		local, remote := c.resolver.Resolve(&k)
		sk := seriesKey{local: local, remote: remote, role: k.Role, protocol: k.Protocol, port: k.ServerPort}
		c.count(&sk, &sum, now)
	})
	var o bpf.TCPCounters
	for i := range overflow {
		o.Add(&overflow[i])
	}
	c.attempts.addOverflow(o.Events[bpf.TCPConnectAttempt], now)
	c.established.addOverflow(o.Events[bpf.TCPConnectEstablished], now)
	c.accepted.addOverflow(o.Events[bpf.TCPAccepted], now)
	for ev := range failureReasons {
		c.failed.addOverflow(o.Events[ev], now)
	}

	for _, f := range c.families() {
		f.expire(now, c.ttl)
		f.collect(ch)
		f.collectStats(ch)
	}
	return err
}

func (c *tcpCollector) count(sk *seriesKey, sum *bpf.TCPCounters, now time.Time) {
	c.attempts.add(sk, sum.Events[bpf.TCPConnectAttempt], now)
	c.established.add(sk, sum.Events[bpf.TCPConnectEstablished], now)
	c.accepted.add(sk, sum.Events[bpf.TCPAccepted], now)
	for ev := range failureReasons {
		withReason := *sk
		withReason.variant = uint8(ev)
		c.failed.add(&withReason, sum.Events[ev], now)
	}
}
