// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/bpf"
)

// resolutions names the kernel flows of each drain, once per kernel key
// whatever the tables it has increments in, and builds the drain's Batch.
//
// Naming: the edge of each kernel flow key is remembered while the
// resolver's generation stays the same: most flows of a drain were in the
// previous one, and one lookup replaces resolving and interning. A key not
// remembered is resolved at most once per drain.
//
// Holding back: an increment counted on an `unknown` series would stay
// there for good (counters never go back), while the flow's later
// increments go to its real series. So when the resolver says a side cannot
// be named yet (a pod not yet in the Kubernetes cache, the cache not
// synced), the flow's increments are kept here, merged per kernel key, asked
// about again at each drain and handed out once named. Only after holdFor
// (--collector.flows.hold-unresolved) do they go to the unknown series.
// Either way each increment is counted once, late at worst, and the sum over
// a family stays the truth. A side that can never be named (a packet without
// an address, a cgroup removed before it was seen) is unknown at once.
type resolutions struct {
	resolver   Resolver
	ids        identities
	keys       map[bpf.FlowKey]resolvedFlow
	drainKeys  map[bpf.FlowKey]drainAnswer // this drain's answers for keys not remembered
	generation uint64
	// counted is taken at a drain's first resolution, after the kernel
	// stopped writing the drained tables, so every increment of the drain
	// was counted before it (see Resolver.Resolve); zero until then.
	counted time.Time
	drain   uint64 // sequence number of the current drain

	holdFor time.Duration
	// apps: edges keep their flow's application protocol.
	apps  bool
	held  map[bpf.FlowKey]*heldFlow
	swept int64 // when expire last swept, unix nanoseconds
	stats [bpf.NumTables]resolutionStats
}

type resolvedFlow struct {
	edge          Edge
	local, remote *internedIdentity
	seen          int64
}

// drainAnswer is what the resolver said about a key in this drain.
type drainAnswer struct {
	edge  Edge
	named bool
	// unknownIn has bit t set once the flow was counted unknown in table t.
	unknownIn uint8
	unknown   bool
}

// heldFlow is the increments of a flow that cannot be named yet.
type heldFlow struct {
	since  int64  // when it was first held, unix nanoseconds
	drain  uint64 // the drain that held it first
	tables uint8  // bit t: it holds increments of table t
	flows  bpf.FlowCounters
	tcp    bpf.TCPCounters
	// latency, drops and requests keep one increment per bucket, reason
	// or request kind.
	latency  []bpf.LatencyIncrement
	drops    []bpf.DropIncrement
	requests []bpf.RequestIncrement
}

// resolutionStats count flows through the hold: held = released +
// expired + held now.
type resolutionStats struct {
	held, released, expired uint64
	pending                 int    // held now
	unknown                 uint64 // drained flows counted as unknown at once
}

// maxHeld bounds the flows held back (a few tens of MB at most): past it,
// flows that cannot be named go to the unknown series at once, counted as
// expired.
const maxHeld = 1 << 17

// newResolutions names flows with r, holding unnamed ones for holdFor;
// apps: edges keep their flow's application protocol (else none: the
// protocols of a flow end in one series).
func newResolutions(r Resolver, holdFor time.Duration, apps bool) *resolutions {
	return &resolutions{
		resolver: r, ids: newIdentities(), keys: map[bpf.FlowKey]resolvedFlow{},
		drainKeys: map[bpf.FlowKey]drainAnswer{}, holdFor: holdFor, held: map[bpf.FlowKey]*heldFlow{},
		apps: apps,
	}
}

// start begins a drain: remembered keys are forgotten when the resolver's
// answers may have changed.
func (rs *resolutions) start() {
	rs.drain++
	if rs.resolver == nil {
		return // nothing to drain: no drained collector
	}
	if g := rs.resolver.Generation(); g != rs.generation {
		clear(rs.keys)
		rs.generation = g
	}
	clear(rs.drainKeys)
	rs.counted = time.Time{}
}

