// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/bpf"
)

// resolutions names the kernel flows of one collector's drains and hands
// their increments, V (the kernel's counters of one flow), to the
// collector's tables through count.
//
// Naming: the series key of each kernel flow key is remembered while the
// resolver's generation stays the same: most flows of a scrape were in the
// previous one, and one lookup replaces resolving and interning. The keys
// name identities interned in peers.
//
// Holding back: an increment counted on an `unknown` series would stay
// there for good (counters never go back), while the flow's later
// increments go to its real series. So when the resolver says a side cannot
// be named yet (a pod not yet in the Kubernetes cache, the cache not
// synced), the flow's increments are kept here, merged per kernel key, asked
// about again at each drain and counted on their series once named. Only
// after holdFor (--collector.flows.hold-unresolved) do they go to the
// unknown series. Either way each increment is counted once, late at
// worst, and the sum over a family stays the truth. A side that can never
// be named (a packet without an address, a cgroup removed before it was
// seen) goes to the unknown series at once.
type resolutions[V any] struct {
	name       string // the collector's, for the self-metrics
	resolver   Resolver
	peers      *peers
	keys       map[bpf.FlowKey]resolvedFlow
	generation uint64
	// counted is taken at a drain's first resolution, after the kernel
	// stopped writing the drained table, so every increment of the drain
	// was counted before it (see Resolver.Resolve); zero until then.
	counted time.Time
	drain   uint64 // sequence number of the current drain

	holdFor time.Duration
	// merge and count take values, not pointers: through a func value a
	// pointer would move every drained increment to the heap.
	merge func(a, b V) V
	count func(k bpf.FlowKey, sk seriesKey, v V, now int64)
	held  map[bpf.FlowKey]*heldFlow[V]
	stats resolutionStats
}

type resolvedFlow struct {
	key  seriesKey
	seen int64
}

// heldFlow is the increments of a flow that cannot be named yet.
type heldFlow[V any] struct {
	v     V
	since int64  // when it was first held, unix nanoseconds
	drain uint64 // the drain that held it first
}

// resolutionStats count flows through the hold: held = released +
// expired + held now.
type resolutionStats struct {
	held, released, expired uint64
	unknown                 uint64 // drained flows counted as unknown at once
}

// maxHeld bounds the flows a collector holds back (a few tens of MB at
// most): past it, flows that cannot be named go to the unknown series
// at once, counted as expired.
const maxHeld = 1 << 17

// newResolutions names flows with r, interning identities in p; merge
// returns the sum of two increments, count adds one to the tables.
func newResolutions[V any](name string, r Resolver, p *peers, holdFor time.Duration,
	merge func(a, b V) V, count func(k bpf.FlowKey, sk seriesKey, v V, now int64)) resolutions[V] {
	return resolutions[V]{
		name: name, resolver: r, peers: p, keys: map[bpf.FlowKey]resolvedFlow{},
		holdFor: holdFor, merge: merge, count: count, held: map[bpf.FlowKey]*heldFlow[V]{},
	}
}

// start begins a drain: remembered keys are forgotten when the resolver's
// answers may have changed.
func (rs *resolutions[V]) start() {
	if g := rs.resolver.Generation(); g != rs.generation {
		clear(rs.keys)
		rs.generation = g
	}
	rs.counted = time.Time{}
	rs.drain++
}

// add counts v, the increments of kernel flow k that this drain found, or
// holds them back until k can be named.
func (rs *resolutions[V]) add(k bpf.FlowKey, v V, now int64) {
	if len(rs.held) > 0 {
		if h, ok := rs.held[k]; ok {
			h.v = rs.merge(h.v, v) // asked about again in finish
			return
		}
	}
	sk, named, unknown := rs.resolve(k, now)
	switch {
	case !named && rs.holdFor > 0 && len(rs.held) < maxHeld:
		rs.held[k] = &heldFlow[V]{v: v, since: now, drain: rs.drain}
		rs.stats.held++
		return
	case !named:
		rs.stats.held++ // and given up at once
		rs.stats.expired++
	case unknown:
		rs.stats.unknown++
	}
	rs.count(k, sk, v, now)
}

