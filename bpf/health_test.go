// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"encoding/json"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// histogram is one flow's latency histogram, summed over CPUs.
type histogram struct {
	buckets [LatencyBuckets]uint64
	sumUS   uint64
}

func (h *histogram) count() (n uint64) {
	for _, c := range h.buckets {
		n += c
	}
	return n
}

// median returns the bucket holding the middle sample.
func (h *histogram) median() int {
	half, seen := (h.count()+1)/2, uint64(0)
	for b, c := range h.buckets {
		seen += c
		if seen >= half {
			return b
		}
	}
	return -1
}

// drainLatency drains the latency table into one histogram per flow and
// kind, and fails on overflow.
func drainLatency(t testing.TB, tr *Tracer) map[Histogram]map[FlowKey]*histogram {
	t.Helper()
	out := map[Histogram]map[FlowKey]*histogram{}
	ov, err := Latency.Drain(tr, func(k FlowKey, inc LatencyIncrement) {
		kind, bucket := inc.Histogram, inc.Bucket
		if out[kind] == nil {
			out[kind] = map[FlowKey]*histogram{}
		}
		h := out[kind][k]
		if h == nil {
			h = &histogram{}
			out[kind][k] = h
		}
		h.buckets[bucket] += inc.Count
		h.sumUS += inc.SumMicros
	})
	if err != nil {
		t.Fatal(err)
	}
	if ov != (LatencyOverflow{}) {
		t.Fatalf("latency overflow: %+v", ov)
	}
	return out
}

// bucketOf is the kernel's log2 bucket of a value in microseconds.
func bucketOf(us uint64) int {
	if us <= 1 {
		return 0
	}
	return min(bits.Len64(us-1), LatencyBuckets-1)
}

func TestLatencyBucketOfMatchesKernel(t *testing.T) {
	// The kernel's bit-length-by-halving against math/bits, at every boundary.
	for b := range LatencyBuckets - 1 {
		for _, us := range []uint64{1 << b, 1<<b + 1} {
			got, want := bucketOf(us), min(bits.Len64(us-1), LatencyBuckets-1)
			if got != want {
				t.Errorf("bucketOf(%d) = %d, want %d", us, got, want)
			}
		}
	}
}

// pingPong runs ROUNDS request/response exchanges of SIZE bytes from a to
// an echo server in b and returns the client's TCP_INFO.
func pingPong(t *testing.T, nd *node, port, rounds, size int) testnet.TCPInfo {
	t.Helper()
	addr := netip.AddrPortFrom(nd.lb.Addr(false), uint16(port)).String()
	srv := testnet.Start(t, nd.b, nd.cgB, "tcp-echo", addr, "1")
	res := testnet.RunHelper(t, nd.a, nd.cgA, "tcp-pingpong", addr, strconv.Itoa(rounds), strconv.Itoa(size))
	srv.Wait()
	var info testnet.TCPInfo
	if err := json.Unmarshal([]byte(res), &info); err != nil {
		t.Fatalf("tcp-pingpong result %q: %v", res, err)
	}
	return info
}

