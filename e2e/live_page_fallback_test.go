// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestLivePageWithoutGraphLibrary: an exporter built without the graph
// library (a plain go build before make assets; here -tags
// podflow_nographlib) serves the page as the table alone. In Chromium,
// with real traffic: the notice says to run make assets, the graph pane is
// not shown, the table shows the traffic's edges with the exact bytes and
// refused connects, and the page logs no error.
func TestLivePageWithoutGraphLibrary(t *testing.T) {
	bin := binaryWithoutGraphLibrary(t)
	tr := newPageTraffic(t)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	exp := launchExporter(t, exec.Command(bin, append([]string{"--web.listen-address=" + addr}, tr.exporterArgs()...)...), "http://"+addr)
	waitServing(t, exp)
	resp, err := http.Get(exp.url + "/flows/assets/vendor/cytoscape.min.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET the graph library from the binary built without it: %s, want 404", resp.Status)
	}

	page := startPageDriver(t)
	page.open(exp.url+"/flows", false)

	tr.round()
	sender, receiver, connects := tr.edges()
	_, ids := waitEdges(t, exp.url, sender, receiver, connects)
	sid, rid, cid := ids[0], ids[1], ids[2]
	v := watchPage(page, "the traffic's edges in the table", func(v *pageState) bool {
		s, _ := v.rowCells(sid)
		r, _ := v.rowCells(rid)
		c, _ := v.rowCells(cid)
		return v.Settled && v.State == "connected" && s.Sent == pageRound && r.Received == pageRound &&
			c.Failed == pageRefused && c.Attempts == pageRefused
	})
	if !strings.Contains(v.Notice, "run make assets") {
		t.Errorf("the notice says %q, want it to say to run make assets", v.Notice)
	}
	if v.GraphVisible || v.Graph != nil {
		t.Errorf("the graph pane is shown (%v) or a graph was built (%v) without the library", v.GraphVisible, v.Graph != nil)
	}
	s, _ := v.rowCells(sid)
	if s.LocalName != "page-a" || s.RemoteName != tr.addrB || s.Cells["sent"] != "13.1 kB" || s.Cells["port"] != "udp "+strconv.Itoa(pagePort)+" client" {
		t.Errorf("the datagrams' row: %+v, want page-a → %s, sent 13.1 kB (%d bytes)", s, tr.addrB, pageRound)
	}
	if c, _ := v.rowCells(cid); c.Cells["failed"] != "2 / 2" || !c.Failing {
		t.Errorf("the refused connects' row: %+v, want Failed 2 / 2, marked failing", c)
	}

	// The table alone still filters and shows details.
	var fv pageState
	page.do(map[string]any{"cmd": "filter", "failuresOnly": true}, &fv)
	checkProblems(t, fv.Problems)
	if got := fv.rowIDs(); len(got) != 1 || got[0] != cid {
		t.Errorf("failures only: rows %v, want [%s]", got, cid)
	}
	var clicked struct{ Details *pageDetails }
	page.do(map[string]any{"cmd": "clickRow", "id": cid}, &clicked)
	if d := clicked.Details; d == nil || d.Title != "page-a → "+tr.addrB || !strings.Contains(d.Text, "refused 2") {
		t.Errorf("details of the refused connects: %+v", d)
	}
	page.do(map[string]any{"cmd": "filter"}, &fv)
	checkProblems(t, fv.Problems)

	shot := artifactPath("podflow-flows-page-without-graph.png")
	page.do(map[string]any{"cmd": "screenshot", "path": shot}, nil)
	t.Logf("screenshot of the page without the graph library: %s", shot)
}

// nograph is the exporter binary built with -tags podflow_nographlib,
// which embeds the page's committed files and never the graph library
// (live/page_embed_nograph.go). Built once, by the first test that asks.
var nograph struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

func binaryWithoutGraphLibrary(t *testing.T) string {
	t.Helper()
	nograph.once.Do(func() {
		nograph.path = filepath.Join(filepath.Dir(binary), "podflow_exporter-nographlib")
		build := exec.Command("go", "build", "-tags", "podflow_nographlib", "-o", nograph.path, "github.com/podflow/podflow_exporter")
		nograph.out, nograph.err = build.CombinedOutput()
	})
	if nograph.err != nil {
		t.Fatalf("go build -tags podflow_nographlib: %v\n%s", nograph.err, nograph.out)
	}
	return nograph.path
}

// pageState is what flows-page.mjs's observe returns, with what pageView
// leaves out: the scope, which panes show, and the rows' cells.
type pageState struct {
	pageView
	Rows         []pageRowCells `json:"rows"`
	Scope        string         `json:"scope"`
	ScopeSwitch  bool           `json:"scopeSwitch"`
	GraphVisible bool           `json:"graphVisible"`
	Notice       string         `json:"notice"` // its text when shown
}

// pageRowCells is a shown row: its numbers, and what its cells say by
// column (local, remote, port, rate, sent, received, failed).
type pageRowCells struct {
	pageRow
	AttemptRate float64           `json:"attemptRate"` // cluster scope
	FailedRate  float64           `json:"failedRate"`
	Failing     bool              `json:"failing"`
	Cells       map[string]string `json:"cells"`
}

func (v *pageState) rowCells(id string) (pageRowCells, bool) { return rowByID(v.Rows, id) }

func (v *pageState) rowIDs() []string { return rowIDs(v.Rows) }

// watchPage observes until ok, failing after 20 s with what it saw last;
// every page error and console error the page logged meanwhile fails the
// test.
func watchPage(d *pageDriver, what string, ok func(v *pageState) bool) pageState {
	d.t.Helper()
	return poll(d, what, func() pageState {
		var v pageState
		d.do(map[string]any{"cmd": "observe"}, &v)
		checkProblems(d.t, v.Problems)
		return v
	}, ok)
}

// checkProblems fails the test for each error the page logged (the page
// names its icon, so the browser asks for no /favicon.ico).
func checkProblems(t *testing.T, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Errorf("the page logged an error: %s", p)
	}
}
