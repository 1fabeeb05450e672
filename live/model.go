// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package live is the exporter's live view: the drains' named flows as a
// JSON snapshot (GET /api/v1/flows), a stream of additive deltas
// (GET /api/v1/flows/stream, Server-Sent Events), and the page that draws
// them (GET /flows). It shows the edges /metrics counts, at drain
// granularity: it subscribes to the drain pipeline (package flow) like the
// series behind /metrics do, so nothing per packet or per connection
// reaches it, and names edges as they do (package naming).
package live

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/naming"
)

// Pipeline is the drain pipeline the view follows (flow.Drainer): its
// edges' schema, how often it drains and how long an idle edge lives come
// with it.
type Pipeline interface {
	Subscribe(name string, s flow.Subscriber) *flow.Subscription
	Schema() naming.Schema
	Interval() time.Duration
	IdleTTL() time.Duration
}

// Options size the live view.
type Options struct {
	// MaxEdges bounds the edges held (--collector.max-series-per-family):
	// increments of edges beyond it go to one edge labelled __overflow__.
	MaxEdges int
	// MaxClients bounds the streams served at once.
	MaxClients int
	// Cluster answers scope=cluster; nil without a Prometheus URL.
	Cluster *Cluster
}

// Model holds the live view's edges, fed by every drain (it is a
// flow.Subscriber), and the streams that follow them.
type Model struct {
	opts Options
	// idleTTL removes an edge without increments for this long, as its
	// series leave /metrics; rateWindow is the shortest window rates are
	// taken over, a drain interval.
	idleTTL, rateWindow time.Duration
	labels              naming.EdgeLabels
	labelNames          []string
	sub                 *flow.Subscription // nil when fed by hand (tests)
	// boot tells this run's event IDs from another's: a Last-Event-ID
	// of an earlier run gets a fresh snapshot.
	boot string
	done chan struct{}

	mu       sync.Mutex
	edges    map[naming.EdgeKey]*edge
	overflow *edge // the __overflow__ edge, nil until needed
	nextID   uint64
	seq      uint64 // last drain applied
	time     int64  // when drain seq ended, unix nanoseconds
	// windowStart is when the current rate window began; window the
	// length of the last complete one.
	windowStart int64
	window      time.Duration
	history     []*message // the latest deltas, for resuming streams
	historyLen  int        // their edges, summed
	clients     map[*client]struct{}
	closed      bool
	stats       stats
}

// stats are the live view's self-metrics.
type stats struct {
	messages, merges, rejected, overflowed uint64
}

// edge is one edge of the view. desc is set once and read-only after, so
// streams read it without the lock.
type edge struct {
	desc Edge // ID, Local, Remote, Labels
	// head is desc's JSON up to its total, made once: a delta sends every
	// changed edge, and encoding its labels each time was most of a
	// stream's cost (docs/benchmarks.md).
	head  []byte
	key   naming.EdgeKey
	total counts
	mark  counts // total at the start of the rate window
	rate  Rates  // over the last complete window
	last  int64  // unix nanoseconds of the last increment
	// inDrain is the last drain that counted the edge, and at its place
	// in that drain's message: a drain finds an edge in several tables
	// without a map lookup.
	inDrain uint64
	at      int
}

// New returns the live view of p's drains, empty until the next one.
func New(p Pipeline, opts Options) *Model {
	m := newModel(p.Schema(), p.Interval(), p.IdleTTL(), opts)
	m.sub = p.Subscribe("live_view", m)
	return m
}

// newModel returns an empty live view of edges named by schema, fed by
// Consume.
func newModel(schema naming.Schema, rateWindow, idleTTL time.Duration, opts Options) *Model {
	l := schema.EdgeLabels()
	return &Model{
		opts:       opts,
		idleTTL:    idleTTL,
		rateWindow: rateWindow,
		labels:     l,
		labelNames: l.Names(),
		boot:       strconv.FormatInt(time.Now().UnixMilli(), 10),
		done:       make(chan struct{}),
		edges:      map[naming.EdgeKey]*edge{},
		clients:    map[*client]struct{}{},
	}
}

// Close stops following the drains and ends every stream (at shutdown: a
// stream never ends by itself).
func (m *Model) Close() {
	if m.sub != nil {
		m.sub.Cancel()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.done)
	}
}

// Consume implements flow.Subscriber: b's increments are added to their
// edges, and the delta goes to every stream.
func (m *Model) Consume(b *flow.Batch) {
	m.mu.Lock()
	defer m.mu.Unlock()
	msg := &message{first: b.First, last: b.Last, start: b.Start, time: b.Time,
		edges: make([]delta, 0, len(flow.Flows.In(b).Increments)+len(flow.TCP.In(b).Increments)/2)}
	msg.removed = m.expire(b.Time - int64(m.idleTTL))
	batchCounts(b, func(e *naming.Edge, c *counts) {
		m.count(msg, m.edgeOf(e), c, b.Time)
	})
	if o := overflowCounts(b); o != (counts{}) {
		m.count(msg, m.overflowEdge(), &o, b.Time)
	}
	m.roll(b)
	m.seq, m.time = b.Last, b.Time
	m.remember(msg)
	for c := range m.clients {
		c.push(msg, &m.stats)
	}
}

