// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// TestKubeTranslationTCP: 40 connections from web to the cluster IP of
// service db, each sent by the node's DNAT to one of two backends (port 80
// to 8080). With translation, web's flows name each backend pod, with
// remote_service db and port 8080: each backend's series carries exactly
// what its link carried and as many connects as it accepted, their sum is
// what web's link carried, and no series names the service, world or
// unknown. Exporters whose connection tracking has no entries (their own
// network namespace), is unavailable, or that do not translate, name the
// same traffic once, by the service, on port 80.
func TestKubeTranslationTCP(t *testing.T) {
	const conns, size = 40, 1000
	s := newServiceSetup(t, "translate-tcp", "db", "tcp", netip.MustParseAddr("10.96.6.80"), 80, 8080, "db-0", "db-1")
	exporters := map[string]*exporter{
		"translated":  s.exporter(t, "--collector.translation.netns=/run/netns/"+s.kn.node.NS.Name),
		"no entry":    s.exporter(t),
		"disabled":    s.exporter(t, "--no-collector.translation"),
		"unavailable": s.exporterWithoutSysAdmin(t, "--collector.translation.netns=/run/netns/"+s.kn.node.NS.Name),
	}
	webBefore := linkStats(s.web)
	truth, accepted := s.serve(t, s.web, conns, size, s.backends...)
	webTruth := l3(linkStats(s.web).Sub(webBefore))
	t.Logf("backends served %d and %d connections", accepted[s.backends[0]], accepted[s.backends[1]])

	text, fams := exporters["translated"].scrape()
	var sum wire
	for _, b := range s.backends {
		got := flowValues(fams, s.toBackend(b, "db"))
		if got != truth[b] {
			t.Errorf("web to %s: exporter %+v, %s's link %+v", b.obj.Name, got, b.obj.Name, truth[b])
		}
		sum = sum.add(got)
		for _, family := range []string{"podflow_tcp_connect_attempts_total", "podflow_tcp_connect_established_total"} {
			if got := sumWhere(fams, family, s.toBackend(b, "db")); got != float64(accepted[b]) {
				t.Errorf("%s to %s = %v, it accepted %d", family, b.obj.Name, got, accepted[b])
			}
		}
		server := map[string]string{"local_pod": b.obj.Name, "remote_pod": s.web.obj.Name, "role": "server", "port": "8080"}
		if got := sumWhere(fams, "podflow_tcp_accepted_connections_total", server); got != float64(accepted[b]) {
			t.Errorf("%s's accepted connections = %v, it accepted %d", b.obj.Name, got, accepted[b])
		}
	}
	if sum != webTruth || flowValues(fams, s.webClient()) != webTruth {
		t.Errorf("web's client series: backends sum to %+v, all %+v; web's link %+v", sum, flowValues(fams, s.webClient()), webTruth)
	}
	expectNoOtherRemote(t, "translated", fams, s.web.obj.Name)
	promtoolCheck(t, text)
	// Self-metrics are read concurrently with the flows of a scrape: the
	// next one has this one's lookups.
	_, fams = exporters["translated"].scrape()
	if got := sumWhere(fams, "podflow_translation_lookups_total", map[string]string{"outcome": "translated"}); got != conns {
		t.Errorf("%v connections translated, want %d", got, conns)
	}

	for _, name := range []string{"no entry", "disabled", "unavailable"} {
		_, fams := exporters[name].scrape()
		if got := flowValues(fams, s.webClient()); got != webTruth {
			t.Errorf("%s: web's client series %+v, its link %+v", name, got, webTruth)
		}
		if got := flowValues(fams, s.toService("db")); got != webTruth {
			t.Errorf("%s: web to service db %+v, web's link %+v", name, got, webTruth)
		}
		if got := sumWhere(fams, "podflow_tcp_connect_established_total", s.toService("db")); got != conns {
			t.Errorf("%s: %v connects to service db, want %d", name, got, conns)
		}
	}
	for name, c := range map[string]struct {
		family string
		labels map[string]string
		want   float64
	}{
		"no entry":    {"podflow_translation_lookups_total", map[string]string{"outcome": "not_found"}, conns},
		"unavailable": {"podflow_translation_available", nil, 0},
	} {
		_, fams := exporters[name].scrape()
		if got := value(t, fams, c.family, c.labels); got != c.want {
			t.Errorf("%s: %s = %v, want %v", name, c.family, got, c.want)
		}
	}
	if _, fams := exporters["disabled"].scrape(); fams["podflow_translation_available"] != nil {
		t.Error("disabled: translation self-metrics exported")
	}
	if log := exporters["unavailable"].log.String(); strings.Count(log, "connection tracking unavailable") != 1 {
		t.Errorf("unavailable: want the reason logged once:\n%s", log)
	}
}

