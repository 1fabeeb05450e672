// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/live"
)

// liveStream follows /api/v1/flows/stream and sums what it is sent per
// label set, as a page does: the snapshot, then every delta.
type liveStream struct {
	mu     sync.Mutex
	totals map[string]live.Counters
	events map[string]int
	err    error
	resp   *http.Response
}

func followStream(t *testing.T, url string) *liveStream {
	t.Helper()
	resp, err := http.Get(url + "/api/v1/flows/stream")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	s := &liveStream{totals: map[string]live.Counters{}, events: map[string]int{}, resp: resp}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		r := live.NewStreamReader(resp.Body)
		for {
			ev, err := r.Next()
			if err != nil {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
				return
			}
			s.apply(ev)
		}
	}()
	return s
}

func (s *liveStream) apply(ev live.StreamEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[ev.Name]++
	var edges []live.Edge
	switch ev.Name {
	case "snapshot":
		var snap live.Snapshot
		if err := json.Unmarshal(ev.Data, &snap); err != nil {
			s.err = err
			return
		}
		clear(s.totals)
		edges = snap.Edges
	case "delta":
		var d live.Delta
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			s.err = err
			return
		}
		edges = d.Edges
	}
	for _, e := range edges {
		k := labelKey(e.Labels)
		c := s.totals[k]
		c.Add(&e.Total)
		s.totals[k] = c
	}
}

// total is what the stream summed for the edge with labels.
func (s *liveStream) total(labels map[string]string) live.Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.totals[labelKey(labels)]
}

func labelKey(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k, v := range l {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

// TestLiveStreamSumsToTruth: real datagrams and refused connects between
// two "pods". What the stream's deltas add up to for each edge equals what
// /metrics counted and what was sent, exactly, round after round; the
// snapshot agrees.
func TestLiveStreamSumsToTruth(t *testing.T) {
	const n, size, refused = 50, 300, 3
	pods := newHostPods(t, "10.211.0", "live", n, size, 7100, refused)
	exp := startExporter(t, pods.exporterArgs()...)
	stream := followStream(t, exp.url)
	sender, receiver, connects := pods.edges()

	for round := 1; round <= 2; round++ {
		pods.round()
		_, fams := exp.scrape()
		truth := uint64(round * pods.roundBytes())
		metrics := map[string]uint64{
			"sender bytes":    uint64(value(t, fams, "podflow_flow_transmit_bytes_total", sender)),
			"receiver bytes":  uint64(value(t, fams, "podflow_flow_receive_bytes_total", receiver)),
			"refused":         uint64(value(t, fams, "podflow_tcp_connect_failures_total", mergeLabels(connects, "reason", "refused"))),
			"attempts":        uint64(value(t, fams, "podflow_tcp_connect_attempts_total", connects)),
			"sender packets":  uint64(value(t, fams, "podflow_flow_transmit_packets_total", sender)),
			"receive packets": uint64(value(t, fams, "podflow_flow_receive_packets_total", receiver)),
		}
		want := map[string]uint64{"sender bytes": truth, "receiver bytes": truth, "refused": uint64(round * refused),
			"attempts": uint64(round * refused), "sender packets": uint64(round * n), "receive packets": uint64(round * n)}
		if fmt.Sprint(metrics) != fmt.Sprint(want) {
			t.Fatalf("round %d: /metrics %v, want the truth %v", round, metrics, want)
		}
		// The scrape drained: its delta reaches the stream within a drain.
		var got map[string]uint64
		deadline := time.Now().Add(10 * time.Second)
		for {
			s, r, c := stream.total(sender), stream.total(receiver), stream.total(connects)
			got = map[string]uint64{"sender bytes": s.TransmitBytes, "receiver bytes": r.ReceiveBytes, "refused": c.ConnectFailures["refused"],
				"attempts": c.ConnectAttempts, "sender packets": s.TransmitPackets, "receive packets": r.ReceivePackets}
			if fmt.Sprint(got) == fmt.Sprint(want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d: the stream's deltas sum to %v, /metrics and the truth say %v (stream error: %v)", round, got, want, stream.err)
		}
		// Nothing more arrives later: the sums stay the truth.
		time.Sleep(600 * time.Millisecond)
		if s := stream.total(sender); s.TransmitBytes != truth {
			t.Fatalf("round %d: the stream's sum moved on to %d after the traffic ended", round, s.TransmitBytes)
		}
		snap := getLiveSnapshot(t, exp.url+"/api/v1/flows?top=0")
		for _, e := range snap.Edges {
			if labelKey(e.Labels) == labelKey(sender) && e.Total.TransmitBytes != truth {
				t.Errorf("round %d: snapshot says %d bytes for the sender, want %d", round, e.Total.TransmitBytes, truth)
			}
		}
	}
	stream.mu.Lock()
	t.Logf("stream events: %v", stream.events)
	if stream.events["snapshot"] != 1 || stream.events["delta"] < 5 {
		t.Errorf("stream events %v, want one snapshot and a delta per drain", stream.events)
	}
	stream.mu.Unlock()

	// The self-metrics say a stream is connected and what it was sent.
	_, fams := exp.scrape()
	if got := value(t, fams, "podflow_live_view_clients", nil); got != 1 {
		t.Errorf("podflow_live_view_clients = %v, want 1", got)
	}
	if got := value(t, fams, "podflow_live_view_messages_total", nil); got < 6 {
		t.Errorf("podflow_live_view_messages_total = %v, want a snapshot and a delta per drain", got)
	}
}

func mergeLabels(l map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range l {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func getLiveSnapshot(t *testing.T, url string) live.Snapshot {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	var s live.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLiveViewOff: --no-web.live-view serves none of it.
func TestLiveViewOff(t *testing.T) {
	exp := startExporter(t, "--no-web.live-view")
	for _, p := range []string{"/api/v1/flows", "/api/v1/flows/stream", "/flows"} {
		resp, err := http.Get(exp.url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s with --no-web.live-view: %s, want 404", p, resp.Status)
		}
	}
	_, fams := exp.scrape()
	if _, ok := fams["podflow_live_view_clients"]; ok {
		t.Error("podflow_live_view_clients exported with the live view off")
	}
}
