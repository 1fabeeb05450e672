// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// The tests below put services and clients where port numbers mislead:
// services inside the ephemeral port range (gRPC on 50051, anything on
// 40000-60999), clients bound to a low port. Each side must come out with
// its true role and the server's port, and exact bytes.

// ipOverhead is the IP and UDP header bytes of a datagram.
func udpOverhead(v6 bool) uint64 {
	if v6 {
		return 48
	}
	return 28
}

// TestRolesUDPServerInEphemeralRange: a UDP service on port 50000, inside
// the ephemeral range, and five clients whose kernel-chosen ports are all
// below it (the client namespace's port range is 40000-49999): by port
// numbers every client would be the server, with its own port as the
// service's.
func TestRolesUDPServerInEphemeralRange(t *testing.T) {
	const sockets, count, size, port = 5, 4, 100, 50000
	for _, v6 := range []bool{false, true} {
		for _, mode := range []string{"unconnected", "connected"} {
			name := mode + "/IPv4"
			if v6 {
				name = mode + "/IPv6"
			}
			t.Run(name, func(t *testing.T) {
				nd := newNode(t, defaultConfig, dualStackA, dualStackB)
				nd.a.Sysctl("net.ipv4.ip_local_port_range", "40000 49999")
				addrA, addrB := nd.la.Addr(v6), nd.lb.Addr(v6)
				dst := netip.AddrPortFrom(addrB, port).String()

				srv := testnet.Start(t, nd.b, nd.cgB, "udp-echo", dst, strconv.Itoa(sockets*count), "10s")
				if got := testnet.RunHelper(t, nd.a, nd.cgA, "udp-ask", dst, "-", strconv.Itoa(sockets), strconv.Itoa(count), strconv.Itoa(size), mode); got != strconv.Itoa(sockets*count) {
					t.Fatalf("clients got %s echoes, want %d", got, sockets*count)
				}
				srv.Wait()

				n := uint64(sockets * count)
				bytes := n * (size + udpOverhead(v6))
				flows, overflow := drainFlows(t, nd.tr)
				assertFlows(t, flows, map[FlowKey]FlowCounters{
					{CgroupID: nd.cgA.ID, Local: addrA, Remote: addrB, ServerPort: port, Protocol: ipProtoUDP, Role: RoleClient}: {TxBytes: bytes, TxPackets: n, RxBytes: bytes, RxPackets: n},
					{CgroupID: nd.cgB.ID, Local: addrB, Remote: addrA, ServerPort: port, Protocol: ipProtoUDP, Role: RoleServer}: {TxBytes: bytes, TxPackets: n, RxBytes: bytes, RxPackets: n},
				})
				if overflow != (FlowCounters{}) {
					t.Errorf("overflow = %+v", overflow)
				}
				clientMethod := RoleByUDPKernelPort
				if mode == "connected" {
					clientMethod = RoleByUDPConnected
				}
				assertRoleDecisions(t, nd.tr, map[RoleMethod]uint64{clientMethod: sockets, RoleByUDPFirstDatagram: 1})
			})
		}
	}
}

// TestRolesUDPClientBoundToLowPort: a client whose application bound port
// 80 asks a service on port 50000. Both sockets are bound and unconnected
// (or the client connected): who sent first tells them apart.
func TestRolesUDPClientBoundToLowPort(t *testing.T) {
	const count, size, port, clientPort = 6, 64, 50000, 80
	for _, mode := range []string{"unconnected", "connected"} {
		t.Run(mode, func(t *testing.T) {
			nd := newNode(t, defaultConfig, v4OnlyA, v4OnlyB)
			addrA, addrB := nd.la.Addr(false), nd.lb.Addr(false)
			dst := netip.AddrPortFrom(addrB, port).String()
			srv := testnet.Start(t, nd.b, nd.cgB, "udp-echo", dst, strconv.Itoa(count), "10s")
			testnet.RunHelper(t, nd.a, nd.cgA, "udp-ask", dst, netip.AddrPortFrom(addrA, clientPort).String(), "1", strconv.Itoa(count), strconv.Itoa(size), mode)
			srv.Wait()

			bytes := uint64(count * (size + 28))
			flows, _ := drainFlows(t, nd.tr)
			assertFlows(t, flows, map[FlowKey]FlowCounters{
				{CgroupID: nd.cgA.ID, Local: addrA, Remote: addrB, ServerPort: port, Protocol: ipProtoUDP, Role: RoleClient}: {TxBytes: bytes, TxPackets: count, RxBytes: bytes, RxPackets: count},
				{CgroupID: nd.cgB.ID, Local: addrB, Remote: addrA, ServerPort: port, Protocol: ipProtoUDP, Role: RoleServer}: {TxBytes: bytes, TxPackets: count, RxBytes: bytes, RxPackets: count},
			})
			want := map[RoleMethod]uint64{RoleByUDPFirstDatagram: 2}
			if mode == "connected" {
				want = map[RoleMethod]uint64{RoleByUDPFirstDatagram: 1, RoleByUDPConnected: 1}
			}
			assertRoleDecisions(t, nd.tr, want)
		})
	}
}