// count adds c to e and to msg's delta of e.
func (m *Model) count(msg *message, e *edge, c *counts, now int64) {
	e.total.add(c)
	e.last = now
	if e.inDrain == msg.last {
		msg.edges[e.at].d.add(c)
		return
	}
	e.inDrain, e.at = msg.last, len(msg.edges)
	msg.edges = append(msg.edges, delta{e: e, d: *c})
}

// edgeOf returns the edge of e, made if new, or the __overflow__ edge
// when the budget is full. An edge's application protocols count together,
// as the labels the view shows do not tell them apart.
func (m *Model) edgeOf(e *naming.Edge) *edge {
	k := e.Key().AnyApp()
	if ed, ok := m.edges[k]; ok {
		return ed
	}
	if len(m.edges) >= m.opts.MaxEdges {
		m.stats.overflowed++
		return m.overflowEdge()
	}
	values := m.labels.Values(make([]string, 0, len(m.labelNames)), e)
	labels := make(map[string]string, len(values))
	for i, v := range values {
		labels[m.labelNames[i]] = v
	}
	m.nextID++
	ed := newEdge(Edge{
		ID:     "e" + strconv.FormatUint(m.nextID, 10),
		Local:  nodeOf(&e.Local.Peer),
		Remote: nodeOf(&e.Remote.Peer),
		Labels: labels,
	})
	ed.key = k
	m.edges[k] = ed
	return ed
}

// newEdge returns an edge described by desc, its JSON head made.
func newEdge(desc Edge) *edge {
	head, err := json.Marshal(struct {
		ID     string            `json:"id"`
		Local  Node              `json:"local"`
		Remote Node              `json:"remote"`
		Labels map[string]string `json:"labels"`
	}{desc.ID, desc.Local, desc.Remote, desc.Labels})
	if err != nil { // strings and maps of strings always marshal
		panic(err)
	}
	return &edge{desc: desc, head: append(head[:len(head)-1], `,"total":`...)}
}

// overflowEdge returns the edge that holds what the budget or the
// kernel's tables could not: every label __overflow__, as on /metrics.
func (m *Model) overflowEdge() *edge {
	if m.overflow == nil {
		labels := make(map[string]string, len(m.labelNames))
		for _, n := range m.labelNames {
			labels[n] = naming.OverflowValue
		}
		n := Node{ID: naming.OverflowValue, Name: naming.OverflowValue, Kind: naming.OverflowValue}
		m.overflow = newEdge(Edge{ID: naming.OverflowValue, Local: n, Remote: n, Labels: labels})
	}
	return m.overflow
}

// expire removes the edges without increments since cutoff and returns
// their IDs.
func (m *Model) expire(cutoff int64) []string {
	var removed []string
	for k, e := range m.edges {
		if e.last < cutoff {
			delete(m.edges, k)
			removed = append(removed, e.desc.ID)
		}
	}
	if m.overflow != nil && m.overflow.last < cutoff {
		removed = append(removed, m.overflow.desc.ID)
		m.overflow = nil
	}
	return removed
}

// roll ends the rate window when it is RateWindow long: each edge's rate
// becomes what it gained in it.
func (m *Model) roll(b *flow.Batch) {
	if m.windowStart == 0 {
		m.windowStart = b.Start
		if m.windowStart == 0 {
			m.windowStart = b.Time
		}
	}
	w := time.Duration(b.Time - m.windowStart)
	if w < m.rateWindow {
		return
	}
	m.each(func(e *edge) {
		e.rate = rates(&e.total, &e.mark, w.Seconds())
		e.mark = e.total
	})
	m.window, m.windowStart = w, b.Time
}

// each calls f with every edge, the __overflow__ edge last.
func (m *Model) each(f func(*edge)) {
	for _, e := range m.edges {
		f(e)
	}
	if m.overflow != nil {
		f(m.overflow)
	}
}

// nodeOf names one side of an edge as a graph node. The service a remote
// pod was reached by is the edge's (remote_service), not the node's: a pod
// is one node however it is reached.
func nodeOf(p *naming.Peer) Node {
	name := p.Pod
	if name == "" {
		name = p.Workload
	}
	return Node{ID: nodeID(p.Kind, p.Namespace, p.Workload, p.Pod), Name: nodeName(p.Kind, p.Namespace, name), Kind: p.Kind, Namespace: p.Namespace}
}

// nodeName is "namespace/name", or the namespace alone at
// --kube.aggregation=namespace. A service or a node (which are not
// workloads) is prefixed by its kind, so that service shop/db is not
// taken for the workload shop/db that serves it.
func nodeName(kind, namespace, name string) string {
	n := name
	switch {
	case name == "":
		n = namespace
	case namespace != "":
		n = namespace + "/" + name
	}
	if kind == naming.KindService || kind == naming.KindNode {
		n = kind + " " + n
	}
	return n
}

// nodeID keys a graph node; cluster scope keys its workloads alike.
func nodeID(kind, namespace, workload, pod string) string {
	return kind + "|" + namespace + "|" + workload + "|" + pod
}
