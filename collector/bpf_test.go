// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podflow/podflow_exporter/bpf"
)

// Programs report attached or not; tables report size, capacity and
// insert failures by reason; payload events by protocol and event, every
// one present.
func TestBPFSelfMetrics(t *testing.T) {
	src := &fakeSource{
		status: []bpf.ProgramStatus{
			{Name: bpf.ProgFlowsIngress, Attached: true},
			{Name: bpf.ProgTCPState, Err: errors.New("attach: permission denied")},
		},
		tables: []bpf.TableStats{
			{Table: bpf.TableFlows, Capacity: 4, LastDrained: 4, Failures: [4]uint64{bpf.FailFull: 36}},
		},
		roles: [bpf.NumRoleMethods]uint64{bpf.RoleByTCPConnect: 12, bpf.RoleByUDPFirstDatagram: 3, bpf.RoleByPorts: 1},
		rotation: bpf.RotationStats{
			Rotations: 7, Folds: 7, FoldErrors: 1, WaitTime: 1500 * time.Millisecond,
			SocketEntries: 3, SocketCapacity: 4, SocketFailures: [4]uint64{bpf.FailFull: 5},
		},
		payload: bpf.PayloadStats{
			Events:      [bpf.NumPayloadEvents]uint64{bpf.EventDNSUnmatched: 2, bpf.EventDNSTableFull: 1, bpf.EventHTTPPipelined: 4},
			DNSPending:  3,
			DNSCapacity: 4096,
			DNSExpiries: 7, DNSExpiryErrors: 1,
		},
	}
	_, reg := newTestPodflow(t, testConfig(100, "bpf"), src, newResolver(), &clock{now: time.Unix(0, 0)})
	assertGolden(t, reg, "bpf_self_metrics",
		"podflow_bpf_program_attached", "podflow_bpf_map_entries", "podflow_bpf_map_max_entries", "podflow_bpf_map_update_failures_total",
		"podflow_bpf_role_decisions_total", "podflow_bpf_socket_entries", "podflow_bpf_socket_max_entries",
		"podflow_bpf_socket_entry_failures_total", "podflow_bpf_socket_folds_total", "podflow_bpf_socket_fold_failures_total",
		"podflow_bpf_table_rotations_total", "podflow_bpf_table_rotation_wait_seconds_total",
		"podflow_bpf_payload_events_total", "podflow_bpf_dns_pending_queries", "podflow_bpf_dns_pending_queries_max",
		"podflow_bpf_dns_expiries_total", "podflow_bpf_dns_expiry_failures_total")
}

// slowDrain is a tracer whose drains take a while, as the kernel's do
// (each drain waits for an RCU grace period after its flip), and whose
// stats report what the last drain found.
type slowDrain struct{ *fakeSource }

func newSlowDrain() slowDrain {
	s := slowDrain{newFakeSource()}
	s.delay = 50 * time.Millisecond
	return s
}

func (s slowDrain) Stats() ([]bpf.TableStats, error) {
	s.flows.mu.Lock()
	defer s.flows.mu.Unlock()
	return []bpf.TableStats{{Table: bpf.TableFlows, Capacity: 100, LastDrained: s.flows.lastDrained}}, nil
}

// podflow_bpf_map_entries is what the drain of the same scrape found, not
// the one before: a scrape drains before any collector runs.
func TestMapEntriesOfThisScrape(t *testing.T) {
	src := newSlowDrain()
	cfg := testConfig(100, "bpf", "flows")
	p, err := New(cfg, Sources{Pipeline: testPipeline(t, cfg, pipelineConfig(), src.fakeSource, newResolver(), &clock{now: time.Unix(0, 0)}), Tracer: src}, nopLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	reg := registerPodflow(t, p)
	for scrape, flows := range []int{3, 5, 0} {
		for i := range flows {
			src.addFlow(webTo(netip.AddrFrom4([4]byte{10, 0, 1, byte(i)})), bpf.FlowCounters{TxBytes: 1, TxPackets: 1})
		}
		want := fmt.Sprintf(`
# HELP podflow_bpf_map_entries Flows the last drain of a rotating kernel table found: the distinct flows of one drain interval (--collector.drain-interval, or less when a scrape drained in between).
# TYPE podflow_bpf_map_entries gauge
podflow_bpf_map_entries{map="flows"} %d
`, flows)
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "podflow_bpf_map_entries"); err != nil {
			t.Errorf("scrape %d after %d flows: %v", scrape, flows, err)
		}
	}
}