// edge returns the edge of kernel flow k, whose increments of table t this
// drain found, or the flow it holds them in until k can be named.
func (rs *resolutions) edge(k bpf.FlowKey, t bpf.Table, now int64) (Edge, *heldFlow) {
	if len(rs.held) > 0 {
		if h, ok := rs.held[k]; ok {
			rs.holding(h, t)
			return Edge{}, h
		}
	}
	if rf, ok := rs.keys[k]; ok {
		// The identities are marked used at the next sweep (expire): on
		// a busy node, writing to both here would cost two cache misses
		// per flow.
		rf.seen = now
		rs.keys[k] = rf // the second lookup finds the entry in cache
		return rf.edge, nil
	}
	a, ok := rs.drainKeys[k]
	if !ok {
		a = rs.resolve(k, now)
		if !a.named && rs.holdFor > 0 && len(rs.held) < maxHeld {
			h := &heldFlow{since: now, drain: rs.drain}
			rs.held[k] = h
			rs.holding(h, t)
			return Edge{}, h
		}
	}
	switch {
	case !a.named:
		rs.stats[t].held++ // and given up at once
		rs.stats[t].expired++
	case a.unknown && a.unknownIn&(1<<t) == 0:
		rs.stats[t].unknown++
		a.unknownIn |= 1 << t
	}
	rs.drainKeys[k] = a
	return a.edge, nil
}

// holding notes that h holds increments of table t.
func (rs *resolutions) holding(h *heldFlow, t bpf.Table) {
	if h.tables&(1<<t) == 0 {
		h.tables |= 1 << t
		rs.stats[t].held++
	}
}

// resolve asks the resolver about k and remembers the answer when it
// will stay true while the generation does. A connection to a translated
// service (k.ClientPort set) is one flow among many that end in one series,
// rarely seen again once it closes: it is never remembered, which would
// hold an entry per connection for the idle TTL.
func (rs *resolutions) resolve(k bpf.FlowKey, now int64) drainAnswer {
	if rs.counted.IsZero() {
		rs.counted = time.Now()
	}
	local, remote, port, named := rs.resolver.Resolve(k, rs.counted)
	app := k.App
	if !rs.apps {
		app = bpf.AppNone
	}
	l, r := rs.ids.get(local, now), rs.ids.get(remote, now)
	a := drainAnswer{
		edge:    newEdge(&l.Identity, &r.Identity, k.Role, k.Protocol, port, app),
		named:   named,
		unknown: local == unknownPeer || remote == unknownPeer,
	}
	if named && !a.unknown && k.ClientPort == 0 {
		rs.keys[k] = resolvedFlow{edge: a.edge, local: l, remote: r, seen: now}
	}
	return a
}

// finish ends a drain: it asks again about the flows held back by earlier
// drains, and adds to b those now named, and those held for holdFor with
// their unknown side.
func (rs *resolutions) finish(now int64, b *Batch) {
	for k, h := range rs.held {
		if h.drain == rs.drain {
			continue // just asked
		}
		a := rs.resolve(k, now)
		switch {
		case a.named:
			rs.count(h, func(s *resolutionStats) { s.released++ })
		case now-h.since >= int64(rs.holdFor):
			rs.count(h, func(s *resolutionStats) { s.expired++ })
		default:
			continue
		}
		h.release(a.edge, b)
		delete(rs.held, k)
	}
	for t := range rs.stats {
		rs.stats[t].pending = 0
	}
	for _, h := range rs.held {
		rs.count(h, func(s *resolutionStats) { s.pending++ })
	}
}

// count applies f to the stats of every table h holds increments of.
func (rs *resolutions) count(h *heldFlow, f func(*resolutionStats)) {
	for t := range rs.stats {
		if h.tables&(1<<t) != 0 {
			f(&rs.stats[t])
		}
	}
}

// release adds the increments h holds to b, on edge e.
func (h *heldFlow) release(e Edge, b *Batch) {
	if h.tables&(1<<bpf.TableFlows) != 0 {
		b.Flows = append(b.Flows, FlowIncrement{e, h.flows})
	}
	if h.tables&(1<<bpf.TableTCP) != 0 {
		b.TCP = append(b.TCP, TCPIncrement{e, h.tcp})
	}
	for _, l := range h.latency {
		b.Latency = append(b.Latency, LatencyIncrement{e, l})
	}
	for _, d := range h.drops {
		b.Drops = append(b.Drops, DropIncrement{e, d})
	}
	for _, r := range h.requests {
		b.Requests = append(b.Requests, RequestIncrement{e, r})
	}
}

