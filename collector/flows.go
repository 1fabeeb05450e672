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
	src FlowSource
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex
	table    *table // transmit bytes, transmit packets, receive bytes, receive packets
	resolved resolutions[bpf.FlowCounters]
}

func newFlowsCollector(cfg *Config, src Sources) (Collector, error) {
	if src.Flows == nil || src.Resolver == nil {
		return nil, errNoSource
	}
	c := &flowsCollector{
		src: src.Flows,
		ttl: cfg.IdleTTL,
		now: time.Now,
		table: newTable(src.Schema.identityLabels(), cfg.MaxSeries,
			columnSpec{"podflow_flow_transmit_bytes_total", "Bytes local sockets sent, IP header included (one per datagram: an IP-fragmented datagram counts one header), per flow."},
			columnSpec{"podflow_flow_transmit_packets_total", "Packets local sockets sent, per flow: wire segments (a GSO packet counts as its segments); a datagram sent as IP fragments counts once."},
			columnSpec{"podflow_flow_receive_bytes_total", "Bytes local sockets received, IP header included (one per datagram: a reassembled datagram counts one header), per flow."},
			columnSpec{"podflow_flow_receive_packets_total", "Packets local sockets received, per flow: wire segments (a GRO packet counts as its segments); a datagram reassembled from IP fragments counts once."},
		),
	}
	c.resolved = newResolutions("flows", src.Resolver, &c.table.peers, cfg.HoldUnresolved,
		func(a, b bpf.FlowCounters) bpf.FlowCounters { a.Add(&b); return a },
		func(_ bpf.FlowKey, sk seriesKey, v bpf.FlowCounters, now int64) {
			c.table.add(&sk, &[maxColumns]uint64{v.TxBytes, v.TxPackets, v.RxBytes, v.RxPackets}, now)
		})
	return c, nil
}

func (c *flowsCollector) Describe(ch chan<- *prometheus.Desc) {
	c.table.describe(ch)
	describeFamilyStats(ch)
	describeResolutionStats(ch)
}

func (c *flowsCollector) Update(ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now().UnixNano()
	c.resolved.start()
	overflow, err := c.src.DrainFlows(func(k bpf.FlowKey, perCPU []bpf.FlowCounters) {
		var sum bpf.FlowCounters
		for i := range perCPU {
			sum.Add(&perCPU[i])
		}
		c.resolved.add(k, sum, now)
	})
	c.resolved.finish(now)
	var o bpf.FlowCounters
	for i := range overflow {
		o.Add(&overflow[i])
	}
	for i, v := range []uint64{o.TxBytes, o.TxPackets, o.RxBytes, o.RxPackets} {
		c.table.columns[i].addOverflow(v, now)
	}
	c.resolved.expire(now - int64(c.ttl))
	c.table.expire(now, c.ttl)
	c.table.collect(ch)
	c.table.collectStats(ch)
	c.resolved.collectStats(ch)
	return err
}
