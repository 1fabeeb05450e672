// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/live"
)

// TestLivePage opens /flows in Chromium on an exporter that counts real
// traffic between two "pods": the edges of that traffic appear in the
// graph and the table with the exact bytes and refused connects, and grow
// in place as more is sent; the filter, the failures toggle and sorting
// show exact rows; a click shows details with the PromQL for the same
// numbers; pausing loses nothing; after the exporter restarts, the page
// reconnects and shows the new exporter's counts.
func TestLivePage(t *testing.T) {
	const port, refused, round = pagePort, pageRefused, pageRound
	tr := newPageTraffic(t)
	addrA, addrB, traffic := tr.addrA, tr.addrB, tr.round
	args := tr.exporterArgs()
	exp := startExporter(t, args...)

	page := startPageDriver(t)
	page.open(exp.url+"/flows", true)

	traffic()
	sender, receiver, connects := tr.edges()
	snap, ids := waitEdges(t, exp.url, sender, receiver, connects)
	sid, rid, cid := ids[0], ids[1], ids[2]

	// The edges appear, with the truth.
	v := page.waitView("the first round's edges", func(v *pageView) bool {
		s, _ := v.row(sid)
		r, _ := v.row(rid)
		c, _ := v.row(cid)
		return v.Settled && s.Sent == round && r.Received == round && c.Failed == refused && c.Attempts == refused
	})
	for _, label := range []string{"page-a", "page-b", addrA, addrB} {
		if id, _ := v.nodeByLabel(label); id == "" {
			t.Errorf("no node %s in the graph", label)
		}
	}
	edges := map[string][2]string{}
	for _, e := range v.Graph.Edges {
		edges[e.ID] = [2]string{e.Source, e.Target}
		if (e.ID == sid || e.ID == cid) && (e.Source != mustNode(t, &v, "page-a") || e.Target != mustNode(t, &v, addrB)) {
			t.Errorf("edge %s runs %s -> %s, want page-a -> %s: client to server", e.ID, e.Source, e.Target, addrB)
		}
		if e.ID == cid && e.Color == "#8a94a6" {
			t.Errorf("the refused connects' edge is grey, want red: %+v", e)
		}
		if e.ID == sid && e.Color != "#8a94a6" {
			t.Errorf("the datagrams' edge is %s, want grey: no connect failed", e.Color)
		}
	}
	for _, id := range ids {
		if _, ok := edges[id]; !ok {
			t.Errorf("edge %s not in the graph", id)
		}
	}

	// More traffic: the same edges grow in place; nothing already drawn
	// moves (new nodes, if any, are laid out around them).
	before := map[string]string{}
	for _, n := range v.Graph.Nodes {
		before[n.ID] = fmt.Sprint(n.Position)
	}
	traffic()
	v = page.waitView("the second round's bytes", func(v *pageView) bool {
		s, _ := v.row(sid)
		c, _ := v.row(cid)
		return v.Settled && s.Sent == 2*round && c.Failed == 2*refused
	})
	for _, n := range v.Graph.Nodes {
		if was, ok := before[n.ID]; ok && was != fmt.Sprint(n.Position) {
			t.Errorf("node %s moved from %s to %v", n.Label, was, n.Position)
		}
	}

	// Filter and failures toggle: exact rows.
	for _, c := range []struct {
		text         string
		failuresOnly bool
		want         []string
		wantAllEdges bool
	}{
		{text: "port=" + strconv.Itoa(port), want: []string{sid, rid}},
		{text: "page-a", want: []string{sid, cid}},
		{text: "PAGE-B udp", want: []string{rid}},
		{failuresOnly: true, want: []string{cid}},
		{text: "page-b", failuresOnly: true, want: nil},
		{text: "", wantAllEdges: true},
	} {
		var fv pageView
		page.do(map[string]any{"cmd": "filter", "text": c.text, "failuresOnly": c.failuresOnly}, &fv)
		want := c.want
		if c.wantAllEdges {
			want = fv.rowIDs()
			if len(want) < 3 || !strings.HasSuffix(fv.Count, " edges") || strings.Contains(fv.Count, " of ") {
				t.Errorf("no filter: %d rows, count %q", len(want), fv.Count)
			}
		}
		sort.Strings(want)
		if got := fv.rowIDs(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("filter %q, failures only %v: rows %v, want %v", c.text, c.failuresOnly, got, want)
		}
	}

	// Sorting by a column, both ways.
	page.do(map[string]any{"cmd": "sort", "column": "Sent"}, &v)
	if !slices.IsSortedFunc(v.Rows, func(x, y pageRow) int { return int(y.Sent) - int(x.Sent) }) {
		t.Errorf("sorted by Sent: %+v, want descending", v.Rows)
	}
	page.do(map[string]any{"cmd": "sort", "column": "Sent"}, &v)
	if !slices.IsSortedFunc(v.Rows, func(x, y pageRow) int { return int(x.Sent) - int(y.Sent) }) {
		t.Errorf("sorted by Sent again: %+v, want ascending", v.Rows)
	}

	// A click on a row: details with both identities and the PromQL.
	var clicked struct{ Details *pageDetails }
	page.do(map[string]any{"cmd": "clickRow", "id": cid}, &clicked)
	d := clicked.Details
	wantQuery := "sum(rate(podflow_flow_transmit_bytes_total" + promSelector(snap.LabelNames, connects) + "[5m]))"
	if d == nil || d.Title != "page-a → "+addrB || !slices.Contains(d.PromQL, wantQuery) ||
		!strings.Contains(d.Text, "refused "+strconv.Itoa(2*refused)) || !strings.Contains(d.Text, "remote_workload\n"+addrB) {
		t.Errorf("details of the refused connects: %+v\nwant the title, %q and refused %d", d, wantQuery, 2*refused)
	}
	// ... and on a node of the graph.
	page.do(map[string]any{"cmd": "clickNode", "label": "page-b"}, &clicked)
	if d := clicked.Details; d == nil || d.Title != "page-b" ||
		!slices.Contains(d.PromQL, "sum(rate(podflow_flow_transmit_bytes_total"+promSelector(snap.LabelNames, map[string]string{"local_kind": "cgroup", "local_workload": "page-b"})+"[5m]))") {
		t.Errorf("details of node page-b: %+v", d)
	}

	// Paused, the view stands still while the page keeps counting; on
	// resume it shows everything.
	page.do(map[string]any{"cmd": "pause"}, &v)
	shown := v.ShownSeq
	traffic()
	v = page.waitView("the paused page counting on", func(v *pageView) bool { return v.Seq > shown+5 })
	if s, _ := v.row(sid); v.State != "paused" || v.ShownSeq != shown || s.Sent != 2*round {
		t.Errorf("paused: state %s, shown seq %d (was %d), sender row %d bytes, want paused, %d, %d", v.State, v.ShownSeq, shown, s.Sent, shown, 2*round)
	}
	page.do(map[string]any{"cmd": "pause"}, nil) // resume
	v = page.waitView("the third round after resuming", func(v *pageView) bool {
		s, _ := v.row(sid)
		return v.State == "connected" && v.Settled && s.Sent == 3*round
	})

	shot := artifactPath("podflow-flows-page.png")
	page.do(map[string]any{"cmd": "screenshot", "path": shot}, nil)
	t.Logf("screenshot of the page: %s", shot)

	// The stream drops: the exporter restarts on the same address. The
	// page says so, reconnects, and shows the new exporter's counts.
	snapshots := v.Events.Snapshots
	if code := exp.stop(); code != 0 {
		t.Fatalf("exporter exit code %d", code)
	}
	page.waitView("reconnecting", func(v *pageView) bool { return v.State == "reconnecting" })
	addr := strings.TrimPrefix(exp.url, "http://")
	exp = launchExporter(t, exec.Command(binary, append([]string{"--web.listen-address=" + addr}, args...)...), exp.url)
	waitServing(t, exp)
	traffic()
	_, ids = waitEdges(t, exp.url, sender) // IDs are the new exporter's
	page.waitView("the new exporter's counts", func(v *pageView) bool {
		s, _ := v.row(ids[0])
		return v.State == "connected" && v.Events.Snapshots > snapshots && s.Sent == round
	})
}

