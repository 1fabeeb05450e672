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

// requestKey is a flow and what its requests were.
type requestKey struct {
	FlowKey
	Request
}

// drainRequests drains the requests table into each flow's and request's count.
func drainRequests(t testing.TB, tr *Tracer) (map[requestKey]uint64, RequestOverflow) {
	t.Helper()
	out := map[requestKey]uint64{}
	overflow, err := Requests.Drain(tr, func(k FlowKey, inc RequestIncrement) {
		rk := requestKey{k, inc.Request}
		if _, seen := out[rk]; seen {
			t.Errorf("request %+v drained twice", rk)
		}
		out[rk] = inc.Count
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, overflow
}

// byName sums a cgroup's requests by their label values: "rcode/qtype"
// for DNS, "method/status_class" for HTTP.
func byName(reqs map[requestKey]uint64, cgroup uint64) map[string]int {
	out := map[string]int{}
	for k, n := range reqs {
		if k.CgroupID != cgroup {
			continue
		}
		if k.Kind == RequestDNS {
			out[RCodeName(k.RCode)+"/"+k.QType.String()] += int(n)
		} else {
			out[k.Method.String()+"/"+StatusClassName(k.StatusClass)] += int(n)
		}
	}
	return out
}

// assertCounts compares two name → count maps.
func assertCounts(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s %s: %d, want %d", what, k, got[k], w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s %s: %d, want none", what, k, g)
		}
	}
}

// payloadEvents reads the tracer's payload events by name.
func payloadEvents(t *testing.T, tr *Tracer) map[string]uint64 {
	t.Helper()
	st, err := tr.PayloadStats()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for ev, n := range st.Events {
		if n > 0 {
			out[PayloadEvent(ev).Protocol()+"/"+PayloadEvent(ev).Name()] = n
		}
	}
	return out
}

// histogramOf returns flow k's histogram h from one latency drain
// (the key's application protocol dropped: histograms have none).
func histogramOf(lat map[Histogram]map[FlowKey]*histogram, h Histogram, k FlowKey) *histogram {
	k.App = AppNone
	return lat[h][k]
}

// TestDNSRequests asks a real DNS server (miekg/dns, internal/testnet)
// queries whose answers are known — NOERROR of several types, NXDOMAIN,
// SERVFAIL, REFUSED, dropped (never answered), delayed, an EDNS answer
// over 512 bytes, and queries over TCP — and checks both sides' counts
// by response code and type exactly, timeouts included, and that the
// delayed answers' durations fall in the bucket of the client's own
// measurement (or the next one: the kernel sees the packets a little
// earlier and later than the client's clock).
func TestDNSRequests(t *testing.T) {
	t.Run("IPv4", func(t *testing.T) { testDNSRequests(t, false) })
	t.Run("IPv6", func(t *testing.T) { testDNSRequests(t, true) })
}

