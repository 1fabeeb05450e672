// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package flow

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/naming"
)

// Every table the kernel object declares is one the pipeline drains,
// merges and holds: a table declared in bpf and not here would panic at
// the first batch.
func TestEveryTableDeclared(t *testing.T) {
	for id := range bpf.NumTables {
		if tables[id] == nil {
			t.Errorf("table %s (%d) has no declaration in flow/tables.go", bpf.Table(id), id)
		} else if tables[id].ID() != bpf.Table(id) {
			t.Errorf("table %d declared as %s", id, tables[id].ID())
		}
	}
}

func TestFlags(t *testing.T) {
	app := kingpin.New("test", "")
	cfg := AddFlags(app)
	if _, err := app.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if *cfg != DefaultConfig() {
		t.Errorf("the flags' defaults %+v, DefaultConfig %+v", *cfg, DefaultConfig())
	}
	for args, want := range map[string]string{
		"--collector.flows.idle-ttl=-1s":         "--collector.flows.idle-ttl must be positive, got -1s",
		"--collector.flows.idle-ttl=0s":          "--collector.flows.idle-ttl must be positive, got 0s",
		"--collector.drain-interval=10ms":        "--collector.drain-interval must be at least 100ms, got 10ms",
		"--collector.flows.hold-unresolved=-1ms": "--collector.flows.hold-unresolved must not be negative, got -1ms",
		"--collector.flows.hold-unresolved=0s":   "",
	} {
		app := kingpin.New("test", "")
		cfg := AddFlags(app)
		if _, err := app.Parse([]string{args}); err != nil {
			t.Fatal(err)
		}
		err := cfg.Validate()
		if (err == nil) != (want == "") || (err != nil && err.Error() != want) {
			t.Errorf("%s: Validate() = %v, want %q", args, err, want)
		}
		if _, err := New(cfg, Options{Resolver: &resolver{}}, log.NewNopLogger()); (err == nil) != (want == "") {
			t.Errorf("%s: New() = %v, want the same as Validate", args, err)
		}
	}
	if _, err := New(&Config{Interval: time.Second, IdleTTL: time.Minute}, Options{}, log.NewNopLogger()); err == nil || !strings.Contains(err.Error(), "no resolver") {
		t.Errorf("New without a resolver: %v", err)
	}
}

// resolver names cgroup 1 "web" and every remote address by itself; other
// cgroups cannot be named until named[id] is set.
type resolver struct {
	mu    sync.Mutex
	named map[uint64]string
}

func (r *resolver) Resolve(k bpf.FlowKey, _ time.Time) (naming.Peer, naming.Peer, uint16, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	remote := naming.Peer{Workload: k.Remote.String(), Kind: "address"}
	if k.CgroupID == 1 {
		return naming.Peer{Workload: "web", Kind: "systemd"}, remote, k.ServerPort, true
	}
	if name, ok := r.named[k.CgroupID]; ok {
		return naming.Peer{Workload: name, Kind: "systemd"}, remote, k.ServerPort, true
	}
	return naming.UnknownPeer, remote, k.ServerPort, false
}

func (r *resolver) Generation() uint64    { return 0 }
func (r *resolver) Schema() naming.Schema { return naming.HostSchema }

func (r *resolver) name(id uint64, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.named == nil {
		r.named = map[uint64]string{}
	}
	r.named[id] = name
}

// queue is a table's source: what the test queued since the last drain.
type queue[I, O any] struct {
	mu   sync.Mutex
	incs []struct {
		k bpf.FlowKey
		v I
	}
	over O
}

func (q *queue[I, O]) add(k bpf.FlowKey, v I) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.incs = append(q.incs, struct {
		k bpf.FlowKey
		v I
	}{k, v})
}

func (q *queue[I, O]) Drain(fn func(bpf.FlowKey, I)) (O, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, i := range q.incs {
		fn(i.k, i.v)
	}
	q.incs = nil
	over := q.over
	var zero O
	q.over = zero
	return over, nil
}

// recorder keeps a copy of what each batch held of the flows and latency
// tables (a batch is valid only while Consume runs).
type recorder struct {
	mu      sync.Mutex
	flows   [][]Increment[bpf.FlowCounters]
	latency [][]Increment[bpf.LatencyIncrement]
	drains  [][2]uint64
}

