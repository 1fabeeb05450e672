// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// TestProgramRunTranslated: with translation on, a client packet to a
// frontend of the translated-services table keeps its client port in the
// key; packets to other addresses or ports, and the server's side, do not.
func TestProgramRunTranslated(t *testing.T) {
	tr, progs := loadUnattachedWith(t, Options{EphemeralPorts: [2]uint16{32768, 60999}, CountTCPEvents: true, TranslateServices: true},
		ProgFlowsEgress, ProgFlowsIngress)
	if err := tr.SetServices([]ServiceFrontend{
		{netip.AddrPortFrom(v4b, 53), ipProtoUDP},
		{netip.AddrPortFrom(v4b, 443), ipProtoTCP},
		{netip.AddrPortFrom(v6b, 443), ipProtoTCP},
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		prog string
		pkt  packet
		key  FlowKey
	}{
		{"UDP to a frontend", ProgFlowsEgress, packet{v4a, v4b, ipProtoUDP, udp(40000, 53, 10), 0},
			FlowKey{Local: v4a, Remote: v4b, ServerPort: 53, Protocol: ipProtoUDP, Role: RoleClient, ClientPort: 40000, App: AppDNS}},
		{"UDP reply from a frontend", ProgFlowsIngress, packet{v4b, v4a, ipProtoUDP, udp(53, 40001, 10), 0},
			FlowKey{Local: v4a, Remote: v4b, ServerPort: 53, Protocol: ipProtoUDP, Role: RoleClient, ClientPort: 40001, App: AppDNS}},
		{"TCP to a frontend, socket without state", ProgFlowsEgress, packet{v4a, v4b, ipProtoTCP, tcp(45000, 443, 10), 0},
			FlowKey{Local: v4a, Remote: v4b, ServerPort: 443, Protocol: ipProtoTCP, Role: RoleClient, ClientPort: 45000}},
		{"TCP/IPv6 to a frontend", ProgFlowsEgress, packet{v6a, v6b, ipProtoTCP, tcp(45000, 443, 10), 0},
			FlowKey{Local: v6a, Remote: v6b, ServerPort: 443, Protocol: ipProtoTCP, Role: RoleClient, ClientPort: 45000}},
		{"UDP to the frontend's address on another port", ProgFlowsEgress, packet{v4a, v4b, ipProtoUDP, udp(40000, 54, 10), 0},
			FlowKey{Local: v4a, Remote: v4b, ServerPort: 54, Protocol: ipProtoUDP, Role: RoleClient, App: AppUnknown}},
		{"TCP to a UDP frontend's port", ProgFlowsEgress, packet{v4a, v4b, ipProtoTCP, tcp(45000, 53, 10), 0},
			FlowKey{Local: v4a, Remote: v4b, ServerPort: 53, Protocol: ipProtoTCP, Role: RoleClient}},
		{"the server's side", ProgFlowsIngress, packet{v4a, v4b, ipProtoUDP, udp(40000, 53, 10), 0},
			FlowKey{Local: v4b, Remote: v4a, ServerPort: 53, Protocol: ipProtoUDP, Role: RoleServer, App: AppDNS}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := progs[tc.prog].Run(&ebpf.RunOptions{Data: tc.pkt.bytes()}); err != nil {
				t.Fatal(err)
			}
			flows, _ := drainFlowsByApp(t, tr)
			if len(flows) != 1 {
				t.Fatalf("got %d flows, want 1: %+v", len(flows), flows)
			}
			for k := range flows {
				k.CgroupID = 0
				if k != tc.key {
					t.Errorf("key\n got %+v\nwant %+v", k, tc.key)
				}
			}
		})
	}
	// Without the frontend in the table, nothing is kept apart.
	if err := tr.SetServices(nil); err != nil {
		t.Fatal(err)
	}
	if n := tr.Services(); n != 0 {
		t.Fatalf("%d frontends left after SetServices(nil)", n)
	}
	if _, err := progs[ProgFlowsEgress].Run(&ebpf.RunOptions{Data: packet{v4a, v4b, ipProtoUDP, udp(40000, 53, 10), 0}.bytes()}); err != nil {
		t.Fatal(err)
	}
	flows, _ := drainFlows(t, tr)
	for k := range flows {
		if k.ClientPort != 0 {
			t.Errorf("frontend removed, yet the flow keeps its client port: %+v", k)
		}
	}
}