func testDNSRequests(t *testing.T, v6 bool) {
	cfg := defaultConfig
	cfg.DNSTimeout = time.Second
	a, b := v4OnlyA, v4OnlyB
	if v6 {
		a, b = v6OnlyA, v6OnlyB
	}
	nd := newNode(t, cfg, a, b)
	server := netip.AddrPortFrom(nd.lb.Addr(v6), 53).String()
	srv := testnet.Start(t, nd.b, nd.cgB, "dns-serve", server)
	plan := testnet.DNSPlan{TimeoutMS: 300, Queries: []testnet.DNSPlanQuery{
		{Name: "ok-1.test.", Type: "A", Count: 20},
		{Name: "ok-2.test.", Type: "AAAA", Count: 5},
		{Name: "ok-3.test.", Type: "PTR", Count: 2},
		{Name: "ok-4.test.", Type: "SRV", Count: 2},
		{Name: "ok-5.test.", Type: "CNAME", Count: 2},
		{Name: "ok-6.test.", Type: "MX", Count: 3},
		{Name: "a.nx.test.", Type: "A", Count: 7},
		{Name: "a.fail.test.", Type: "AAAA", Count: 3},
		{Name: "a.refused.test.", Type: "A", Count: 2},
		{Name: "a.drop.test.", Type: "A", Count: 4},
		{Name: "slow-64.ok.test.", Type: "A", Count: 3},
		{Name: "big.test.", Type: "TXT", EDNS: 4096, Count: 2},
		{Name: "ok-7.test.", Type: "A", Transport: "tcp", Count: 3},
		{Name: "a.nx.test.", Type: "A", Transport: "tcp", Count: 1},
		{Name: "huge.test.", Type: "TXT", Transport: "tcp", Count: 2},
	}}
	res := testnet.DNSAsk(t, nd.a, nd.cgA, server, plan)
	served := testnet.DNSServeStop(t, srv)
	want := map[string]int{}
	for rcode, types := range res.Counts {
		for qtype, n := range types {
			if qtype == "MX" {
				qtype = "other"
			}
			want[rcode+"/"+qtype] += n
		}
	}
	if want["timeout/A"] != 4 || want["NOERROR/TXT"] != 4 || served.Queries != 61 {
		t.Fatalf("the client saw %v, the server %d queries: not the plan", res.Counts, served.Queries)
	}
	for _, q := range res.Queries {
		if q.Name == "big.test." && q.Transport == "udp" && (q.Size <= 512 || q.Truncated) {
			t.Fatalf("EDNS answer of %d bytes (truncated %v): want over 512, whole", q.Size, q.Truncated)
		}
	}
	// The dropped queries expire after a second, at a drain.
	time.Sleep(cfg.DNSTimeout + 100*time.Millisecond)
	reqs, overflow := drainRequests(t, nd.tr)
	if got := overflow.Requests(); len(got) != 0 {
		t.Errorf("overflow %+v", got)
	}
	assertCounts(t, "client", byName(reqs, nd.cgA.ID), want)
	// The server answered all but the dropped ones, which time out on its side too.
	assertCounts(t, "server", byName(reqs, nd.cgB.ID), want)
	for k := range reqs {
		if k.ServerPort != 53 || k.Protocol != ipProtoTCP && k.Protocol != ipProtoUDP || k.App != AppNone {
			t.Errorf("request under %+v", k.FlowKey)
		}
	}
	if ev := payloadEvents(t, nd.tr); len(ev) != 0 {
		t.Errorf("payload events %v, want none", ev)
	}

	lat := drainLatency(t, nd.tr)
	client := FlowKey{CgroupID: nd.cgA.ID, Local: nd.la.Addr(v6), Remote: nd.lb.Addr(v6), ServerPort: 53, Protocol: ipProtoUDP, Role: RoleClient}
	h := histogramOf(lat, HistDNS, client)
	if h == nil {
		t.Fatalf("no DNS durations for %+v: %v", client, lat[HistDNS])
	}
	answeredUDP := 0
	slow := map[int]int{}
	for _, q := range res.Queries {
		if q.Transport == "udp" && q.Rcode != "timeout" {
			answeredUDP++
			if q.Name == "slow-64.ok.test." {
				slow[latencyBucket(uint64(q.Micros))]++
			}
		}
	}
	if h.count() != uint64(answeredUDP) {
		t.Errorf("%d DNS durations over UDP, want %d (answered)", h.count(), answeredUDP)
	}
	// 64 ms is bucket 16 (≤ 65.536 ms); everything else here takes under 16 ms.
	inSlowBuckets := h.buckets[15] + h.buckets[16] + h.buckets[17]
	if inSlowBuckets != 3 {
		t.Errorf("%d DNS durations in buckets 15-17, want the 3 delayed ones (client buckets %v; kernel %v)", inSlowBuckets, slow, h.buckets)
	}
	for b, n := range slow {
		if got := h.buckets[b] + h.buckets[max(b-1, 0)]; got < uint64(n) {
			t.Errorf("client measured %d answers in bucket %d, the kernel %d there or one below", n, b, got)
		}
	}

	// Datagrams to and from port 53 are "dns"; so are the TCP connections past their handshake.
	flows, _ := drainFlowsByApp(t, nd.tr)
	for k := range inCgroups(flows, nd.cgA.ID, nd.cgB.ID) {
		if k.App != AppDNS && (k.Protocol == ipProtoUDP || k.App != AppNone) {
			t.Errorf("flow %+v: want dns", k)
		}
	}
}

// latencyBucket is latency_bucket_of (podflow.h): the smallest b with us <= 2^b.
func latencyBucket(us uint64) int {
	b := 0
	for us > 1<<b && b < LatencyBuckets-1 {
		b++
	}
	return b
}

// TestHTTPRequests sends a known mix of HTTP/1.1 requests over one
// keep-alive connection to a real net/http server: counts by method and
// status class are exact on both sides, the delayed responses' durations
// fall in their bucket, and a request the client gives up on (it closes
// the connection) counts as "none" on both sides.
func TestHTTPRequests(t *testing.T) {
	t.Run("IPv4", func(t *testing.T) { testHTTPRequests(t, false) })
	t.Run("IPv6", func(t *testing.T) { testHTTPRequests(t, true) })
}

