// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/bpf"
)

// FlowSource yields the traffic counted since its previous drain.
type FlowSource interface {
	// DrainFlows hands fn each flow's per-CPU counters since the previous
	// call and returns the per-CPU traffic that no flow entry could hold.
	DrainFlows(fn func(bpf.FlowKey, []bpf.FlowCounters)) ([]bpf.FlowCounters, error)
}

func init() {
	// tcp_state tells the packet path which side of a TCP connection a socket is.
	register("flows", true, []string{bpf.ProgFlowsIngress, bpf.ProgFlowsEgress, bpf.ProgTCPState}, newFlowsCollector)
}

// flowsCollector exports bytes and packets per flow and direction.
type flowsCollector struct {
	src      FlowSource
	resolver Resolver
	ttl      time.Duration
	now      func() time.Time

	mu                                     sync.Mutex
	txBytes, txPackets, rxBytes, rxPackets *family
}

func newFlowsCollector(cfg *Config, src Sources) (Collector, error) {
	if src.Flows == nil || src.Resolver == nil {
		return nil, errNoSource
	}
	labels := src.Schema.identityLabels()
	return &flowsCollector{
		src:      src.Flows,
		resolver: src.Resolver,
		ttl:      cfg.IdleTTL,
		now:      time.Now,
		txBytes: newFamily("podflow_flow_transmit_bytes_total",
			"Bytes local sockets sent, IP header included, per flow.", labels, cfg.MaxSeries),
		txPackets: newFamily("podflow_flow_transmit_packets_total",
			"Packets (wire segments) local sockets sent, per flow.", labels, cfg.MaxSeries),
		rxBytes: newFamily("podflow_flow_receive_bytes_total",
			"Bytes local sockets received, IP header included, per flow.", labels, cfg.MaxSeries),
		rxPackets: newFamily("podflow_flow_receive_packets_total",
			"Packets (wire segments) local sockets received, per flow.", labels, cfg.MaxSeries),
	}, nil
}

func (c *flowsCollector) families() []*family {
	return []*family{c.txBytes, c.txPackets, c.rxBytes, c.rxPackets}
}

func (c *flowsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.families() {
		ch <- f.desc
	}
	describeFamilyStats(ch)
}

func (c *flowsCollector) Update(ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	overflow, err := c.src.DrainFlows(func(k bpf.FlowKey, perCPU []bpf.FlowCounters) {
		var sum bpf.FlowCounters
		for i := range perCPU {
			sum.Add(&perCPU[i])
		}
		local, remote := c.resolver.Resolve(&k)
		sk := seriesKey{local: local, remote: remote, role: k.Role, protocol: k.Protocol, port: k.ServerPort}
		c.txBytes.add(&sk, sum.TxBytes, now)
		c.txPackets.add(&sk, sum.TxPackets, now)
		c.rxBytes.add(&sk, sum.RxBytes, now)
		c.rxPackets.add(&sk, sum.RxPackets, now)
	})
	var o bpf.FlowCounters
	for i := range overflow {
		o.Add(&overflow[i])
	}
	c.txBytes.addOverflow(o.TxBytes, now)
	c.txPackets.addOverflow(o.TxPackets, now)
	c.rxBytes.addOverflow(o.RxBytes, now)
	c.rxPackets.addOverflow(o.RxPackets, now)

	for _, f := range c.families() {
		f.expire(now, c.ttl)
		f.collect(ch)
		f.collectStats(ch)
	}
	return err
}