// The live page tests' traffic: page-a sends pageDatagrams datagrams of
// pageSize bytes to page-b's pagePort, and makes pageRefused refused
// connects, a round.
const (
	pageDatagrams, pageSize, pagePort, pageRefused = 40, 300, 7200, 2
	// pageRound is the bytes on the wire, each way, of a round's datagrams.
	pageRound = pageDatagrams * (pageSize + 28)
)

func newPageTraffic(t *testing.T) *hostPods {
	return newHostPods(t, "10.218.0", "page", pageDatagrams, pageSize, pagePort, pageRefused)
}

// waitEdges waits for a snapshot with edges of these labels (within a
// drain or so) and returns it with their IDs.
func waitEdges(t *testing.T, url string, labels ...map[string]string) (live.Snapshot, []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		snap := getLiveSnapshot(t, url+"/api/v1/flows?top=0")
		ids := make([]string, len(labels))
		found := 0
		for i, l := range labels {
			for _, e := range snap.Edges {
				if labelKey(e.Labels) == labelKey(l) {
					ids[i] = e.ID
					found++
				}
			}
		}
		if found == len(labels) {
			return snap, ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("the snapshot lacks some of the edges %v: %+v", labels, snap.Edges)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustNode(t *testing.T, v *pageView, label string) string {
	t.Helper()
	id, _ := v.nodeByLabel(label)
	if id == "" {
		t.Fatalf("no node %s in the graph", label)
	}
	return id
}

// promSelector is {name="value",...} in the exporter's label order, values
// escaped as PromQL strings are.
func promSelector(names []string, labels map[string]string) string {
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	var parts []string
	for _, k := range names {
		if v, ok := labels[k]; ok {
			parts = append(parts, k+`="`+esc.Replace(v)+`"`)
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// TestLivePageBasicAuth: with basic auth from --web.config.file, the page,
// its files and the API answer 401 without credentials, in the browser as
// to any client; with them the page connects to the stream.
func TestLivePageBasicAuth(t *testing.T) {
	config := webConfig(t, t.TempDir(), "", "viewer")
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	e := launchExporter(t, exec.Command(binary, "--web.listen-address="+addr, "--web.config.file="+config, "--collector.drain-interval=200ms"), "http://"+addr)
	status := func(path string, auth bool) int {
		req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
		if auth {
			req.SetBasicAuth("viewer", "s3cret")
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(20 * time.Second)
	for status("/flows", true) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("no page with credentials:\n%s", e.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range []string{"/flows", "/flows/assets/flows.js", "/api/v1/flows", "/api/v1/flows/stream"} {
		if code := status(p, false); code != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, want 401", p, code)
		}
	}

	page := startPageDriver(t)
	var opened struct {
		Status int `json:"status"`
	}
	page.do(map[string]any{"cmd": "open", "url": e.url + "/flows"}, &opened)
	if opened.Status != http.StatusUnauthorized {
		t.Errorf("the browser without credentials: %d, want 401", opened.Status)
	}
	page.do(map[string]any{"cmd": "open", "url": e.url + "/flows", "user": "viewer", "password": "s3cret"}, &opened)
	if opened.Status != http.StatusOK {
		t.Fatalf("the browser with credentials: %d, want 200", opened.Status)
	}
	page.waitView("the stream with credentials", func(v *pageView) bool { return v.State == "connected" && v.Seq > 0 && v.Events.Deltas > 0 })
}