func testHTTPRequests(t *testing.T, v6 bool) {
	const port = 8080
	a, b := v4OnlyA, v4OnlyB
	if v6 {
		a, b = v6OnlyA, v6OnlyB
	}
	nd := newNode(t, defaultConfig, a, b)
	addr := netip.AddrPortFrom(nd.lb.Addr(v6), port)
	srv := testnet.Start(t, nd.b, nd.cgB, "http-mix-serve", addr.String())
	plan := testnet.HTTPPlan{Requests: []testnet.HTTPPlanRequest{
		{Path: "/status/200", Count: 65},
		{Path: "/status/200?delay=20ms", Count: 5},
		{Path: "/status/404", Count: 20},
		{Path: "/status/500", Count: 10},
		{Method: "POST", Path: "/status/201", Body: 3000, Count: 3},
		{Method: "PUT", Path: "/status/204", Body: 10},
		{Method: "DELETE", Path: "/status/202"},
		{Method: "PATCH", Path: "/status/409", Body: 10},
		{Method: "OPTIONS", Path: "/status/204"},
		{Method: "HEAD", Path: "/status/301"},
		{Method: "PROPFIND", Path: "/status/207"},
		{Path: "/hang", CloseAfterMS: 100},
	}}
	res := testnet.HTTPMixGet(t, nd.a, nd.cgA, "http://"+addr.String(), plan)
	served := testnet.HTTPServeStop(t, srv)
	if res.Conns != 1 || served.Requests != 110 {
		t.Fatalf("client made %d connections, server answered %d requests: not the plan", res.Conns, served.Requests)
	}
	want := map[string]int{
		"GET/2xx": 70, "GET/4xx": 20, "GET/5xx": 10, "POST/2xx": 3, "PUT/2xx": 1, "DELETE/2xx": 1,
		"PATCH/4xx": 1, "OPTIONS/2xx": 1, "HEAD/3xx": 1, "other/2xx": 1, "GET/none": 1,
	}
	// The server's close after the client's reaches the drain shortly after.
	time.Sleep(200 * time.Millisecond)
	reqs, overflow := drainRequests(t, nd.tr)
	if got := overflow.Requests(); len(got) != 0 {
		t.Errorf("overflow %+v", got)
	}
	assertCounts(t, "client", byName(reqs, nd.cgA.ID), want)
	assertCounts(t, "server", byName(reqs, nd.cgB.ID), want)
	if ev := payloadEvents(t, nd.tr); len(ev) != 0 {
		t.Errorf("payload events %v, want none", ev)
	}

	lat := drainLatency(t, nd.tr)
	client := FlowKey{CgroupID: nd.cgA.ID, Local: nd.la.Addr(v6), Remote: nd.lb.Addr(v6), ServerPort: port, Protocol: ipProtoTCP, Role: RoleClient}
	server := FlowKey{CgroupID: nd.cgB.ID, Local: nd.lb.Addr(v6), Remote: nd.la.Addr(v6), ServerPort: port, Protocol: ipProtoTCP, Role: RoleServer}
	for _, k := range []FlowKey{client, server} {
		h := histogramOf(lat, HistHTTP, k)
		if h == nil {
			t.Fatalf("no HTTP durations for %+v", k)
		}
		// Every request with a response (all but /hang).
		if h.count() != 109 {
			t.Errorf("%s: %d HTTP durations, want 109", k.Role, h.count())
		}
		// 20 ms is bucket 15 (≤ 32.768 ms); the rest take well under 8 ms here.
		if n := h.buckets[14] + h.buckets[15] + h.buckets[16]; n != 5 {
			t.Errorf("%s: %d HTTP durations in buckets 14-16, want the 5 delayed ones: %v", k.Role, n, h.buckets)
		}
	}

	// The connection's bytes: its handshake under none, the rest http1.
	flows, _ := drainFlowsByApp(t, nd.tr)
	for k := range flows {
		if k.Protocol == ipProtoTCP && k.App != AppNone && k.App != AppHTTP1 {
			t.Errorf("flow %+v: want http1 (or none, for handshakes)", k)
		}
	}
	for _, k := range []FlowKey{client, server} {
		k.App = AppHTTP1
		if c := flows[k]; c.TxPackets == 0 || c.RxPackets == 0 {
			t.Errorf("no http1 traffic for %+v: %+v", k, c)
		}
	}
}

