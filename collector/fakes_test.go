// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/naming"
)

var update = flag.Bool("update", false, "rewrite the golden exposition files in testdata/")

// fakeTable is one kernel table of a fakeSource: what the test queued
// since the last drain, handed out by the next.
type fakeTable[I, O any] struct {
	mu     sync.Mutex
	src    *fakeSource // set by fakeSource.inputs
	queued []keyed[I]
	over   O
	// drains counts its drains, lastDrained the flows the last one found.
	drains, lastDrained int
}

type keyed[I any] struct {
	key bpf.FlowKey
	inc I
}

func (t *fakeTable[I, O]) add(k bpf.FlowKey, inc I) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.queued = append(t.queued, keyed[I]{k, inc})
}

// Drain implements flow.Source.
func (t *fakeTable[I, O]) Drain(fn func(bpf.FlowKey, I)) (O, error) {
	t.src.mu.Lock()
	delay, err := t.src.delay, t.src.err
	t.src.mu.Unlock()
	time.Sleep(delay)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.drains++
	for _, q := range t.queued {
		fn(q.key, q.inc)
	}
	t.lastDrained = len(t.queued)
	t.queued = nil
	over := t.over
	var zero O
	t.over = zero
	return over, err
}

// fakeSource is the kernel's tables and a tracer's status, as tests set
// them.
type fakeSource struct {
	mu       sync.Mutex
	flows    fakeTable[bpf.FlowCounters, bpf.FlowCounters]
	tcp      fakeTable[bpf.TCPCounters, bpf.TCPCounters]
	latency  fakeTable[bpf.LatencyIncrement, bpf.LatencyOverflow]
	drops    fakeTable[bpf.DropIncrement, bpf.DropCounters]
	requests fakeTable[bpf.RequestIncrement, bpf.RequestOverflow]
	// err fails every drain; delay makes each take that long.
	err      error
	delay    time.Duration
	status   []bpf.ProgramStatus
	tables   []bpf.TableStats
	roles    [bpf.NumRoleMethods]uint64
	rotation bpf.RotationStats
	payload  bpf.PayloadStats
	statsErr error
}

func newFakeSource() *fakeSource { return &fakeSource{} }

// inputs are the pipeline's inputs of tables ids, from f.
func (f *fakeSource) inputs(ids []bpf.Table) []flow.Input {
	f.flows.src, f.tcp.src, f.latency.src, f.drops.src, f.requests.src = f, f, f, f, f
	all := map[bpf.Table]flow.Input{
		bpf.TableFlows:    flow.Flows.From(&f.flows),
		bpf.TableTCP:      flow.TCP.From(&f.tcp),
		bpf.TableLatency:  flow.Latency.From(&f.latency),
		bpf.TableDrops:    flow.Drops.From(&f.drops),
		bpf.TableRequests: flow.Requests.From(&f.requests),
	}
	var in []flow.Input
	for _, id := range ids {
		in = append(in, all[id])
	}
	return in
}

// addRequest queues n requests r for flow k.
func (f *fakeSource) addRequest(k bpf.FlowKey, r bpf.Request, n uint64) {
	f.requests.add(k, bpf.RequestIncrement{Request: r, Count: n})
}

// addLatency queues samples of bucket b of histogram h for flow k.
func (f *fakeSource) addLatency(k bpf.FlowKey, h bpf.Histogram, b int, perCPU ...bpf.LatencyBucket) {
	f.latency.add(k, bpf.LatencyIncrement{Histogram: h, Bucket: b, LatencyBucket: sumOf(perCPU)})
}

// addDrop queues drops for flow k and the kernel's reason.
func (f *fakeSource) addDrop(k bpf.FlowKey, reason uint32, perCPU ...bpf.DropCounters) {
	f.drops.add(k, bpf.DropIncrement{Reason: reason, DropCounters: sumOf(perCPU)})
}

// sumOf adds up per-CPU values, as bpf.Tracer does before handing them out.
func sumOf[V any, P interface {
	*V
	Add(*V)
}](perCPU []V) V {
	var s V
	for i := range perCPU {
		P(&s).Add(&perCPU[i])
	}
	return s
}

func (f *fakeSource) addFlow(k bpf.FlowKey, perCPU ...bpf.FlowCounters) {
	f.flows.add(k, sumOf(perCPU))
}

func (f *fakeSource) addTCP(k bpf.FlowKey, perCPU ...bpf.TCPCounters) {
	f.tcp.add(k, sumOf(perCPU))
}

func (f *fakeSource) Status() []bpf.ProgramStatus { return f.status }

func (f *fakeSource) Stats() ([]bpf.TableStats, error) { return f.tables, f.statsErr }