// TestRTTMatchesTCPInfo compares the RTT histogram of a connection with
// the smoothed RTT the kernel reports for the socket, then slows the link
// with a token bucket and expects the distribution to move up with it.
func TestRTTMatchesTCPInfo(t *testing.T) {
	nd := newNode(t, defaultConfig, v4OnlyA, v4OnlyB)
	addrA, addrB := nd.la.Addr(false), nd.lb.Addr(false)
	client := func(port uint16) FlowKey {
		return FlowKey{CgroupID: nd.cgA.ID, Local: addrA, Remote: addrB, ServerPort: port, Protocol: ipProtoTCP, Role: RoleClient}
	}
	drainLatency(t, nd.tr)

	// The kernel's smoothed RTT moves with every sample; the helper reads
	// TCP_INFO after each round, and the histogram must match the
	// distribution of those readings.
	check := func(t *testing.T, port uint16, info testnet.TCPInfo) *histogram {
		t.Helper()
		h := drainLatency(t, nd.tr)[HistRTT][client(port)]
		if h == nil || h.count() == 0 {
			t.Fatalf("no RTT samples for the client flow; TCP_INFO rtt %d us", info.RTTMicros)
		}
		var readings histogram
		for _, us := range info.RTTReadings {
			readings.buckets[bucketOf(uint64(us))]++
		}
		want := readings.median()
		t.Logf("TCP_INFO readings: median bucket %d, buckets %v", want, readings.buckets)
		t.Logf("podflow samples:   median bucket %d, buckets %v, %d samples, mean %d us",
			h.median(), h.buckets, h.count(), h.sumUS/h.count())
		if d := h.median() - want; d < -1 || d > 1 {
			t.Errorf("median sample in bucket %d, more than one bucket from the median TCP_INFO reading's %d", h.median(), want)
		}
		var near uint64
		for b := max(want-1, 0); b <= min(want+1, LatencyBuckets-1); b++ {
			near += h.buckets[b]
		}
		if near*2 < h.count() {
			t.Errorf("only %d of %d samples within one bucket of the median TCP_INFO reading", near, h.count())
		}
		return h
	}

	var fast *histogram
	t.Run("veth", func(t *testing.T) {
		info := pingPong(t, nd, 7001, 300, 100)
		fast = check(t, 7001, info)
	})
	t.Run("token bucket", func(t *testing.T) {
		if fast == nil {
			t.Fatal("the unshaped run failed: nothing to compare with")
		}
		// 1 Mbit/s out of a: a full segment takes 12 ms to leave, and a
		// 6,000-byte request queues behind itself.
		nd.a.Run("tc", "qdisc", "add", "dev", nd.la.Dev, "root", "tbf", "rate", "1mbit", "burst", "1600", "latency", "500ms")
		info := pingPong(t, nd, 7002, 15, 6000)
		slow := check(t, 7002, info)
		if slow.median() < fast.median()+5 {
			t.Errorf("median bucket %d with the token bucket, want at least 5 above the unshaped %d (32 times slower)", slow.median(), fast.median())
		}
		if serial := bucketOf(12_000); slow.median() < serial-1 {
			t.Errorf("median bucket %d below one segment's serialisation time (bucket %d)", slow.median(), serial)
		}
	})
}

// TestConnectLatency expects one connect-duration sample per established
// connect, none for refused ones, no longer than the connects took.
func TestConnectLatency(t *testing.T) {
	nd := newNode(t, defaultConfig, v4OnlyA, v4OnlyB)
	addrA, addrB := nd.la.Addr(false), nd.lb.Addr(false)
	drainLatency(t, nd.tr)

	const k, port = 6, 8081
	addr := netip.AddrPortFrom(addrB, port).String()
	srv := testnet.Start(t, nd.b, nd.cgB, "tcp-serve", addr, strconv.Itoa(k))
	res := tcpOutcomes(t, testnet.RunHelper(t, nd.a, nd.cgA, "tcp-connect", addr, strconv.Itoa(k)))
	srv.Wait()
	refused := tcpOutcomes(t, testnet.RunHelper(t, nd.a, nd.cgA, "tcp-connect", netip.AddrPortFrom(addrB, 9).String(), "3"))
	if res["ok"] != k || refused["refused"] != 3 {
		t.Fatalf("helper saw %v and %v", res, refused)
	}

	got := drainLatency(t, nd.tr)[HistConnect]
	flow := FlowKey{CgroupID: nd.cgA.ID, Local: addrA, Remote: addrB, ServerPort: port, Protocol: ipProtoTCP, Role: RoleClient}
	h := got[flow]
	if h == nil || h.count() != k {
		t.Fatalf("connect samples %v, want %d", h, k)
	}
	maxUS := uint64(res["max_connect_us"])
	t.Logf("buckets %v, sum %d us; slowest connect as the application saw it: %d us", h.buckets, h.sumUS, maxUS)
	if h.sumUS > k*maxUS {
		t.Errorf("sum %d us exceeds %d connects of at most %d us", h.sumUS, k, maxUS)
	}
	for b, c := range h.buckets {
		if c > 0 && b > bucketOf(maxUS) {
			t.Errorf("%d samples in bucket %d, above the slowest connect (bucket %d)", c, b, bucketOf(maxUS))
		}
	}
	for key := range inCgroup(got, nd.cgA.ID) {
		if key != flow {
			t.Errorf("connect latency for %+v: refused connects take no sample", key)
		}
	}
}

