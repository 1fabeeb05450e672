// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/podflow/podflow_exporter/internal/cgroups"
	"github.com/podflow/podflow_exporter/internal/testnet"
)

// Who the kernel's own actions are filed under: drops on the way into a
// socket, RSTs for closed ports, and sockets outside --cgroup.root.

// dropReason returns the running kernel's number for a drop reason name.
func dropReason(t *testing.T, name string) uint32 {
	t.Helper()
	names, err := DropReasons()
	if err != nil {
		t.Fatal(err)
	}
	for n, s := range names {
		if s == name {
			return n
		}
	}
	t.Fatalf("this kernel has no drop reason %s", name)
	return 0
}

// TestDropIntoFullReceiveBuffer: datagrams a receiver has no room for are
// dropped on their way into its socket (SOCKET_RCVBUFF, before it owns
// them): they are the receiving socket's, named by its cgroup, as a server
// on its port, not by address as if no socket had them.
func TestDropIntoFullReceiveBuffer(t *testing.T) {
	const n, size, port = 200, 512, 7000
	nd := newNode(t, defaultConfig, v4OnlyA, v4OnlyB)
	addrA, addrB := nd.la.Addr(false), nd.lb.Addr(false)
	dst := netip.AddrPortFrom(addrB, port).String()
	recv := testnet.Start(t, nd.b, nd.cgB, "udp-stall", dst, "4096")
	testnet.RunHelper(t, nd.a, nd.cgA, "udp-send", dst, strconv.Itoa(n), strconv.Itoa(size))
	recv.Continue()
	queued, _ := strconv.Atoi(recv.Wait())
	if queued == 0 || queued >= n {
		t.Fatalf("the receiver queued %d of %d datagrams: the buffer did not fill", queued, n)
	}

	drops, overflow := drainDrops(t, nd.tr)
	dropped := uint64(n - queued)
	want := map[dropKey]DropCounters{
		{FlowKey{CgroupID: nd.cgB.ID, Local: addrB, Remote: addrA, ServerPort: port, Protocol: ipProtoUDP, Role: RoleServer},
			dropReason(t, "SOCKET_RCVBUFF")}: {Packets: dropped, Bytes: dropped * (size + 28)},
	}
	got := map[dropKey]DropCounters{}
	for k, v := range drops {
		switch k.CgroupID {
		case 0, nd.cgA.ID, nd.cgB.ID:
			got[k] = v
		}
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("drops %+v: got %+v, want %+v", k, got[k], w)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok && (k.Local == addrB || k.Local == addrA) {
			t.Errorf("unexpected drops %+v: %+v", k, v)
		}
	}
	if overflow != (DropCounters{}) {
		t.Errorf("overflow %+v", overflow)
	}
}

// TestResetForClosedPortNamedByAddress: RSTs for closed ports come from
// the kernel's TCP control sockets (one per CPU, in the root cgroup), not
// from a socket of the namespace: their packets are named by address, as
// the TCP family names the same RSTs, and, answering a connect, are the
// server's, with the closed port. Here the closed port is inside the
// ephemeral range and above the client's: by port numbers each RST would
// be a client flow with the client's port as the server's. The control
// sockets are outside any subtree: the tracer attaches at the root.
func TestResetForClosedPortNamedByAddress(t *testing.T) {
	const m, closed = 5, 50051
	nd := newNet(t, v4OnlyA, v4OnlyB)
	nd.a.Sysctl("net.ipv4.ip_local_port_range", "40000 49999")
	root, err := cgroups.FindV2Mount()
	if err != nil {
		t.Fatal(err)
	}
	nd.tr = loadTracer(t, defaultConfig, root)
	addrA, addrB := nd.la.Addr(false), nd.lb.Addr(false)

	res := tcpOutcomes(t, testnet.RunHelper(t, nd.a, nd.cgA, "tcp-connect", netip.AddrPortFrom(addrB, closed).String(), strconv.Itoa(m)))
	if res["refused"] != m {
		t.Fatalf("helper saw %v, want %d refused", res, m)
	}
	flows, _ := drainFlows(t, nd.tr)
	ours := map[FlowKey]FlowCounters{}
	for k, v := range flows {
		if k.Local == addrA || k.Local == addrB {
			ours[k] = v
		}
	}
	rsts := FlowCounters{TxBytes: m * 40, TxPackets: m} // IPv4 20 + TCP 20, no options
	assertFlows(t, ours, map[FlowKey]FlowCounters{
		{Local: addrB, Remote: addrA, ServerPort: closed, Protocol: ipProtoTCP, Role: RoleServer}: rsts,
		{CgroupID: nd.cgA.ID, Local: addrA, Remote: addrB, ServerPort: closed, Protocol: ipProtoTCP, Role: RoleClient}: {
			TxBytes: m * 60, TxPackets: m, RxBytes: rsts.TxBytes, RxPackets: rsts.TxPackets}, // SYNs: 20 + 40 of options
	})
	tcp, _ := drainTCP(t, nd.tr)
	if got := tcp[FlowKey{Local: addrB, Remote: addrA, ServerPort: closed, Protocol: ipProtoTCP, Role: RoleServer}]; got.Events[TCPResetSent] != m {
		t.Errorf("resets sent for the closed port: %v, want %d", got.Events, m)
	}
}

