// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The /flows page's browser test drives Debian's chromium with
// playwright-core from the repository's node_modules (make deps installs
// the one, make assets the other): browser/flows-page.mjs reads a JSON
// command a line and answers with what the page shows.

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// pageDriver is a running browser/flows-page.mjs.
type pageDriver struct {
	t   *testing.T
	in  io.WriteCloser
	out *bufio.Scanner
}

// startPageDriver starts the driver, failing (not skipping: CI installs
// all of it) when the browser, node or playwright-core is missing.
func startPageDriver(t *testing.T) *pageDriver {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("no browser at %s: make deps installs Debian's chromium (scripts/install-deps.sh): %v", chromiumPath, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("no node on PATH for the browser test: %v", err)
	}
	if _, err := os.Stat(filepath.Join("..", "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("no playwright-core in node_modules: run make assets (npm ci): %v", err)
	}
	cmd := exec.Command(node, filepath.Join("browser", "flows-page.mjs"))
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &pageDriver{t: t, in: in, out: bufio.NewScanner(out)}
	d.out.Buffer(make([]byte, 1<<20), 64<<20)
	t.Cleanup(func() {
		in.Close() // the driver closes the browser and exits at EOF
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return d
}

// do sends one command and decodes the answer into out (when not nil).
func (d *pageDriver) do(cmd map[string]any, out any) {
	d.t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := d.in.Write(append(b, '\n')); err != nil {
		d.t.Fatalf("page driver: %v", err)
	}
	if !d.out.Scan() {
		d.t.Fatalf("page driver ended: %v", d.out.Err())
	}
	var e struct {
		Error string `json:"error"`
	}
	line := d.out.Bytes()
	if err := json.Unmarshal(line, &e); err != nil {
		d.t.Fatalf("page driver said %q: %v", line, err)
	}
	if e.Error != "" {
		d.t.Fatalf("page driver, %s: %s", b, e.Error)
	}
	if out != nil {
		if err := json.Unmarshal(line, out); err != nil {
			d.t.Fatalf("page driver said %q: %v", line, err)
		}
	}
}

// pageView is what the driver's observe returns (flows-page.mjs).
type pageView struct {
	State    string `json:"state"`
	Seq      uint64 `json:"seq"`
	ShownSeq uint64 `json:"shownSeq"`
	// Settled: the view shows the page's state and no node waits for
	// its layout.
	Settled bool `json:"settled"`
	Events  struct {
		Snapshots int `json:"snapshots"`
		Deltas    int `json:"deltas"`
		Errors    int `json:"errors"`
	} `json:"events"`
	Graph *struct {
		Nodes []struct {
			ID       string             `json:"id"`
			Label    string             `json:"label"`
			Classes  []string           `json:"classes"`
			Position map[string]float64 `json:"position"`
		} `json:"nodes"`
		Edges []struct {
			ID     string  `json:"id"`
			Source string  `json:"source"`
			Target string  `json:"target"`
			Width  float64 `json:"width"`
			Color  string  `json:"color"`
		} `json:"edges"`
	} `json:"graph"`
	Rows     []pageRow    `json:"rows"`
	Status   string       `json:"status"`
	Count    string       `json:"count"`
	Details  *pageDetails `json:"details"`
	Problems []string     `json:"problems"`
}

// pageRow is a shown row of the edge table, with its numbers unformatted.
type pageRow struct {
	ID         string  `json:"id"`
	LocalName  string  `json:"localName"`
	RemoteName string  `json:"remoteName"`
	Port       string  `json:"port"`
	Rate       float64 `json:"rate"`
	Sent       uint64  `json:"sent"`
	Received   uint64  `json:"received"`
	Attempts   uint64  `json:"attempts"`
	Failed     uint64  `json:"failed"`
}

type pageDetails struct {
	Title  string   `json:"title"`
	Text   string   `json:"text"`
	PromQL []string `json:"promql"`
}

func (r pageRow) rowID() string { return r.ID }

func (v *pageView) row(id string) (pageRow, bool) { return rowByID(v.Rows, id) }

// rowIDs are the shown rows' IDs, sorted.
func (v *pageView) rowIDs() []string { return rowIDs(v.Rows) }

// rowByID returns the shown row of edge id.
func rowByID[R interface{ rowID() string }](rows []R, id string) (R, bool) {
	for _, r := range rows {
		if r.rowID() == id {
			return r, true
		}
	}
	var none R
	return none, false
}

// rowIDs returns the rows' IDs, sorted.
func rowIDs[R interface{ rowID() string }](rows []R) []string {
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.rowID())
	}
	sort.Strings(ids)
	return ids
}

func (v *pageView) nodeByLabel(label string) (id string, pos map[string]float64) {
	if v.Graph == nil {
		return "", nil
	}
	for _, n := range v.Graph.Nodes {
		if n.Label == label {
			return n.ID, n.Position
		}
	}
	return "", nil
}

// observe asks for the page's state; page errors fail the test.
func (d *pageDriver) observe() pageView {
	d.t.Helper()
	var v pageView
	d.do(map[string]any{"cmd": "observe"}, &v)
	for _, p := range v.Problems {
		if strings.HasPrefix(p, "pageerror:") {
			d.t.Errorf("the page threw: %s", p)
		}
	}
	return v
}

// open loads url in the page and checks it was served (200), with the
// graph library or, when graph is false, without it and with the notice
// that says how to get it.
func (d *pageDriver) open(url string, graph bool) {
	d.t.Helper()
	var opened struct {
		Status       int  `json:"status"`
		GraphBuiltIn bool `json:"graphBuiltIn"`
		Notice       bool `json:"notice"`
	}
	d.do(map[string]any{"cmd": "open", "url": url}, &opened)
	if opened.Status != http.StatusOK || opened.GraphBuiltIn != graph || opened.Notice == graph {
		d.t.Fatalf("open %s: %+v, want 200, the graph library built in: %v (the binary embeds live/assets/vendor: make assets before go test), the notice: %v", url, opened, graph, !graph)
	}
}

// waitView observes until ok, failing after 20 s with what it saw last.
func (d *pageDriver) waitView(what string, ok func(v *pageView) bool) pageView {
	d.t.Helper()
	return poll(d, what, d.observe, ok)
}

// poll calls observe until ok, failing after 20 s with what it saw last.
func poll[V any](d *pageDriver, what string, observe func() V, ok func(v *V) bool) V {
	d.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v := observe()
		if ok(&v) {
			return v
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(v, "", " ")
			d.t.Fatalf("the page never showed %s; last seen:\n%s", what, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// artifactPath is where a test leaves a file for people to look at:
// $ARTIFACTS when set, else the temporary directory.
func artifactPath(name string) string {
	dir := os.Getenv("ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	return filepath.Join(dir, name)
}
