// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/naming"
	"github.com/podflow/podflow_exporter/naming/namingtest"
)

func tcpEvents(kv map[bpf.TCPEvent]uint64) bpf.TCPCounters {
	var c bpf.TCPCounters
	for ev, n := range kv {
		c.Events[ev] = n
	}
	return c
}

// Connect outcomes land in their families, failures by reason; the server's
// accepts in their own family; per-CPU values are summed.
func TestTCPOutcomes(t *testing.T) {
	src, res, clk := newFakeSource(), newResolver(), &clock{now: time.Unix(1_800_000_000, 0)}
	_, reg := newTestPodflow(t, testConfig(100, "tcp"), src, res, clk)
	src.addTCP(webTo(addrDB),
		tcpEvents(map[bpf.TCPEvent]uint64{bpf.TCPConnectAttempt: 5, bpf.TCPConnectEstablished: 1, bpf.TCPFailRefused: 3}),
		tcpEvents(map[bpf.TCPEvent]uint64{bpf.TCPConnectAttempt: 2, bpf.TCPFailTimeout: 1, bpf.TCPFailAborted: 1}))
	server := bpf.FlowKey{CgroupID: 1, Local: addrWeb, Remote: addrC, ServerPort: 8080, Protocol: 6, Role: bpf.RoleServer}
	src.addTCP(server, tcpEvents(map[bpf.TCPEvent]uint64{bpf.TCPAccepted: 4}))
	src.tcp.over = tcpEvents(map[bpf.TCPEvent]uint64{bpf.TCPConnectAttempt: 9, bpf.TCPFailUnreachable: 9})
	assertGolden(t, reg, "tcp_outcomes",
		"podflow_tcp_connect_attempts_total", "podflow_tcp_connect_established_total",
		"podflow_tcp_connect_failures_total", "podflow_tcp_accepted_connections_total")
}

// Retransmitted segments and resets land in their families; a RST the
// kernel sent for a segment no socket took (cgroup id 0) is the host's;
// the kernel's overflow feeds the __overflow__ series.
func TestTCPHealth(t *testing.T) {
	src, clk := newFakeSource(), &clock{now: time.Unix(1_800_000_000, 0)}
	res := naming.NewHostResolver(namingtest.Cgroups{1: "/system.slice/web.service"}, naming.RemoteByAddress)
	_, reg := newTestPodflow(t, testConfig(100, "tcp"), src, res, clk)
	src.addTCP(webTo(addrDB),
		tcpEvents(map[bpf.TCPEvent]uint64{bpf.TCPRetransmit: 3, bpf.TCPResetReceived: 1}),
		tcpEvents(map[bpf.TCPEvent]uint64{bpf.TCPRetransmit: 2}))
	closedPort := bpf.FlowKey{Local: addrWeb, Remote: addrC, ServerPort: 9, Protocol: 6, Role: bpf.RoleServer}
	src.addTCP(closedPort, tcpEvents(map[bpf.TCPEvent]uint64{bpf.TCPResetSent: 6}))
	src.tcp.over = tcpEvents(map[bpf.TCPEvent]uint64{bpf.TCPRetransmit: 8, bpf.TCPResetSent: 1})
	assertGolden(t, reg, "tcp_health",
		"podflow_tcp_retransmitted_segments_total", "podflow_tcp_resets_sent_total", "podflow_tcp_resets_received_total",
		"podflow_tcp_connect_attempts_total", "podflow_series")
}
