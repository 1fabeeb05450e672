// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package flow

import (
	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/naming"
)

// The kernel's tables as the pipeline hands them out: one line per table
// declared in package bpf. Each is a handle to its part of a Batch
// (Flows.In(b)) and makes the Input that drains it.
var (
	Flows    = declare(bpf.Flows)
	TCP      = declare(bpf.TCP)
	Latency  = declare(bpf.Latency)
	Drops    = declare(bpf.Drops)
	Requests = declare(bpf.Requests)
)

// tables are the declared tables, by bpf.Table.
var tables [bpf.NumTables]table

// Increment is what one edge gained in one table in a batch: bytes and
// packets (Flows), TCP events, a latency bucket, the drops of one reason,
// the requests of one kind.
type Increment[I any] struct {
	naming.Edge
	Value I
}

// Part is a table's share of a Batch: the increments of its named flows,
// in drain order (an edge may come more than once), and what the kernel's
// table could not hold, known by no flow.
type Part[I, O any] struct {
	Increments []Increment[I]
	Overflow   O
}

// Table is one kernel table of increments I and overflow O.
type Table[I, O any] struct {
	def *bpf.TableDef[I, O]
	// add sums two increments of one edge and variant; variant keys the
	// increments of one flow that sum together; addOverflow sums
	// overflows.
	add         func(a, b *I)
	variant     func(*I) uint32
	addOverflow func(a, b *O)
}

// increment and overflow are what the pipeline needs of a table's types to
// merge batches and hold increments back.
type increment[I any] interface {
	*I
	Add(*I)
	Variant() uint32
}

type overflow[O any] interface {
	*O
	Add(*O)
}

func declare[I, O any, PI increment[I], PO overflow[O]](def *bpf.TableDef[I, O]) *Table[I, O] {
	t := &Table[I, O]{
		def:         def,
		add:         func(a, b *I) { PI(a).Add(b) },
		variant:     func(i *I) uint32 { return PI(i).Variant() },
		addOverflow: func(a, b *O) { PO(a).Add(b) },
	}
	tables[def.ID()] = t
	return t
}

// ID returns the kernel table's identifier.
func (t *Table[I, O]) ID() bpf.Table { return t.def.ID() }

// In returns t's part of b (empty when b holds none: a batch not made by a
// Drainer or NewBatch). It is b's own: read-only for subscribers.
func (t *Table[I, O]) In(b *Batch) *Part[I, O] {
	if p, ok := b.parts[t.ID()].(*Part[I, O]); ok {
		return p
	}
	return &Part[I, O]{}
}

// Source drains one kernel table: what each flow gained since the previous
// drain, and the overflow (bpf.TableDef.Drain, or a test's fake).
type Source[I, O any] interface {
	Drain(fn func(bpf.FlowKey, I)) (O, error)
}

// SourceFunc is a function that is a Source.
type SourceFunc[I, O any] func(fn func(bpf.FlowKey, I)) (O, error)

// Drain implements Source.
func (f SourceFunc[I, O]) Drain(fn func(bpf.FlowKey, I)) (O, error) { return f(fn) }

// Input is a table the Drainer drains, with its source.
type Input interface {
	table() table
	// drain appends the table's increments, named by n, to b, or adds
	// them to the flows n holds back.
	drain(b *Batch, n *naming.Namer, now int64) error
}

type input[I, O any] struct {
	t   *Table[I, O]
	src Source[I, O]
}

// From returns the input of t drained from src.
func (t *Table[I, O]) From(src Source[I, O]) Input { return input[I, O]{t, src} }

// FromFunc returns the input of t drained by f.
func (t *Table[I, O]) FromFunc(f func(fn func(bpf.FlowKey, I)) (O, error)) Input {
	return input[I, O]{t, SourceFunc[I, O](f)}
}

// tracerSource drains a table of a bpf.Tracer.
type tracerSource[I, O any] struct {
	def *bpf.TableDef[I, O]
	tr  *bpf.Tracer
}

func (s tracerSource[I, O]) Drain(fn func(bpf.FlowKey, I)) (O, error) { return s.def.Drain(s.tr, fn) }

// FromTracer returns the inputs of the tables ids of tr.
func FromTracer(tr *bpf.Tracer, ids ...bpf.Table) []Input {
	var in []Input
	for _, id := range ids {
		in = append(in, tables[id].fromTracer(tr))
	}
	return in
}

func (in input[I, O]) table() table { return in.t }

func (in input[I, O]) drain(b *Batch, n *naming.Namer, now int64) error {
	p := in.t.In(b)
	id := in.t.ID()
	var err error
	p.Overflow, err = in.src.Drain(func(k bpf.FlowKey, v I) {
		if e, h := n.Edge(k, id, now); h != nil {
			in.t.hold(h, &v)
		} else {
			p.Increments = append(p.Increments, Increment[I]{e, v})
		}
	})
	return err
}

// table is what the pipeline does with any table, whatever its types.
type table interface {
	ID() bpf.Table
	fromTracer(tr *bpf.Tracer) Input
	// newPart returns an empty part with room for n increments; reset
	// empties one, keeping its room; size says how many it holds.
	newPart(n int) any
	reset(p any)
	size(p any) int
	// release appends the increments h holds of the table to b, on e.
	release(b *Batch, e *naming.Edge, h *naming.Held)
	// merge sums the parts of bs into out's, per edge and variant.
	merge(out *Batch, bs []*Batch)
}

func (t *Table[I, O]) fromTracer(tr *bpf.Tracer) Input { return t.From(tracerSource[I, O]{t.def, tr}) }

func (t *Table[I, O]) newPart(n int) any {
	return &Part[I, O]{Increments: make([]Increment[I], 0, n)}
}

func (t *Table[I, O]) reset(p any) {
	pt := p.(*Part[I, O])
	*pt = Part[I, O]{Increments: pt.Increments[:0]}
}

func (t *Table[I, O]) size(p any) int { return len(p.(*Part[I, O]).Increments) }

// hold adds v to the increments h holds of the table, one per variant
// (a flow waits there for a few drains, its increments merged).
func (t *Table[I, O]) hold(h *naming.Held, v *I) {
	held, _ := h.Parts[t.ID()].([]I)
	variant := t.variant(v)
	for i := range held {
		if t.variant(&held[i]) == variant {
			t.add(&held[i], v)
			return
		}
	}
	h.Parts[t.ID()] = append(held, *v)
}

func (t *Table[I, O]) release(b *Batch, e *naming.Edge, h *naming.Held) {
	held, _ := h.Parts[t.ID()].([]I)
	if len(held) == 0 {
		return
	}
	p := t.In(b)
	for _, v := range held {
		p.Increments = append(p.Increments, Increment[I]{*e, v})
	}
}

// mergeKey identifies the increments of one edge that sum together.
type mergeKey struct {
	naming.EdgeKey
	variant uint32
}

func (t *Table[I, O]) merge(out *Batch, bs []*Batch) {
	dst := t.In(out)
	at := map[mergeKey]int{}
	for _, b := range bs {
		p := t.In(b)
		for i := range p.Increments {
			inc := &p.Increments[i]
			k := mergeKey{inc.Key(), t.variant(&inc.Value)}
			if j, ok := at[k]; ok {
				t.add(&dst.Increments[j].Value, &inc.Value)
				continue
			}
			at[k] = len(dst.Increments)
			dst.Increments = append(dst.Increments, *inc)
		}
		t.addOverflow(&dst.Overflow, &p.Overflow)
	}
}