// TestRetransmits drops every 20th segment b receives on one port: the
// sender's flow, and only it, counts exactly the retransmissions its
// socket reports.
func TestRetransmits(t *testing.T) {
	nd := newNode(t, defaultConfig, v4OnlyA, v4OnlyB)
	addrA, addrB := nd.la.Addr(false), nd.lb.Addr(false)
	const lossy, clean = 5001, 5002
	nd.b.Run("iptables", "-A", "INPUT", "-p", "tcp", "--dport", strconv.Itoa(lossy),
		"-m", "statistic", "--mode", "nth", "--every", "20", "--packet", "0", "-j", "DROP")
	drainTCP(t, nd.tr)
	// The server's retransmissions (of its FIN, say) are checked against
	// its namespace's count: it holds no other socket.
	serverSeen := nd.b.Counter("TcpRetransSegs")

	stream := func(port int) testnet.TCPInfo {
		addr := netip.AddrPortFrom(addrB, uint16(port)).String()
		srv := testnet.Start(t, nd.b, nd.cgB, "tcp-serve", addr, "1")
		res := testnet.RunHelper(t, nd.a, nd.cgA, "tcp-stream", addr, strconv.Itoa(8<<20))
		srv.Wait()
		var info testnet.TCPInfo
		if err := json.Unmarshal([]byte(res), &info); err != nil {
			t.Fatalf("tcp-stream result %q: %v", res, err)
		}
		return info
	}
	lossyInfo := stream(lossy)
	cleanInfo := stream(clean)
	if lossyInfo.TotalRetrans == 0 {
		t.Fatal("the kernel retransmitted nothing: the drop rule did not work")
	}

	got, overflow := drainTCP(t, nd.tr)
	if overflow != (TCPCounters{}) {
		t.Errorf("overflow %v", overflow.Events)
	}
	want := map[FlowKey]uint64{
		{CgroupID: nd.cgA.ID, Local: addrA, Remote: addrB, ServerPort: lossy, Protocol: ipProtoTCP, Role: RoleClient}: uint64(lossyInfo.TotalRetrans),
		{CgroupID: nd.cgA.ID, Local: addrA, Remote: addrB, ServerPort: clean, Protocol: ipProtoTCP, Role: RoleClient}: uint64(cleanInfo.TotalRetrans),
	}
	serverRetrans := nd.b.Counter("TcpRetransSegs") - serverSeen
	t.Logf("tcpi_total_retrans: lossy %d, clean %d (tail loss probes count too); server namespace %d",
		lossyInfo.TotalRetrans, cleanInfo.TotalRetrans, serverRetrans)
	for k, v := range inCgroup(got, nd.cgA.ID) {
		if n := v.Events[TCPRetransmit]; n != want[k] {
			t.Errorf("flow %+v: %d retransmitted segments, want %d", k, n, want[k])
		}
	}
	var server uint64
	for k, v := range inCgroup(got, nd.cgB.ID) {
		if k.Role != RoleServer || k.Remote != addrA {
			t.Errorf("unexpected flow %+v in b", k)
		}
		server += v.Events[TCPRetransmit]
	}
	if server != serverRetrans {
		t.Errorf("server flows retransmitted %d segments, the namespace counted %d", server, serverRetrans)
	}
}