// TestTranslatedConnections makes real connections to frontends of the
// translated-services table: every client connection is a flow of its
// own in the flow, TCP and latency tables (its client port in the key),
// with its own handshake outcome (the attempt counted with it); the
// server's side stays one flow; nothing is lost or counted twice.
func TestTranslatedConnections(t *testing.T) {
	const conns, size, port, udpPort, udpSockets, datagrams = 3, 1000, 8080, 5353, 2, 20
	nd := newNodeWith(t, defaultConfig, v4OnlyA, v4OnlyB, true)
	addrA, addrB := nd.la.Addr(false), nd.lb.Addr(false)
	if err := nd.tr.SetServices([]ServiceFrontend{
		{netip.AddrPortFrom(addrB, port), ipProtoTCP},
		{netip.AddrPortFrom(addrB, 9), ipProtoTCP},
		{netip.AddrPortFrom(addrB, udpPort), ipProtoUDP},
	}); err != nil {
		t.Fatal(err)
	}
	dst := netip.AddrPortFrom(addrB, port).String()
	srv := testnet.Start(t, nd.b, nd.cgB, "tcp-serve", dst, strconv.Itoa(conns))
	for range conns {
		testnet.RunHelper(t, nd.a, nd.cgA, "tcp-send", dst, strconv.Itoa(size))
	}
	if got := srv.Wait(); got != strconv.Itoa(conns*size) {
		t.Fatalf("server read %s bytes, want %d", got, conns*size)
	}
	if res := tcpOutcomes(t, testnet.RunHelper(t, nd.a, nd.cgA, "tcp-connect", netip.AddrPortFrom(addrB, 9).String(), "1")); res["refused"] != 1 {
		t.Fatalf("connect to a closed port: %v", res)
	}
	udpDst := netip.AddrPortFrom(addrB, udpPort).String()
	recv := testnet.Start(t, nd.b, nd.cgB, "udp-recv", udpDst, strconv.Itoa(udpSockets*datagrams), "10s")
	testnet.RunHelper(t, nd.a, nd.cgA, "udp-send", udpDst+","+udpDst, strconv.Itoa(datagrams), strconv.Itoa(size))
	if got := recv.Wait(); got != strconv.Itoa(udpSockets*datagrams) {
		t.Fatalf("receiver got %s datagrams, want %d", got, udpSockets*datagrams)
	}
	time.Sleep(200 * time.Millisecond) // the last ACKs reach the server

	started := map[FlowKey]int{}
	if err := nd.tr.DrainNewConnections(func(k FlowKey) { started[k]++ }); err != nil {
		t.Fatal(err)
	}
	if err := nd.tr.DrainNewConnections(func(k FlowKey) { t.Errorf("%+v handed out twice", k) }); err != nil {
		t.Fatal(err)
	}

	flows, overflow := drainFlows(t, nd.tr)
	flows = inCgroups(flows, nd.cgA.ID, nd.cgB.ID)
	var client, server FlowCounters
	tcpPorts, udpPorts := map[uint16]bool{}, map[uint16]bool{}
	for k, v := range flows {
		switch {
		case k.Role == RoleClient && k.Protocol == ipProtoTCP && k.ServerPort == port:
			if k.ClientPort == 0 || tcpPorts[k.ClientPort] {
				t.Errorf("client flow without a client port of its own: %+v", k)
			}
			tcpPorts[k.ClientPort] = true
			if k.Remote != addrB || v.TxPackets == 0 || v.RxPackets == 0 {
				t.Errorf("client connection %+v: %+v", k, v)
			}
			client.Add(&v)
		case k.Role == RoleServer && k.Protocol == ipProtoTCP && k.ServerPort == port:
			if k.ClientPort != 0 {
				t.Errorf("server flow with a client port: %+v", k)
			}
			server.Add(&v)
		case k.Role == RoleClient && k.Protocol == ipProtoUDP:
			udpPorts[k.ClientPort] = true
			if want := (FlowCounters{TxBytes: datagrams * (size + 28), TxPackets: datagrams}); k.ClientPort == 0 || v != want {
				t.Errorf("UDP socket %+v: %+v, want %+v", k, v, want)
			}
		}
	}
	// Each client connection was handed out once as new, with its flow's key.
	for k := range flows {
		if k.ClientPort != 0 && started[k] != 1 {
			t.Errorf("connection %+v handed out %d times as new", k, started[k])
		}
		delete(started, k)
	}
	for k := range inCgroups(started, nd.cgA.ID) {
		t.Errorf("new connection %+v without a flow", k)
	}
	if len(tcpPorts) != conns || len(udpPorts) != udpSockets {
		t.Errorf("%d TCP and %d UDP client flows, want %d and %d", len(tcpPorts), len(udpPorts), conns, udpSockets)
	}
	if client.TxBytes != server.RxBytes || client.TxPackets != server.RxPackets || client.RxBytes != server.TxBytes || client.RxPackets != server.TxPackets {
		t.Errorf("client connections %+v, server side %+v: not the same traffic", client, server)
	}
	if overflow != (FlowCounters{}) {
		t.Errorf("overflow %+v", overflow)
	}

	got, _ := drainTCP(t, nd.tr)
	got = inCgroups(got, nd.cgA.ID, nd.cgB.ID)
	connected := 0
	for k, v := range got {
		switch {
		case k.Role == RoleClient && k.ServerPort == port:
			v.Events[TCPRetransmit] = 0
			if !tcpPorts[k.ClientPort] || v != events(map[TCPEvent]uint64{TCPConnectAttempt: 1, TCPConnectEstablished: 1}) {
				t.Errorf("connection %+v: %v, want one attempt, established", k, v.Events)
			}
			connected++
		case k.Role == RoleClient && k.ServerPort == 9:
			v.Events[TCPRetransmit] = 0
			if k.ClientPort == 0 || v != events(map[TCPEvent]uint64{TCPConnectAttempt: 1, TCPFailRefused: 1, TCPResetReceived: 1}) {
				t.Errorf("refused connection %+v: %v", k, v.Events)
			}
		case k.Role == RoleServer && k.ServerPort == port:
			if k.ClientPort != 0 || v.Events[TCPAccepted] != conns {
				t.Errorf("server %+v: %v, want %d accepted", k, v.Events, conns)
			}
		}
	}
	if connected != conns {
		t.Errorf("%d client connections in the TCP table, want %d", connected, conns)
	}

	samples := 0
	for k, h := range drainLatency(t, nd.tr)[HistConnect] {
		if k.CgroupID != nd.cgA.ID || k.ServerPort != port {
			continue
		}
		if !tcpPorts[k.ClientPort] {
			t.Errorf("connect latency of %+v: not one of the connections", k)
		}
		for _, n := range h.buckets {
			samples += int(n)
		}
	}
	if samples != conns {
		t.Errorf("%d connect-latency samples of translated connections, want %d", samples, conns)
	}

	// A frontend removed from the table: connections to it are one flow again.
	if err := nd.tr.SetServices(nil); err != nil {
		t.Fatal(err)
	}
	srv = testnet.Start(t, nd.b, nd.cgB, "tcp-serve", dst, "1")
	testnet.RunHelper(t, nd.a, nd.cgA, "tcp-send", dst, strconv.Itoa(size))
	srv.Wait()
	for k := range inCgroups(drainFlowsKeys(t, nd.tr), nd.cgA.ID) {
		if k.ClientPort != 0 {
			t.Errorf("frontend removed, yet %+v keeps its client port", k)
		}
	}
	if n := nd.tr.Services(); n != 0 {
		t.Errorf("%d frontends left", n)
	}
	_ = addrA
}

func drainFlowsKeys(t *testing.T, tr *Tracer) map[FlowKey]FlowCounters {
	flows, _ := drainFlows(t, tr)
	return flows
}