func (r *recorder) Consume(b *Batch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flows = append(r.flows, append([]Increment[bpf.FlowCounters](nil), Flows.In(b).Increments...))
	r.latency = append(r.latency, append([]Increment[bpf.LatencyIncrement](nil), Latency.In(b).Increments...))
	r.drains = append(r.drains, [2]uint64{b.First, b.Last})
}

// consumed waits until r consumed drain seq of sub.
func (r *recorder) snapshot(sub *Subscription, seq uint64) ([][]Increment[bpf.FlowCounters], [][]Increment[bpf.LatencyIncrement]) {
	sub.Wait(seq)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flows, r.latency
}

var (
	remote = netip.MustParseAddr("10.0.0.2")
	webKey = bpf.FlowKey{CgroupID: 1, Remote: remote, ServerPort: 80, Protocol: 6, Role: bpf.RoleClient}
	newKey = bpf.FlowKey{CgroupID: 7, Remote: remote, ServerPort: 80, Protocol: 6, Role: bpf.RoleClient}
)

// A flow that cannot be named yet is held with all its tables' increments,
// merged per variant; once named, it is released into that drain's batch,
// each table's increments in its own part, exactly once.
func TestHeldFlowReleasedIntoEveryTable(t *testing.T) {
	flows := &queue[bpf.FlowCounters, bpf.FlowCounters]{}
	latency := &queue[bpf.LatencyIncrement, bpf.LatencyOverflow]{}
	res := &resolver{}
	cfg := DefaultConfig()
	d, err := New(&cfg, Options{Inputs: []Input{Flows.From(flows), Latency.From(latency)}, Resolver: res}, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	sub := d.Subscribe("test", rec)
	defer sub.Cancel()

	rtt := func(bucket int, n uint64) bpf.LatencyIncrement {
		return bpf.LatencyIncrement{Histogram: bpf.HistRTT, Bucket: bucket, LatencyBucket: bpf.LatencyBucket{Count: n, SumMicros: 10 * n}}
	}
	for range 2 { // two drains while it cannot be named
		flows.add(newKey, bpf.FlowCounters{TxBytes: 100, TxPackets: 1})
		flows.add(webKey, bpf.FlowCounters{TxBytes: 1, TxPackets: 1})
		latency.add(newKey, rtt(5, 1))
		latency.add(newKey, rtt(6, 2))
		d.Sync(TriggerScrape)
	}
	if st := d.HoldStats(bpf.TableFlows); st.Held != 1 || st.Pending != 1 || st.Released != 0 {
		t.Errorf("flows held: %+v, want 1 held, pending", st)
	}
	res.name(7, "new")
	seq := d.Sync(TriggerScrape)
	fl, lat := rec.snapshot(sub, seq)
	if len(fl[0]) != 1 || len(fl[1]) != 1 || len(lat[0]) != 0 || len(lat[1]) != 0 {
		t.Fatalf("while held: flows %v, latency %v; want only web's flows", fl[:2], lat[:2])
	}
	if got := fl[2]; len(got) != 1 || got[0].Local.Workload != "new" || got[0].Value.TxBytes != 200 || got[0].Value.TxPackets != 2 {
		t.Errorf("released flows %+v, want new's 200 bytes in one increment", got)
	}
	got := lat[2]
	if len(got) != 2 || got[0].Value.Bucket != 5 || got[0].Value.Count != 2 || got[1].Value.Bucket != 6 || got[1].Value.Count != 4 || got[1].Value.SumMicros != 40 {
		t.Errorf("released latency %+v, want buckets 5 (2 samples) and 6 (4 samples, 40 µs)", got)
	}
	for _, id := range []bpf.Table{bpf.TableFlows, bpf.TableLatency} {
		if st := d.HoldStats(id); st.Held != 1 || st.Released != 1 || st.Pending != 0 {
			t.Errorf("%s hold: %+v, want 1 held and released", id, st)
		}
	}
	if st := d.HoldStats(bpf.TableTCP); st != (naming.HoldStats{}) {
		t.Errorf("tcp hold %+v: not drained, nothing held", st)
	}
}
