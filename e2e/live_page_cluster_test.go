// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/podflow/podflow_exporter/live"
)

// checkClusterPage opens the viewer's /flows in Chromium (the viewer is an
// exporter given --web.live-view.prometheus-url, the Prometheus of
// TestPrometheusAlertsAndDashboards) and uses the Node / Cluster switch:
// the cluster map shows edge (web→db, with refused connects) in the graph,
// coloured by its failed-connect ratio from the rates, and in the table
// with its bytes/s and failed connects per second; a click shows its
// rates; back on Node the page follows the viewer's stream again.
func checkClusterPage(t *testing.T, viewer *exporter, edge *live.Edge) {
	page := startPageDriver(t)
	page.open(viewer.url+"/flows", true)
	v := watchPage(page, "the node scope with the Node / Cluster switch", func(v *pageState) bool {
		return v.Scope == "node" && v.State == "connected" && v.ScopeSwitch && v.Events.Snapshots == 1
	})
	nodeSeq := v.Seq

	// Cluster: the map of the recording rules, rates only.
	page.do(map[string]any{"cmd": "scope", "scope": "cluster"}, nil)
	v = watchPage(page, "the cluster map with web→db", func(v *pageState) bool {
		r, ok := v.rowCells(edge.ID)
		return v.Scope == "cluster" && v.Settled && ok && r.Rate > 0 && r.FailedRate > 0 && v.Graph != nil && len(v.Graph.Edges) > 0
	})
	if !strings.HasPrefix(v.Status, "cluster · as of ") {
		t.Errorf("status %q, want the cluster map's time", v.Status)
	}
	for _, r := range v.Rows {
		if !strings.HasPrefix(r.ID, "c:") {
			t.Errorf("row %s (%s → %s) of the node scope in the cluster map", r.ID, r.LocalName, r.RemoteName)
		}
	}
	web, db := edge.Local.Name, edge.Remote.Name
	if !strings.HasSuffix(web, "/web") || !strings.HasSuffix(db, "/db") {
		t.Fatalf("the cluster edge joins %q and %q, want web and db", web, db)
	}
	r, _ := v.rowCells(edge.ID)
	ratio := r.FailedRate / r.AttemptRate
	if r.LocalName != web || r.RemoteName != db || r.Cells["sent"] != "–" || !r.Failing ||
		!regexp.MustCompile(`^[0-9.,]+/s \([0-9.]+%\)$`).MatchString(r.Cells["failed"]) || ratio <= 0 || ratio > 1 {
		t.Errorf("web→db row: %+v\nwant %s → %s, no totals, failed connects per second with their share of attempts", r, web, db)
	}
	if want := fmt.Sprintf("(%s%%)", pagePercent(ratio)); !strings.HasSuffix(r.Cells["failed"], want) {
		t.Errorf("web→db Failed cell %q, want it to end %q (%v failed of %v attempted per second)", r.Cells["failed"], want, r.FailedRate, r.AttemptRate)
	}
	// Nodes by ID: db reached through its service is a node of its own,
	// named alike.
	webID, dbID := edge.Local.ID, edge.Remote.ID
	labels := map[string]string{}
	for _, n := range v.Graph.Nodes {
		labels[n.ID] = n.Label
	}
	if labels[webID] != web || labels[dbID] != db {
		t.Errorf("graph nodes %q: %q and %q: %q, want %s and %s", webID, labels[webID], dbID, labels[dbID], web, db)
	}
	found := false
	for _, e := range v.Graph.Edges {
		if e.ID != edge.ID {
			continue
		}
		found = true
		if e.Source != webID || e.Target != dbID || e.Color != pageEdgeColor(ratio) {
			t.Errorf("graph edge web→db: %+v, want %s → %s coloured %s for a failed ratio of %.3f", e, webID, dbID, pageEdgeColor(ratio), ratio)
		}
	}
	if !found {
		t.Errorf("no edge %s in the graph: %+v", edge.ID, v.Graph.Edges)
	}

	var clicked struct{ Details *pageDetails }
	page.do(map[string]any{"cmd": "clickRow", "id": edge.ID}, &clicked)
	if d := clicked.Details; d == nil || d.Title != web+" → "+db || !strings.Contains(strings.ToLower(d.Text), "rates over 5 m") ||
		!regexp.MustCompile(`Failed connects\s+[0-9.]+/s \([0-9.]+% of attempts\): refused [0-9.]+/s`).MatchString(d.Text) {
		t.Errorf("details of web→db in the cluster map: %+v", d)
	}
	shot := artifactPath("podflow-flows-page-cluster.png")
	page.do(map[string]any{"cmd": "screenshot", "path": shot}, nil)
	t.Logf("screenshot of the cluster map: %s", shot)

	// Node: the page follows the viewer's own stream again, from a fresh
	// snapshot, and shows its edges, not the cluster's.
	page.do(map[string]any{"cmd": "scope", "scope": "node"}, nil)
	v = watchPage(page, "the node scope again", func(v *pageState) bool {
		return v.Scope == "node" && v.State == "connected" && v.Events.Snapshots == 2 && v.Settled && v.Seq > nodeSeq
	})
	node := getLiveSnapshot(t, viewer.url+"/api/v1/flows?top=0")
	t.Logf("node scope: status %q, %d rows; the viewer has %d edges", v.Status, len(v.Rows), len(node.Edges))
	if !regexp.MustCompile(`^connected · seq \d+ · \d+ edges$`).MatchString(v.Status) || v.Details != nil {
		t.Errorf("back on Node: status %q, details %+v; want the stream's, none", v.Status, v.Details)
	}
	ids := map[string]bool{}
	for _, e := range node.Edges {
		ids[e.ID] = true
	}
	for _, r := range v.Rows {
		if !ids[r.ID] {
			t.Errorf("back on Node, row %s (%s → %s) is not an edge of the viewer's", r.ID, r.LocalName, r.RemoteName)
		}
	}
	if len(node.Edges) > 0 && len(v.Rows) == 0 {
		t.Errorf("back on Node, no rows; the viewer has %d edges", len(node.Edges))
	}
}

// pageEdgeColor is graph.js's edgeColor: grey without failed connects, then
// eight steps to red by their share of attempts.
func pageEdgeColor(ratio float64) string {
	if ratio <= 0 {
		return "#8a94a6"
	}
	t := math.Min(1, 0.35+math.Ceil(ratio*8)/8*0.65)
	mix := func(a, b float64) int { return int(math.Round(a + (b-a)*t)) }
	return fmt.Sprintf("#%02x%02x%02x", mix(0x8a, 0xd6), mix(0x94, 0x27), mix(0xa6, 0x28))
}

// pagePercent is format.js's percent, without the sign: two digits.
func pagePercent(x float64) string {
	digits := 2
	if x < 0.01 {
		digits = 1
	}
	return fmt.Sprint(roundSignificant(100*x, digits))
}

func roundSignificant(x float64, digits int) float64 {
	if x == 0 {
		return 0
	}
	p := math.Pow(10, float64(digits)-math.Ceil(math.Log10(math.Abs(x))))
	return math.Round(x*p) / p
}
