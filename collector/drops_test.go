// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/naming"
	"github.com/podflow/podflow_exporter/naming/namingtest"
)

var dropFamilies = []string{"podflow_drop_packets_total", "podflow_drop_bytes_total",
	"podflow_socket_discard_packets_total", "podflow_socket_discard_bytes_total"}

// Drops are counted per flow and reason, named from the kernel's reasons
// (UNKNOWN for a value it does not name); per-CPU values are summed; a
// packet dropped without a socket (cgroup id 0) is the host's; what found
// no table entry goes to the __overflow__ series. What a closing socket's
// queues held (QUEUE_PURGE) is a discard, not a drop.
func TestDropsByReason(t *testing.T) {
	src, clk := newFakeSource(), &clock{now: time.Unix(1_800_000_000, 0)}
	res := naming.NewHostResolver(namingtest.Cgroups{1: "/system.slice/web.service"}, naming.RemoteByAddress)
	_, reg := newTestPodflow(t, testConfig(100, "drops"), src, res, clk)
	src.addDrop(webTo(addrDB), 12, bpf.DropCounters{Packets: 2, Bytes: 120}, bpf.DropCounters{Packets: 1, Bytes: 60})
	src.addDrop(webTo(addrDB), 999, bpf.DropCounters{Packets: 1, Bytes: 1500})
	closedPort := bpf.FlowKey{Local: addrWeb, Remote: addrC, ServerPort: 9, Protocol: 6, Role: bpf.RoleServer}
	src.addDrop(closedPort, 2, bpf.DropCounters{Packets: 4, Bytes: 240})
	src.addDrop(webTo(addrDB), 104, bpf.DropCounters{Packets: 3, Bytes: 156})
	src.drops.over = bpf.DropCounters{Packets: 8, Bytes: 800}
	assertGolden(t, reg, "drops_by_reason", dropFamilies...)
}

// Without names for the kernel's reasons (no BTF), drops are still
// exported, with reason UNKNOWN.
func TestDropsWithoutReasonNames(t *testing.T) {
	src := newFakeSource()
	cfg := testConfig(100, "drops")
	p, err := New(cfg, Sources{Pipeline: testPipeline(t, cfg, pipelineConfig(), src, newResolver(), &clock{now: time.Unix(1_800_000_000, 0)})}, nopLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	reg := registerPodflow(t, p)
	src.addDrop(webTo(addrDB), 12, bpf.DropCounters{Packets: 1, Bytes: 60})
	want := `
# HELP podflow_drop_packets_total Packets the kernel dropped, by reason (its skb drop reason; UNKNOWN when the kernel does not name it), per flow. Packets freed from a closing socket's queues are podflow_socket_discard_packets_total.
# TYPE podflow_drop_packets_total counter
podflow_drop_packets_total{local_kind="systemd",local_workload="web.service",port="5432",protocol="tcp",reason="UNKNOWN",remote_kind="private",remote_workload="db",role="client"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "podflow_drop_packets_total"); err != nil {
		t.Error(err)
	}
}
