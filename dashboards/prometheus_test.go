// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package dashboards

import (
	"maps"
	"math"
	"net/http/httptest"
	"strings"
	"testing"

	"time"

	"github.com/podflow/podflow_exporter/internal/testtools"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// value is a sample's value; a malformed one fails the test.
func value(t *testing.T, s testtools.Sample) float64 {
	t.Helper()
	v, err := s.Float()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestQueriesAgainstPrometheus runs every dashboard query, variables
// substituted, against a real Prometheus that scrapes a node of known flows
// (fakeNode) and evaluates deploy/rules: each returns data, and the service
// map's nodes and edges fit together as Grafana's Node Graph needs.
func TestQueriesAgainstPrometheus(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newFakeNode(), versioncollector.NewCollector("podflow"), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	prom := testtools.StartPrometheus(t, strings.TrimPrefix(srv.URL, "http://"), rulesFile)

	// Wait until every recording rule has data: rates need two samples.
	records := recordNames(t)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		missing := ""
		for _, r := range records {
			if v, err := prom.Query(r); err != nil || len(v) == 0 {
				missing = r
				break
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recording rule %s has no data after 60s", missing)
		}
	}
	time.Sleep(2 * time.Second) // a few more samples for the 1m rates of the raw counters

	qs, err := Queries(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		v, err := prom.Query(Substitute(q.Expr))
		if err != nil {
			t.Errorf("%s / %s / %s: %v", q.Dashboard, q.Panel, q.RefID, err)
		} else if len(v) == 0 {
			t.Errorf("%s / %s / %s returns no series: %s", q.Dashboard, q.Panel, q.RefID, Substitute(q.Expr))
		}
	}
	t.Logf("%d dashboard queries return data", len(qs))

	// Ratios of two rates do not depend on how long Prometheus has scraped:
	// the DNS and HTTP ratio panels show the fake node's exact shares.
	t.Run("DNS and HTTP ratios", func(t *testing.T) {
		for _, c := range []struct {
			panel, ref string
			key        []string
			want       map[string]float64
		}{
			{"DNS failure and NXDOMAIN ratios", "A", []string{"local_workload", "role"},
				map[string]float64{"web client": 1.0 / 8, "coredns server": 0.5 / 8.5}},
			{"DNS failure and NXDOMAIN ratios", "B", []string{"local_workload", "role"},
				map[string]float64{"web client": 3.0 / 8, "coredns server": 3 / 8.5}},
			{"HTTP 5xx ratio by peer", "A", []string{"local_workload", "role", "remote_workload"},
				map[string]float64{"web client db": 0.5 / 9.5, "db server web": 0.5 / 9.5, "kubelet.service client db": 0}},
		} {
			got := map[string]float64{}
			for _, s := range queryPanel(t, prom, qs, "podflow-workload.json", c.panel, c.ref) {
				var k []string
				for _, l := range c.key {
					k = append(k, s.Metric[l])
				}
				got[strings.Join(k, " ")] = value(t, s)
			}
			if len(got) != len(c.want) {
				t.Errorf("%s / %s: %v, want %v", c.panel, c.ref, got, c.want)
			}
			for k, want := range c.want {
				if v, ok := got[k]; !ok || math.Abs(v-want) > 1e-6 {
					t.Errorf("%s / %s: %s = %v (present %v), want %v", c.panel, c.ref, k, v, ok, want)
				}
			}
		}
		protocols := map[string]bool{}
		for _, s := range queryPanel(t, prom, qs, "podflow-cluster-overview.json", "Bytes by application protocol", "A") {
			protocols[s.Metric["app_protocol"]] = true
		}
		if want := map[string]bool{"http1": true, "unknown": true, "tls": true, "dns": true, "__overflow__": true}; !maps.Equal(protocols, want) {
			t.Errorf("bytes sent by app_protocol: %v, want %v", protocols, want)
		}
	})

	graph := map[string]string{}
	for _, q := range qs {
		if q.File == "podflow-service-map.json" && q.Panel == "Service map" {
			graph[q.RefID] = q.Expr
		}
	}
	for _, c := range []struct {
		namespace string
		nodes     map[string]string  // node id → "title subtitle"
		edges     map[string]float64 // edge id → bytes/s
		failed    map[string]float64 // edge id → % of connects failed
	}{
		{".*", map[string]string{
			"shop/web": "web shop", "shop/db": "db shop", "/world": "world world", "/node-1": "node-1 node",
			"kube-system/coredns": "coredns kube-system", "/kubelet.service": "kubelet.service host",
		}, map[string]float64{
			"shop/web -> shop/db": 6150, "/world -> shop/web": 500, "shop/web -> kube-system/coredns": 30,
			"/kubelet.service -> shop/db": 10, "/node-1 -> kube-system/coredns": 4,
		}, map[string]float64{"shop/web -> shop/db": 50, "/kubelet.service -> shop/db": 0}},
		{"shop", map[string]string{
			"shop/web": "web shop", "shop/db": "db shop", "/world": "world world",
			"kube-system/coredns": "coredns kube-system", "/kubelet.service": "kubelet.service host",
		}, map[string]float64{
			"shop/web -> shop/db": 6150, "/world -> shop/web": 500, "shop/web -> kube-system/coredns": 30,
			"/kubelet.service -> shop/db": 10,
		}, map[string]float64{"shop/web -> shop/db": 50, "/kubelet.service -> shop/db": 0}},
		{"kube-system", map[string]string{
			"shop/web": "web shop", "kube-system/coredns": "coredns kube-system", "/node-1": "node-1 node",
		}, map[string]float64{
			"shop/web -> kube-system/coredns": 30, "/node-1 -> kube-system/coredns": 4,
		}, map[string]float64{}},
	} {
		t.Run("service map namespace "+c.namespace, func(t *testing.T) {
			run := func(ref string) []testtools.Sample {
				expr := strings.ReplaceAll(graph[ref], "$namespace", c.namespace)
				v, err := prom.Query(Substitute(expr))
				if err != nil {
					t.Fatalf("%s: %v", ref, err)
				}
				return v
			}
			nodes := run("nodes")
			got := map[string]string{}
			for _, n := range nodes {
				got[n.Metric["id"]] = n.Metric["title"] + " " + n.Metric["subtitle"]
			}
			if !maps.Equal(got, c.nodes) {
				t.Errorf("nodes (id: title subtitle) %v, want %v", got, c.nodes)
			}
			checkServiceMap(t, nodes, run("nodes_failed"), run("edges"), run("edges_failed"), c.edges, c.failed)
		})
	}
}

// checkServiceMap checks the Node Graph's frames: node ids are unique,
// every edge's source and target is a node (else the panel fails), edge ids
// are "source -> target", the failure frames only name known nodes and
// edges, and the edges, their bytes in proportion and their failure
// percentages are the fake node's.
func checkServiceMap(t *testing.T, nodes, nodesFailed, edges, edgesFailed []testtools.Sample, wantEdges, wantFailed map[string]float64) {
	t.Helper()
	ids := map[string]bool{}
	for _, n := range nodes {
		id := n.Metric["id"]
		if ids[id] {
			t.Errorf("node %q twice: %v", id, n.Metric)
		}
		ids[id] = true
		if len(n.Metric) != 3 || n.Metric["title"] == "" {
			t.Errorf("node %q: labels %v, want id, title, subtitle", id, n.Metric)
		}
	}
	for _, n := range nodesFailed {
		if !ids[n.Metric["id"]] {
			t.Errorf("failure ratio of %q, which is not a node", n.Metric["id"])
		}
	}
	got := map[string]float64{}
	for _, e := range edges {
		id, src, dst := e.Metric["id"], e.Metric["source"], e.Metric["target"]
		if id != src+" -> "+dst || len(e.Metric) != 3 {
			t.Errorf("edge labels %v, want id \"source -> target\", source, target", e.Metric)
		}
		if !ids[src] || !ids[dst] {
			t.Errorf("edge %q: an end is not a node (nodes %v)", id, ids)
		}
		got[id] = value(t, e)
	}
	if len(got) != len(wantEdges) {
		t.Errorf("edges %v, want %v", got, wantEdges)
	}
	// A 5-minute rate over the few seconds Prometheus has scraped is the
	// true rate scaled down by the same factor for every series: compare
	// the edges' proportions to the reference edge's.
	const ref = "shop/web -> kube-system/coredns"
	scale := got[ref] / wantEdges[ref]
	for id, want := range wantEdges {
		if v, ok := got[id]; !ok || !(v/scale > want*0.98 && v/scale < want*1.02) {
			t.Errorf("edge %q: %v bytes/s (present %v), want %v in proportion to %q", id, v, ok, want, ref)
		}
	}
	failed := map[string]float64{}
	for _, e := range edgesFailed {
		id := e.Metric["id"]
		if _, ok := got[id]; !ok {
			t.Errorf("failure ratio of %q, which is not an edge", id)
		}
		failed[id] = value(t, e)
	}
	if len(failed) != len(wantFailed) {
		t.Errorf("edge failure ratios %v, want %v", failed, wantFailed)
	}
	for id, want := range wantFailed {
		if v, ok := failed[id]; !ok || v < want-1 || v > want+1 {
			t.Errorf("edge %q: %v%% of connects failed (present %v), want %v%%", id, v, ok, want)
		}
	}
}

// queryPanel runs the query ref of the panel titled panel in file, variables
// substituted, and returns its series.
func queryPanel(t *testing.T, prom *testtools.Prometheus, qs []Query, file, panel, ref string) []testtools.Sample {
	t.Helper()
	for _, q := range qs {
		if q.File == file && q.Panel == panel && q.RefID == ref {
			v, err := prom.Query(Substitute(q.Expr))
			if err != nil {
				t.Fatalf("%s / %s / %s: %v", file, panel, ref, err)
			}
			return v
		}
	}
	t.Fatalf("%s has no panel %q with query %s", file, panel, ref)
	return nil
}