// finish ends a drain: it asks again about the flows held back by earlier
// drains, and counts those now named on their series, and those held for
// holdFor on the unknown one.
func (rs *resolutions[V]) finish(now int64) {
	for k, h := range rs.held {
		if h.drain == rs.drain {
			continue // just asked
		}
		sk, named, _ := rs.resolve(k, now)
		switch {
		case named:
			rs.stats.released++
		case now-h.since >= int64(rs.holdFor):
			rs.stats.expired++
		default:
			continue
		}
		rs.count(k, sk, h.v, now)
		delete(rs.held, k)
	}
}

// resolve returns the series key of kernel flow k (its identities and
// connection facts; variant zero: identities do not depend on it), whether
// it is named for good (else a side may be named later) and whether a side
// is unknown. The key is resolved only when it is not remembered from an
// earlier drain. A connection to a translated service (k.ClientPort set)
// is one flow among many that end in one series, rarely seen again once it
// closes: it is resolved each time (the resolver keeps its translation),
// never remembered here, which would hold an entry per connection for the
// idle TTL.
func (rs *resolutions[V]) resolve(k bpf.FlowKey, now int64) (sk seriesKey, named, unknown bool) {
	k.Variant = 0
	if rf, ok := rs.keys[k]; ok {
		rs.peers.touch(&rf.key, now)
		rf.seen = now
		rs.keys[k] = rf // the second lookup finds the entry in cache
		return rf.key, true, false
	}
	if rs.counted.IsZero() {
		rs.counted = time.Now()
	}
	local, remote, port, named := rs.resolver.Resolve(k, rs.counted)
	sk = seriesKey{
		local: rs.peers.id(local, now), remote: rs.peers.id(remote, now),
		role: k.Role, protocol: k.Protocol, port: port,
	}
	unknown = local == unknownPeer || remote == unknownPeer
	if named && !unknown && k.ClientPort == 0 {
		rs.keys[k] = resolvedFlow{key: sk, seen: now}
	}
	return sk, named, unknown
}

// expire forgets flows not seen since cutoff. Call it before the peers
// expire: a remembered key must not outlive the identities it names.
func (rs *resolutions[V]) expire(cutoff int64) {
	for k, rf := range rs.keys {
		if rf.seen < cutoff {
			delete(rs.keys, k)
		}
	}
}

var (
	pendingFlowsDesc = prometheus.NewDesc("podflow_resolution_pending_flows",
		"Flows whose increments are held back now, not yet exported, because a side cannot be named yet (a pod not yet in the Kubernetes cache, the cache not synced); they are asked about again at each scrape.",
		[]string{"collector"}, nil)
	heldFlowsDesc = prometheus.NewDesc("podflow_resolution_held_flows_total",
		"Flows whose increments were held back because a side could not be named yet; each is later released, expired, or still pending.",
		[]string{"collector"}, nil)
	releasedFlowsDesc = prometheus.NewDesc("podflow_resolution_released_flows_total",
		"Held flows named at a later scrape: their held increments were added to their series then.",
		[]string{"collector"}, nil)
	expiredFlowsDesc = prometheus.NewDesc("podflow_resolution_expired_flows_total",
		"Held flows still unnamed after --collector.flows.hold-unresolved (or not held: no hold time, or too many held): their increments were added to a series with an unknown side.",
		[]string{"collector"}, nil)
	unknownFlowsDesc = prometheus.NewDesc("podflow_resolution_unknown_flows_total",
		"Flows (one per flow and scrape) with a side that can never be named, counted on a series with an unknown side at once: a packet without an address, a cgroup removed before the exporter saw it.",
		[]string{"collector"}, nil)
)

func describeResolutionStats(ch chan<- *prometheus.Desc) {
	ch <- pendingFlowsDesc
	ch <- heldFlowsDesc
	ch <- releasedFlowsDesc
	ch <- expiredFlowsDesc
	ch <- unknownFlowsDesc
}

// collectStats sends the self-metrics of the hold.
func (rs *resolutions[V]) collectStats(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(pendingFlowsDesc, prometheus.GaugeValue, float64(len(rs.held)), rs.name)
	for _, c := range []struct {
		desc *prometheus.Desc
		v    uint64
	}{{heldFlowsDesc, rs.stats.held}, {releasedFlowsDesc, rs.stats.released}, {expiredFlowsDesc, rs.stats.expired}, {unknownFlowsDesc, rs.stats.unknown}} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(c.v), rs.name)
	}
}
