// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package dashboards

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeNode is a collector that exposes what podflow_exporter exposes in
// Kubernetes mode (--kube.aggregation=workload) on a node with a known set
// of flows: counters grow at fixed rates from the first scrape, so every
// 5-minute rate Prometheus computes is the rate below.
//
// The flows (namespace/workload, bytes per second):
//
//	shop/web → service shop/db:80      client, 1000 sent, 5000 received, connects ok, retransmits, RTT
//	shop/web → StatefulSet shop/db:9   client, 100/50, connects refused (2/s of 3/s attempts), resets
//	shop/db ← shop/web:9               the server side of the above (in-cluster: not a map edge)
//	world → shop/web:443               server, 200 received, 300 sent
//	shop/web → kube-system/coredns:53  client, udp 10/20
//	host kubelet.service → shop/db     client, 5/5
//	node node-1 → kube-system/coredns  server, 2/2
//	shop/web → world corp-net          connect attempts only, all unreachable: no bytes, no map edge
//	__overflow__                       1 sent
//	shop/db drops udp from shop/web    NETFILTER_DROP 1 packet/s
//
// The flow and TCP families carry app_protocol: shop/web → service shop/db
// is http1 (90%) and unknown (10%, connections older than the exporter),
// world → shop/web is tls, DNS flows dns. DNS: shop/web asks coredns
// 8 queries/s, 12.5% SERVFAIL or timeout, 37.5% NXDOMAIN; coredns answers web
// and node-1. HTTP/1.x: shop/web → service shop/db 10 requests/s, 5% 5xx
// of the answered, and shop/db answers them; kubelet.service → shop/db.
type fakeNode struct {
	mu     sync.Mutex
	start  time.Time
	series []fakeSeries
}

type fakeSeries struct {
	name   string
	kind   string // counter, gauge or histogram
	labels map[string]string
	value  float64 // per second for counters and histograms, the level of a gauge
}

// flowLabels are the flow families' labels, in Kubernetes mode.
func flowLabels(ln, lw, lk, rn, rw, rk, rs, role, proto, port string) map[string]string {
	return map[string]string{
		"local_namespace": ln, "local_workload": lw, "local_kind": lk,
		"remote_namespace": rn, "remote_workload": rw, "remote_kind": rk, "remote_service": rs,
		"role": role, "protocol": proto, "port": port,
	}
}

func with(l map[string]string, k, v string) map[string]string {
	out := maps.Clone(l)
	out[k] = v
	return out
}

