// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"encoding/json"
	"maps"
	"net/netip"
	"strconv"
	"testing"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// tcpOutcomes decodes the tcp-connect helper's result.
func tcpOutcomes(t *testing.T, s string) map[string]int {
	t.Helper()
	m := map[string]int{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("helper result %q: %v", s, err)
	}
	return m
}

func events(kv map[TCPEvent]uint64) TCPCounters {
	var c TCPCounters
	for ev, n := range kv {
		c.Events[ev] = n
	}
	return c
}

// TestTCPConnectOutcomes makes connects whose outcome the test controls and
// expects each counted exactly once, under the right reason, on the
// client's flow (and accepts on the server's).
func TestTCPConnectOutcomes(t *testing.T) {
	nd := newNode(t, defaultConfig, v4OnlyA, v4OnlyB)
	addrA, addrB := nd.la.Addr(false), nd.lb.Addr(false)
	client := func(remote netip.Addr, port uint16) FlowKey {
		return FlowKey{CgroupID: nd.cgA.ID, Local: addrA, Remote: remote, ServerPort: port, Protocol: ipProtoTCP, Role: RoleClient}
	}
	// What b does not answer: SYNs to port 81 vanish.
	nd.b.Run("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "81", "-j", "DROP")

	// The client's retransmissions (SYNs) are checked against the kernel's
	// own count for namespace a.
	retransSeen := nd.a.Counter("TcpRetransSegs")
	retransmitted := func() uint64 {
		now := nd.a.Counter("TcpRetransSegs")
		d := now - retransSeen
		retransSeen = now
		return d
	}
	expect := func(t *testing.T, want map[FlowKey]TCPCounters) {
		t.Helper()
		got, overflow := drainTCP(t, nd.tr)
		// RSTs for segments no socket took carry no cgroup: keep those of the test's addresses.
		noSocket := map[FlowKey]TCPCounters{}
		for k, v := range inCgroup(got, 0) {
			if k.Local == addrA || k.Local == addrB {
				noSocket[k] = v
			}
		}
		got = inCgroups(got, nd.cgA.ID, nd.cgB.ID)
		maps.Copy(got, noSocket)
		for k, w := range want {
			if got[k] != w {
				t.Errorf("flow %+v:\n got %v\nwant %v", k, got[k].Events, w.Events)
			}
		}
		for k, v := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected flow %+v: %v", k, v.Events)
			}
		}
		if overflow != (TCPCounters{}) {
			t.Errorf("overflow %v", overflow.Events)
		}
	}

	t.Run("refused", func(t *testing.T) {
		const m = 7
		res := tcpOutcomes(t, testnet.RunHelper(t, nd.a, nd.cgA, "tcp-connect", netip.AddrPortFrom(addrB, 9).String(), strconv.Itoa(m)))
		if res["refused"] != m {
			t.Fatalf("helper saw %v, want %d refused", res, m)
		}
		// Each refusal is a RST b's kernel sends for a port no socket has,
		// and the client's socket receives.
		expect(t, map[FlowKey]TCPCounters{
			client(addrB, 9): events(map[TCPEvent]uint64{TCPConnectAttempt: m, TCPFailRefused: m, TCPResetReceived: m, TCPRetransmit: retransmitted()}),
			{Local: addrB, Remote: addrA, ServerPort: 9, Protocol: ipProtoTCP, Role: RoleServer}: events(map[TCPEvent]uint64{TCPResetSent: m}),
		})
	})

	t.Run("refused by ICMP", func(t *testing.T) {
		// b answers SYNs to port 82 with an ICMP port unreachable: the
		// application gets ECONNREFUSED as for a RST, but no peer refused
		// the connection: the port was unreachable.
		const m = 3
		nd.b.Run("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "82", "-j", "REJECT", "--reject-with", "icmp-port-unreachable")
		res := tcpOutcomes(t, testnet.RunHelper(t, nd.a, nd.cgA, "tcp-connect", netip.AddrPortFrom(addrB, 82).String(), strconv.Itoa(m)))
		if res["refused"] != m {
			t.Fatalf("helper saw %v, want %d ECONNREFUSED", res, m)
		}
		expect(t, map[FlowKey]TCPCounters{
			client(addrB, 82): events(map[TCPEvent]uint64{TCPConnectAttempt: m, TCPFailUnreachable: m, TCPRetransmit: retransmitted()}),
		})
	})

	t.Run("established and accepted", func(t *testing.T) {
		const k, port = 3, 8080
		// The server's listener may answer a late segment with a RST (rarely,
		// under load): the kernel's own count of b's RSTs is the truth.
		rstsBefore := nd.b.Counter("TcpOutRsts")
		srv := testnet.Start(t, nd.b, nd.cgB, "tcp-serve", netip.AddrPortFrom(addrB, port).String(), strconv.Itoa(k))
		res := tcpOutcomes(t, testnet.RunHelper(t, nd.a, nd.cgA, "tcp-connect", netip.AddrPortFrom(addrB, port).String(), strconv.Itoa(k)))
		srv.Wait()
		if res["ok"] != k {
			t.Fatalf("helper saw %v, want %d ok", res, k)
		}
		rsts := nd.b.Counter("TcpOutRsts") - rstsBefore
		expect(t, map[FlowKey]TCPCounters{
			client(addrB, port): events(map[TCPEvent]uint64{TCPConnectAttempt: k, TCPConnectEstablished: k, TCPRetransmit: retransmitted()}),
			{CgroupID: nd.cgB.ID, Local: addrB, Remote: addrA, ServerPort: port, Protocol: ipProtoTCP, Role: RoleServer}: events(map[TCPEvent]uint64{TCPAccepted: k, TCPResetSent: rsts}),
		})
	})

	t.Run("timeout", func(t *testing.T) {
		// One SYN retry: the kernel gives up after about 3 seconds.
		nd.a.Sysctl("net.ipv4.tcp_syn_retries", "1")
		res := tcpOutcomes(t, testnet.RunHelper(t, nd.a, nd.cgA, "tcp-connect", netip.AddrPortFrom(addrB, 81).String(), "1"))
		if res["timeout"] != 1 {
			t.Fatalf("helper saw %v, want 1 timeout", res)
		}
		expect(t, map[FlowKey]TCPCounters{
			client(addrB, 81): events(map[TCPEvent]uint64{TCPConnectAttempt: 1, TCPFailTimeout: 1, TCPRetransmit: retransmitted()}),
		})
	})

	t.Run("aborted", func(t *testing.T) {
		const m = 2
		testnet.RunHelper(t, nd.a, nd.cgA, "tcp-abort", netip.AddrPortFrom(addrB, 81).String(), strconv.Itoa(m))
		expect(t, map[FlowKey]TCPCounters{
			client(addrB, 81): events(map[TCPEvent]uint64{TCPConnectAttempt: m, TCPFailAborted: m, TCPRetransmit: retransmitted()}),
		})
	})

	t.Run("unreachable", func(t *testing.T) {
		// Nobody answers ARP for .99: after one solicitation the
		// neighbour fails and the kernel reports EHOSTUNREACH.
		nd.a.Sysctl("net.ipv4.neigh."+nd.la.Dev+".mcast_solicit", "1")
		nd.a.Sysctl("net.ipv4.neigh."+nd.la.Dev+".retrans_time_ms", "200")
		ghost := netip.MustParseAddr("10.200.0.99")
		res := tcpOutcomes(t, testnet.RunHelper(t, nd.a, nd.cgA, "tcp-connect", netip.AddrPortFrom(ghost, 80).String(), "1"))
		if res["unreachable"] != 1 {
			t.Fatalf("helper saw %v, want 1 unreachable", res)
		}
		expect(t, map[FlowKey]TCPCounters{
			client(ghost, 80): events(map[TCPEvent]uint64{TCPConnectAttempt: 1, TCPFailUnreachable: 1, TCPRetransmit: retransmitted()}),
		})
	})
}

// inCgroups keeps the flows of the given cgroups: the tracepoint sees every
// TCP socket of the host, not only the test's.
func inCgroups[V any](flows map[FlowKey]V, ids ...uint64) map[FlowKey]V {
	out := map[FlowKey]V{}
	for _, id := range ids {
		for k, v := range inCgroup(flows, id) {
			out[k] = v
		}
	}
	return out
}
