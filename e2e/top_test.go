// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/internal/testtools"
	"github.com/podflow/podflow_exporter/live"
)

// topRow is one row of `podflow_exporter top`'s table, by column name.
type topRow map[string]string

// topTable parses a table top printed: a header line, the column names,
// then a row per edge; columns are separated by blanks and only the last
// (FAILURES) may be empty.
func topTable(t *testing.T, text string) []topRow {
	t.Helper()
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) < 2 {
		t.Fatalf("not a table:\n%s", text)
	}
	columns := strings.Fields(lines[1])
	if len(columns) == 0 || columns[0] != "LOCAL" {
		t.Fatalf("no column names in the second line:\n%s", text)
	}
	var rows []topRow
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) < len(columns)-1 {
			t.Fatalf("row %q has %d fields for %d columns", l, len(f), len(columns))
		}
		r := topRow{}
		for i, c := range columns {
			if i < len(f) {
				r[c] = f[i]
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// findTopRow returns the row of the edge local → remote on proto/port, nil
// when the table has none.
func findTopRow(rows []topRow, local, remote, proto, port string) topRow {
	for _, r := range rows {
		if r["LOCAL"] == local && r["REMOTE"] == remote && r["PROTO"] == proto && r["PORT"] == port {
			return r
		}
	}
	return nil
}

// runTopCommand runs `podflow_exporter top args...` to its end.
func runTopCommand(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"top"}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// topFollower is `podflow_exporter top` running live, its standard output
// a pipe: one table per message, a blank line between.
type topFollower struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	tables []string
	stderr testtools.LogBuffer
	done   chan struct{}
}

func startTop(t *testing.T, args ...string) *topFollower {
	t.Helper()
	f := &topFollower{cmd: exec.Command(binary, append([]string{"top"}, args...)...), done: make(chan struct{})}
	out, err := f.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	f.cmd.Stderr = &f.stderr
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.cmd.Process.Kill(); <-f.done })
	go func() {
		defer close(f.done)
		s := bufio.NewScanner(out)
		var table strings.Builder
		for s.Scan() {
			if s.Text() != "" {
				table.WriteString(s.Text() + "\n")
				continue
			}
			f.mu.Lock()
			f.tables = append(f.tables, table.String())
			f.mu.Unlock()
			table.Reset()
		}
		_ = f.cmd.Wait()
	}()
	return f
}

func (f *topFollower) snapshot() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tables...)
}

// TestTop: real datagrams and refused connects between two "pods";
// `top --once` prints their edges with the exact totals /metrics has and
// the truth (datagrams × (size + 28 bytes of IP and UDP headers)), its
// JSON output the same; `top` following the stream prints a table per
// drain, in which the edges appear with the same totals, and ends with
// exit 0 on SIGINT.
func TestTop(t *testing.T) {
	const n, size, port, refused = 40, 500, 7200, 2
	pods := newHostPods(t, "10.214.0", "top", n, size, port, refused)
	addrA, addrB := pods.addrA, pods.addrB
	exp := startExporter(t, pods.exporterArgs()...)
	follow := startTop(t, "--bytes=exact", "--sort=bytes", "--limit=0", exp.url)

	// The first table, before any traffic, comes from the stream's snapshot.
	deadline := time.Now().Add(10 * time.Second)
	for len(follow.snapshot()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(follow.snapshot()) == 0 {
		t.Fatalf("top printed no table in 10s; stderr:\n%s", follow.stderr.String())
	}

	pods.round()
	_, fams := exp.scrape() // drains: /metrics and the live view are current
	truth := pods.roundBytes()
	sender, _, _ := pods.edges()
	if got := value(t, fams, "podflow_flow_transmit_bytes_total", sender); got != float64(truth) {
		t.Fatalf("/metrics: sender bytes %v, want the truth %d", got, truth)
	}

	out, errs, code := runTopCommand(t, "--once", "--limit=0", exp.url)
	if code != 0 || errs != "" || strings.Contains(out, "\x1b") {
		t.Fatalf("top --once: exit %d, stderr %q:\n%s", code, errs, out)
	}
	t.Logf("top --once:\n%s", out)
	rows := topTable(t, out)
	want := []struct {
		local, remote, proto, port string
		cells                      map[string]string
	}{
		{"top-a", addrB, "udp", strconv.Itoa(port), map[string]string{"ROLE": "client", "SENT": strconv.Itoa(truth), "RECV": "0", "CONNECTS": "0", "FAILED": "0"}},
		{"top-b", addrA, "udp", strconv.Itoa(port), map[string]string{"ROLE": "server", "SENT": "0", "RECV": strconv.Itoa(truth)}},
		{"top-a", addrB, "tcp", "9", map[string]string{"ROLE": "client", "CONNECTS": strconv.Itoa(refused), "FAILED": strconv.Itoa(refused), "FAILURES": fmt.Sprintf("refused=%d", refused)}},
	}
	for _, w := range want {
		r := findTopRow(rows, w.local, w.remote, w.proto, w.port)
		if r == nil {
			t.Errorf("top --once has no row %s → %s %s/%s", w.local, w.remote, w.proto, w.port)
			continue
		}
		for col, v := range w.cells {
			if r[col] != v {
				t.Errorf("top --once, %s → %s %s/%s: %s = %q, want %q", w.local, w.remote, w.proto, w.port, col, r[col], v)
			}
		}
	}

	out, _, code = runTopCommand(t, "--once", "--output=json", exp.url)
	var snap live.Snapshot
	if err := json.Unmarshal([]byte(out), &snap); code != 0 || err != nil {
		t.Fatalf("top --once --output=json: exit %d, %v:\n%s", code, err, out)
	}
	found := false
	for _, e := range snap.Edges {
		if e.Local.Name == "top-a" && e.Labels["protocol"] == "udp" && e.Labels["port"] == strconv.Itoa(port) {
			found = e.Total.TransmitBytes == uint64(truth)
		}
	}
	if !found {
		t.Errorf("top --once --output=json: no sender edge with %d bytes:\n%s", truth, out)
	}

	// The live tables: the first without the traffic, a later one with
	// the snapshot and the deltas summed to the truth; more keep coming.
	var last topRow
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		tables := follow.snapshot()
		last = findTopRow(topTable(t, tables[len(tables)-1]), "top-a", addrB, "udp", strconv.Itoa(port))
		if last != nil && last["SENT"] == strconv.Itoa(truth) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	tables := follow.snapshot()
	if last == nil || last["SENT"] != strconv.Itoa(truth) {
		t.Fatalf("the live table's sender row: %v, want SENT %d; last table:\n%s", last, truth, tables[len(tables)-1])
	}
	if r := findTopRow(topTable(t, tables[0]), "top-a", addrB, "udp", strconv.Itoa(port)); r != nil {
		t.Errorf("the first table, drawn before the traffic, has the sender: %v", r)
	}
	if r := findTopRow(topTable(t, tables[len(tables)-1]), "top-b", addrA, "udp", strconv.Itoa(port)); r == nil || r["RECV"] != strconv.Itoa(truth) {
		t.Errorf("the live table's receiver row: %v, want RECV %d", r, truth)
	}
	time.Sleep(time.Second)
	if more := len(follow.snapshot()) - len(tables); more < 2 {
		t.Errorf("%d tables in a second with drains every 200ms", more)
	}
	if err := follow.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-follow.done:
	case <-time.After(5 * time.Second):
		t.Fatal("top still running 5s after SIGINT")
	}
	if code := follow.cmd.ProcessState.ExitCode(); code != 0 || follow.stderr.String() != "" {
		t.Errorf("top after SIGINT: exit %d, stderr %q; want 0 and nothing", code, follow.stderr.String())
	}
}