// appOf returns the application protocols of the TCP flows of the node's
// two cgroups on port, without the handshakes' "none".
func appsOf(t *testing.T, nd *node, port uint16) map[string]AppProtocol {
	t.Helper()
	time.Sleep(100 * time.Millisecond)
	flows, _ := drainFlowsByApp(t, nd.tr)
	out := map[string]AppProtocol{}
	for k := range flows {
		if k.Protocol != ipProtoTCP || k.ServerPort != port || k.App == AppNone {
			continue
		}
		side := k.Role.String()
		if prev, ok := out[side]; ok && prev != k.App {
			t.Errorf("%s side of port %d is both %s and %s", side, port, prev, k.App)
		}
		out[side] = k.App
	}
	return out
}

// TestAppProtocolDetection connects real clients to real servers — TLS,
// HTTP/2 with prior knowledge, Redis and PostgreSQL from Debian, DNS over
// TCP — and checks that each connection's flows, on both sides, carry its
// protocol, and that the encrypted and HTTP/2 ones count no HTTP/1.x
// request.
func TestAppProtocolDetection(t *testing.T) {
	nd := newNode(t, defaultConfig, v4OnlyA, v4OnlyB)
	b := nd.lb.Addr(false)
	check := func(name string, port uint16, want AppProtocol) {
		t.Helper()
		got := appsOf(t, nd, port)
		if got["client"] != want || got["server"] != want {
			t.Errorf("%s: client %s, server %s; want %s", name, got["client"], got["server"], want)
		}
	}

	tlsAddr := netip.AddrPortFrom(b, 8443).String()
	tlsSrv := testnet.Start(t, nd.b, nd.cgB, "tls-serve", tlsAddr)
	testnet.RunHelper(t, nd.a, nd.cgA, "tls-get", "https://"+tlsAddr+"/status/200", "5")
	tlsSrv.Stop()
	check("TLS", 8443, AppTLS)

	h2Addr := netip.AddrPortFrom(b, 8081).String()
	h2Srv := testnet.Start(t, nd.b, nd.cgB, "h2c-serve", h2Addr)
	testnet.RunHelper(t, nd.a, nd.cgA, "h2c-get", "http://"+h2Addr+"/status/200", "5")
	h2Srv.Stop()
	check("HTTP/2", 8081, AppHTTP2)

	redis := netip.AddrPortFrom(b, 6379)
	testnet.StartRedis(t, nd.b, nd.cgB, redis)
	if got := testnet.RedisCLI(t, nd.a, nd.cgA, redis, "SET", "k", "v"); got != "OK" {
		t.Fatalf("redis-cli SET: %q", got)
	}
	check("Redis", 6379, AppRedis)

	pg := netip.AddrPortFrom(b, 5432)
	testnet.StartPostgres(t, nd.b, nd.cgB, pg)
	if got := testnet.Psql(t, nd.a, nd.cgA, pg, "SELECT 6*7"); got != "42" {
		t.Fatalf("psql: %q", got)
	}
	check("PostgreSQL", 5432, AppPostgres)

	dnsAddr := netip.AddrPortFrom(b, 53).String()
	dnsSrv := testnet.Start(t, nd.b, nd.cgB, "dns-serve", dnsAddr)
	testnet.DNSAsk(t, nd.a, nd.cgA, dnsAddr, testnet.DNSPlan{Queries: []testnet.DNSPlanQuery{{Name: "ok.test.", Transport: "tcp", Count: 2}}})
	testnet.DNSServeStop(t, dnsSrv)
	check("DNS over TCP", 53, AppDNS)

	// None of them is HTTP/1.x; the DNS ones are DNS requests.
	reqs, _ := drainRequests(t, nd.tr)
	for k, n := range reqs {
		if k.Kind != RequestDNS {
			t.Errorf("%d %+v", n, k)
		}
	}
}

// TestAppProtocolOfOlderConnection: a connection established before the
// exporter started is "unknown", whatever it carries.
func TestAppProtocolOfOlderConnection(t *testing.T) {
	const port = 8091
	nd := newNet(t, v4OnlyA, v4OnlyB)
	dst := netip.AddrPortFrom(nd.lb.Addr(false), port).String()
	testnet.Start(t, nd.b, nd.cgB, "tcp-accept", dst)
	client := testnet.Start(t, nd.a, nd.cgA, "tcp-hold", dst, "-", strconv.Itoa(1000))
	client.WaitLine("connected")
	nd.load(t, defaultConfig)
	client.Continue()
	client.Wait()
	got := appsOf(t, nd, port)
	if got["client"] != AppUnknown || got["server"] != AppUnknown {
		t.Errorf("client %s, server %s; want unknown", got["client"], got["server"])
	}
}
