// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"fmt"
)

// TableStats describe one rotating table for self-monitoring.
type TableStats struct {
	Table    Table
	Capacity uint32
	// LastDrained is the number of flows the last drain found.
	LastDrained int
	// Failures counts, since load, inserts that failed by reason; their
	// traffic went to the overflow slot.
	Failures [numFailures]uint64
}

// Stats reads the tables' sizes and insert failures.
func (t *Tracer) Stats() ([]TableStats, error) {
	var out []TableStats
	for id, r := range t.tables {
		if r == nil {
			continue
		}
		r.mu.Lock()
		st := TableStats{Table: Table(id), Capacity: r.capacity, LastDrained: r.lastDrained}
		r.mu.Unlock()
		for reason := range numFailures {
			var perCPU []uint64
			if err := t.objs.UpdateFailures.Lookup(uint32(id*numFailures+reason), &perCPU); err != nil {
				return nil, fmt.Errorf("read update failures: %w", err)
			}
			for _, v := range perCPU {
				st.Failures[reason] += v
			}
		}
		out = append(out, st)
	}
	return out, nil
}
