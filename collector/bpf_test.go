// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"errors"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/bpf"
)

// Programs report attached or not; tables report size, capacity and
// insert failures by reason.
func TestBPFSelfMetrics(t *testing.T) {
	src := &fakeSource{
		status: []bpf.ProgramStatus{
			{Name: bpf.ProgFlowsIngress, Attached: true},
			{Name: bpf.ProgTCPState, Err: errors.New("attach: permission denied")},
		},
		tables: []bpf.TableStats{
			{Table: bpf.TableFlows, Capacity: 4, LastDrained: 4, Failures: [4]uint64{bpf.FailFull: 36}},
		},
	}
	_, reg := newTestPodflow(t, testConfig(100, "bpf"), src, newResolver(), HostSchema, &clock{now: time.Unix(0, 0)})
	assertGolden(t, reg, "bpf_self_metrics",
		"podflow_bpf_program_attached", "podflow_bpf_map_entries", "podflow_bpf_map_max_entries", "podflow_bpf_map_update_failures_total")
}