func newFakeNode() *fakeNode {
	n := &fakeNode{}
	add := func(name, kind string, l map[string]string, v float64) {
		n.series = append(n.series, fakeSeries{name, kind, l, v})
	}
	flow := func(l map[string]string, tx, rx float64) {
		add("podflow_flow_transmit_bytes_total", "counter", l, tx)
		add("podflow_flow_receive_bytes_total", "counter", l, rx)
		add("podflow_flow_transmit_packets_total", "counter", l, tx/100)
		add("podflow_flow_receive_packets_total", "counter", l, rx/100)
	}
	// The flow and TCP families carry app_protocol; a flow key whose
	// connections speak different protocols is one series per protocol.
	app := func(l map[string]string, p string) map[string]string { return with(l, "app_protocol", p) }
	webDBService := flowLabels("shop", "web", "Deployment", "shop", "db", "service", "db", "client", "tcp", "80")
	webDBPod := flowLabels("shop", "web", "Deployment", "shop", "db", "StatefulSet", "", "client", "tcp", "9")
	dbServer := flowLabels("shop", "db", "StatefulSet", "shop", "web", "Deployment", "", "server", "tcp", "9")
	worldWeb := flowLabels("shop", "web", "Deployment", "", "world", "world", "", "server", "tcp", "443")
	webDNS := flowLabels("shop", "web", "Deployment", "kube-system", "coredns", "Deployment", "kube-dns", "client", "udp", "53")
	kubelet := flowLabels("", "kubelet.service", "host", "shop", "db", "StatefulSet", "", "client", "tcp", "8080")
	nodeDNS := flowLabels("kube-system", "coredns", "Deployment", "", "node-1", "node", "", "server", "udp", "53")
	corpNet := flowLabels("shop", "web", "Deployment", "", "corp-net", "world", "", "client", "tcp", "443")
	overflow := map[string]string{}
	for k := range webDBService {
		overflow[k] = "__overflow__"
	}
	flow(app(webDBService, "http1"), 900, 4500)
	flow(app(webDBService, "unknown"), 100, 500)
	flow(app(webDBPod, "unknown"), 100, 50)
	flow(app(dbServer, "unknown"), 50, 100)
	flow(app(worldWeb, "tls"), 300, 200)
	flow(app(webDNS, "dns"), 10, 20)
	flow(app(kubelet, "http1"), 5, 5)
	flow(app(nodeDNS, "dns"), 2, 2)
	add("podflow_flow_transmit_bytes_total", "counter", app(overflow, "__overflow__"), 1)

	for _, c := range []struct {
		l                     map[string]string
		attempts, established float64
		failures              map[string]float64
	}{
		{app(webDBService, "http1"), 1, 1, nil},
		{app(webDBPod, "none"), 3, 1, map[string]float64{"refused": 2}},
		{app(kubelet, "http1"), 0.2, 0.2, nil},
		{app(corpNet, "none"), 0.5, 0, map[string]float64{"unreachable": 0.5}},
	} {
		add("podflow_tcp_connect_attempts_total", "counter", c.l, c.attempts)
		add("podflow_tcp_connect_established_total", "counter", c.l, c.established)
		for reason, v := range c.failures {
			add("podflow_tcp_connect_failures_total", "counter", with(c.l, "reason", reason), v)
		}
	}
	add("podflow_tcp_accepted_connections_total", "counter", app(dbServer, "unknown"), 1)
	add("podflow_tcp_retransmitted_segments_total", "counter", app(webDBService, "http1"), 0.5)
	add("podflow_tcp_resets_sent_total", "counter", app(dbServer, "unknown"), 2)
	add("podflow_tcp_resets_received_total", "counter", app(webDBPod, "unknown"), 2)
	add("podflow_tcp_rtt_seconds", "histogram", app(webDBService, "http1"), 20)
	add("podflow_tcp_connect_duration_seconds", "histogram", app(webDBService, "http1"), 1)

	// DNS, on the flow labels without app_protocol.
	dnsWeb := flowLabels("kube-system", "coredns", "Deployment", "shop", "web", "Deployment", "", "server", "udp", "53")
	dns := func(l map[string]string, rcode, qtype string, v float64) {
		add("podflow_dns_requests_total", "counter", with(with(l, "rcode", rcode), "qtype", qtype), v)
	}
	dns(webDNS, "NOERROR", "A", 4)
	dns(webDNS, "NXDOMAIN", "AAAA", 3)
	dns(webDNS, "SERVFAIL", "A", 0.5)
	dns(webDNS, "timeout", "A", 0.5)
	dns(dnsWeb, "NOERROR", "A", 4)
	dns(dnsWeb, "NXDOMAIN", "AAAA", 3)
	dns(dnsWeb, "SERVFAIL", "A", 0.5)
	dns(nodeDNS, "NOERROR", "PTR", 1)
	add("podflow_dns_request_duration_seconds", "histogram", webDNS, 7.5)
	add("podflow_dns_request_duration_seconds", "histogram", dnsWeb, 7.5)

	// HTTP/1.x: web → service db and db answering it, on port 80.
	dbHTTP := flowLabels("shop", "db", "StatefulSet", "shop", "web", "Deployment", "", "server", "tcp", "80")
	http := func(l map[string]string, method, class string, v float64) {
		add("podflow_http_requests_total", "counter", with(with(l, "method", method), "status_class", class), v)
	}
	http(webDBService, "GET", "2xx", 8)
	http(webDBService, "GET", "4xx", 1)
	http(webDBService, "POST", "5xx", 0.5)
	http(webDBService, "GET", "none", 0.5)
	http(dbHTTP, "GET", "2xx", 8)
	http(dbHTTP, "GET", "4xx", 1)
	http(dbHTTP, "POST", "5xx", 0.5)
	http(kubelet, "GET", "2xx", 0.2)
	add("podflow_http_request_duration_seconds", "histogram", webDBService, 9.5)
	add("podflow_http_request_duration_seconds", "histogram", dbHTTP, 9.5)
	dbDrop := flowLabels("shop", "db", "StatefulSet", "shop", "web", "Deployment", "", "server", "udp", "5353")
	add("podflow_drop_packets_total", "counter", with(dbDrop, "reason", "NETFILTER_DROP"), 1)
	add("podflow_drop_bytes_total", "counter", with(dbDrop, "reason", "NETFILTER_DROP"), 100)

	for _, p := range []string{"flows_ingress", "flows_egress", "tcp_state", "tcp_rtt", "tcp_retransmit",
		"tcp_reset_sent", "tcp_reset_received", "icmp_sent", "skb_drop"} {
		add("podflow_bpf_program_attached", "gauge", map[string]string{"program": p}, 1)
	}
	for _, m := range []string{"flows", "tcp_events", "latency", "drops"} {
		add("podflow_bpf_map_entries", "gauge", map[string]string{"map": m}, 100)
		add("podflow_bpf_map_max_entries", "gauge", map[string]string{"map": m}, 65536)
		for _, r := range []string{"full", "busy", "no_table", "other"} {
			add("podflow_bpf_map_update_failures_total", "counter", map[string]string{"map": m, "reason": r}, 0)
		}
	}
	for _, f := range []string{"podflow_flow_transmit_bytes_total", "podflow_tcp_rtt_seconds"} {
		l := map[string]string{"family": f}
		add("podflow_series", "gauge", l, 7)
		add("podflow_series_limit", "gauge", l, 5000)
		add("podflow_series_dropped_total", "counter", l, 0)
		add("podflow_series_expired_total", "counter", l, 0.01)
	}
	for _, c := range []string{"bpf", "flows", "tcp", "latency", "drops", "kube"} {
		add("podflow_scrape_collector_duration_seconds", "gauge", map[string]string{"collector": c}, 0.002)
		add("podflow_scrape_collector_success", "gauge", map[string]string{"collector": c}, 1)
	}
	add("podflow_kube_cache_synced", "gauge", nil, 1)
	for _, r := range []string{"pods", "services", "endpointslices", "nodes"} {
		add("podflow_kube_cache_objects", "gauge", map[string]string{"resource": r}, 3)
		add("podflow_kube_watch_errors_total", "counter", map[string]string{"resource": r}, 0)
	}
	for _, side := range []string{"local", "remote"} {
		for _, o := range []string{"resolved", "world", "unknown"} {
			add("podflow_kube_resolutions_total", "counter", map[string]string{"side": side, "outcome": o}, 3)
		}
	}
	return n
}

