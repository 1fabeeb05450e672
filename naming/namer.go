// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package naming

import (
	"time"

	"github.com/podflow/podflow_exporter/bpf"
)

// Namer names the kernel flows of each drain, once per kernel key whatever
// the tables it has increments in.
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
// synced), the flow's increments are held (a Held, whose increments the
// caller keeps), asked about again at each drain and released once named.
// Only after holdFor (--collector.flows.hold-unresolved) are they released
// with the unknown side. Either way each increment is counted once, late at
// worst, and the sum over a family stays the truth. A side that can never
// be named (a packet without an address, a cgroup removed before it was
// seen) is unknown at once.
//
// A Namer is used by one drain at a time: Start, Edge for each increment,
// Finish, Expire.
type Namer struct {
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
	held  map[bpf.FlowKey]*Held
	swept int64 // when Expire last swept, unix nanoseconds
	stats [bpf.NumTables]HoldStats
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

// Held is a flow that cannot be named yet, whose increments wait.
type Held struct {
	since  int64  // when it was first held, unix nanoseconds
	drain  uint64 // the drain that held it first
	tables uint8  // bit t: it holds increments of table t
	// Parts are the increments held of each table, in whatever form the
	// caller keeps them; nil for a table it holds none of.
	Parts [bpf.NumTables]any
}

// HoldStats count the flows of one table through the hold: Held =
// Released + Expired + Pending.
type HoldStats struct {
	Held, Released, Expired uint64
	Pending                 int    // held now
	Unknown                 uint64 // drained flows counted as unknown at once
}

// maxHeld bounds the flows held back (a few tens of MB at most): past it,
// flows that cannot be named are counted unknown at once, as expired.
const maxHeld = 1 << 17

// NewNamer names flows with r, holding unnamed ones for holdFor; apps:
// edges keep their flow's application protocol (else none: the protocols
// of a flow end in one edge).
func NewNamer(r Resolver, holdFor time.Duration, apps bool) *Namer {
	return &Namer{
		resolver: r, ids: newIdentities(), keys: map[bpf.FlowKey]resolvedFlow{},
		drainKeys: map[bpf.FlowKey]drainAnswer{}, holdFor: holdFor, held: map[bpf.FlowKey]*Held{},
		apps: apps,
	}
}

// Schema is the label schema of the Namer's edges: the Resolver's, with
// AppProtocol as the Namer was told.
func (n *Namer) Schema() Schema {
	s := n.resolver.Schema()
	s.AppProtocol = n.apps
	return s
}

// Start begins a drain: remembered keys are forgotten when the resolver's
// answers may have changed.
func (n *Namer) Start() {
	n.drain++
	if g := n.resolver.Generation(); g != n.generation {
		clear(n.keys)
		n.generation = g
	}
	clear(n.drainKeys)
	n.counted = time.Time{}
}

// Edge returns the edge of kernel flow k, whose increments of table t this
// drain found, or, when k cannot be named yet, the Held the caller adds
// them to until Finish releases it.
func (n *Namer) Edge(k bpf.FlowKey, t bpf.Table, now int64) (Edge, *Held) {
	if len(n.held) > 0 {
		if h, ok := n.held[k]; ok {
			n.holding(h, t)
			return Edge{}, h
		}
	}
	if rf, ok := n.keys[k]; ok {
		// The identities are marked used at the next sweep (Expire): on
		// a busy node, writing to both here would cost two cache misses
		// per flow.
		rf.seen = now
		n.keys[k] = rf // the second lookup finds the entry in cache
		return rf.edge, nil
	}
	a, ok := n.drainKeys[k]
	if !ok {
		a = n.resolve(k, now)
		if !a.named && n.holdFor > 0 && len(n.held) < maxHeld {
			h := &Held{since: now, drain: n.drain}
			n.held[k] = h
			n.holding(h, t)
			return Edge{}, h
		}
	}
	switch {
	case !a.named:
		n.stats[t].Held++ // and given up at once
		n.stats[t].Expired++
	case a.unknown && a.unknownIn&(1<<t) == 0:
		n.stats[t].Unknown++
		a.unknownIn |= 1 << t
	}
	n.drainKeys[k] = a
	return a.edge, nil
}

// holding notes that h holds increments of table t.
func (n *Namer) holding(h *Held, t bpf.Table) {
	if h.tables&(1<<t) == 0 {
		h.tables |= 1 << t
		n.stats[t].Held++
	}
}

// resolve asks the resolver about k and remembers the answer when it
// will stay true while the generation does. A connection to a translated
// service (k.ClientPort set) is one flow among many that end in one series,
// rarely seen again once it closes: it is never remembered, which would
// hold an entry per connection for the idle TTL.
func (n *Namer) resolve(k bpf.FlowKey, now int64) drainAnswer {
	if n.counted.IsZero() {
		n.counted = time.Now()
	}
	local, remote, port, named := n.resolver.Resolve(k, n.counted)
	app := k.App
	if !n.apps {
		app = bpf.AppNone
	}
	l, r := n.ids.get(local, now), n.ids.get(remote, now)
	a := drainAnswer{
		edge:    NewEdge(&l.Identity, &r.Identity, k.Role, k.Protocol, port, app),
		named:   named,
		unknown: local == UnknownPeer || remote == UnknownPeer,
	}
	if named && !a.unknown && k.ClientPort == 0 {
		n.keys[k] = resolvedFlow{edge: a.edge, local: l, remote: r, seen: now}
	}
	return a
}

// Finish ends a drain: it asks again about the flows held back by earlier
// drains, and hands release those now named, and those held for holdFor
// with their unknown side, with the edge their increments go to.
func (n *Namer) Finish(now int64, release func(e *Edge, h *Held)) {
	for k, h := range n.held {
		if h.drain == n.drain {
			continue // just asked
		}
		a := n.resolve(k, now)
		switch {
		case a.named:
			n.count(h, func(s *HoldStats) { s.Released++ })
		case now-h.since >= int64(n.holdFor):
			n.count(h, func(s *HoldStats) { s.Expired++ })
		default:
			continue
		}
		release(&a.edge, h)
		delete(n.held, k)
	}
	for t := range n.stats {
		n.stats[t].Pending = 0
	}
	for _, h := range n.held {
		n.count(h, func(s *HoldStats) { s.Pending++ })
	}
}

// count applies f to the stats of every table h holds increments of.
func (n *Namer) count(h *Held, f func(*HoldStats)) {
	for t := range n.stats {
		if h.tables&(1<<t) != 0 {
			f(&n.stats[t])
		}
	}
}

// Expire forgets flows and identities not seen since cutoff, sweeping at
// most every sweepEvery: each sweep walks every remembered flow, and a
// forgotten identity only needs to go eventually (it is forgotten at the
// latest one sweep late, which the series' expiry does not depend on).
// Keys go first: a remembered key must not outlive the identities it names.
func (n *Namer) Expire(now, cutoff int64, sweepEvery time.Duration) {
	if now-n.swept < int64(sweepEvery) {
		return
	}
	n.swept = now
	for k, rf := range n.keys {
		if rf.seen < cutoff {
			delete(n.keys, k)
			continue
		}
		rf.local.used = max(rf.local.used, rf.seen)
		rf.remote.used = max(rf.remote.used, rf.seen)
	}
	// A held flow names no identity.
	n.ids.expire(cutoff)
}

// Stats returns the hold's counts of table t.
func (n *Namer) Stats(t bpf.Table) HoldStats { return n.stats[t] }

// identities interns the Identities of the drain's flows. An identity
// unused for the idle TTL (neither resolved, nor naming a remembered flow
// seen since: see Namer.Expire) is forgotten; seen again, it gets a new
// ID. That cannot make two series of one label set: a series expires, at
// the latest, at the drain that forgets an identity it names (its last
// increment is no later than the identity's last use), before a batch with
// the new ID reaches it.
type identities struct {
	byPeer map[Peer]*internedIdentity
	nextID uint64
}

type internedIdentity struct {
	Identity
	used int64 // unix nanoseconds of the last use
}

func newIdentities() identities {
	return identities{byPeer: map[Peer]*internedIdentity{}, nextID: 1}
}

// get returns the interned identity of p, marking it used at now.
func (ids *identities) get(p Peer, now int64) *internedIdentity {
	i, ok := ids.byPeer[p]
	if !ok {
		i = &internedIdentity{Identity: Identity{ID: ids.nextID, Peer: p}}
		ids.nextID++
		ids.byPeer[p] = i
	}
	i.used = now
	return i
}

// expire forgets identities unused since cutoff.
func (ids *identities) expire(cutoff int64) {
	for p, i := range ids.byPeer {
		if i.used < cutoff {
			delete(ids.byPeer, p)
		}
	}
}
