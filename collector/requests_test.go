// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/naming"
)

var (
	dnsFamilies  = []string{"podflow_dns_requests_total", "podflow_dns_request_duration_seconds"}
	httpFamilies = []string{"podflow_http_requests_total", "podflow_http_request_duration_seconds"}
)

// dnsQuery and httpRequest are request kinds of the requests table.
func dnsQuery(rcode uint8, q bpf.DNSQType) bpf.Request {
	return bpf.Request{Kind: bpf.RequestDNS, RCode: rcode, QType: q}
}

func httpRequest(m bpf.HTTPMethod, class uint8) bpf.Request {
	return bpf.Request{Kind: bpf.RequestHTTP, Method: m, StatusClass: class}
}

// requestOverflow returns the kernel's overflow of the requests table
// holding counts, in its code layout (DNS_REQUEST, HTTP_REQUEST in
// podflow.h); it fails the test when bpf decodes a code otherwise.
func requestOverflow(t *testing.T, counts map[bpf.Request]uint64) bpf.RequestOverflow {
	t.Helper()
	var o bpf.RequestOverflow
	for r, n := range counts {
		code := int(r.RCode)*8 + int(r.QType)
		if r.Kind == bpf.RequestHTTP {
			code = (bpf.DNSTimeout+1)*8 + int(r.Method)*8 + int(r.StatusClass)
		}
		o.Codes[code] = n
	}
	got := map[bpf.Request]uint64{}
	for _, inc := range o.Requests() {
		got[inc.Request] = inc.Count
	}
	if len(got) != len(counts) {
		t.Fatalf("overflow decodes as %v, want %v", got, counts)
	}
	for r, n := range counts {
		if got[r] != n {
			t.Fatalf("overflow decodes as %v, want %v", got, counts)
		}
	}
	return o
}

// dnsServer is the DNS server addrD, as web's client flow sees it.
func dnsServer() bpf.FlowKey {
	return bpf.FlowKey{CgroupID: 1, Local: addrWeb, Remote: addrD, ServerPort: 53, Protocol: 17, Role: bpf.RoleClient}
}

func requestsTestPodflow(t *testing.T, maxSeries int, collectors ...string) (*fakeSource, *prometheus.Registry) {
	src, clk := newFakeSource(), &clock{now: time.Unix(1_800_000_000, 0)}
	res := newResolver()
	res.remote[addrD] = naming.Peer{Workload: "resolver", Kind: "private"}
	_, reg := newTestPodflow(t, testConfig(maxSeries, collectors...), src, res, clk)
	return src, reg
}

// The dns collector counts the DNS requests of the requests table by
// response code (timeout too) and question type, client and server side,
// and their durations from the latency table's DNS histogram; HTTP
// requests, other histograms and other kinds' overflow are not its. The
// kernel's overflow keeps its rcode and qtype labels.
func TestDNSRequests(t *testing.T) {
	src, reg := requestsTestPodflow(t, 100, "dns")
	client := dnsServer()
	server := bpf.FlowKey{CgroupID: 1, Local: addrWeb, Remote: addrC, ServerPort: 53, Protocol: 17, Role: bpf.RoleServer}
	src.addRequest(client, dnsQuery(0, bpf.QTypeA), 5)
	src.addRequest(client, dnsQuery(3, bpf.QTypeAAAA), 2)
	src.addRequest(client, dnsQuery(bpf.DNSTimeout, bpf.QTypeA), 1)
	src.addRequest(client, dnsQuery(13, bpf.QTypeOther), 1) // unassigned: other
	src.addRequest(server, dnsQuery(2, bpf.QTypePTR), 4)
	src.addRequest(webTo(addrDB), httpRequest(bpf.MethodGet, 2), 7)
	src.requests.over = requestOverflow(t, map[bpf.Request]uint64{
		dnsQuery(0, bpf.QTypeA): 3, dnsQuery(5, bpf.QTypeTXT): 1, httpRequest(bpf.MethodPost, 5): 4,
	})
	src.addLatency(client, bpf.HistDNS, 10, bucket(5, 5000))
	src.addLatency(client, bpf.HistDNS, 12, bucket(2, 7000))
	src.addLatency(server, bpf.HistDNS, 6, bucket(4, 200))
	src.addLatency(client, bpf.HistRTT, 8, bucket(1, 200))
	src.addLatency(webTo(addrDB), bpf.HistHTTP, 8, bucket(1, 200))
	var over bpf.LatencyOverflow
	*over.Bucket(bpf.HistDNS, 9) = bucket(3, 1200)
	*over.Bucket(bpf.HistHTTP, 9) = bucket(1, 400)
	src.latency.over = over
	assertGolden(t, reg, "dns_requests", append(dnsFamilies, httpFamilies[0], httpFamilies[1], "podflow_tcp_rtt_seconds")...)

	// A second drain adds to the first.
	src.addRequest(client, dnsQuery(0, bpf.QTypeA), 1)
	if got, _ := gathered(t, reg, "podflow_dns_requests_total", map[string]string{"rcode": "NOERROR", "qtype": "A", "role": "client"}); got != 6 {
		t.Errorf("NOERROR A after two drains = %v, want 6", got)
	}
}

