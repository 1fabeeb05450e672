// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// socketEntries counts the established TCP sockets that count in an entry
// of their own (counting_sockets).
func socketEntries(t *testing.T, tr *Tracer) int {
	t.Helper()
	var (
		key, next uint64
		n         int
	)
	var prev any // nil: the first key
	for {
		if err := tr.objs.CountingSockets.NextKey(prev, &next); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				return n
			}
			t.Fatal(err)
		}
		n++
		key = next
		prev = &key
	}
}

// segmentOnVeth turns TSO and GRO off on both ends of the node's veth, so
// that the veth counts wire segments (see TestTCPMatchesVethCounters).
func (nd *node) segmentOnVeth() {
	for _, l := range []*testnet.Link{nd.la, nd.lb} {
		l.Netns.Run("ethtool", "-K", l.Dev, "tso", "off", "gro", "off")
	}
}

// TestSocketEntriesFoldAtEachDrain holds one TCP connection open and idle
// across drains: what its sockets counted in their entries reaches each
// drain without the connection closing, exactly what the veth carried.
// After it closes, two drains later, the entries are gone.
func TestSocketEntriesFoldAtEachDrain(t *testing.T) {
	const port, size = 8090, 1 << 20
	nd := newNode(t, defaultConfig, v4OnlyA, v4OnlyB)
	if !nd.tr.Features().SocketEntries {
		t.Fatal("sockets do not count in entries of their own on 6.18")
	}
	nd.segmentOnVeth()
	dst := netip.AddrPortFrom(nd.lb.Addr(false), port).String()
	srv := testnet.Start(t, nd.b, nd.cgB, "tcp-accept", dst)
	beforeA, beforeB := nd.la.Stats(), nd.lb.Stats()
	client := testnet.Start(t, nd.a, nd.cgA, "tcp-hold", dst, "-", strconv.Itoa(size))
	client.WaitLine("connected")
	if n := socketEntries(t, nd.tr); n != 2 {
		t.Errorf("%d socket entries after connecting, want 2 (client and server)", n)
	}

	// Open and idle: the handshake is in the drain.
	flows, _ := drainFlows(t, nd.tr)
	a, b := nd.sides(t, flows)
	nd.assertVeth(t, a, b, nd.la.SettledStats().Sub(beforeA), nd.lb.SettledStats().Sub(beforeB), 14)
	if a.TxPackets == 0 || b.TxPackets == 0 {
		t.Errorf("handshake not counted: a %+v, b %+v", a, b)
	}

	beforeA, beforeB = nd.la.Stats(), nd.lb.Stats()
	client.Continue()
	if got := client.Wait(); got != strconv.Itoa(size) {
		t.Fatalf("client sent %s bytes, want %d", got, size)
	}
	flows, _ = drainFlows(t, nd.tr)
	a, b = nd.sides(t, flows)
	nd.assertVeth(t, a, b, nd.la.SettledStats().Sub(beforeA), nd.lb.SettledStats().Sub(beforeB), 14)
	if a.TxBytes < size {
		t.Errorf("client side counted %d bytes sent, less than the %d transferred", a.TxBytes, size)
	}

	// Closed: marked at the drain above, deleted at this one.
	flows, _ = drainFlows(t, nd.tr)
	if len(flows) != 0 {
		t.Errorf("flows after the connection closed and was drained: %+v", flows)
	}
	if n := socketEntries(t, nd.tr); n != 0 {
		t.Errorf("%d socket entries two drains after closing, want 0", n)
	}
	srv.Stop()
}

// TestSocketEntriesShortConnectionsRaceDrains makes 1,500 short
// connections while another goroutine drains every few milliseconds: no
// packet is counted twice or lost between a socket's fold, its close and
// the drain that deletes its entry. The drains' sum equals the veth's
// counters exactly, and no entry is left.
func TestSocketEntriesShortConnectionsRaceDrains(t *testing.T) {
	const port, conns, size = 8091, 1500, 1000
	nd := newNode(t, defaultConfig, v4OnlyA, v4OnlyB)
	nd.segmentOnVeth()
	dst := netip.AddrPortFrom(nd.lb.Addr(false), port).String()
	srv := testnet.Start(t, nd.b, nd.cgB, "tcp-accept", dst)
	beforeA, beforeB := nd.la.Stats(), nd.lb.Stats()

	var (
		mu     sync.Mutex
		a, b   FlowCounters
		drains int
	)
	drain := func() {
		flows, _ := drainFlows(t, nd.tr)
		fa, fb := nd.sides(t, flows)
		mu.Lock()
		a.Add(&fa)
		b.Add(&fb)
		drains++
		mu.Unlock()
	}
	stop := every(3*time.Millisecond, drain)
	if got := testnet.RunHelper(t, nd.a, nd.cgA, "tcp-sends", dst, strconv.Itoa(conns), strconv.Itoa(size)); got != strconv.Itoa(conns) {
		t.Errorf("tcp-sends: %s", got)
	}
	stop()
	// The last sockets closed: one drain marks their entries, one deletes them.
	drain()
	drain()
	nd.assertVeth(t, a, b, nd.la.SettledStats().Sub(beforeA), nd.lb.SettledStats().Sub(beforeB), 14)
	if n := socketEntries(t, nd.tr); n != 0 {
		t.Errorf("%d socket entries left after all connections closed, want 0", n)
	}
	st, err := nd.tr.RotationStats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Folds < 10 || st.FoldErrors != 0 || st.SocketFailures != [numFailures]uint64{} {
		t.Errorf("rotation stats %+v: want folds at every drain and no errors", st)
	}
	t.Logf("%d drains during %d connections; a sent %d packets", drains, conns, a.TxPackets)
	srv.Stop()
}