// TestKubeTranslationUDP: datagrams from 16 sockets of web to the cluster
// IP of service dns (UDP 53 to 5353), each socket sent by the DNAT to one
// of two backends: each backend's series counts exactly the datagrams it
// received, named by the pod, remote_service dns and port 5353. The
// node's connection tracking forgets the sockets (UDP timeout 3 s here,
// 30 s by default) before the scrape: the exporter translated each within
// a second of its first datagram.
func TestKubeTranslationUDP(t *testing.T) {
	const sockets, datagrams, size = 16, 10, 100
	s := newServiceSetup(t, "translate-udp", "dns", "udp", netip.MustParseAddr("10.96.6.53"), 53, 5353, "dns-0", "dns-1")
	s.kn.node.NS.Sysctl("net.netfilter.nf_conntrack_udp_timeout", "3")
	s.kn.node.NS.Sysctl("net.netfilter.nf_conntrack_udp_timeout_stream", "3")
	exp := s.exporter(t, "--collector.translation.netns=/run/netns/"+s.kn.node.NS.Name)
	counters := map[*pod]*testnet.Proc{}
	before := map[*pod]testnet.LinkStats{}
	for _, b := range s.backends {
		counters[b] = testnet.Start(t, b.net.NS, b.cg, "udp-count", netip.AddrPortFrom(b.net.IP, s.target).String())
		before[b] = linkStats(b)
	}
	dst := strings.TrimSuffix(strings.Repeat(netip.AddrPortFrom(s.vip, 53).String()+",", sockets), ",")
	testnet.RunHelper(t, s.web.net.NS, s.web.cg, "udp-send", dst, strconv.Itoa(datagrams), strconv.Itoa(size))
	for deadline := time.Now().Add(15 * time.Second); strings.Contains(s.kn.node.NS.Run("conntrack", "-L", "-p", "udp"), "dport=53"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the node's connection tracking still has the sockets after 15s")
		}
	}
	received := 0
	_, fams := exp.scrape()
	for _, b := range s.backends {
		n := counters[b].StopServed().Datagrams
		received += n
		want := wire{txBytes: float64(n * (size + 28)), txPackets: float64(n)}
		if link := l3(linkStats(b).Sub(before[b])).peer(); link != want {
			t.Errorf("%s received %d datagrams, its link carried %+v", b.obj.Name, n, link)
		}
		if got := flowValues(fams, with(s.toBackend(b, "dns"), "protocol", "udp")); got != want {
			t.Errorf("web to %s: %+v, want %+v (%d datagrams)", b.obj.Name, got, want, n)
		}
		t.Logf("%s received %d datagrams", b.obj.Name, n)
	}
	if received != sockets*datagrams {
		t.Errorf("backends received %d datagrams, web sent %d", received, sockets*datagrams)
	}
	expectNoOtherRemote(t, "UDP", fams, s.web.obj.Name)
	_, fams = exp.scrape()
	if got := value(t, fams, "podflow_translation_lookups_total", map[string]string{"outcome": "translated"}); got != sockets {
		t.Errorf("%v sockets translated, want %d", got, sockets)
	}
}

