// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"github.com/cilium/ebpf"
)

// The rotating kernel tables, one declaration each: its maps in the
// object, its size from the Config, and how a drain decodes an entry (a
// kernel key and its per-CPU values) into an increment. The loader creates
// every declared table and Table.String names it from here; the drain
// pipeline (package flow) handles each table from its declaration alone.
// A new table is its C, its value types and one declaration here.
var (
	// Flows are the bytes and packets of every flow, once per flow.
	Flows = declareTable[FlowCounters, FlowCounters, FlowCounters](TableFlows, "flows",
		func(m *podflowMaps, s *podflowMapSpecs) tableMaps {
			return tableMaps{m.Flows, s.Flows.InnerMap, m.FlowsOverflow}
		},
		func(c *Config) uint32 { return c.FlowTableEntries }, true,
		func(_ uint32, perCPU []FlowCounters) (FlowCounters, bool) {
			var s FlowCounters
			for i := range perCPU {
				s.Add(&perCPU[i])
			}
			return s, true
		})
	// TCP are the handshake outcomes, retransmits and resets of every
	// flow, once per flow.
	TCP = declareTable[TCPCounters, TCPCounters, TCPCounters](TableTCP, "tcp_events",
		func(m *podflowMaps, s *podflowMapSpecs) tableMaps {
			return tableMaps{m.TcpEvents, s.TcpEvents.InnerMap, m.TcpOverflow}
		},
		func(c *Config) uint32 { return c.TCPTableEntries }, true,
		func(_ uint32, perCPU []TCPCounters) (TCPCounters, bool) {
			var s TCPCounters
			for i := range perCPU {
				s.Add(&perCPU[i])
			}
			return s, true
		})
	// Latency are the latency histograms, once per flow, histogram and
	// bucket that gained samples. The overflow keeps its buckets.
	Latency = declareTable[LatencyBucket, LatencyIncrement, LatencyOverflow](TableLatency, "latency",
		func(m *podflowMaps, s *podflowMapSpecs) tableMaps {
			return tableMaps{m.Latency, s.Latency.InnerMap, m.LatencyOverflow}
		},
		func(c *Config) uint32 { return c.LatencyTableEntries }, true,
		func(variant uint32, perCPU []LatencyBucket) (LatencyIncrement, bool) {
			h, b := latencyBucketOf(variant)
			if h < 0 || int(h) >= NumHistograms || b >= LatencyBuckets {
				return LatencyIncrement{}, false // not written by this object's programs
			}
			inc := LatencyIncrement{Histogram: h, Bucket: b}
			for i := range perCPU {
				inc.LatencyBucket.Add(&perCPU[i])
			}
			return inc, true
		})
	// Drops are the packets the kernel dropped, once per flow and drop
	// reason. Its keys carry no client port: the reason takes all of the
	// variant.
	Drops = declareTable[DropCounters, DropIncrement, DropCounters](TableDrops, "drops",
		func(m *podflowMaps, s *podflowMapSpecs) tableMaps {
			return tableMaps{m.Drops, s.Drops.InnerMap, m.DropsOverflow}
		},
		func(c *Config) uint32 { return c.DropTableEntries }, false,
		func(reason uint32, perCPU []DropCounters) (DropIncrement, bool) {
			inc := DropIncrement{Reason: reason}
			for i := range perCPU {
				inc.DropCounters.Add(&perCPU[i])
			}
			return inc, true
		})
	// Requests are the DNS and HTTP requests, once per flow and Request
	// that gained some.
	Requests = declareTable[requestCounters, RequestIncrement, RequestOverflow](TableRequests, "requests",
		func(m *podflowMaps, s *podflowMapSpecs) tableMaps {
			return tableMaps{m.Requests, s.Requests.InnerMap, m.RequestsOverflow}
		},
		func(c *Config) uint32 { return c.RequestTableEntries }, true,
		func(code uint32, perCPU []requestCounters) (RequestIncrement, bool) {
			r, ok := requestOf(code & requestCodeMask)
			if !ok {
				return RequestIncrement{}, false // not written by this object's programs
			}
			inc := RequestIncrement{Request: r}
			for i := range perCPU {
				inc.Count += perCPU[i].Requests
			}
			return inc, true
		})
)

// TableDef is a rotating kernel table whose drains yield increments I and
// an overflow O: what found no entry since the previous drain, known by no
// flow.
type TableDef[I, O any] struct {
	tableLayout
	drain func(t *Tracer, fn func(FlowKey, I)) (O, error)
}

// ID returns the table's identifier.
func (d *TableDef[I, O]) ID() Table { return d.id }

// Drain hands fn what each flow's entry of the table gained since the
// previous drain, summed over CPUs and decoded from the kernel's key
// encoding, then forgets it: each call yields increments. It returns,
// summed over CPUs, what the table could not hold since the previous drain
// (inserts that failed, see Stats). Drains of one Tracer are serialised;
// tables drain independently (each drain flips every table's slot only
// when the table's retired half was drained already, see rotation).
func (d *TableDef[I, O]) Drain(t *Tracer, fn func(FlowKey, I)) (O, error) {
	return d.drain(t, fn)
}

// tableLayout is what the loader needs of a table, whatever its types.
type tableLayout struct {
	id   Table
	name string
	maps func(*podflowMaps, *podflowMapSpecs) tableMaps
	// entries is the size of each half from the Config.
	entries func(*Config) uint32
	// clientPort says the upper half of the keys' variant is a client
	// port (CLIENT_PORT_VARIANT in podflow.h) and bits 12-15 the
	// application protocol.
	clientPort bool
}

// tableMaps are a table's maps: the array of its two halves, the
// template they are made from, and the per-CPU overflow slot.
type tableMaps struct {
	outer    *ebpf.Map
	inner    *ebpf.MapSpec
	overflow *ebpf.Map
}

// tableLayouts are the declared tables, by Table.
var tableLayouts [NumTables]*tableLayout

// declareTable declares table id. V is the kernel's per-CPU value type,
// decode sums an entry's values into its increment (false: an entry this
// object's programs do not write, skipped). Each table sums its own type
// in decode: a generic sum's accumulator would escape to the heap, one
// allocation per flow.
func declareTable[V, I, O any, PO counter[O]](id Table, name string, maps func(*podflowMaps, *podflowMapSpecs) tableMaps,
	entries func(*Config) uint32, clientPort bool, decode func(variant uint32, perCPU []V) (I, bool)) *TableDef[I, O] {
	d := &TableDef[I, O]{tableLayout: tableLayout{id: id, name: name, maps: maps, entries: entries, clientPort: clientPort}}
	d.drain = func(t *Tracer, fn func(FlowKey, I)) (O, error) {
		return drainTable[V, O, PO](t, id, func(k FlowKey, variant uint32, perCPU []V) {
			if inc, ok := decode(variant, perCPU); ok {
				fn(k, inc)
			}
		})
	}
	tableLayouts[id] = &d.tableLayout
	return d
}

func (t Table) String() string {
	if t >= 0 && int(t) < NumTables && tableLayouts[t] != nil {
		return tableLayouts[t].name
	}
	return "unknown"
}
