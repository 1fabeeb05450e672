// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"fmt"
)

// The Drain* methods hand fn what each flow's entry gained since the
// previous drain of its table, summed over CPUs and decoded from the
// kernel's key encoding, then forget it: each call yields increments. They
// return, summed over CPUs, what the table could not hold since the
// previous drain (inserts that failed, see Stats): traffic known by no
// flow. A flow's key appears once per drain, except in the latency table
// (once per histogram bucket) and the drop table (once per reason). Calls
// of one table are serialised; tables drain independently. (Each sums its
// own type: a generic sum's accumulator would escape to the heap, one
// allocation per flow.)

// DrainFlows drains the bytes and packets of every flow.
func (t *Tracer) DrainFlows(fn func(FlowKey, FlowCounters)) (overflow FlowCounters, err error) {
	return drainTable[FlowCounters, FlowCounters](t, TableFlows, func(k FlowKey, _ uint32, perCPU []FlowCounters) {
		var s FlowCounters
		for i := range perCPU {
			s.Add(&perCPU[i])
		}
		fn(k, s)
	})
}

// DrainTCP drains the handshake outcomes, retransmits and resets of every flow.
func (t *Tracer) DrainTCP(fn func(FlowKey, TCPCounters)) (overflow TCPCounters, err error) {
	return drainTable[TCPCounters, TCPCounters](t, TableTCP, func(k FlowKey, _ uint32, perCPU []TCPCounters) {
		var s TCPCounters
		for i := range perCPU {
			s.Add(&perCPU[i])
		}
		fn(k, s)
	})
}

// DrainLatency drains the latency histograms, one call of fn per flow,
// histogram and bucket that gained samples. The overflow keeps its buckets.
func (t *Tracer) DrainLatency(fn func(FlowKey, LatencyIncrement)) (overflow LatencyOverflow, err error) {
	return drainTable[LatencyBucket, LatencyOverflow](t, TableLatency, func(k FlowKey, variant uint32, perCPU []LatencyBucket) {
		h, b := latencyBucketOf(variant)
		if h < 0 || int(h) >= NumHistograms || b >= LatencyBuckets {
			return // not written by this object's programs
		}
		inc := LatencyIncrement{Histogram: h, Bucket: b}
		for i := range perCPU {
			inc.LatencyBucket.Add(&perCPU[i])
		}
		fn(k, inc)
	})
}

// DrainDrops drains the packets the kernel dropped, one call of fn per
// flow and drop reason.
func (t *Tracer) DrainDrops(fn func(FlowKey, DropIncrement)) (overflow DropCounters, err error) {
	return drainTable[DropCounters, DropCounters](t, TableDrops, func(k FlowKey, reason uint32, perCPU []DropCounters) {
		inc := DropIncrement{Reason: reason}
		for i := range perCPU {
			inc.DropCounters.Add(&perCPU[i])
		}
		fn(k, inc)
	})
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
			if err := t.objs.UpdateFailures.Lookup(uint32(id*numFailures+reason), &perCPU); err != nil {
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