// TestDropsByReason drops a port's datagrams with iptables in b: each is
// counted once, with its IP length, under netfilter's reason and b's
// address; traffic that is delivered is never counted as dropped.
func TestDropsByReason(t *testing.T) {
	reasons, err := DropReasons()
	if err != nil {
		t.Fatal(err)
	}
	netfilter := uint32(0)
	for v, name := range reasons {
		if name == "NETFILTER_DROP" {
			netfilter = v
		}
	}
	if netfilter == 0 {
		t.Fatalf("no NETFILTER_DROP among the kernel's reasons %v", reasons)
	}

	for _, v6 := range []bool{false, true} {
		name, hdr := "IPv4", 28
		if v6 {
			name, hdr = "IPv6", 48
		}
		t.Run(name, func(t *testing.T) {
			nd := newNode(t, defaultConfig, dualStackA, dualStackB)
			addrA, addrB := nd.la.Addr(v6), nd.lb.Addr(v6)
			const n, size, dropped, open = 25, 300, 5353, 5354
			for _, tables := range []string{"iptables", "ip6tables"} {
				nd.b.Run(tables, "-A", "INPUT", "-p", "udp", "--dport", strconv.Itoa(dropped), "-j", "DROP")
			}
			drainDrops(t, nd.tr)

			recv := testnet.Start(t, nd.b, nd.cgB, "udp-recv", netip.AddrPortFrom(addrB, open).String(), strconv.Itoa(n), "10s")
			testnet.RunHelper(t, nd.a, nd.cgA, "udp-send", netip.AddrPortFrom(addrB, open).String(), strconv.Itoa(n), strconv.Itoa(size))
			recv.Wait()
			testnet.RunHelper(t, nd.a, nd.cgA, "udp-send", netip.AddrPortFrom(addrB, dropped).String(), strconv.Itoa(n), strconv.Itoa(size))

			got, overflow := drainDrops(t, nd.tr)
			if overflow != (DropCounters{}) {
				t.Errorf("overflow %+v", overflow)
			}
			want := dropKey{FlowKey{Local: addrB, Remote: addrA, ServerPort: dropped, Protocol: ipProtoUDP, Role: RoleServer}, netfilter}
			if g := got[want]; g.Packets != n || g.Bytes != n*(size+uint64(hdr)) {
				t.Errorf("drops of %+v: %+v, want %d packets, %d bytes", want, g, n, n*(size+hdr))
			}
			for k, v := range got {
				mine := k.Local == addrA || k.Local == addrB || k.CgroupID == nd.cgA.ID || k.CgroupID == nd.cgB.ID
				if mine && k != want && k.Protocol == ipProtoUDP {
					t.Errorf("unexpected drop %+v (%s): %+v", k, reasons[k.Reason], v)
				}
			}
			keys := slices.Collect(func(yield func(string) bool) {
				for k, v := range got {
					if !yield(reasons[k.Reason] + " " + strconv.FormatUint(v.Packets, 10)) {
						return
					}
				}
			})
			t.Logf("drops seen on the host meanwhile: %v", keys)
		})
	}
}

// TestRTTCoversSocketsFromBefore loads a tracer while a connection is open:
// tcp_probe sees its segments like any other, creates its socket state,
// and guesses its side from the ports (sockops would never see it).
func TestRTTCoversSocketsFromBefore(t *testing.T) {
	nd := newNode(t, defaultConfig, v4OnlyA, v4OnlyB)
	addrA, addrB := nd.la.Addr(false), nd.lb.Addr(false)
	addr := netip.AddrPortFrom(addrB, 7003).String()
	// A listener that existed before too: its accepted socket is the server's.
	srv := testnet.Start(t, nd.b, nd.cgB, "tcp-echo", addr, "1")
	nd.tr.Close() // the node's own tracer sees nothing of this connection

	client := testnet.Start(t, nd.a, nd.cgA, "tcp-pingpong", addr, "200", "100", "5s")
	client.WaitLine("paused") // for 5 s, while the tracer loads
	start := time.Now()
	tr, err := Load(&defaultConfig, Options{Programs: []string{ProgTCPRTT}, EphemeralPorts: ReadEphemeralPortRange()})
	t.Logf("tracer loaded in %v", time.Since(start))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if st := tr.Status()[0]; !st.Attached {
		t.Fatal(st.Err)
	}
	client.Wait()
	srv.Wait()

	got := drainLatency(t, tr)[HistRTT]
	flow := FlowKey{CgroupID: nd.cgA.ID, Local: addrA, Remote: addrB, ServerPort: 7003, Protocol: ipProtoTCP, Role: RoleClient}
	if h := got[flow]; h == nil || h.count() == 0 {
		t.Fatalf("no RTT samples for the client's older socket; flows seen: %v (all: %d)", inCgroups(got, nd.cgA.ID, nd.cgB.ID), len(got))
	} else {
		t.Logf("client: %d samples, buckets %v", h.count(), h.buckets)
	}
	for k := range inCgroups(got, nd.cgA.ID, nd.cgB.ID) {
		if k != flow && !(k.CgroupID == nd.cgB.ID && k.Role == RoleServer && k.ServerPort == 7003) {
			t.Errorf("unexpected flow %+v", k)
		}
	}
}
