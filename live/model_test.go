// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package live

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/naming"
)

// world is a test node's identities and the drains made of them.
type world struct {
	ids  map[string]*naming.Identity
	seq  uint64
	now  int64
	step time.Duration
}

func newWorld() *world {
	return &world{ids: map[string]*naming.Identity{}, now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC).UnixNano(), step: time.Second}
}

// id returns the identity of a host-mode workload.
func (w *world) id(name string) *naming.Identity {
	if i, ok := w.ids[name]; ok {
		return i
	}
	i := &naming.Identity{ID: uint64(len(w.ids) + 1), Peer: naming.Peer{Workload: name, Kind: "systemd_unit"}}
	w.ids[name] = i
	return i
}

func (w *world) edge(local, remote string, port uint16) naming.Edge {
	return naming.NewEdge(w.id(local), w.id(remote), bpf.RoleClient, 17, port, bpf.AppNone)
}

// batch returns the next drain, one step after the last.
func (w *world) batch() *flow.Batch {
	w.seq++
	b := flow.NewBatch(w.seq, w.seq, w.now, w.now+int64(w.step))
	w.now = b.Time
	return b
}

// flowInc is what edge e sent and received in a drain, in one packet each way.
func flowInc(e naming.Edge, tx, rx uint64) flow.Increment[bpf.FlowCounters] {
	return flow.Increment[bpf.FlowCounters]{Edge: e, Value: bpf.FlowCounters{TxBytes: tx, TxPackets: 1, RxBytes: rx, RxPackets: 1}}
}

// addFlows adds incs to b's flows.
func addFlows(b *flow.Batch, incs ...flow.Increment[bpf.FlowCounters]) {
	p := flow.Flows.In(b)
	p.Increments = append(p.Increments, incs...)
}

func testModel(maxEdges int) *Model {
	return newModel(naming.HostSchema, 2*time.Second, time.Minute, Options{MaxEdges: maxEdges, MaxClients: 8})
}

func getSnapshot(t *testing.T, m *Model, query string) Snapshot {
	t.Helper()
	rec := httptest.NewRecorder()
	m.ServeSnapshot(rec, httptest.NewRequest(http.MethodGet, "/api/v1/flows"+query, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/flows%s: %d %s", query, rec.Code, rec.Body)
	}
	var s Snapshot
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSnapshotTopAndOther(t *testing.T) {
	w := newWorld()
	m := testModel(100)
	var total uint64
	for round := 0; round < 3; round++ {
		b := w.batch()
		for i := 1; i <= 10; i++ {
			addFlows(b, flowInc(w.edge("client.service", fmt.Sprintf("10.0.0.%d", i), 53), uint64(100*i), uint64(i)))
			total += uint64(101 * i)
		}
		m.Consume(b)
	}
	s := getSnapshot(t, m, "?top=4")
	if s.TotalEdges != 10 || len(s.Edges) != 5 || s.Seq != 3 {
		t.Fatalf("total_edges %d, %d edges, seq %d; want 10, 4 + __other__, 3", s.TotalEdges, len(s.Edges), s.Seq)
	}
	var sum uint64
	for i, e := range s.Edges {
		sum += e.Total.TransmitBytes + e.Total.ReceiveBytes
		if i < 4 && e.Remote.Name != fmt.Sprintf("10.0.0.%d", 10-i) {
			t.Errorf("edge %d is to %s, want the biggest first (10.0.0.%d)", i, e.Remote.Name, 10-i)
		}
	}
	if other := s.Edges[4]; other.ID != OtherEdgeID || other.Total.TransmitBytes != 3*100*(1+2+3+4+5+6) {
		t.Errorf("last edge %s transmit %d, want %s with %d", other.ID, other.Total.TransmitBytes, OtherEdgeID, 3*100*21)
	}
	if sum != total {
		t.Errorf("snapshot edges sum to %d bytes, the drains held %d", sum, total)
	}
	e := s.Edges[0]
	want := map[string]string{"local_workload": "client.service", "local_kind": "systemd_unit", "remote_workload": "10.0.0.10",
		"remote_kind": "systemd_unit", "role": "client", "protocol": "udp", "port": "53"}
	if fmt.Sprint(e.Labels) != fmt.Sprint(want) {
		t.Errorf("labels %v, want /metrics' %v", e.Labels, want)
	}
	// Three drains of one second each, a window of two: the rate is the
	// last complete window's (two drains).
	if e.Rate == nil || e.Rate.TransmitBytes != 1000 || s.RateWindowSeconds != 2 {
		t.Errorf("rate %+v over %vs, want 1000 B/s over 2s", e.Rate, s.RateWindowSeconds)
	}
	if all := getSnapshot(t, m, "?top=0"); len(all.Edges) != 10 {
		t.Errorf("top=0 gave %d edges, want all 10", len(all.Edges))
	}
}

func TestSnapshotBadQuery(t *testing.T) {
	m := testModel(10)
	for _, q := range []string{"?top=-1", "?top=x", "?scope=planet", "?scope=cluster"} {
		rec := httptest.NewRecorder()
		m.ServeSnapshot(rec, httptest.NewRequest(http.MethodGet, "/api/v1/flows"+q, nil))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, rec.Code)
		}
	}
}

