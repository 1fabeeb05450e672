// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

const ipProtoUDP, ipProtoTCP = 17, 6

// TestUDPExactCounts sends N datagrams of S bytes from a to b and expects
// exactly N packets of S+28 (IPv4) or S+48 (IPv6) bytes on a's transmit
// side and b's receive side of the one flow each socket has.
func TestUDPExactCounts(t *testing.T) {
	const n, size, port = 100, 200, 7000
	for _, tc := range []struct {
		name     string
		v6       bool
		overhead uint64
	}{
		{"IPv4", false, 28}, // IPv4 header 20 + UDP 8
		{"IPv6", true, 48},  // IPv6 header 40 + UDP 8
	} {
		t.Run(tc.name, func(t *testing.T) {
			nd := newNode(t, defaultConfig, dualStackA, dualStackB)
			addrA, addrB := nd.la.Addr(tc.v6), nd.lb.Addr(tc.v6)
			dst := netip.AddrPortFrom(addrB, port).String()

			recv := testnet.Start(t, nd.b, nd.cgB, "udp-recv", dst, strconv.Itoa(n), "10s")
			testnet.RunHelper(t, nd.a, nd.cgA, "udp-send", dst, strconv.Itoa(n), strconv.Itoa(size))
			if got := recv.Wait(); got != strconv.Itoa(n) {
				t.Fatalf("receiver got %s datagrams, want %d: the test network lost packets", got, n)
			}

			flows, overflow := drainFlows(t, nd.tr)
			wantBytes := uint64(n) * (size + tc.overhead)
			sender := FlowKey{CgroupID: nd.cgA.ID, Local: addrA, Remote: addrB, ServerPort: port, Protocol: ipProtoUDP, Role: RoleClient}
			receiver := FlowKey{CgroupID: nd.cgB.ID, Local: addrB, Remote: addrA, ServerPort: port, Protocol: ipProtoUDP, Role: RoleServer}
			want := map[FlowKey]FlowCounters{
				sender:   {TxBytes: wantBytes, TxPackets: n},
				receiver: {RxBytes: wantBytes, RxPackets: n},
			}
			assertFlows(t, flows, want)
			if overflow != (FlowCounters{}) {
				t.Errorf("overflow = %+v, want none", overflow)
			}
		})
	}
}

// assertFlows checks that flows holds exactly want.
func assertFlows(t *testing.T, flows, want map[FlowKey]FlowCounters) {
	t.Helper()
	for k, w := range want {
		if got := flows[k]; got != w {
			t.Errorf("flow %+v:\n got %+v\nwant %+v", k, got, w)
		}
	}
	for k, v := range flows {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected flow %+v: %+v", k, v)
		}
	}
}

// TestTCPMatchesVethCounters transfers data over TCP and compares what the
// exporter counted for the namespace pair with the veth's own counters:
// same packets, and bytes equal to the veth's minus its Ethernet header.
// TSO is off, so the sender builds GSO packets that the stack segments
// before the veth: the per-segment count on egress is exercised. With GRO on,
// the receiver gets merged packets: the same on ingress. GRO on puts veth in
// NAPI mode, where it counts bytes after eth_type_trans(), without the
// 14-byte Ethernet header; without it veth counts them (veth_xmit).
func TestTCPMatchesVethCounters(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ethtool  []string
		ethernet uint64 // bytes the veth counts per packet beyond L3
	}{
		{"GSO", []string{"tso", "off", "gro", "off"}, 14},
		{"GSO+GRO", []string{"tso", "off", "gro", "on"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testTCPMatchesVeth(t, tc.ethtool, tc.ethernet)
		})
	}
}