// Log2 bucket bounds of the latency histograms, 16 µs to 16.8 s.
var fakeBuckets = func() []float64 {
	var b []float64
	for v := 16e-6; v < 17; v *= 2 {
		b = append(b, v)
	}
	return b
}()

func (n *fakeNode) Describe(chan<- *prometheus.Desc) {} // unchecked: label sets vary

func (n *fakeNode) Collect(ch chan<- prometheus.Metric) {
	n.mu.Lock()
	if n.start.IsZero() {
		n.start = time.Now()
	}
	elapsed := time.Since(n.start).Seconds() + 1
	n.mu.Unlock()
	for _, s := range n.series {
		names := slices.Sorted(maps.Keys(s.labels))
		values := make([]string, len(names))
		for i, k := range names {
			values[i] = s.labels[k]
		}
		desc := prometheus.NewDesc(s.name, "synthetic "+s.name, names, nil)
		switch s.kind {
		case "counter":
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, s.value*elapsed, values...)
		case "gauge":
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, s.value, values...)
		case "histogram":
			// Samples spread evenly over the buckets from 1 ms up.
			count := uint64(s.value * elapsed)
			buckets := map[float64]uint64{}
			for i, le := range fakeBuckets {
				buckets[le] = count * uint64(min(max(i-6, 0), 10)) / 10
			}
			ch <- prometheus.MustNewConstHistogram(desc, count, float64(count)*0.01, buckets, values...)
		}
	}
}
