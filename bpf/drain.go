// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"fmt"
)

// DrainFlows hands fn the per-CPU byte and packet counters of every flow
// since the previous drain, then forgets them: each call yields increments.
// It returns the per-CPU traffic, since the previous drain, that found no
// table entry (table full) and is known by no flow. Calls are serialised.
func (t *Tracer) DrainFlows(fn func(FlowKey, []FlowCounters)) (overflow []FlowCounters, err error) {
	return drainTable(t.tables[TableFlows], fn, func(a, b *FlowCounters) { a.sub(b) })
}

// DrainLatency is DrainFlows for latency histograms: each key's Variant
// names the histogram and bucket (LatencyBucketOf). The overflow keeps
// its buckets.
func (t *Tracer) DrainLatency(fn func(FlowKey, []LatencyBucket)) (overflow []LatencyOverflow, err error) {
	return drainTable(t.tables[TableLatency], fn, func(a, b *LatencyOverflow) {
		for i := range a.Buckets {
			a.Buckets[i].Count -= b.Buckets[i].Count
			a.Buckets[i].SumMicros -= b.Buckets[i].SumMicros
		}
	})
}

// DrainDrops is DrainFlows for packets the kernel dropped; each key's
// Variant is the drop reason (see DropReasons).
func (t *Tracer) DrainDrops(fn func(FlowKey, []DropCounters)) (overflow []DropCounters, err error) {
	return drainTable(t.tables[TableDrops], fn, func(a, b *DropCounters) {
		a.Packets -= b.Packets
		a.Bytes -= b.Bytes
	})
}

// DrainTCP is DrainFlows for TCP handshake outcomes.
func (t *Tracer) DrainTCP(fn func(FlowKey, []TCPCounters)) (overflow []TCPCounters, err error) {
	return drainTable(t.tables[TableTCP], fn, func(a, b *TCPCounters) { a.sub(b) })
}

func (c *FlowCounters) sub(o *FlowCounters) {
	c.TxBytes -= o.TxBytes
	c.TxPackets -= o.TxPackets
	c.RxBytes -= o.RxBytes
	c.RxPackets -= o.RxPackets
}

func (c *TCPCounters) sub(o *TCPCounters) {
	for i := range c.Events {
		c.Events[i] -= o.Events[i]
	}
}

// TableStats describe one rotating table for self-monitoring.
type TableStats struct {
	Table    Table
	Capacity uint32
	// LastDrained is the number of flows the last drain found.
	LastDrained int
	// Failures counts, since load, inserts that failed by reason; their
	// traffic went to the overflow slot.
	Failures [numFailures]uint64
}

// Stats reads the tables' sizes and insert failures.
func (t *Tracer) Stats() ([]TableStats, error) {
	var out []TableStats
	for id, r := range t.tables {
		if r == nil {
			continue
		}
		r.mu.Lock()
		st := TableStats{Table: Table(id), Capacity: r.capacity, LastDrained: r.lastDrained}
		r.mu.Unlock()
		for reason := range numFailures {
			var perCPU []uint64
			if err := t.failures.Lookup(uint32(id*numFailures+reason), &perCPU); err != nil {
				return nil, fmt.Errorf("read update failures: %w", err)
			}
			for _, v := range perCPU {
				st.Failures[reason] += v
			}
		}
		out = append(out, st)
	}
	return out, nil
}
