// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package top

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/podflow/podflow_exporter/live"
)

// The unit tests of `podflow_exporter top` against an httptest server that
// speaks the live view's format; e2e/top_test.go runs it against the
// exporter.

const snapTime = "2026-03-01T12:00:05.123456789Z"

func testEdge(id, local, remote, role, proto, port string, total live.Counters) live.Edge {
	return live.Edge{
		ID:     id,
		Local:  live.Node{ID: "l/" + local, Name: local, Kind: "cgroup"},
		Remote: live.Node{ID: "r/" + remote, Name: remote, Kind: "private"},
		Labels: map[string]string{"local_workload": local, "remote_workload": remote, "role": role, "protocol": proto, "port": port},
		Total:  total,
	}
}

// testSnapshot has three edges: web serving, a client with failures, a
// quiet one.
func testSnapshot() live.Snapshot {
	web := testEdge("e1", "web.service", "10.0.0.2", "server", "tcp", "8080",
		live.Counters{TransmitBytes: 5_000_000, ReceiveBytes: 20_000, AcceptedConnections: 12, RetransmittedSegments: 3})
	web.Rate = &live.Rates{TransmitBytes: 1000, ReceiveBytes: 50}
	backup := testEdge("e2", "backup.service", "10.0.0.3", "client", "tcp", "9", live.Counters{
		TransmitBytes: 600, ConnectAttempts: 7, ConnectFailures: map[string]uint64{"refused": 4, "timeout": 1},
	})
	backup.Rate = &live.Rates{TransmitBytes: 5000}
	dns := testEdge("e3", "resolved.service", "10.0.0.53", "client", "udp", "53", live.Counters{TransmitBytes: 900, ReceiveBytes: 2000, TransmitPackets: 40})
	return live.Snapshot{
		Scope: "node", Seq: 5, Time: snapTime, RateWindowSeconds: 5,
		LabelNames: []string{"local_workload", "remote_workload", "role", "protocol", "port"},
		TotalEdges: 3, Edges: []live.Edge{web, backup, dns},
	}
}

func localTime(rfc string) string {
	t, _ := time.Parse(time.RFC3339Nano, rfc)
	return t.Local().Format("2006-01-02 15:04:05")
}

// serveSnapshot serves s at /api/v1/flows and records the query.
func serveSnapshot(t *testing.T, s live.Snapshot) (*httptest.Server, *string) {
	var query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != flowsPath {
			http.NotFound(w, r)
			return
		}
		query = r.URL.RawQuery
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s)
	}))
	t.Cleanup(srv.Close)
	return srv, &query
}

// top runs the command line `top args...` as main does: parsed with the
// command's flags, then Run. main's own handling of it (a bad flag's name,
// the signals) is tested in package main.
func top(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cfg := parse(t, args...)
	var out, errb bytes.Buffer
	code = Run(context.Background(), cfg, &out, &errb)
	return out.String(), errb.String(), code
}

// parse parses the command line `top args...` of an application with the
// command added, as main's.
func parse(t *testing.T, args ...string) *Config {
	t.Helper()
	app := kingpin.New("podflow_exporter", "")
	cfg := AddCommand(app)
	if _, err := app.Parse(append([]string{Command}, args...)); err != nil {
		t.Fatalf("top %s: %v", strings.Join(args, " "), err)
	}
	return cfg
}

func TestTopOnceTable(t *testing.T) {
	srv, query := serveSnapshot(t, testSnapshot())
	out, errs, code := top(t, "--once", srv.URL)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if *query != "top=0" {
		t.Errorf("query %q, want top=0 (every edge; top sorts and limits)", *query)
	}
	want := srv.URL + "  3 edges, 3 shown, by rate  drain 5 at " + localTime(snapTime) + ", rates over 5.0s\n" +
		"LOCAL             REMOTE     ROLE    PROTO  PORT  SENT/s  RECV/s     SENT   RECV  CONNECTS  FAILED  RETRANS  FAILURES\n" +
		"backup.service    10.0.0.3   client  tcp       9    5000       0      600      0         7       5        0  refused=4,timeout=1\n" +
		"web.service       10.0.0.2   server  tcp    8080    1000      50  5000000  20000        12       0        3\n" +
		"resolved.service  10.0.0.53  client  udp      53       0       0      900   2000         0       0        0\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if strings.Contains(out, "\x1b") {
		t.Error("--once printed an escape sequence")
	}

	out, _, _ = top(t, "--once", "--sort=bytes", "--limit=1", "--bytes=human", srv.URL)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[2], "web.service") || !strings.Contains(lines[2], " 4.8MiB ") ||
		!strings.Contains(lines[0], "3 edges, 1 shown, by bytes") {
		t.Errorf("--sort=bytes --limit=1 --bytes=human:\n%s", out)
	}
}