// TestBudgetAndKernelOverflow: edges beyond the budget, and what the
// kernel's tables could not hold, are counted in one __overflow__ edge.
func TestBudgetAndKernelOverflow(t *testing.T) {
	w := newWorld()
	m := testModel(2)
	b := w.batch()
	for i := 1; i <= 5; i++ {
		addFlows(b, flowInc(w.edge("a", fmt.Sprintf("r%d", i), 80), 10, 0))
	}
	flow.Flows.In(b).Overflow = bpf.FlowCounters{TxBytes: 7}
	m.Consume(b)
	s := getSnapshot(t, m, "?top=0")
	if len(s.Edges) != 3 {
		t.Fatalf("%d edges, want 2 and __overflow__", len(s.Edges))
	}
	o := s.Edges[0]
	if o.ID != naming.OverflowValue || o.Total.TransmitBytes != 3*10+7 || o.Labels["remote_workload"] != naming.OverflowValue {
		t.Errorf("first edge %s %+v, want __overflow__ with 37 bytes", o.ID, o.Total)
	}
	if m.stats.overflowed != 3 {
		t.Errorf("overflowed %d, want 3", m.stats.overflowed)
	}
}

// TestExpire: an edge idle for the TTL leaves, and the delta says so.
func TestExpire(t *testing.T) {
	w := newWorld()
	m := testModel(10)
	b := w.batch()
	addFlows(b, flowInc(w.edge("a", "b", 80), 10, 0))
	m.Consume(b)
	id := getSnapshot(t, m, "").Edges[0].ID
	w.step = 30 * time.Second
	m.Consume(w.batch())
	if n := len(getSnapshot(t, m, "").Edges); n != 1 {
		t.Fatalf("%d edges after 30s idle, want 1", n)
	}
	w.step = 31 * time.Second
	b = w.batch()
	m.Consume(b)
	if n := len(getSnapshot(t, m, "").Edges); n != 0 {
		t.Fatalf("%d edges after 61s idle, want 0", n)
	}
	if h := m.history[len(m.history)-1]; len(h.removed) != 1 || h.removed[0] != id {
		t.Errorf("last delta removed %v, want [%s]", h.removed, id)
	}
}

// TestDeltaEncoding: the frame a delta is sent as, assembled from each
// edge's pre-encoded description, is exactly the JSON of live.Delta.
func TestDeltaEncoding(t *testing.T) {
	w := newWorld()
	m := testModel(2)
	b := w.batch()
	for i := 1; i <= 3; i++ { // the third goes to __overflow__
		addFlows(b, flowInc(w.edge("a \"quoted\" ünït", fmt.Sprintf("r%d", i), 80), uint64(i), 1))
	}
	tcp := flow.TCP.In(b)
	tcp.Increments = append(tcp.Increments, flow.Increment[bpf.TCPCounters]{Edge: w.edge("a \"quoted\" ünït", "r1", 80)})
	tcp.Increments[0].Value.Events[bpf.TCPConnectAttempt], tcp.Increments[0].Value.Events[bpf.TCPFailRefused] = 2, 1
	check := func() {
		t.Helper()
		msg := m.history[len(m.history)-1]
		d := msg.wire()
		d.Edges = make([]Edge, len(msg.edges))
		for i := range msg.edges {
			d.Edges[i] = msg.edges[i].e.desc
			d.Edges[i].Total = msg.edges[i].d.wire()
		}
		if got, want := string(msg.encode(m.boot)), string(event(m.boot, msg.last, "delta", d)); got != want {
			t.Errorf("delta %d encoded as\n%s\nwant\n%s", msg.last, got, want)
		}
	}
	m.Consume(b)
	if n := len(m.history[len(m.history)-1].edges); n != 3 {
		t.Fatalf("the delta has %d edges, want 2 and __overflow__", n)
	}
	check()
	w.step = 2 * time.Minute
	m.Consume(w.batch()) // every edge removed
	check()
}
