// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package live

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/naming"
)

// stream is a test client of /api/v1/flows/stream that adds up what it
// is sent, as a page does.
type stream struct {
	t      *testing.T
	body   io.ReadCloser
	events *StreamReader
	totals map[string]uint64 // transmit bytes by edge ID
	last   uint64            // last_seq of the last delta
	kinds  []string
}

func openStream(t *testing.T, url, lastEventID string) *stream {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/api/v1/flows/stream", nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("stream: %s", resp.Status)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &stream{t: t, body: resp.Body, events: NewStreamReader(resp.Body), totals: map[string]uint64{}}
}

// next reads one event and applies it.
func (s *stream) next() {
	s.t.Helper()
	ev, err := s.events.Next()
	if err != nil {
		s.t.Fatalf("stream: %v", err)
	}
	s.kinds = append(s.kinds, ev.Name)
	switch ev.Name {
	case "snapshot":
		var snap Snapshot
		if err := json.Unmarshal(ev.Data, &snap); err != nil {
			s.t.Fatal(err)
		}
		clear(s.totals)
		for _, e := range snap.Edges {
			s.totals[e.ID] = e.Total.TransmitBytes
		}
		s.last = snap.Seq
	case "delta":
		var d Delta
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			s.t.Fatal(err)
		}
		if d.FirstSeq != s.last+1 {
			s.t.Fatalf("delta %d..%d after %d: a drain is missing", d.FirstSeq, d.LastSeq, s.last)
		}
		for _, e := range d.Edges {
			s.totals[e.ID] += e.Total.TransmitBytes
		}
		s.last = d.LastSeq
	default:
		s.t.Fatalf("unexpected event %q", ev.Name)
	}
}

// until reads events until drain seq has been applied.
func (s *stream) until(seq uint64) {
	for s.last < seq {
		s.next()
	}
}

func (s *stream) sum() uint64 {
	var n uint64
	for _, v := range s.totals {
		n += v
	}
	return n
}

// feed hands the model n drains of edges flows each, and returns the
// bytes they held.
func feed(m *Model, w *world, n, edges int, size uint64) uint64 {
	var total uint64
	for i := 0; i < n; i++ {
		b := w.batch()
		for j := 0; j < edges; j++ {
			addFlows(b, flowInc(w.edge(fmt.Sprintf("client-%d.service", j%7), fmt.Sprintf("192.0.2.%d", j), uint16(1000+j)), size, 0))
			total += size
		}
		m.Consume(b)
	}
	return total
}

// TestStalledClient: among five streams, one stops reading. The other
// four get every drain, the stalled one's backlog stays at most one delta
// per edge per pending slot, and when it reads again its deltas (merged)
// sum to the truth.
func TestStalledClient(t *testing.T) {
	w := newWorld()
	m := testModel(1000)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(m.ServeStream))
	// Small socket buffers, so that a client that stops reading blocks
	// the server's writes after a few kilobytes.
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	defer srv.Close()
	defer m.Close()

	readers := make([]*stream, 4)
	for i := range readers {
		readers[i] = openStream(t, srv.URL, "")
		readers[i].next() // the snapshot
	}
	// The stalled client: a small receive buffer, and nobody reading.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return serr
	}}
	conn, err := d.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/v1/flows/stream HTTP/1.1\r\nHost: test\r\n\r\n")
	waitFor(t, func() bool { m.mu.Lock(); defer m.mu.Unlock(); return len(m.clients) == 5 })
	var stalled *client
	m.mu.Lock()
	for c := range m.clients {
		if stalled == nil || len(c.pending) > 0 { // any; found below by its backlog
			stalled = c
		}
	}
	m.mu.Unlock()

	const drains, edges = 60, 400
	total := feed(m, w, drains, edges, 1500)
	for _, r := range readers {
		r.until(drains)
		if r.sum() != total {
			t.Errorf("a reading stream summed %d bytes, want %d", r.sum(), total)
		}
	}
	// The stalled stream's backlog: merged, so at most maxPending deltas
	// of at most every edge each.
	m.mu.Lock()
	var backlog, entries int
	for c := range m.clients {
		c.mu.Lock()
		if n := len(c.pending); n > backlog {
			backlog, entries = n, 0
			for _, p := range c.pending {
				entries += len(p.edges)
			}
			stalled = c
		}
		c.mu.Unlock()
	}
	merges := m.stats.merges
	m.mu.Unlock()
	if backlog == 0 || merges == 0 {
		t.Fatalf("no stream fell behind (backlog %d, merges %d): the test did not stall one", backlog, merges)
	}
	if backlog > maxPending || entries > maxPending*edges {
		t.Errorf("stalled backlog %d deltas, %d edge entries; want at most %d and %d", backlog, entries, maxPending, maxPending*edges)
	}
	t.Logf("stalled stream: %d deltas waiting, %d edge entries, %d merges", backlog, entries, merges)

	// It reads again: what it is sent sums to the truth.
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &stream{t: t, body: resp.Body, events: NewStreamReader(resp.Body), totals: map[string]uint64{}}
	s.until(drains)
	if s.sum() != total {
		t.Errorf("the stalled stream summed %d bytes after resuming, want %d", s.sum(), total)
	}
	if s.kinds[0] != "snapshot" || len(s.kinds) >= drains {
		t.Errorf("stalled stream got %d events (%v...), want a snapshot and fewer deltas than drains (merged)", len(s.kinds), s.kinds[:min(len(s.kinds), 5)])
	}
}

