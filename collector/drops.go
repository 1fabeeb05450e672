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

// teardownReasons are the kernel drop reasons that free what a socket's
// queues still hold when it closes (a FIN or data the application never
// read): the normal end of a connection, one per short HTTP exchange, not
// loss on the network. They are exported apart, so that the drop families
// and their alert mean loss.
var teardownReasons = map[string]bool{"QUEUE_PURGE": true, "SOCKET_CLOSE": true}

// dropsCollector exports the packets the kernel dropped per flow and
// reason, and apart what it discarded from closing sockets. A packet
// dropped without a socket has no cgroup: its local side is named by
// address (a pod's) or as the host.
type dropsCollector struct {
	src DropSource
	ttl time.Duration
	now func() time.Time
	// teardown says which kernel reasons are teardownReasons.
	teardown map[uint32]bool

	mu       sync.Mutex
	table    *table // packets, bytes
	discards *table // packets, bytes of teardown reasons
	resolved resolutions[bpf.DropCounters]
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
		src:      src.Drops,
		ttl:      cfg.IdleTTL,
		now:      time.Now,
		teardown: map[uint32]bool{},
		table: newTable(append(src.Schema.identityLabels(), reason), cfg.MaxSeries,
			columnSpec{"podflow_drop_packets_total", "Packets the kernel dropped, by reason (its skb drop reason; UNKNOWN when the kernel does not name it), per flow. Packets freed from a closing socket's queues are podflow_socket_discard_packets_total."},
			columnSpec{"podflow_drop_bytes_total", "Bytes (IP length) of the packets the kernel dropped, by reason, per flow."},
		),
		discards: newTable(append(src.Schema.identityLabels(), reason), cfg.MaxSeries,
			columnSpec{"podflow_socket_discard_packets_total", "Packets still queued in a socket when it closed, which the kernel freed (drop reason QUEUE_PURGE or SOCKET_CLOSE: a FIN or data the application never read), per flow: the normal end of a connection, not loss."},
			columnSpec{"podflow_socket_discard_bytes_total", "Bytes (IP length) of the packets freed from a socket's queues when it closed, by reason, per flow."},
		),
	}
	for n, name := range names {
		if teardownReasons[name] {
			c.teardown[n] = true
		}
	}
	c.resolved = newResolutions("drops", src.Resolver, &c.table.peers, cfg.HoldUnresolved,
		func(a, b bpf.DropCounters) bpf.DropCounters { a.Add(&b); return a },
		func(k bpf.FlowKey, sk seriesKey, v bpf.DropCounters, now int64) {
			sk.variant = k.Variant // the flow's identities do not depend on the reason
			if c.teardown[k.Variant] {
				// Identities are interned per table: name them in the other's.
				sk = c.discards.key(*c.table.peers.get(sk.local), *c.table.peers.get(sk.remote), sk, now)
				c.discards.add(&sk, &[maxColumns]uint64{v.Packets, v.Bytes}, now)
				return
			}
			c.table.add(&sk, &[maxColumns]uint64{v.Packets, v.Bytes}, now)
		})
	return c, nil
}

func (c *dropsCollector) Describe(ch chan<- *prometheus.Desc) {
	c.table.describe(ch)
	c.discards.describe(ch)
	describeFamilyStats(ch)
	describeResolutionStats(ch)
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
		c.resolved.add(k, sum, now)
	})
	c.resolved.finish(now)
	var o bpf.DropCounters
	for i := range overflow {
		o.Add(&overflow[i])
	}
	c.table.columns[0].addOverflow(o.Packets, now)
	c.table.columns[1].addOverflow(o.Bytes, now)
	c.resolved.expire(now - int64(c.ttl))
	for _, t := range []*table{c.table, c.discards} {
		t.expire(now, c.ttl)
		t.collect(ch)
		t.collectStats(ch)
	}
	c.resolved.collectStats(ch)
	return err
}
