// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/dashboards"
	"github.com/podflow/podflow_exporter/internal/testnet"
	"github.com/podflow/podflow_exporter/internal/testtools"
	"github.com/podflow/podflow_exporter/live"
)

// rulesFile is the rule file the PrometheusRule and the Helm chart embed.
const rulesFile = "../deploy/rules/podflow_exporter.rules.yml"

// TestPrometheusAlertsAndDashboards runs the shipped rules and dashboards
// against a real Prometheus scraping the real exporter on a simulated node:
// refused connects from web to db make the headline alert pending (or
// firing); traffic of every kind the dashboards show makes every recording
// rule and every dashboard query return data.
func TestPrometheusAlertsAndDashboards(t *testing.T) {
	kn := newKubeNode(t, "shop")
	web := kn.pod("web-7d9c8b6f5-x2k4p", "ReplicaSet", "web-7d9c8b6f5", map[string]string{"pod-template-hash": "7d9c8b6f5"})
	db := kn.pod("db-0", "StatefulSet", "db", nil)
	dbAddr := func(port int) string { return netip.AddrPortFrom(db.net.IP, uint16(port)).String() }

	// Service db: its cluster IP leads to db-0:8080 through the node's NAT.
	vip := netip.MustParseAddr("10.96.77.10")
	kn.objs.Service(kn.ns, "db", vip, 80)
	kn.objs.EndpointSlice(kn.ns, "db", db.net.IP)
	kn.node.Service(vip, 80, "tcp", netip.AddrPortFrom(db.net.IP, 8080))

	// db's firewall: UDP 5353 dropped (drops by reason), TCP 7001
	// blackholed (connect timeouts), every 20th segment to 7002 lost
	// (retransmits). web gives up a connect after one SYN retry (3 s).
	db.net.NS.Run("iptables", "-A", "INPUT", "-p", "udp", "--dport", "5353", "-j", "DROP")
	db.net.NS.Run("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "7001", "-j", "DROP")
	db.net.NS.Run("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "7002",
		"-m", "statistic", "--mode", "nth", "--every", "20", "--packet", "0", "-j", "DROP")
	web.net.NS.Sysctl("net.ipv4.tcp_syn_retries", "1")

	// Servers for every round, and the last one after the alert.
	const rounds = 60
	for _, port := range []int{8080, 7002} {
		testnet.Start(t, db.net.NS, db.cg, "tcp-serve", dbAddr(port), strconv.Itoa(rounds+1))
	}
	testnet.Start(t, db.net.NS, db.cg, "tcp-echo", dbAddr(7000), strconv.Itoa(rounds+1))
	// db also answers DNS (53) and HTTP/1.1 (8081): the DNS and HTTP rules and panels.
	testnet.Start(t, db.net.NS, db.cg, "dns-serve", dbAddr(53))
	testnet.Start(t, db.net.NS, db.cg, "http-mix-serve", dbAddr(8081))

	exp := kn.exporter()
	waitSynced(t, exp)
	prom := testtools.StartPrometheus(t, strings.TrimPrefix(exp.url, "http://"), rulesFile)
	waitTargetUp(t, prom)

	// Two connects time out in the background (about 3 s each).
	timeouts := testnet.Start(t, web.net.NS, web.cg, "tcp-connect", dbAddr(7001), "2")

	// Rounds of traffic until the headline alert is pending or firing:
	// rate() needs the failures to keep growing after Prometheus first saw
	// the series.
	var headline *testtools.Alert
	deadline := time.Now().Add(2 * time.Minute)
	for round := 0; headline == nil; round++ {
		if round == rounds || time.Now().After(deadline) {
			alerts, _ := prom.Alerts()
			t.Fatalf("PodflowTCPConnectFailuresHigh not pending after %d rounds; alerts: %+v", round, alerts)
		}
		trafficRound(t, web, db, vip, dbAddr)
		alerts, err := prom.Alerts()
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range alerts {
			l := a.Labels
			if l["alertname"] == "PodflowTCPConnectFailuresHigh" && l["local_workload"] == "web" &&
				l["remote_workload"] == "db" && l["reason"] == "refused" && (a.State == "pending" || a.State == "firing") {
				headline = &alerts[i]
			}
		}
	}
	t.Logf("headline alert %s: %v %v", headline.State, headline.Labels, headline.Annotations)
	if !strings.Contains(headline.Annotations["summary"]+headline.Annotations["description"], "refused") {
		t.Errorf("the alert's annotations do not name the reason: %v", headline.Annotations)
	}
	for _, a := range []string{"summary", "description", "runbook_url"} {
		if headline.Annotations[a] == "" {
			t.Errorf("the alert has no %s", a)
		}
	}
	if res := timeouts.Wait(); res != `{"timeout":2}` {
		t.Errorf("connects to the blackholed port: %s", res)
	}
	// One more round, then two evaluations, so the timeouts' series have
	// two samples in every window.
	trafficRound(t, web, db, vip, dbAddr)
	time.Sleep(3 * time.Second)

	t.Run("rules", func(t *testing.T) { checkRules(t, prom) })
	t.Run("dashboards", func(t *testing.T) { checkDashboards(t, prom) })
	t.Run("exposition", func(t *testing.T) {
		text, _ := exp.scrape()
		promtoolCheck(t, text)
	})
	t.Run("cluster live view", func(t *testing.T) { checkClusterLiveView(t, kn, exp, prom) })
}

// checkClusterLiveView: an exporter given the Prometheus URL serves the
// cluster-wide map from the recording rules — web→db with the rates
// Prometheus has, and refused connects — and names its nodes as the node
// scope does.
func checkClusterLiveView(t *testing.T, kn *kubeNode, exp *exporter, prom *testtools.Prometheus) {
	node := getLiveSnapshot(t, exp.url+"/api/v1/flows?top=0")
	if node.ClusterAvailable {
		t.Error("cluster_available without --web.live-view.prometheus-url")
	}
	viewer := kn.exporter("--web.live-view.prometheus-url=" + prom.URL())
	edge := `{local_workload="web",remote_workload="db",remote_service="",role="client"}`
	before := ruleValue(t, prom, "edge:podflow_flow_transmit_bytes:rate5m"+edge)
	cluster := getLiveSnapshot(t, viewer.url+"/api/v1/flows?scope=cluster&top=0")
	after := ruleValue(t, prom, "edge:podflow_flow_transmit_bytes:rate5m"+edge)
	if cluster.Scope != "cluster" || !cluster.ClusterAvailable {
		t.Fatalf("scope %q, cluster_available %v", cluster.Scope, cluster.ClusterAvailable)
	}
	var found *live.Edge
	for i, e := range cluster.Edges {
		if e.Labels["local_workload"] == "web" && e.Labels["remote_workload"] == "db" && e.Labels["remote_service"] == "" && e.Labels["role"] == "client" {
			found = &cluster.Edges[i]
		}
	}
	if found == nil {
		t.Fatalf("no web→db client edge in the cluster map: %+v", cluster.Edges)
	}
	if r := found.Rate.TransmitBytes; r < min(before, after) || r > max(before, after) || r == 0 {
		t.Errorf("cluster map: web→db %v B/s, Prometheus said %v then %v", r, before, after)
	}
	if found.Rate.ConnectAttempts == 0 || found.Rate.ConnectFailures["refused"] == 0 {
		t.Errorf("cluster map: web→db connects %v/s, refused %v/s; want both above 0", found.Rate.ConnectAttempts, found.Rate.ConnectFailures)
	}
	for _, e := range node.Edges {
		if e.Labels["local_workload"] == "web" && e.Labels["remote_workload"] == "db" && e.Local.ID != found.Local.ID {
			t.Errorf("web is node %q in the node map, %q in the cluster map", e.Local.ID, found.Local.ID)
		}
	}
	checkClusterPage(t, viewer, found)
}

// ruleValue is the one sample expr returns now.
func ruleValue(t *testing.T, prom *testtools.Prometheus, expr string) float64 {
	t.Helper()
	v, err := prom.Query(expr)
	if err != nil || len(v) != 1 {
		t.Fatalf("%s: %d samples, %v", expr, len(v), err)
	}
	f, err := v[0].Float()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// trafficRound sends web→db traffic of every kind the dashboards show:
// refused connects (failures, resets both ways), a transfer through the
// service (bytes, connect latency), a lossy transfer (retransmits), an echo
// exchange (RTT samples), datagrams db's firewall drops, DNS queries (some
// NXDOMAIN and SERVFAIL) and HTTP requests (a 404 and a 500).
func trafficRound(t *testing.T, web, db *pod, vip netip.Addr, dbAddr func(int) string) {
	t.Helper()
	if res := testnet.RunHelper(t, web.net.NS, web.cg, "tcp-connect", dbAddr(9), "20"); res != `{"refused":20}` {
		t.Fatalf("connects to a closed port: %s", res)
	}
	testnet.RunHelper(t, web.net.NS, web.cg, "tcp-send", netip.AddrPortFrom(vip, 80).String(), "100000")
	testnet.RunHelper(t, web.net.NS, web.cg, "tcp-send", dbAddr(7002), "1000000")
	testnet.RunHelper(t, web.net.NS, web.cg, "tcp-pingpong", dbAddr(7000), "20", "100")
	testnet.RunHelper(t, web.net.NS, web.cg, "udp-send", dbAddr(5353), "10", "100")
	testnet.DNSAsk(t, web.net.NS, web.cg, dbAddr(53), testnet.DNSPlan{Queries: []testnet.DNSPlanQuery{
		{Name: "ok.test.", Count: 8}, {Name: "ok.test.", Type: "AAAA", Count: 2},
		{Name: "a.nx.test.", Count: 2}, {Name: "a.fail.test.", Count: 1},
	}})
	testnet.HTTPMixGet(t, web.net.NS, web.cg, "http://"+dbAddr(8081), testnet.HTTPPlan{Requests: []testnet.HTTPPlanRequest{
		{Path: "/status/200", Count: 8}, {Path: "/status/404"}, {Path: "/status/500"},
	}})
}

// waitTargetUp waits until Prometheus has scraped the exporter successfully.
func waitTargetUp(t *testing.T, prom *testtools.Prometheus) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		health, lastErr, err := prom.TargetHealth()
		if err == nil && health == "up" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("exporter target not up after 30s: health %q, last error %q, %v", health, lastErr, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkRules: every rule Prometheus loaded evaluates without error, and
// every recording rule, and its expression, returns at least one series.
func checkRules(t *testing.T, prom *testtools.Prometheus) {
	rules, err := prom.Rules()
	if err != nil {
		t.Fatal(err)
	}
	records := 0
	for _, r := range rules {
		if r.Health != "ok" {
			t.Errorf("rule %s: health %q: %s", r.Name, r.Health, r.LastError)
		}
		if r.Type != "recording" {
			continue
		}
		records++
		for _, expr := range []string{r.Name, r.Query} {
			if n := seriesOf(t, prom, expr); n == 0 {
				t.Errorf("recording rule %s: %q returns no series", r.Name, expr)
			}
		}
	}
	if records == 0 {
		t.Fatalf("Prometheus loaded no recording rules from %s", rulesFile)
	}
	t.Logf("%d rules loaded, %d recording rules return data", len(rules), records)
}

// checkDashboards: every expression of every dashboard panel, with the
// dashboard variables substituted, returns at least one series.
func checkDashboards(t *testing.T, prom *testtools.Prometheus) {
	queries, err := dashboards.Queries("../dashboards")
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) == 0 {
		t.Fatal("no dashboard queries found")
	}
	for _, q := range queries {
		expr := dashboards.Substitute(q.Expr)
		if n := seriesOf(t, prom, expr); n == 0 {
			t.Errorf("%s / %s: %q returns no series", q.Dashboard, q.Panel, expr)
		}
	}
	t.Logf("%d dashboard queries return data", len(queries))
}

// seriesOf returns how many series expr returns now (errors fail the test).
func seriesOf(t *testing.T, prom *testtools.Prometheus, expr string) int {
	t.Helper()
	v, err := prom.Query(expr)
	if err != nil {
		t.Errorf("query %q: %v", expr, err)
		return -1
	}
	return len(v)
}