// TestRolesTCP: a client connects to a service on port 50051 from a port
// its application bound (40001, inside the ephemeral range and below the
// service's; 80, outside it) or chose by the kernel, to a listener bound
// to the address or dual-stack ([::], an IPv4 client). Either the exporter
// sees the handshake, or the connection exists before it starts and the
// role comes from the sockets alone. Every packet the veths carried after
// the exporter started is counted, on one flow per side, with the server's
// port.
func TestRolesTCP(t *testing.T) {
	const size, port = 256 << 10, 50051
	for _, tc := range []struct {
		name       string
		v6         bool
		clientPort int // 0: the kernel chooses
		listen     string
		before     bool // connected before the exporter started
		want       map[RoleMethod]uint64
	}{
		{name: "bound 40001, before start", clientPort: 40001, before: true,
			want: map[RoleMethod]uint64{RoleByTCPNoBacklog: 1, RoleByTCPBacklog: 1}},
		{name: "bound 40001, before start, IPv6", v6: true, clientPort: 40001, before: true,
			want: map[RoleMethod]uint64{RoleByTCPNoBacklog: 1, RoleByTCPBacklog: 1}},
		{name: "bound 80, before start", clientPort: 80, before: true,
			want: map[RoleMethod]uint64{RoleByTCPNoBacklog: 1, RoleByTCPBacklog: 1}},
		{name: "bound 80, IPv6", v6: true, clientPort: 80,
			want: map[RoleMethod]uint64{RoleByTCPConnect: 1, RoleByTCPAccept: 1, RoleByTCPListen: 1}},
		{name: "dual-stack listener, before start", listen: "[::]", before: true,
			want: map[RoleMethod]uint64{RoleByTCPNoBacklog: 1, RoleByTCPBacklog: 1}},
		{name: "dual-stack listener", listen: "[::]",
			want: map[RoleMethod]uint64{RoleByTCPConnect: 1, RoleByTCPAccept: 1, RoleByTCPListen: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// IPv4 alone, as far as possible: IPv6 addresses have the kernel
			// send MLD reports on the link, which the veths would count.
			addrsA, addrsB := v4OnlyA, v4OnlyB
			if tc.v6 {
				addrsA, addrsB = v6OnlyA, v6OnlyB
			}
			nd := newNet(t, addrsA, addrsB)
			for _, l := range []*testnet.Link{nd.la, nd.lb} {
				l.Netns.Run("ethtool", "-K", l.Dev, "tso", "off", "gro", "off")
			}
			addrA, addrB := nd.la.Addr(tc.v6), nd.lb.Addr(tc.v6)
			listen := netip.AddrPortFrom(addrB, port).String()
			if tc.listen != "" {
				listen = tc.listen + ":" + strconv.Itoa(port)
			}
			local := "-"
			if tc.clientPort != 0 {
				local = netip.AddrPortFrom(addrA, uint16(tc.clientPort)).String()
			}
			var beforeA, beforeB testnet.LinkStats
			start := func() {
				nd.load(t, defaultConfig)
				beforeA, beforeB = nd.la.QuietStats(500*time.Millisecond), nd.lb.QuietStats(500*time.Millisecond)
			}
			if !tc.before {
				start()
			}
			srv := testnet.Start(t, nd.b, nd.cgB, "tcp-serve", listen, "1")
			client := testnet.Start(t, nd.a, nd.cgA, "tcp-hold", netip.AddrPortFrom(addrB, port).String(), local, strconv.Itoa(size))
			client.WaitLine("connected")
			if tc.before {
				start()
			}
			client.Continue()
			client.Wait()
			if got := srv.Wait(); got != strconv.Itoa(size) {
				t.Fatalf("server read %s bytes, want %d", got, size)
			}
			deltaA := nd.la.SettledStats().Sub(beforeA)
			deltaB := nd.lb.SettledStats().Sub(beforeB)

			// Without TSO and GRO the veths carry wire segments and count
			// their Ethernet header (see TestTCPMatchesVethCounters).
			flows, _ := drainFlows(t, nd.tr)
			l3 := func(d testnet.LinkStats) FlowCounters {
				return FlowCounters{TxBytes: d.TxBytes - 14*d.TxPackets, TxPackets: d.TxPackets, RxBytes: d.RxBytes - 14*d.RxPackets, RxPackets: d.RxPackets}
			}
			assertFlows(t, flows, map[FlowKey]FlowCounters{
				{CgroupID: nd.cgA.ID, Local: addrA, Remote: addrB, ServerPort: port, Protocol: ipProtoTCP, Role: RoleClient}: l3(deltaA),
				{CgroupID: nd.cgB.ID, Local: addrB, Remote: addrA, ServerPort: port, Protocol: ipProtoTCP, Role: RoleServer}: l3(deltaB),
			})
			assertRoleDecisions(t, nd.tr, tc.want)
		})
	}
}

// assertRoleDecisions checks how the tracer decided the roles of sockets
// since it loaded: exactly want. (Traffic without a socket, decided per
// packet by SYN or ports, is counted whatever the scope: the host's own
// RSTs to closed ports show there; the flows tell the test's apart.)
func assertRoleDecisions(t *testing.T, tr *Tracer, want map[RoleMethod]uint64) {
	t.Helper()
	got, err := tr.RoleDecisions()
	if err != nil {
		t.Fatal(err)
	}
	for m, n := range got {
		if RoleMethod(m) == RoleByTCPSYN || RoleMethod(m) == RoleByPorts {
			continue
		}
		if n != want[RoleMethod(m)] {
			t.Errorf("roles decided by %s: %d, want %d", RoleMethod(m), n, want[RoleMethod(m)])
		}
	}
}
