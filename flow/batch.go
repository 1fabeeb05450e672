// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package flow

import (
	"sync"
	"sync/atomic"

	"github.com/podflow/podflow_exporter/bpf"
)

// Batch is what one drain of the kernel's tables found, every flow named
// (or several drains merged, for a subscriber that fell behind): each
// table's Part (Flows.In(b)...). Every subscriber is handed the same Batch:
// it is read-only.
//
// The increments of a flow whose side cannot be named yet are held back
// and arrive in a later batch (see naming.Namer); an edge may appear more
// than once in a batch.
type Batch struct {
	// First and Last are the sequence numbers of the drains it holds,
	// counted from 1.
	First, Last uint64
	// Start is when the drain before First ended (for the first drain,
	// when the Drainer was made), Time when Last ended (unix
	// nanoseconds): the batch counts what happened in between.
	Start, Time int64
	// Errs says which tables failed to drain (a partial batch).
	Errs map[bpf.Table]error

	// parts are each table's *Part, by bpf.Table.
	parts [bpf.NumTables]any
	// refs counts the subscribers still to consume the batch; at zero
	// its parts go back to the pool for the next drain.
	refs atomic.Int32
	pool *batchPool
}

// NewBatch returns an empty batch of drains first to last, counting from
// start to end (unix nanoseconds), for tests and tools that feed
// subscribers themselves; Flows.In(b) and the others give its parts to
// fill.
func NewBatch(first, last uint64, start, end int64) *Batch {
	b := &Batch{First: first, Last: last, Start: start, Time: end}
	for id, t := range tables {
		b.parts[id] = t.newPart(0)
	}
	return b
}

// release says one subscriber is done with b.
func (b *Batch) release() {
	if b.refs.Add(-1) == 0 && b.pool != nil {
		b.pool.put(b)
	}
}

// batchPool keeps the batches every subscriber consumed, to reuse: a
// drain of many flows would otherwise allocate and collect its size each
// time.
type batchPool struct {
	mu   sync.Mutex
	free []*Batch
	// sizes are the increments of each table the last drain found: a new
	// batch is sized like it, since most flows of a drain were in the
	// previous one.
	sizes [bpf.NumTables]int
}

// maxFree bounds the batches kept for reuse.
const maxFree = 2

// get returns an empty batch.
func (p *batchPool) get() *Batch {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		parts := b.parts
		*b = Batch{parts: parts, pool: p}
		for id, t := range tables {
			t.reset(parts[id])
		}
		return b
	}
	b := &Batch{pool: p}
	for id, t := range tables {
		b.parts[id] = t.newPart(p.sizes[id])
	}
	return b
}

// drained notes the sizes of b, just drained.
func (p *batchPool) drained(b *Batch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, t := range tables {
		p.sizes[id] = t.size(b.parts[id])
	}
}

func (p *batchPool) put(b *Batch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxFree {
		p.free = append(p.free, b)
	}
}

// mergeBatches returns one batch holding every increment of bs (in
// order, consecutive), with the increments of each edge summed: what a
// subscriber that fell behind is handed, its size bounded by the edges
// rather than the drains.
func mergeBatches(bs []*Batch) *Batch {
	out := NewBatch(bs[0].First, bs[len(bs)-1].Last, bs[0].Start, bs[len(bs)-1].Time)
	for _, t := range tables {
		t.merge(out, bs)
	}
	for _, b := range bs {
		for t, err := range b.Errs {
			if out.Errs == nil {
				out.Errs = map[bpf.Table]error{}
			}
			out.Errs[t] = err
		}
	}
	return out
}