func testTCPMatchesVeth(t *testing.T, ethtool []string, ethernet uint64) {
	const size, port = 4 << 20, 8080
	nd := newNode(t, defaultConfig, v4OnlyA, v4OnlyB)
	for _, l := range []*testnet.Link{nd.la, nd.lb} {
		l.Netns.Run(append([]string{"ethtool", "-K", l.Dev}, ethtool...)...)
	}
	addrB := nd.lb.Addr(false)
	beforeA, beforeB := nd.la.Stats(), nd.lb.Stats()

	srv := testnet.Start(t, nd.b, nd.cgB, "tcp-serve", netip.AddrPortFrom(addrB, port).String(), "1")
	testnet.RunHelper(t, nd.a, nd.cgA, "tcp-send", netip.AddrPortFrom(addrB, port).String(), strconv.Itoa(size))
	if got := srv.Wait(); got != strconv.Itoa(size) {
		t.Fatalf("server read %s bytes, want %d", got, size)
	}
	deltaA := nd.la.SettledStats().Sub(beforeA)
	deltaB := nd.lb.SettledStats().Sub(beforeB)

	flows, _ := drainFlows(t, nd.tr)
	sideA, sideB := nd.sides(t, flows)
	nd.assertVeth(t, sideA, sideB, deltaA, deltaB, ethernet)
	if deltaA.TxBytes < size {
		t.Errorf("veth a sent %d bytes, less than the %d transferred", deltaA.TxBytes, size)
	}
	t.Logf("a sent %d packets, %d bytes (L3) for %d bytes of payload", sideA.TxPackets, sideA.TxBytes, size)
}

// sides sums the flows of each namespace's cgroup and address with the
// other's; any other flow is an error.
func (nd *node) sides(t *testing.T, flows map[FlowKey]FlowCounters) (a, b FlowCounters) {
	t.Helper()
	addrA, addrB := nd.la.Addr(false), nd.lb.Addr(false)
	for k, v := range flows {
		switch {
		case k.CgroupID == nd.cgA.ID && k.Local == addrA && k.Remote == addrB:
			a.Add(&v)
		case k.CgroupID == nd.cgB.ID && k.Local == addrB && k.Remote == addrA:
			b.Add(&v)
		default:
			t.Errorf("unexpected flow %+v: %+v", k, v)
		}
	}
	return a, b
}

// assertVeth checks that each side counted what its end of the veth did,
// less ethernet bytes per packet (see TestTCPMatchesVethCounters).
func (nd *node) assertVeth(t *testing.T, a, b FlowCounters, deltaA, deltaB testnet.LinkStats, ethernet uint64) {
	t.Helper()
	for _, c := range []struct {
		side  string
		got   FlowCounters
		delta testnet.LinkStats
	}{{"a", a, deltaA}, {"b", b, deltaB}} {
		if want := l3Counters(c.delta, ethernet); c.got != want {
			t.Errorf("side %s: exporter counted %+v, veth counted (L3) %+v", c.side, c.got, want)
		}
	}
}

// TestFullTableCountsOverflow gives the flow table room for 4 flows and
// sends 20: what finds no entry lands in the overflow slot, and flows plus
// overflow equal what was sent and received.
func TestFullTableCountsOverflow(t *testing.T) {
	const ports, n, size = 20, 10, 100
	cfg := defaultConfig
	cfg.FlowTableEntries = 4
	nd := newNode(t, cfg, v4OnlyA, v4OnlyB)
	var dsts []string
	for i := range ports {
		dsts = append(dsts, fmt.Sprintf("%s:%d", nd.lb.Addr(false), 7001+i))
	}
	recv := testnet.Start(t, nd.b, nd.cgB, "udp-recv", strings.Join(dsts, ","), strconv.Itoa(ports*n), "10s")
	testnet.RunHelper(t, nd.a, nd.cgA, "udp-send", strings.Join(dsts, ","), strconv.Itoa(n), strconv.Itoa(size))
	if got := recv.Wait(); got != strconv.Itoa(ports*n) {
		t.Fatalf("receiver got %s datagrams, want %d", got, ports*n)
	}

	flows, overflow := drainFlows(t, nd.tr)
	if len(flows) > 4 {
		t.Errorf("drained %d flows from a table of 4", len(flows))
	}
	total := overflow
	for _, v := range flows {
		total.Add(&v)
	}
	want := FlowCounters{TxBytes: ports * n * (size + 28), TxPackets: ports * n, RxBytes: ports * n * (size + 28), RxPackets: ports * n}
	if total != want {
		t.Errorf("flows + overflow = %+v, want %+v (overflow %+v)", total, want, overflow)
	}
	if overflow.TxPackets == 0 || overflow.RxPackets == 0 {
		t.Errorf("overflow = %+v: 40 flows cannot fit 4 entries", overflow)
	}
	stats, err := nd.tr.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if full := stats[TableFlows].Failures[FailFull]; full == 0 {
		t.Errorf("no insert failed for a full table: %+v", stats[TableFlows])
	}
}

