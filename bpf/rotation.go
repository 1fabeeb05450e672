// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"fmt"
	"sync"
	"time"

	"github.com/cilium/ebpf"
)

// rotation flips every rotating table at once, behind one word
// (active_slot), and then waits for one RCU grace period: the kernel runs
// programs inside RCU read-side sections, so after it no program that read
// the old slot is still writing to a retired table. Reading and deleting
// the retired entries therefore loses nothing, which deleting idle entries
// from a live table could not promise: a packet arriving between the last
// read and the delete would vanish.
//
// The wait is an update of an array of maps, from which the kernel returns
// only after a grace period (maybe_wait_bpf_programs, kernel/bpf/syscall.c).
// One wait serves the four tables: swapping each table's own slot cost one
// grace period per table (about 18 ms of wall time per drain here).
type rotation struct {
	// mu serialises rotations and drains: a table drains while no
	// rotation may make it active again.
	mu   sync.Mutex
	slot uint32
	// ready says a table's retired half has not been drained since the
	// last rotation: draining it needs no other rotation. A table left
	// undrained becomes active again, its entries kept for a later drain.
	ready [NumTables]bool
	// Self-monitoring (RotationStats).
	stats RotationStats
}

// RotationStats describe the drains' table flips and socket folds.
type RotationStats struct {
	// Rotations counts the flips, each with one grace period.
	Rotations uint64
	// Folds counts fold_sockets runs; FoldErrors those that failed
	// (the counts stay in the sockets' entries for the next fold).
	Folds, FoldErrors uint64
	// FoldTime and WaitTime total the time spent folding sockets and
	// waiting for grace periods.
	FoldTime, WaitTime time.Duration
	// SocketEntries is the number of sockets with an entry of their own
	// the last fold found (closed ones included until they are deleted);
	// SocketCapacity the table's size.
	SocketEntries, SocketCapacity uint32
	// SocketFailures counts, since load and by reason, established TCP
	// sockets that could not get an entry: they count in the flows table.
	SocketFailures [numFailures]uint64
	// DNSExpiries counts expire_dns_queries runs, DNSExpiryErrors those
	// that failed; DNSPending is the number of queries the last one found
	// waiting.
	DNSExpiries, DNSExpiryErrors uint64
	DNSPending                   uint32
}

// retired returns table id's retired half, rotating first unless the
// last rotation's retired half is still to drain. Callers hold
// t.rotation.mu.
func (t *Tracer) retired(id Table) (*ebpf.Map, error) {
	if !t.rotation.ready[id] {
		if err := t.rotate(); err != nil {
			return nil, err
		}
	}
	t.rotation.ready[id] = false
	return t.tables[id].inner[1-t.rotation.slot], nil
}

// rotate folds the sockets' counts into the active tables, flips every
// table and waits until no program writes to the retired ones.
func (t *Tracer) rotate() error {
	rs := &t.rotation
	if t.expire != nil {
		// Before the flip, as the fold: timeouts count in this drain.
		pending, err := t.expire.Run(&ebpf.RunOptions{})
		rs.stats.DNSExpiries++
		if err != nil {
			// The queries wait for the next drain.
			rs.stats.DNSExpiryErrors++
		} else {
			rs.stats.DNSPending = pending
		}
	}
	if t.fold != nil {
		began := time.Now()
		entries, err := t.foldSockets()
		rs.stats.SocketEntries = entries
		rs.stats.Folds++
		rs.stats.FoldTime += time.Since(began)
		if err != nil {
			// Nothing is lost: the counts stay in the sockets (and a
			// closing socket folds itself). Flip anyway, so that the
			// tables still drain.
			rs.stats.FoldErrors++
		}
	}
	next := 1 - rs.slot
	if err := t.objs.ActiveSlot.Update(uint32(0), next, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("activate tables %d: %w", next, err)
	}
	rs.slot = next
	began := time.Now()
	// The same table back into its slot: the update's grace period is
	// the wait.
	flows := t.tables[TableFlows]
	if err := flows.outer.Update(next, flows.inner[next], ebpf.UpdateAny); err != nil {
		return fmt.Errorf("wait for programs using tables %d: %w", 1-next, err)
	}
	rs.stats.WaitTime += time.Since(began)
	rs.stats.Rotations++
	for i := range rs.ready {
		rs.ready[i] = true
	}
	return nil
}

// foldSockets runs fold_sockets: it adds what each socket with an entry
// of its own counted since the previous fold to the active tables.
// It returns the number of entries it found.
func (t *Tracer) foldSockets() (uint32, error) {
	entries, err := t.fold.Run(&ebpf.RunOptions{})
	if err != nil {
		return 0, fmt.Errorf("fold sockets: %w", err)
	}
	return entries, nil
}

// RotationStats reports the drains' table flips and socket folds.
func (t *Tracer) RotationStats() (RotationStats, error) {
	t.rotation.mu.Lock()
	st := t.rotation.stats
	t.rotation.mu.Unlock()
	st.SocketCapacity = t.objs.CountingSockets.MaxEntries()
	for reason := range numFailures {
		var perCPU []uint64
		if err := t.objs.SocketFailures.Lookup(uint32(reason), &perCPU); err != nil {
			return st, fmt.Errorf("read socket entry failures: %w", err)
		}
		for _, v := range perCPU {
			st.SocketFailures[reason] += v
		}
	}
	return st, nil
}