// TestSocketEntriesAcrossRestart connects before the exporter (the second
// of two) starts: the connection's sockets get entries when tcp_rtt first
// meets them, and the second exporter counts exactly what the veth carried
// after it started.
func TestSocketEntriesAcrossRestart(t *testing.T) {
	const port, size = 8092, 1 << 20
	nd := newNet(t, v4OnlyA, v4OnlyB)
	nd.segmentOnVeth()
	nd.load(t, defaultConfig)
	dst := netip.AddrPortFrom(nd.lb.Addr(false), port).String()
	srv := testnet.Start(t, nd.b, nd.cgB, "tcp-accept", dst)
	client := testnet.Start(t, nd.a, nd.cgA, "tcp-hold", dst, "-", strconv.Itoa(size))
	client.WaitLine("connected")
	if n := socketEntries(t, nd.tr); n != 2 {
		t.Errorf("%d socket entries under the first exporter, want 2", n)
	}
	if err := nd.tr.Close(); err != nil {
		t.Fatal(err)
	}

	nd.load(t, defaultConfig)
	beforeA, beforeB := nd.la.Stats(), nd.lb.Stats()
	client.Continue()
	if got := client.Wait(); got != strconv.Itoa(size) {
		t.Fatalf("client sent %s bytes, want %d", got, size)
	}
	if n := socketEntries(t, nd.tr); n != 2 {
		t.Errorf("%d socket entries under the second exporter, want 2 (given by tcp_rtt)", n)
	}
	flows, _ := drainFlows(t, nd.tr)
	a, b := nd.sides(t, flows)
	nd.assertVeth(t, a, b, nd.la.SettledStats().Sub(beforeA), nd.lb.SettledStats().Sub(beforeB), 14)
	srv.Stop()
}

// TestSocketEntriesFullTable sizes the socket table for 4 entries (a
// quarter of the flows table's 16) and makes 10 connections without a
// drain in between: the sockets of the first 2 get entries, the other 16
// are counted as failures and count in the flows table, and the totals
// stay exact.
func TestSocketEntriesFullTable(t *testing.T) {
	const port, conns, size = 8093, 10, 1000
	cfg := defaultConfig
	cfg.FlowTableEntries = 16
	nd := newNode(t, cfg, v4OnlyA, v4OnlyB)
	nd.segmentOnVeth()
	dst := netip.AddrPortFrom(nd.lb.Addr(false), port).String()
	srv := testnet.Start(t, nd.b, nd.cgB, "tcp-accept", dst)
	beforeA, beforeB := nd.la.Stats(), nd.lb.Stats()
	testnet.RunHelper(t, nd.a, nd.cgA, "tcp-sends", dst, strconv.Itoa(conns), strconv.Itoa(size))
	if n := socketEntries(t, nd.tr); n != 4 {
		t.Errorf("%d socket entries, want 4 (the table's size)", n)
	}
	flows, overflow := drainFlows(t, nd.tr)
	a, b := nd.sides(t, flows)
	// The overflow has no addresses: compare the sum of both sides.
	total := overflow
	total.Add(&a)
	total.Add(&b)
	da, db := nd.la.SettledStats().Sub(beforeA), nd.lb.SettledStats().Sub(beforeB)
	packets := da.TxPackets + db.TxPackets
	want := FlowCounters{TxBytes: da.TxBytes + db.TxBytes - 14*packets, TxPackets: packets}
	want.RxBytes, want.RxPackets = want.TxBytes, want.TxPackets
	if total != want {
		t.Errorf("flows + overflow = %+v (overflow %+v), want %+v", total, overflow, want)
	}
	st, err := nd.tr.RotationStats()
	if err != nil {
		t.Fatal(err)
	}
	if want := (conns - 2) * 2; st.SocketFailures[FailFull] != uint64(want) || st.SocketCapacity != 4 {
		t.Errorf("socket failures %v, capacity %d: want %d full, capacity 4", st.SocketFailures, st.SocketCapacity, want)
	}
	srv.Stop()
}