// TestKubeTranslationBackendDeleted: backend db-1 is deleted (and taken out
// of the DNAT, as kube-proxy would) after serving connections. What it
// served before the scrape that preceded its deletion stays on its series,
// which stops growing; what it served after that scrape is drained once it
// is gone, when its address names no pod: that traffic is named by the
// service (port 80), as when connection tracking has no entry. Nothing is
// counted twice or lost: web's series add up to web's link.
func TestKubeTranslationBackendDeleted(t *testing.T) {
	const conns, size = 20, 1000
	s := newServiceSetup(t, "translate-del", "db", "tcp", netip.MustParseAddr("10.96.6.81"), 80, 8080, "db-0", "db-1")
	exp := s.exporter(t, "--collector.translation.netns=/run/netns/"+s.kn.node.NS.Name)
	db0, db1 := s.backends[0], s.backends[1]
	webBefore := linkStats(s.web)

	first, _ := s.serve(t, s.web, conns, size, db0, db1)
	_, fams := exp.scrape()
	for _, b := range s.backends {
		if got := flowValues(fams, s.toBackend(b, "db")); got != first[b] {
			t.Errorf("before the deletion, web to %s: %+v, its link %+v", b.obj.Name, got, first[b])
		}
	}

	second, accepted := s.serve(t, s.web, conns, size, db0, db1)
	pods := value(t, fams, "podflow_kube_cache_objects", map[string]string{"resource": "pods"})
	s.kn.node.NS.Run("iptables", "-t", "nat", "-F", "PREROUTING")
	s.kn.node.NS.Run("iptables", "-t", "nat", "-F", "OUTPUT")
	s.kn.node.Service(s.vip, 80, "tcp", netip.AddrPortFrom(db0.net.IP, s.target))
	s.kn.objs.DeletePod(s.kn.ns, db1.obj.Name)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, f := exp.scrape(); value(t, f, "podflow_kube_cache_objects", map[string]string{"resource": "pods"}) == pods-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the exporter's cache still has db-1 after 10s")
		}
	}
	third, _ := s.serve(t, s.web, conns, size, db0)

	_, fams = exp.scrape()
	want := map[string]wire{
		"db-0 (all three rounds)":          first[db0].add(second[db0]).add(third[db0]),
		"db-1 (the first round)":           first[db1],
		"service db (db-1's second round)": second[db1],
	}
	got := map[string]wire{
		"db-0 (all three rounds)":          flowValues(fams, s.toBackend(db0, "db")),
		"db-1 (the first round)":           flowValues(fams, s.toBackend(db1, "db")),
		"service db (db-1's second round)": flowValues(fams, s.toService("db")),
	}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("web to %s: %+v, want %+v", k, got[k], want[k])
		}
	}
	if c := sumWhere(fams, "podflow_tcp_connect_established_total", s.toService("db")); c != float64(accepted[db1]) {
		t.Errorf("connects to service db = %v, db-1 accepted %d in the second round", c, accepted[db1])
	}
	if all, link := flowValues(fams, s.webClient()), l3(linkStats(s.web).Sub(webBefore)); all != link {
		t.Errorf("web's client series add up to %+v, its link carried %+v", all, link)
	}
}

// TestKubeTranslationHostNetwork: a hostNetwork pod connects to the
// service from the node's own network namespace, where the DNAT (OUTPUT)
// rewrites its packets before the exporter's hook sees them, but not its
// socket, nor the replies (un-NATed before they reach it). Its flows name
// each backend as a pod's do, both ways, and never the service.
func TestKubeTranslationHostNetwork(t *testing.T) {
	const conns, size = 20, 1000
	s := newServiceSetup(t, "translate-host", "db", "tcp", netip.MustParseAddr("10.96.6.82"), 80, 8080, "db-0", "db-1")
	agent := s.kn.hostNetworkPod("agent-q8z2m", "DaemonSet", "agent")
	exp := s.exporter(t, "--collector.translation.netns=/run/netns/"+s.kn.node.NS.Name)
	truth, accepted := s.serve(t, agent, conns, size, s.backends...)
	_, fams := exp.scrape()
	for _, b := range s.backends {
		labels := map[string]string{"local_pod": agent.obj.Name, "role": "client", "remote_pod": b.obj.Name,
			"remote_kind": "StatefulSet", "remote_service": "db", "port": "8080"}
		if got := flowValues(fams, labels); got != truth[b] {
			t.Errorf("agent to %s: %+v, its link %+v", b.obj.Name, got, truth[b])
		}
		if got := sumWhere(fams, "podflow_tcp_connect_established_total", labels); got != float64(accepted[b]) {
			t.Errorf("agent's connects to %s = %v, it accepted %d", b.obj.Name, got, accepted[b])
		}
	}
	expectNoOtherRemote(t, "hostNetwork", fams, agent.obj.Name)
}
