// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/bpf"
)

// DropSource yields the packets the kernel dropped since its previous drain.
type DropSource interface {
	// DrainDrops hands fn each flow's per-CPU drops for one reason (the
	// key's Variant) and returns the per-CPU drops that no flow entry
	// could hold.
	DrainDrops(fn func(bpf.FlowKey, []bpf.DropCounters)) ([]bpf.DropCounters, error)
}

func init() {
	register("drops", true, []string{bpf.ProgDrops}, newDropsCollector)
}

// unknownReason is the reason label of a drop reason the kernel's names
// (Sources.DropReasons) lack.
const unknownReason = "UNKNOWN"

// dropsCollector exports the packets the kernel dropped per flow and
// reason. A packet dropped without a socket has no cgroup: its local side
// is named by address (a pod's) or as the host.
type dropsCollector struct {
	src DropSource
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex
	table    *table // packets, bytes
	resolved resolutions
}

func newDropsCollector(cfg *Config, src Sources) (Collector, error) {
	if src.Drops == nil || src.Resolver == nil {
		return nil, errNoSource
	}
	names := src.DropReasons
	reason := label{"reason", func(k *seriesKey, _ *peers) string {
		if name, ok := names[k.variant]; ok {
			return name
		}
		return unknownReason
	}}
	c := &dropsCollector{
		src: src.Drops,
		ttl: cfg.IdleTTL,
		now: time.Now,
		table: newTable(append(src.Schema.identityLabels(), reason), cfg.MaxSeries,
			columnSpec{"podflow_drop_packets_total", "Packets the kernel dropped, by reason (its skb drop reason; UNKNOWN when the kernel does not name it), per flow."},
			columnSpec{"podflow_drop_bytes_total", "Bytes (IP length) of the packets the kernel dropped, by reason, per flow."},
		),
	}
	c.resolved = newResolutions(src.Resolver, &c.table.peers)
	return c, nil
}

func (c *dropsCollector) Describe(ch chan<- *prometheus.Desc) {
	c.table.describe(ch)
	describeFamilyStats(ch)
}

func (c *dropsCollector) Update(ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now().UnixNano()
	c.resolved.start()
	overflow, err := c.src.DrainDrops(func(k bpf.FlowKey, perCPU []bpf.DropCounters) {
		var sum bpf.DropCounters
		for i := range perCPU {
			sum.Add(&perCPU[i])
		}
		reason := k.Variant
		k.Variant = 0 // the flow's identities do not depend on the reason
		sk := c.resolved.key(k, now)
		sk.variant = reason
		c.table.add(&sk, &[maxColumns]uint64{sum.Packets, sum.Bytes}, now)
	})
	var o bpf.DropCounters
	for i := range overflow {
		o.Add(&overflow[i])
	}
	c.table.columns[0].addOverflow(o.Packets, now)
	c.table.columns[1].addOverflow(o.Bytes, now)
	c.resolved.expire(now - int64(c.ttl))
	c.table.expire(now, c.ttl)
	c.table.collect(ch)
	c.table.collectStats(ch)
	return err
}
