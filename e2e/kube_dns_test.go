// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// TestKubeDNSThroughClusterIP: web asks the cluster IP of service dns
// (port 53, DNAT'ed by the node to port 5353 of dns-0 or dns-1) from one
// UDP socket: 6 names that exist, 3 that do not, 2 that fail, and 1 the
// server drops. The node's NAT sends the socket to one backend; web's
// podflow_dns_requests_total names that pod and service, with the
// response codes and types the client saw, the dropped query a timeout;
// the backend's own series (server side, port 5353, one of --bpf.dns-ports)
// name web and count the same.
func TestKubeDNSThroughClusterIP(t *testing.T) {
	s := newServiceSetup(t, "dns-through-vip", "dns", "udp", netip.MustParseAddr("10.96.6.54"), 53, 5353, "dns-0", "dns-1")
	exp := s.exporter(t, "--collector.translation.netns=/run/netns/"+s.kn.node.NS.Name,
		"--bpf.dns-ports=53", "--bpf.dns-ports=5353", "--bpf.dns-timeout=1s")
	servers := map[*pod]*testnet.Proc{}
	for _, b := range s.backends {
		servers[b] = testnet.Start(t, b.net.NS, b.cg, "dns-serve", netip.AddrPortFrom(b.net.IP, s.target).String())
	}
	res := testnet.DNSAsk(t, s.web.net.NS, s.web.cg, netip.AddrPortFrom(s.vip, 53).String(), testnet.DNSPlan{
		TimeoutMS: 300, Queries: []testnet.DNSPlanQuery{
			{Name: "ok.test.", Count: 4}, {Name: "ok.test.", Type: "AAAA", Count: 2},
			{Name: "a.nx.test.", Count: 3}, {Name: "a.fail.test.", Count: 2}, {Name: "a.drop.test.", Count: 1},
		}})
	want := map[string]float64{"NOERROR/A": 4, "NOERROR/AAAA": 2, "NXDOMAIN/A": 3, "SERVFAIL/A": 2, "timeout/A": 1}
	got := 0
	for rcode, types := range res.Counts {
		for qtype, n := range types {
			got += n
			if want[rcode+"/"+qtype] != float64(n) {
				t.Fatalf("the client saw %v: not the plan", res.Counts)
			}
		}
	}
	if got != 12 {
		t.Fatalf("the client saw %v: not the plan", res.Counts)
	}
	var backend *pod
	for b, p := range servers {
		if r := testnet.DNSServeStop(t, p); r.Queries == 12 {
			backend = b
		} else if r.Queries != 0 {
			t.Fatalf("%s answered %d queries: one socket goes to one backend", b.obj.Name, r.Queries)
		}
	}
	if backend == nil {
		t.Fatal("no backend answered the 12 queries")
	}
	// The dropped query times out after 1s, at a drain.
	time.Sleep(1500 * time.Millisecond)
	_, fams := exp.scrape()
	client := with(s.toBackend(backend, "dns"), "protocol", "udp")
	server := map[string]string{"local_pod": backend.obj.Name, "role": "server", "remote_pod": s.web.obj.Name,
		"remote_workload": "web", "port": strconv.Itoa(int(s.target)), "protocol": "udp"}
	for side, labels := range map[string]map[string]string{"web (client)": client, backend.obj.Name + " (server)": server} {
		total := sumWhere(fams, "podflow_dns_requests_total", labels)
		if total != 12 {
			t.Errorf("%s: %v DNS requests, want 12", side, total)
		}
		for k, n := range want {
			rcode, qtype, _ := cut(k)
			if got := sumWhere(fams, "podflow_dns_requests_total", with(labels, "rcode", rcode, "qtype", qtype)); got != n {
				t.Errorf("%s: %s/%s %v, want %v", side, rcode, qtype, got, n)
			}
		}
	}
	// Nothing of web's named by the service alone, the world or unknown.
	if all := sumWhere(fams, "podflow_dns_requests_total", map[string]string{"local_pod": s.web.obj.Name}); all != 12 {
		t.Errorf("web's DNS requests: %v in all, want the 12 named by %s", all, backend.obj.Name)
	}
	var durations uint64
	for _, m := range fams["podflow_dns_request_duration_seconds"].GetMetric() {
		if labelsMatch(m, client) {
			durations += m.GetHistogram().GetSampleCount()
		}
	}
	if durations != 11 {
		t.Errorf("%d DNS durations for web, want 11 (the answered queries)", durations)
	}
}

// cut splits "a/b".
func cut(s string) (string, string, bool) {
	for i := range s {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