// TestDrainUnderLoadLosesNothing drains continuously while traffic flows:
// the sum of all drains must be exactly what was sent, which a read-then-
// delete of live entries could not promise.
func TestDrainUnderLoadLosesNothing(t *testing.T) {
	const n, size, port = 5000, 64, 7000
	nd := newNode(t, defaultConfig, v4OnlyA, v4OnlyB)
	dst := netip.AddrPortFrom(nd.lb.Addr(false), port).String()
	recv := testnet.Start(t, nd.b, nd.cgB, "udp-recv", dst, strconv.Itoa(n), "20s")
	send := testnet.Start(t, nd.a, nd.cgA, "udp-send", dst, strconv.Itoa(n), strconv.Itoa(size))

	var total FlowCounters
	done := make(chan string)
	go func() { done <- recv.Wait() }()
	drains := 0
	for received := ""; received == ""; drains++ {
		select {
		case received = <-done:
			if received != strconv.Itoa(n) {
				t.Fatalf("receiver got %s datagrams, want %d", received, n)
			}
		default:
		}
		flows, overflow := drainFlows(t, nd.tr)
		total.Add(&overflow)
		for _, v := range flows {
			total.Add(&v)
		}
	}
	send.Wait()
	flows, overflow := drainFlows(t, nd.tr)
	total.Add(&overflow)
	for _, v := range flows {
		total.Add(&v)
	}
	want := FlowCounters{TxBytes: n * (size + 28), TxPackets: n, RxBytes: n * (size + 28), RxPackets: n}
	if total != want {
		t.Errorf("sum over %d drains = %+v, want %+v", drains, total, want)
	}
	t.Logf("%d drains while %d datagrams flowed", drains, n)
}

// TestDrainByIteration forces the fallback for kernels without batch map
// operations and expects the same exact result.
func TestDrainByIteration(t *testing.T) {
	const n, size, port = 50, 100, 7000
	nd := newNode(t, defaultConfig, v4OnlyA, v4OnlyB)
	nd.tr.tables[TableFlows].iterate = true
	dst := netip.AddrPortFrom(nd.lb.Addr(false), port).String()
	recv := testnet.Start(t, nd.b, nd.cgB, "udp-recv", dst, strconv.Itoa(n), "10s")
	testnet.RunHelper(t, nd.a, nd.cgA, "udp-send", dst, strconv.Itoa(n), strconv.Itoa(size))
	recv.Wait()

	flows, _ := drainFlows(t, nd.tr)
	addrA, addrB := nd.la.Addr(false), nd.lb.Addr(false)
	assertFlows(t, flows, map[FlowKey]FlowCounters{
		{CgroupID: nd.cgA.ID, Local: addrA, Remote: addrB, ServerPort: port, Protocol: ipProtoUDP, Role: RoleClient}: {TxBytes: n * (size + 28), TxPackets: n},
		{CgroupID: nd.cgB.ID, Local: addrB, Remote: addrA, ServerPort: port, Protocol: ipProtoUDP, Role: RoleServer}: {RxBytes: n * (size + 28), RxPackets: n},
	})
	if again, _ := drainFlows(t, nd.tr); len(again) != 0 {
		t.Errorf("second drain found %d flows: the first did not delete", len(again))
	}
}