func TestTopOnceJSON(t *testing.T) {
	srv, _ := serveSnapshot(t, testSnapshot())
	out, errs, code := top(t, "--once", "--output=json", srv.URL+"/")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got live.Snapshot
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Seq != 5 || len(got.Edges) != 3 {
		t.Fatalf("not the snapshot (%v):\n%s", err, out)
	}
	if !strings.Contains(out, "\n  \"scope\": \"node\",\n") {
		t.Errorf("not indented:\n%s", out)
	}
}

func TestTopSort(t *testing.T) {
	var st state
	s := testSnapshot()
	s.Edges = append(s.Edges, live.Edge{ID: live.OtherEdgeID, Total: live.Counters{TransmitBytes: 1 << 40}})
	st.applySnapshot(&s)
	for key, want := range map[string]string{
		sortRate:     "e2 e1 e3 __other__",
		sortBytes:    "e1 e3 e2 __other__",
		sortFailures: "e2 e1 e3 __other__",
		sortPackets:  "e3 e1 e2 __other__",
	} {
		var ids []string
		for _, e := range st.sorted(key) {
			ids = append(ids, e.ID)
		}
		if got := strings.Join(ids, " "); got != want {
			t.Errorf("--sort=%s: %s, want %s", key, got, want)
		}
	}
}

// TestTopMergeDeltas sums deltas into a snapshot: totals add, new edges
// appear, removed ones go, rates come from the last delta alone; a delta
// already held is skipped, a gap is reported.
func TestTopMergeDeltas(t *testing.T) {
	var st state
	s := testSnapshot()
	st.applySnapshot(&s)
	d := live.Delta{FirstSeq: 6, LastSeq: 7, IntervalSeconds: 2, Time: snapTime,
		Edges: []live.Edge{
			testEdge("e1", "web.service", "10.0.0.2", "server", "tcp", "8080", live.Counters{TransmitBytes: 400, ReceiveBytes: 10, AcceptedConnections: 1}),
			testEdge("e2", "backup.service", "10.0.0.3", "client", "tcp", "9", live.Counters{ConnectAttempts: 1, ConnectFailures: map[string]uint64{"refused": 1, "reset": 2}, RTT: &live.Samples{Count: 1, SumSeconds: 0.5}}),
			testEdge("e4", "new.service", "10.0.0.9", "client", "udp", "7000", live.Counters{TransmitBytes: 228}),
		},
		Removed: []string{"e3"}}
	if applied, gap := st.applyDelta(&d); !applied || gap != 0 {
		t.Fatalf("applyDelta = %v, gap %d", applied, gap)
	}
	e1, e2, e4 := st.edges["e1"], st.edges["e2"], st.edges["e4"]
	if e1.Total.TransmitBytes != 5_000_400 || e1.Total.ReceiveBytes != 20_010 || e1.Total.AcceptedConnections != 13 ||
		e1.Total.RetransmittedSegments != 3 || e1.sentRate != 200 || e1.recvRate != 5 {
		t.Errorf("e1 = %+v, rates %v %v", e1.Total, e1.sentRate, e1.recvRate)
	}
	if f := e2.Total.ConnectFailures; f["refused"] != 5 || f["timeout"] != 1 || f["reset"] != 2 || e2.Total.ConnectAttempts != 8 ||
		e2.Total.RTT == nil || e2.Total.RTT.Count != 1 || e2.sentRate != 0 {
		t.Errorf("e2 = %+v, rate %v", e2.Total, e2.sentRate)
	}
	if e4 == nil || e4.Total.TransmitBytes != 228 || e4.Labels["port"] != "7000" || e4.Local.Name != "new.service" {
		t.Errorf("new edge e4 = %+v", e4)
	}
	if _, ok := st.edges["e3"]; ok || st.total != 3 || st.seq != 7 || st.interval != 2 {
		t.Errorf("after the delta: e3 kept %v, total %d, seq %d, interval %v", ok, st.total, st.seq, st.interval)
	}
	if applied, _ := st.applyDelta(&d); applied || st.edges["e1"].Total.TransmitBytes != 5_000_400 {
		t.Error("a delta the state already holds was summed again")
	}
	d = live.Delta{FirstSeq: 10, LastSeq: 10, IntervalSeconds: 1}
	if applied, gap := st.applyDelta(&d); !applied || gap != 2 {
		t.Errorf("delta 10 after 7: applied %v, gap %d, want 2 (drains 8 and 9)", applied, gap)
	}
	// Rates are over the deltas of the last rateWindow seconds: e1's 400
	// bytes over delta 7's 2 s and delta 10's 1 s...
	if e1.sentRate != 400.0/3 || st.interval != 3 {
		t.Errorf("e1 sends %v B/s over %vs after a delta without it, want 400/3 over 3s", e1.sentRate, st.interval)
	}
	// ... until 10 s of deltas without it have come.
	d = live.Delta{FirstSeq: 11, LastSeq: 11, IntervalSeconds: 10}
	st.applyDelta(&d)
	if e1.sentRate != 0 || st.interval != 10 {
		t.Errorf("e1 sends %v B/s over %vs after 10s without it, want 0 over 10s", e1.sentRate, st.interval)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[float64]string{0: "0B", 999: "999B", 1024: "1.0KiB", 1536: "1.5KiB", 10 * 1024: "10KiB", 5e6: "4.8MiB", 3 << 30: "3.0GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%v) = %s, want %s", n, got, want)
		}
	}
}