// TestResume: a stream that reconnects with Last-Event-ID gets the deltas
// since, merged; one the history no longer covers, or of another run, gets
// a fresh snapshot.
func TestResume(t *testing.T) {
	w := newWorld()
	m := testModel(1000)
	srv := httptest.NewServer(http.HandlerFunc(m.ServeStream))
	defer srv.Close()
	defer m.Close()
	feed(m, w, 3, 5, 100)
	s := openStream(t, srv.URL, "")
	s.until(3)
	id := s.events.LastID()
	s.body.Close()
	feed(m, w, 4, 5, 100)

	r := openStream(t, srv.URL, id)
	r.totals, r.last = s.totals, s.last
	r.next()
	if r.kinds[0] != "delta" || r.last != 7 || r.sum() != 7*5*100 {
		t.Errorf("resumed with %s up to drain %d summing %d; want one delta to 7 summing %d", r.kinds[0], r.last, r.sum(), 7*5*100)
	}
	for _, stale := range []string{"1:2", id[:strings.Index(id, ":")] + ":99", "nonsense"} {
		r := openStream(t, srv.URL, stale)
		r.next()
		if r.kinds[0] != "snapshot" || r.sum() != 7*5*100 {
			t.Errorf("Last-Event-ID %q: got %s summing %d, want a snapshot summing %d", stale, r.kinds[0], r.sum(), 7*5*100)
		}
	}
	// History beyond MaxEdges edge entries is dropped: an old ID then
	// gets a snapshot.
	feed(m, w, 300, 5, 100)
	r = openStream(t, srv.URL, id)
	r.next()
	if r.kinds[0] != "snapshot" {
		t.Errorf("an ID older than the history got %s, want snapshot", r.kinds[0])
	}
}

// TestClientLimit: streams beyond --web.live-view.max-clients get 503.
func TestClientLimit(t *testing.T) {
	m := newModel(naming.HostSchema, time.Second, time.Minute, Options{MaxEdges: 10, MaxClients: 2})
	srv := httptest.NewServer(http.HandlerFunc(m.ServeStream))
	defer srv.Close()
	defer m.Close()
	openStream(t, srv.URL, "").next()
	openStream(t, srv.URL, "").next()
	resp, err := http.Get(srv.URL + "/api/v1/flows/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "--web.live-view.max-clients") {
		t.Errorf("third stream: %s %q, want 503 naming the flag", resp.Status, body)
	}
	if m.stats.rejected != 1 {
		t.Errorf("rejected %d, want 1", m.stats.rejected)
	}
}

// TestCloseEndsStreams: at shutdown every stream ends, even one whose
// client stopped reading, so the server can stop.
func TestCloseEndsStreams(t *testing.T) {
	w := newWorld()
	m := testModel(1000)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(m.ServeStream))
	srv.Config.RegisterOnShutdown(m.Close)
	srv.Start()
	s := openStream(t, srv.URL, "")
	s.next()
	feed(m, w, 50, 400, 1500) // more than the socket buffers hold
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an unread stream: %v", err)
	}
}

// smallBuffers gives accepted connections an 8 KiB send buffer.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 5s")
}