// TestScopeSubtree attaches at a's cgroup, as --cgroup.root at a subtree
// does: b's sockets are outside, and no family counts them (their
// accepts, connects, RTT, drops), while a's are counted as usual.
func TestScopeSubtree(t *testing.T) {
	const port, udpPort, n = 8080, 7000, 50
	nd := newNet(t, v4OnlyA, v4OnlyB)
	nd.tr = loadTracer(t, defaultConfig, nd.cgA.Path)
	addrA, addrB := nd.la.Addr(false), nd.lb.Addr(false)

	// a connects to b (b accepts); b connects to a (a accepts); an echo
	// each way for RTT samples; b's UDP socket drops what it has no room for.
	srvB := testnet.Start(t, nd.b, nd.cgB, "tcp-echo", netip.AddrPortFrom(addrB, port).String(), "1")
	testnet.RunHelper(t, nd.a, nd.cgA, "tcp-pingpong", netip.AddrPortFrom(addrB, port).String(), "20", "100")
	srvB.Wait()
	srvA := testnet.Start(t, nd.a, nd.cgA, "tcp-echo", netip.AddrPortFrom(addrA, port).String(), "1")
	testnet.RunHelper(t, nd.b, nd.cgB, "tcp-pingpong", netip.AddrPortFrom(addrA, port).String(), "20", "100")
	srvA.Wait()
	stall := testnet.Start(t, nd.b, nd.cgB, "udp-stall", netip.AddrPortFrom(addrB, udpPort).String(), "4096")
	testnet.RunHelper(t, nd.a, nd.cgA, "udp-send", netip.AddrPortFrom(addrB, udpPort).String(), strconv.Itoa(n), "512")
	stall.Continue()
	stall.Wait()

	tcp, _ := drainTCP(t, nd.tr)
	var latency []FlowKey
	for _, flows := range drainLatency(t, nd.tr) {
		latency = append(latency, keysOf(flows)...)
	}
	drops, _ := drainDrops(t, nd.tr)
	var dropped []FlowKey
	for k := range drops {
		dropped = append(dropped, k.FlowKey)
	}
	for name, keys := range map[string][]FlowKey{"tcp": keysOf(tcp), "latency": latency, "drops": dropped} {
		inA := 0
		for _, k := range keys {
			switch k.CgroupID {
			case nd.cgA.ID:
				inA++
			case nd.cgB.ID:
				t.Errorf("%s: b's socket is outside the scope, yet counted: %+v", name, k)
			}
		}
		if name != "drops" && inA == 0 {
			t.Errorf("%s: nothing counted for a's sockets", name)
		}
	}
	client := FlowKey{CgroupID: nd.cgA.ID, Local: addrA, Remote: addrB, ServerPort: port, Protocol: ipProtoTCP, Role: RoleClient}
	server := FlowKey{CgroupID: nd.cgA.ID, Local: addrA, Remote: addrB, ServerPort: port, Protocol: ipProtoTCP, Role: RoleServer}
	if tcp[client].Events[TCPConnectEstablished] != 1 || tcp[server].Events[TCPAccepted] != 1 {
		t.Errorf("a's connect %v and accept %v: want one each", tcp[client].Events, tcp[server].Events)
	}
}

func keysOf[V any](m map[FlowKey]V) []FlowKey {
	keys := make([]FlowKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// TestUDPFragmentsCountAsDatagrams: a datagram larger than the link's MTU
// leaves as IP fragments (three per 4000-byte datagram here), but the
// programs see it whole, before fragmentation on the way out and after
// reassembly on the way in: it counts as one packet with one IP header,
// as the metrics' help says.
func TestUDPFragmentsCountAsDatagrams(t *testing.T) {
	const n, size, port = 10, 4000, 7000
	nd := newNode(t, defaultConfig, v4OnlyA, v4OnlyB)
	addrA, addrB := nd.la.Addr(false), nd.lb.Addr(false)
	dst := netip.AddrPortFrom(addrB, port).String()
	before := nd.la.Stats()
	recv := testnet.Start(t, nd.b, nd.cgB, "udp-recv", dst, strconv.Itoa(n), "10s")
	testnet.RunHelper(t, nd.a, nd.cgA, "udp-send", dst, strconv.Itoa(n), strconv.Itoa(size))
	if got := recv.Wait(); got != strconv.Itoa(n) {
		t.Fatalf("receiver got %s datagrams, want %d", got, n)
	}
	if wire := nd.la.SettledStats().Sub(before).TxPackets; wire != 3*n {
		t.Fatalf("the link carried %d packets, want %d fragments", wire, 3*n)
	}
	flows, _ := drainFlows(t, nd.tr)
	whole := uint64(n * (size + 28))
	assertFlows(t, flows, map[FlowKey]FlowCounters{
		{CgroupID: nd.cgA.ID, Local: addrA, Remote: addrB, ServerPort: port, Protocol: ipProtoUDP, Role: RoleClient}: {TxBytes: whole, TxPackets: n},
		{CgroupID: nd.cgB.ID, Local: addrB, Remote: addrA, ServerPort: port, Protocol: ipProtoUDP, Role: RoleServer}: {RxBytes: whole, RxPackets: n},
	})
}