// The http collector counts HTTP/1.x requests by method and status class
// (none: closed before a response), client and server side, and their
// durations; with a budget of 2 label sets, the third goes to the
// __overflow__ series of its method and status class.
func TestHTTPRequests(t *testing.T) {
	src, reg := requestsTestPodflow(t, 2, "http")
	client := webTo(addrDB)
	client.ServerPort = 80
	server := bpf.FlowKey{CgroupID: 1, Local: addrWeb, Remote: addrC, ServerPort: 8080, Protocol: 6, Role: bpf.RoleServer}
	src.addRequest(client, httpRequest(bpf.MethodGet, 2), 70)
	src.addRequest(client, httpRequest(bpf.MethodGet, 2), 1) // a second increment of one kind
	src.addRequest(server, httpRequest(bpf.MethodPost, 4), 20)
	src.addRequest(server, httpRequest(bpf.MethodOther, 0), 1) // beyond the budget
	src.addRequest(dnsServer(), dnsQuery(0, bpf.QTypeA), 9)
	src.requests.over = requestOverflow(t, map[bpf.Request]uint64{
		httpRequest(bpf.MethodDelete, 5): 2, httpRequest(bpf.MethodOther, 0): 3, dnsQuery(3, bpf.QTypeA): 1,
	})
	src.addLatency(client, bpf.HistHTTP, 14, bucket(70, 1_400_000))
	src.addLatency(server, bpf.HistHTTP, 20, bucket(20, 20_000_000))
	src.addLatency(dnsServer(), bpf.HistDNS, 10, bucket(9, 9000))
	assertGolden(t, reg, "http_requests", append(httpFamilies, dnsFamilies[0], dnsFamilies[1],
		"podflow_series", "podflow_series_dropped_total")...)
}

// The dns and http collectors share the requests table: each scrape drains
// it once, each collector taking its kind.
func TestRequestsTableDrainedOnce(t *testing.T) {
	src, reg := requestsTestPodflow(t, 100, "dns", "http")
	for scrape := 1; scrape <= 2; scrape++ {
		src.addRequest(dnsServer(), dnsQuery(0, bpf.QTypeA), 2)
		src.addRequest(webTo(addrDB), httpRequest(bpf.MethodGet, 2), 3)
		if got := familySum(t, reg, "podflow_dns_requests_total"); got != float64(2*scrape) {
			t.Errorf("scrape %d: %v DNS requests, want %d", scrape, got, 2*scrape)
		}
		if got := familySum(t, reg, "podflow_http_requests_total"); got != float64(3*scrape) {
			t.Errorf("scrape %d: %v HTTP requests, want %d", scrape, got, 3*scrape)
		}
	}
	if src.requests.drains != 4 {
		t.Errorf("requests table drained %d times for 4 scrapes", src.requests.drains)
	}
}

// Two kernel flows that differ by their application protocol are two
// series of the flows and TCP families (app_protocol); the latency
// families have no app_protocol.
func TestAppProtocolLabel(t *testing.T) {
	src, reg := requestsTestPodflow(t, 100, "flows", "tcp", "latency")
	k := webTo(addrDB)
	for _, app := range []bpf.AppProtocol{bpf.AppNone, bpf.AppHTTP1, bpf.AppTLS} {
		k.App = app
		src.addFlow(k, bpf.FlowCounters{TxBytes: 100 + uint64(app), TxPackets: 1})
		src.addTCP(k, tcpEvents(map[bpf.TCPEvent]uint64{bpf.TCPRetransmit: 1 + uint64(app)}))
	}
	src.addFlow(bpf.FlowKey{CgroupID: 1, Local: addrWeb, Remote: netip.MustParseAddr("10.0.0.9"), ServerPort: 6000, Protocol: 17,
		Role: bpf.RoleClient, App: bpf.AppUnknown}, bpf.FlowCounters{TxBytes: 9, TxPackets: 1})
	src.addLatency(webTo(addrDB), bpf.HistRTT, 8, bucket(1, 200))
	assertGolden(t, reg, "app_protocol", "podflow_flow_transmit_bytes_total", "podflow_tcp_retransmitted_segments_total", "podflow_tcp_rtt_seconds")
}

// With --no-collector.flows.app-protocol a flow's protocols are one
// series, without the label: the sum of what each protocol counted.
func TestWithoutAppProtocol(t *testing.T) {
	src, clk := newFakeSource(), &clock{now: time.Unix(1_800_000_000, 0)}
	pcfg := pipelineConfig()
	pcfg.AppProtocol = false
	_, reg := newTestPodflowWith(t, testConfig(100, "flows", "tcp"), pcfg, src, newResolver(), clk)
	k := webTo(addrDB)
	for _, app := range []bpf.AppProtocol{bpf.AppNone, bpf.AppHTTP1, bpf.AppTLS} {
		k.App = app
		src.addFlow(k, bpf.FlowCounters{TxBytes: 100 + uint64(app), TxPackets: 1})
		src.addTCP(k, tcpEvents(map[bpf.TCPEvent]uint64{bpf.TCPRetransmit: 1 + uint64(app)}))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "app_protocol" {
					t.Errorf("%s has app_protocol: %v", mf.GetName(), m.GetLabel())
				}
			}
		}
	}
	for family, want := range map[string]float64{"podflow_flow_transmit_bytes_total": 304, "podflow_tcp_retransmitted_segments_total": 7} {
		if got, ok := gathered(t, reg, family, map[string]string{"remote_workload": "db"}); !ok || got != want {
			t.Errorf("%s: %v (found %v), want %v in one series", family, got, ok, want)
		}
	}
}