func (f *fakeSource) RoleDecisions() ([bpf.NumRoleMethods]uint64, error) { return f.roles, f.statsErr }

func (f *fakeSource) RotationStats() (bpf.RotationStats, error) { return f.rotation, f.statsErr }

func (f *fakeSource) PayloadStats() (bpf.PayloadStats, error) { return f.payload, f.statsErr }

// fakeResolver names local sides by cgroup id and remote ones by address;
// tests change the maps between scrapes to model identity changes. A cgroup
// id in neither local nor gone cannot be named yet; one in gone never can.
type fakeResolver struct {
	mu         sync.Mutex
	local      map[uint64]naming.Peer
	gone       map[uint64]bool
	remote     map[netip.Addr]naming.Peer
	generation uint64
	// counted is what the last Resolve was given.
	counted time.Time
}

func (r *fakeResolver) Generation() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.generation
}

func (r *fakeResolver) Schema() naming.Schema { return naming.HostSchema }

func (r *fakeResolver) Resolve(k bpf.FlowKey, counted time.Time) (naming.Peer, naming.Peer, uint16, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counted = counted
	l, ok := r.local[k.CgroupID]
	if !ok {
		l, ok = naming.UnknownPeer, r.gone[k.CgroupID]
	}
	rem, found := r.remote[k.Remote]
	if !found {
		rem = naming.Peer{Workload: k.Remote.String(), Kind: "address"}
	}
	return l, rem, k.ServerPort, ok
}

// setLocal names cgroup id from now on, as a cache that caught up would.
func (r *fakeResolver) setLocal(id uint64, p naming.Peer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.local[id] = p
}

func (r *fakeResolver) setRemote(a netip.Addr, p naming.Peer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.remote[a] = p
	r.generation++
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testConfig is a collector config with the given collectors enabled.
func testConfig(maxSeries int, enabled ...string) *Config {
	c := &Config{enabled: map[string]*bool{}, MaxSeries: maxSeries}
	for _, n := range enabled {
		t := true
		c.enabled[n] = &t
	}
	return c
}

// pipelineConfig is the pipeline's default config.
func pipelineConfig() flow.Config {
	return flow.DefaultConfig()
}

func nopLogger() log.Logger { return log.NewNopLogger() }

// testDropReasons names two of the kernel's drop reasons; others are UNKNOWN.
var testDropReasons = map[uint32]string{2: "NO_SOCKET", 12: "NETFILTER_DROP", 104: "QUEUE_PURGE"}

// testPipeline returns the pipeline of the tables cfg's collectors read,
// drained from src, named by res, on clk's time.
func testPipeline(t testing.TB, cfg *Config, pcfg flow.Config, src *fakeSource, res naming.Resolver, clk *clock) *flow.Drainer {
	t.Helper()
	d, err := flow.New(&pcfg, flow.Options{Inputs: src.inputs(cfg.Tables()), Resolver: res, Now: clk.Now}, nopLogger())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// newTestPodflow builds the enabled collectors over the fakes and their
// pipeline, on clk's time, registered with a pedantic registry.
func newTestPodflow(t testing.TB, cfg *Config, src *fakeSource, res naming.Resolver, clk *clock) (*Podflow, *prometheus.Registry) {
	t.Helper()
	return newTestPodflowWith(t, cfg, pipelineConfig(), src, res, clk)
}

// newTestPodflowWith is newTestPodflow with the pipeline's config pcfg.
func newTestPodflowWith(t testing.TB, cfg *Config, pcfg flow.Config, src *fakeSource, res naming.Resolver, clk *clock) (*Podflow, *prometheus.Registry) {
	t.Helper()
	p, err := New(cfg, Sources{
		Pipeline: testPipeline(t, cfg, pcfg, src, res, clk), DropReasons: testDropReasons, Tracer: src,
	}, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, registerPodflow(t, p)
}

// registerPodflow registers p with a pedantic registry.
func registerPodflow(t testing.TB, p *Podflow) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(p); err != nil {
		t.Fatal(err)
	}
	return reg
}

// assertGolden compares the named families of reg with testdata/<name>.prom,
// or rewrites the file with -update.
func assertGolden(t testing.TB, reg *prometheus.Registry, name string, families ...string) {
	t.Helper()
	path := filepath.Join("testdata", name+".prom")
	if *update {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			for _, f := range families {
				if mf.GetName() == f {
					if err := enc.Encode(mf); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	golden, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	defer golden.Close()
	if err := testutil.GatherAndCompare(reg, golden, families...); err != nil {
		t.Error(err)
	}
}

var errDrain = errors.New("drain failed")