// TestTopErrors: each failure names the URL and says what to do; a
// password never shows.
func TestTopErrors(t *testing.T) {
	status := func(code int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, body, code)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	l.Close()
	authURL := status(http.StatusUnauthorized, "Unauthorized")
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"refused", []string{refused}, []string{refused + "/api/v1/flows/stream: connection refused", "is podflow_exporter running there"}},
		{"refused once", []string{"--once", refused}, []string{refused + "/api/v1/flows?top=0: connection refused"}},
		{"401", []string{authURL}, []string{authURL + "/api/v1/flows/stream: 401 Unauthorized: basic auth required: put user:password in the URL"}},
		{"401 with user", []string{strings.Replace(authURL, "://", "://prom:s3cret@", 1)}, []string{authURL + "/api/v1/flows/stream: 401", `did not accept user "prom"`}},
		{"404", []string{status(http.StatusNotFound, "404 page not found")}, []string{"/api/v1/flows/stream: 404 Not Found", "older than the live view", "--no-web.live-view"}},
		{"503", []string{"--once", status(http.StatusServiceUnavailable, "too many clients")}, []string{"/api/v1/flows?top=0: 503 Service Unavailable", "too many live-view clients", "--web.live-view.max-clients"}},
		{"500", []string{status(http.StatusInternalServerError, "drain failed\nmore")}, []string{"500 Internal Server Error: drain failed"}},
		{"https to http", []string{"--once", strings.Replace(authURL, "http:", "https:", 1)}, []string{"plain HTTP: use an http:// URL"}},
		{"scheme", []string{"ftp://host"}, []string{"the scheme must be http or https"}},
		{"password file without user", []string{"--basic-auth.password-file=" + writeFile(t, "pw", "x\n"), "--once", refused}, []string{"needs a user"}},
	} {
		out, errs, code := top(t, c.args...)
		if code != 1 || out != "" {
			t.Errorf("%s: exit %d, stdout %q; want 1 and nothing", c.name, code, out)
		}
		for _, w := range c.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%s: %q\nlacks %q", c.name, errs, w)
			}
		}
		if strings.Contains(errs, "s3cret") {
			t.Errorf("%s: the password shows: %s", c.name, errs)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTopBasicAuthAndTLS: credentials from the URL or the flags, over
// HTTPS with the server's CA given, or without verification; without
// either, the error says which flag to use.
func TestTopBasicAuthAndTLS(t *testing.T) {
	snap := testSnapshot()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "prom" || p != "s3cret" {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(snap)
	}))
	defer srv.Close()
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	withUser := strings.Replace(srv.URL, "://", "://prom:s3cret@", 1)
	pw := writeFile(t, "pw", "s3cret\n")
	for _, args := range [][]string{
		{"--tls.ca-file=" + ca, withUser},
		{"--tls.insecure-skip-verify", withUser},
		{"--tls.ca-file=" + ca, "--basic-auth.username=prom", "--basic-auth.password-file=" + pw, srv.URL},
	} {
		out, errs, code := top(t, append([]string{"--once"}, args...)...)
		if code != 0 || !strings.Contains(out, "web.service") {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errs)
		}
	}
	_, errs, code := top(t, "--once", withUser)
	if code != 1 || !strings.Contains(errs, srv.URL+"/api/v1/flows?top=0: tls: failed to verify certificate") || !strings.Contains(errs, "--tls.ca-file") {
		t.Errorf("unknown CA: exit %d: %s", code, errs)
	}
	_, errs, _ = top(t, "--once", "--tls.ca-file="+writeFile(t, "empty.pem", "nothing"), srv.URL)
	if !strings.Contains(errs, "--tls.ca-file") || !strings.Contains(errs, "no PEM certificate") {
		t.Errorf("a CA file without a certificate: %s", errs)
	}
}

// syncBuffer is a bytes.Buffer written by one goroutine and read by another.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func sse(w http.ResponseWriter, event string, id uint64, v any) {
	data, _ := json.Marshal(v)
	fmt.Fprintf(w, "event: %s\nid: %d\ndata: %s\n\n", event, id, data)
	w.(http.Flusher).Flush()
}