// addLatency merges inc into the held increments of its bucket.
func (h *heldFlow) addLatency(inc bpf.LatencyIncrement) {
	for i := range h.latency {
		if h.latency[i].Histogram == inc.Histogram && h.latency[i].Bucket == inc.Bucket {
			h.latency[i].LatencyBucket.Add(&inc.LatencyBucket)
			return
		}
	}
	h.latency = append(h.latency, inc)
}

// addDrop merges inc into the held drops of its reason.
func (h *heldFlow) addDrop(inc bpf.DropIncrement) {
	for i := range h.drops {
		if h.drops[i].Reason == inc.Reason {
			h.drops[i].DropCounters.Add(&inc.DropCounters)
			return
		}
	}
	h.drops = append(h.drops, inc)
}

// addRequest merges inc into the held requests of its kind.
func (h *heldFlow) addRequest(inc bpf.RequestIncrement) {
	for i := range h.requests {
		if h.requests[i].Request == inc.Request {
			h.requests[i].Count += inc.Count
			return
		}
	}
	h.requests = append(h.requests, inc)
}

// expire forgets flows and identities not seen since cutoff, sweeping at
// most every sweepEvery: each sweep walks every remembered flow, and a
// forgotten identity only needs to go eventually (it is forgotten at the
// latest one sweep late, which the series' expiry does not depend on).
// Keys go first: a remembered key must not outlive the identities it names.
func (rs *resolutions) expire(now, cutoff int64, sweepEvery time.Duration) {
	if now-rs.swept < int64(sweepEvery) {
		return
	}
	rs.swept = now
	for k, rf := range rs.keys {
		if rf.seen < cutoff {
			delete(rs.keys, k)
			continue
		}
		rf.local.used = max(rf.local.used, rf.seen)
		rf.remote.used = max(rf.remote.used, rf.seen)
	}
	// A held flow names no identity.
	rs.ids.expire(cutoff)
}

var (
	pendingFlowsDesc = prometheus.NewDesc("podflow_resolution_pending_flows",
		"Flows whose increments are held back now, not yet exported, because a side cannot be named yet (a pod not yet in the Kubernetes cache, the cache not synced); they are asked about again at each drain.",
		[]string{"collector"}, nil)
	heldFlowsDesc = prometheus.NewDesc("podflow_resolution_held_flows_total",
		"Flows whose increments were held back because a side could not be named yet; each is later released, expired, or still pending.",
		[]string{"collector"}, nil)
	releasedFlowsDesc = prometheus.NewDesc("podflow_resolution_released_flows_total",
		"Held flows named at a later drain: their held increments were added to their series then.",
		[]string{"collector"}, nil)
	expiredFlowsDesc = prometheus.NewDesc("podflow_resolution_expired_flows_total",
		"Held flows still unnamed after --collector.flows.hold-unresolved (or not held: no hold time, or too many held): their increments were added to a series with an unknown side.",
		[]string{"collector"}, nil)
	unknownFlowsDesc = prometheus.NewDesc("podflow_resolution_unknown_flows_total",
		"Flows (one per flow and drain) with a side that can never be named, counted on a series with an unknown side at once: a packet without an address, a cgroup removed before the exporter saw it.",
		[]string{"collector"}, nil)
)

func describeResolutionStats(ch chan<- *prometheus.Desc) {
	ch <- pendingFlowsDesc
	ch <- heldFlowsDesc
	ch <- releasedFlowsDesc
	ch <- expiredFlowsDesc
	ch <- unknownFlowsDesc
}

// collectResolutionStats sends the self-metrics of the hold of one
// collector's table.
func collectResolutionStats(ch chan<- prometheus.Metric, collector string, st resolutionStats) {
	ch <- prometheus.MustNewConstMetric(pendingFlowsDesc, prometheus.GaugeValue, float64(st.pending), collector)
	for _, c := range []struct {
		desc *prometheus.Desc
		v    uint64
	}{{heldFlowsDesc, st.held}, {releasedFlowsDesc, st.released}, {expiredFlowsDesc, st.expired}, {unknownFlowsDesc, st.unknown}} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(c.v), collector)
	}
}