// TestTopAuthTLSAndOff: against an exporter with TLS and basic auth
// (--web.config.file), top needs the credentials, and says how to give
// them; against one with --no-web.live-view it says the live view is off.
func TestTopAuthTLSAndOff(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	config := webConfig(t, dir, "tls_server_config:\n  cert_file: "+cert+"\n  key_file: "+key+"\n", "prom")
	port := strconv.Itoa(freePort(t))
	launchExporter(t, exec.Command(binary, "--web.listen-address=127.0.0.1:"+port, "--web.config.file="+config), "https://localhost:"+port)
	base := "https://localhost:" + port
	deadline := time.Now().Add(20 * time.Second)
	var out, errs string
	code := -1
	for code != 0 && time.Now().Before(deadline) {
		out, errs, code = runTopCommand(t, "--once", "--tls.ca-file="+cert, "https://prom:s3cret@localhost:"+port)
		time.Sleep(100 * time.Millisecond)
	}
	if code != 0 || !strings.Contains(out, "LOCAL") || strings.Contains(out+errs, "s3cret") {
		t.Fatalf("with the CA and credentials: exit %d\n%s%s", code, out, errs)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls.ca-file=" + cert, base}, base + "/api/v1/flows?top=0: 401 Unauthorized: basic auth required: put user:password in the URL"},
		{[]string{"https://prom:s3cret@localhost:" + port}, "--tls.ca-file"},
		{[]string{"http://localhost:" + port}, "use an https:// URL"},
	} {
		_, errs, code := runTopCommand(t, append([]string{"--once"}, c.args...)...)
		if code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("top --once %v: exit %d, %q; want 1 and %q", c.args, code, errs, c.want)
		}
	}

	off := startExporter(t, "--no-web.live-view")
	_, errs, code = runTopCommand(t, off.url)
	if code != 1 || !strings.Contains(errs, off.url+"/api/v1/flows/stream: 404 Not Found") || !strings.Contains(errs, "--no-web.live-view") {
		t.Errorf("against --no-web.live-view: exit %d, %q", code, errs)
	}
}

// TestTopReconnects: when the exporter restarts, top says the stream
// dropped, reconnects with Last-Event-ID, takes the new run's fresh
// snapshot, and carries on printing tables.
func TestTopReconnects(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	start := func() *exporter {
		e := launchExporter(t, exec.Command(binary, "--web.listen-address="+addr, "--collector.drain-interval=200ms"), "http://"+addr)
		waitServing(t, e)
		return e
	}
	first := start()
	follow := startTop(t, "http://"+addr)
	waitTables := func(n int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for len(follow.snapshot()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d tables, want %d; stderr:\n%s", len(follow.snapshot()), n, follow.stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitTables(3)
	if code := first.stop(); code != 0 {
		t.Fatalf("exporter exit %d", code)
	}
	before := len(follow.snapshot())
	start()
	waitTables(before + 3)
	errs := follow.stderr.String()
	for _, want := range []string{"http://" + addr + "/api/v1/flows/stream dropped", "reconnecting in 2s with Last-Event-ID ", "reconnected at", "a fresh snapshot after reconnecting"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if err := follow.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-follow.done
	if code := follow.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("top after SIGINT: exit %d", code)
	}
}
