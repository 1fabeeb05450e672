// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package top

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/live"
)

// fakeStream serves /api/v1/flows/stream: the first connection gets a
// snapshot and one delta, then the stream drops; the second, which must
// send Last-Event-ID 6, a delta merging drains 7 and 8, and stays open.
type fakeStream struct {
	mu          sync.Mutex
	connections int
	lastIDs     []string
}

func (f *fakeStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != streamPath {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	f.connections++
	n := f.connections
	f.lastIDs = append(f.lastIDs, r.Header.Get("Last-Event-ID"))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	switch n {
	case 1:
		_, _ = w.Write([]byte("retry: 50\n: hello\n\n"))
		sse(w, "snapshot", 5, testSnapshot())
		sse(w, "delta", 6, live.Delta{FirstSeq: 6, LastSeq: 6, IntervalSeconds: 1, Time: snapTime, Edges: []live.Edge{
			testEdge("e1", "web.service", "10.0.0.2", "server", "tcp", "8080", live.Counters{TransmitBytes: 1000, ReceiveBytes: 300}),
			testEdge("e4", "new.service", "10.0.0.9", "client", "udp", "7000", live.Counters{TransmitBytes: 228}),
		}})
		// Return: the stream drops.
	case 2:
		sse(w, "delta", 8, live.Delta{FirstSeq: 7, LastSeq: 8, IntervalSeconds: 2, Time: snapTime, Edges: []live.Edge{
			testEdge("e4", "new.service", "10.0.0.9", "client", "udp", "7000", live.Counters{TransmitBytes: 456}),
		}, Removed: []string{"e3"}})
		<-r.Context().Done()
	default:
		http.Error(w, "no third connection expected", http.StatusInternalServerError)
	}
}

// TestTopLive follows the stream with standard output not a terminal: one
// table per message, a blank line between; the totals are the snapshot's
// plus the deltas', the rates each delta's; when the stream drops top says
// so on stderr and reconnects with Last-Event-ID; it ends cleanly when its
// context does (SIGINT in main).
func TestTopLive(t *testing.T) {
	fake := &fakeStream{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	stdout, stderr := runTopUntil(t, func(stdout, _ *syncBuffer) bool { return strings.Count(stdout.String(), "\n\n") >= 3 },
		"--sort=bytes", "--bytes=exact", srv.URL)
	tables := strings.Split(strings.TrimSuffix(stdout.String(), "\n\n"), "\n\n")
	if len(tables) != 3 {
		t.Fatalf("%d tables, want 3:\n%s\nstderr:\n%s", len(tables), stdout.String(), stderr.String())
	}
	if strings.Contains(stdout.String(), "\x1b") {
		t.Error("escape sequences written to a stdout that is not a terminal")
	}
	// rows returns each table's rows by local workload: the fields from
	// SENT/s to RETRANS.
	rows := func(table string) map[string]string {
		m := map[string]string{}
		for _, l := range strings.Split(table, "\n")[2:] {
			f := strings.Fields(l)
			m[f[0]] = strings.Join(f[5:12], " ")
		}
		return m
	}
	for i, want := range []map[string]string{
		{"web.service": "1000 50 5000000 20000 12 0 3", "backup.service": "5000 0 600 0 7 5 0", "resolved.service": "0 0 900 2000 0 0 0"},
		{"web.service": "1000 300 5001000 20300 12 0 3", "backup.service": "0 0 600 0 7 5 0", "resolved.service": "0 0 900 2000 0 0 0", "new.service": "228 0 228 0 0 0 0"},
		// over the last two deltas (3 s): rates average what they added
		{"web.service": "333 100 5001000 20300 12 0 3", "backup.service": "0 0 600 0 7 5 0", "new.service": "228 0 684 0 0 0 0"},
	} {
		got := rows(tables[i])
		if len(got) != len(want) {
			t.Errorf("table %d has %d rows, want %d:\n%s", i, len(got), len(want), tables[i])
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("table %d, %s: %q, want %q\n%s", i, k, got[k], v, tables[i])
			}
		}
	}
	if !strings.Contains(tables[2], "  3 edges, 3 shown, by bytes  drain 8 at ") || !strings.Contains(tables[2], ", rates over 3.0s\n") {
		t.Errorf("header of the last table: %s", strings.Split(tables[2], "\n")[0])
	}
	fake.mu.Lock()
	ids := strings.Join(fake.lastIDs, ",")
	fake.mu.Unlock()
	if ids != ",6" {
		t.Errorf("Last-Event-ID of each connection: %q, want none then 6", ids)
	}
	if e := stderr.String(); !strings.Contains(e, srv.URL+"/api/v1/flows/stream dropped") || !strings.Contains(e, "Last-Event-ID 6") ||
		!strings.Contains(e, "reconnected at") {
		t.Errorf("stderr does not tell of the drop and the reconnection:\n%s", e)
	}
}

// TestTopLiveTerminal draws over the last table on a terminal, cut to its
// width, as many rows as fit.
func TestTopLiveTerminal(t *testing.T) {
	var st state
	s := testSnapshot()
	st.applySnapshot(&s)
	var out syncBuffer
	term := &terminal{w: &out, tty: true, size: func() (int, int) { return 40, 6 }}
	cfg := &Config{sort: sortRate, bytes: "auto"}
	if err := drawTable(term, &st, "http://x", cfg, "reconnected"); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !strings.HasPrefix(got, "\x1b[H") || !strings.HasSuffix(got, "\x1b[K\n\x1b[J") {
		t.Errorf("not drawn over the last table: %q", got)
	}
	lines := strings.Split(strings.TrimSuffix(got, "\x1b[K\n\x1b[J"), "\x1b[K\n")
	if len(lines) != 5 || lines[1] != "reconnected" || !strings.HasPrefix(lines[3], "backup.service") {
		t.Errorf("want header, status, columns, 2 rows (6 lines less 4):\n%q", lines)
	}
	for _, l := range lines {
		if n := len([]rune(strings.TrimPrefix(l, "\x1b[H"))); n > 40 {
			t.Errorf("line of %d runes on a terminal 40 wide: %q", n, l)
		}
	}
}

// TestTopLiveIdle: a stream silent for longer than the exporter's
// keep-alives is taken for dead and opened again.
func TestTopLiveIdle(t *testing.T) {
	defer func(d time.Duration) { streamIdleTimeout = d }(streamIdleTimeout)
	streamIdleTimeout = 200 * time.Millisecond
	var mu sync.Mutex
	connections := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		connections++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		sse(w, "snapshot", 5, testSnapshot())
		<-r.Context().Done() // then silence
	}))
	defer srv.Close()
	_, stderr := runTopUntil(t, func(_, stderr *syncBuffer) bool { return strings.Contains(stderr.String(), "reconnected") }, srv.URL)
	if !strings.Contains(stderr.String(), "dropped at") || !strings.Contains(stderr.String(), "(nothing received for 200ms)") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if connections < 2 {
		t.Errorf("%d connections, want a second after the silence", connections)
	}
}

// runTopUntil runs `top args...` in live mode until done says so (or 10 s
// passed), then ends its context: top must exit 0 within 5 s.
func runTopUntil(t *testing.T, done func(stdout, stderr *syncBuffer) bool, args ...string) (stdout, stderr *syncBuffer) {
	t.Helper()
	cfg := parse(t, args...)
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int)
	go func() { exited <- Run(ctx, cfg, stdout, stderr) }()
	for deadline := time.Now().Add(10 * time.Second); !done(stdout, stderr) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("exit %d after the context ended, want 0: %s", code, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("top did not end with its context")
	}
	return stdout, stderr
}
