// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"sync/atomic"

	"github.com/podflow/podflow_exporter/bpf"
)

// Identity is one side of a flow as a drain named it. The drain interns
// identities: equal Peers share one *Identity while it is in use, and its
// ID, never reused, keys series. An Identity is read-only once made.
type Identity struct {
	ID uint64
	Peer
}

// Edge is a flow as its series see it: both sides' identities and the
// connection facts that are labels.
type Edge struct {
	Local, Remote *Identity
	Role          bpf.Role
	Protocol      uint8 // IANA protocol number
	// Port is the server's port; for a connection to a service that was
	// translated, the backend's.
	Port uint16
	// App is the application protocol of the flow's packets: set in the
	// flows and TCP tables, whose families label it (app_protocol), and
	// bpf.AppNone in the others.
	App bpf.AppProtocol
	// ids are Local.ID and Remote.ID, kept here so that keying a series
	// does not visit both identities (a cache miss each on a busy node).
	ids [2]uint64
}

// NewEdge returns the edge between two identities, of no application
// protocol (for batches made outside a drain, as tests do).
func NewEdge(local, remote *Identity, role bpf.Role, protocol uint8, port uint16) Edge {
	return newEdge(local, remote, role, protocol, port, bpf.AppNone)
}

// newEdge returns the edge between two identities.
func newEdge(local, remote *Identity, role bpf.Role, protocol uint8, port uint16, app bpf.AppProtocol) Edge {
	return Edge{Local: local, Remote: remote, Role: role, Protocol: protocol, Port: port, App: app, ids: [2]uint64{local.ID, remote.ID}}
}

// FlowIncrement is what one edge sent and received in a batch.
type FlowIncrement struct {
	Edge
	bpf.FlowCounters
}

// TCPIncrement is the TCP events of one edge in a batch.
type TCPIncrement struct {
	Edge
	bpf.TCPCounters
}

// LatencyIncrement is the samples one edge added to one bucket of one
// latency histogram in a batch.
type LatencyIncrement struct {
	Edge
	bpf.LatencyIncrement
}

// DropIncrement is the packets of one edge the kernel dropped for one
// reason in a batch.
type DropIncrement struct {
	Edge
	bpf.DropIncrement
}

// RequestIncrement is the DNS or HTTP requests of one edge of one kind
// (response code and question type; method and status class) in a batch.
type RequestIncrement struct {
	Edge
	bpf.RequestIncrement
}

// Overflow is what the kernel's tables could not hold in a batch, known by
// no flow: it is counted in each family's __overflow__ series.
type Overflow struct {
	Flows    bpf.FlowCounters
	TCP      bpf.TCPCounters
	Latency  bpf.LatencyOverflow
	Drops    bpf.DropCounters
	Requests bpf.RequestOverflow
}

// Batch is what one drain of the kernel's tables found, every flow named
// (or several drains merged, for a subscriber that fell behind). Every
// subscriber is handed the same Batch: it is read-only.
//
// The increments of a flow whose side cannot be named yet are held back
// and arrive in a later batch (see resolutions); an edge may appear more
// than once in a batch.
type Batch struct {
	// First and Last are the sequence numbers of the drains it holds,
	// counted from 1.
	First, Last uint64
	// Start is when the drain before First ended (for the first drain,
	// when the Drainer was made), Time when Last ended (unix
	// nanoseconds): the batch counts what happened in between.
	Start, Time int64

	Flows    []FlowIncrement
	TCP      []TCPIncrement
	Latency  []LatencyIncrement
	Drops    []DropIncrement
	Requests []RequestIncrement
	Overflow Overflow
	// Errs says which tables failed to drain (a partial batch).
	Errs map[bpf.Table]error

	// refs counts the subscribers still to consume the batch; at zero
	// its slices go back to the drainer for the next drain.
	refs    atomic.Int32
	recycle func(*Batch)
}

// release says one subscriber is done with b.
func (b *Batch) release() {
	if b.refs.Add(-1) == 0 && b.recycle != nil {
		b.recycle(b)
	}
}

