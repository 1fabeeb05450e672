// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// batchSize is how many entries one BPF_MAP_LOOKUP_AND_DELETE_BATCH call
// moves. Far above any hash bucket's length, so the kernel's ENOSPC
// ("bucket larger than the batch") cannot happen in practice.
const batchSize = 4096

// rotatingTable is a family of flow counters kept by the kernel in two
// per-CPU hash tables, slots 0 and 1 of an array of maps: one active
// (written by programs), one retired. Every family flips at once
// (Tracer.rotate).
type rotatingTable struct {
	name     string
	mu       sync.Mutex
	outer    *ebpf.Map
	inner    [2]*ebpf.Map
	capacity uint32
	// lastDrained is the number of entries the last drain found: the
	// flows seen in one interval, what the capacity must hold.
	lastDrained int
	// iterate forces the slow path (tests use it to prove the fallback).
	iterate bool
	// clientPort says the upper half of the keys' variant is a client
	// port (every table but drops).
	clientPort bool
	// overflow is the per-CPU array of what found no entry; overflowSeen
	// its sum over CPUs at the previous drain.
	overflow     *ebpf.Map
	overflowSeen any
}

// newRotatingTable creates the two inner tables from the outer map's
// template, sized to capacity, and puts them in their slots (active_slot
// starts at 0).
func newRotatingTable(name string, outer *ebpf.Map, template *ebpf.MapSpec, capacity uint32, overflow *ebpf.Map) (*rotatingTable, error) {
	r := &rotatingTable{name: name, outer: outer, capacity: capacity, overflow: overflow}
	for i := range r.inner {
		spec := template.Copy()
		spec.Name = fmt.Sprintf("%.12s_%d", name, i)
		spec.MaxEntries = capacity
		m, err := ebpf.NewMap(spec)
		if err != nil {
			r.close()
			return nil, fmt.Errorf("create %s table of %d entries: %w", name, capacity, err)
		}
		r.inner[i] = m
		if err := r.outer.Update(uint32(i), m, ebpf.UpdateAny); err != nil {
			r.close()
			return nil, fmt.Errorf("install %s table %d: %w", name, i, err)
		}
	}
	return r, nil
}

// close releases both inner tables; the outer map belongs to the collection.
func (r *rotatingTable) close() {
	for _, m := range r.inner {
		if m != nil {
			m.Close()
		}
	}
}

// drainTable empties the retired table of r into fn, giving each flow's
// key, the rest of its variant (see flowKeyFromKernel) and its per-CPU
// values, and returns the overflow accumulated since the previous drain,
// summed over CPUs. V is the per-CPU value type (FlowCounters,
// TCPCounters...), O the overflow's (V, or a histogram's buckets).
func drainTable[V, O any, PO counter[O]](t *Tracer, id Table, fn func(FlowKey, uint32, []V)) (O, error) {
	var none O
	r := t.tables[id]
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return none, err
	}
	// Held while the table drains: no rotation may make it active meanwhile.
	t.rotation.mu.Lock()
	defer t.rotation.mu.Unlock()
	retired, err := t.retired(id)
	if err != nil {
		return none, err
	}
	n := 0
	count := func(k *podflowFlowKey, v []V) {
		n++
		fk, variant := flowKeyFromKernel(k, r.clientPort)
		fn(fk, variant, v)
	}
	if r.iterate {
		err = drainByIteration(retired, cpus, count)
	} else {
		err = drainByBatch(retired, cpus, count)
		if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.ENOSPC) {
			err = drainByIteration(retired, cpus, count)
		}
	}
	if err != nil {
		return none, fmt.Errorf("drain %s table: %w", r.name, err)
	}
	r.mu.Lock()
	r.lastDrained = n
	r.mu.Unlock()
	return overflowDelta[O, PO](r)
}

func drainByBatch[V any](m *ebpf.Map, cpus int, fn func(*podflowFlowKey, []V)) error {
	keys := make([]podflowFlowKey, batchSize)
	vals := make([]V, batchSize*cpus)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookupAndDelete(&cursor, keys, vals, nil)
		for i := range n {
			fn(&keys[i], vals[i*cpus:(i+1)*cpus])
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// drainByIteration is the fallback for kernels without batch operations.
// Keys are collected first: deleting while walking a hash restarts the walk.
func drainByIteration[V any](m *ebpf.Map, cpus int, fn func(*podflowFlowKey, []V)) error {
	var (
		keys []podflowFlowKey
		key  podflowFlowKey
		vals []V
	)
	it := m.Iterate()
	for it.Next(&key, &vals) {
		keys = append(keys, key)
	}
	if err := it.Err(); err != nil {
		return err
	}
	for i := range keys {
		vals := make([]V, cpus)
		if err := m.Lookup(&keys[i], &vals); err != nil {
			return fmt.Errorf("lookup: %w", err)
		}
		if err := m.Delete(&keys[i]); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		fn(&keys[i], vals)
	}
	return nil
}

// counter is a kernel value type that sums and subtracts.
type counter[O any] interface {
	*O
	Add(*O)
	sub(*O)
}

// overflowDelta reads the cumulative per-CPU overflow slot and returns,
// summed over CPUs, what it gained since the previous drain.
func overflowDelta[O any, PO counter[O]](r *rotatingTable) (O, error) {
	var perCPU []O
	var cur O
	if err := r.overflow.Lookup(uint32(0), &perCPU); err != nil {
		return cur, fmt.Errorf("read %s overflow: %w", r.name, err)
	}
	for i := range perCPU {
		PO(&cur).Add(&perCPU[i])
	}
	delta := cur
	if seen, ok := r.overflowSeen.(O); ok {
		PO(&delta).sub(&seen)
	}
	r.overflowSeen = cur
	return delta, nil
}