// newBatch returns an empty batch, reusing one every subscriber is done
// with when there is one (a drain of many flows would otherwise allocate
// and collect its size each time), else sized like the previous drain:
// most flows of a drain were in it.
func (d *Drainer) newBatch() *Batch {
	d.freeMu.Lock()
	if n := len(d.free); n > 0 {
		b := d.free[n-1]
		d.free = d.free[:n-1]
		d.freeMu.Unlock()
		*b = Batch{Flows: b.Flows[:0], TCP: b.TCP[:0], Latency: b.Latency[:0], Drops: b.Drops[:0], Requests: b.Requests[:0], recycle: d.recycleBatch}
		return b
	}
	d.freeMu.Unlock()
	return &Batch{
		Flows:    make([]FlowIncrement, 0, d.sizes[bpf.TableFlows]),
		TCP:      make([]TCPIncrement, 0, d.sizes[bpf.TableTCP]),
		Latency:  make([]LatencyIncrement, 0, d.sizes[bpf.TableLatency]),
		Drops:    make([]DropIncrement, 0, d.sizes[bpf.TableDrops]),
		Requests: make([]RequestIncrement, 0, d.sizes[bpf.TableRequests]),
		recycle:  d.recycleBatch,
	}
}

// maxFree bounds the batches kept for reuse.
const maxFree = 2

func (d *Drainer) recycleBatch(b *Batch) {
	d.freeMu.Lock()
	defer d.freeMu.Unlock()
	if len(d.free) < maxFree {
		d.free = append(d.free, b)
	}
}

// edgeKey identifies an edge and the variant of its increment (a drop
// reason, a histogram and bucket) when batches merge.
type edgeKey struct {
	local, remote uint64
	role          bpf.Role
	protocol      uint8
	port          uint16
	app           bpf.AppProtocol
	variant       uint32
}

func (e *Edge) key(variant uint32) edgeKey {
	return edgeKey{local: e.ids[0], remote: e.ids[1], role: e.Role, protocol: e.Protocol, port: e.Port, app: e.App, variant: variant}
}

// mergeBatches returns one batch holding every increment of bs (in
// order, consecutive), with the increments of each edge summed: what a
// subscriber that fell behind is handed, its size bounded by the edges
// rather than the drains.
func mergeBatches(bs []*Batch) *Batch {
	out := &Batch{First: bs[0].First, Last: bs[len(bs)-1].Last, Start: bs[0].Start, Time: bs[len(bs)-1].Time}
	flows := merger[FlowIncrement]{}
	tcp := merger[TCPIncrement]{}
	latency := merger[LatencyIncrement]{}
	drops := merger[DropIncrement]{}
	requests := merger[RequestIncrement]{}
	for _, b := range bs {
		for i := range b.Flows {
			f := &b.Flows[i]
			flows.add(&out.Flows, f.key(0), f, func(a, b *FlowIncrement) { a.FlowCounters.Add(&b.FlowCounters) })
		}
		for i := range b.TCP {
			f := &b.TCP[i]
			tcp.add(&out.TCP, f.key(0), f, func(a, b *TCPIncrement) { a.TCPCounters.Add(&b.TCPCounters) })
		}
		for i := range b.Latency {
			f := &b.Latency[i]
			variant := uint32(f.Histogram)<<8 | uint32(f.Bucket)
			latency.add(&out.Latency, f.key(variant), f, func(a, b *LatencyIncrement) { a.LatencyBucket.Add(&b.LatencyBucket) })
		}
		for i := range b.Drops {
			f := &b.Drops[i]
			drops.add(&out.Drops, f.key(f.Reason), f, func(a, b *DropIncrement) { a.DropCounters.Add(&b.DropCounters) })
		}
		for i := range b.Requests {
			f := &b.Requests[i]
			requests.add(&out.Requests, f.key(requestVariant(f.Request)), f, func(a, b *RequestIncrement) { a.Count += b.Count })
		}
		out.Overflow.Flows.Add(&b.Overflow.Flows)
		out.Overflow.TCP.Add(&b.Overflow.TCP)
		out.Overflow.Latency.Add(&b.Overflow.Latency)
		out.Overflow.Drops.Add(&b.Overflow.Drops)
		out.Overflow.Requests.Add(&b.Overflow.Requests)
		for t, err := range b.Errs {
			if out.Errs == nil {
				out.Errs = map[bpf.Table]error{}
			}
			out.Errs[t] = err
		}
	}
	return out
}

// merger sums increments of equal edges into a slice.
type merger[I any] map[edgeKey]int

func (m merger[I]) add(out *[]I, k edgeKey, inc *I, sum func(a, b *I)) {
	if i, ok := m[k]; ok {
		sum(&(*out)[i], inc)
		return
	}
	m[k] = len(*out)
	*out = append(*out, *inc)
}

// identities interns the Identities of the drain's flows. An identity
// unused for the idle TTL (neither resolved, nor naming a remembered flow
// seen since: see resolutions.expire) is forgotten; seen again, it gets a
// new ID. That cannot make two series of one label set: a series expires,
// at the latest, at the drain that forgets an identity it names (its last
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
