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
)

var update = flag.Bool("update", false, "rewrite the golden exposition files in testdata/")

// fakeSource hands out, on each drain, what the test queued since the last.
type fakeSource struct {
	mu          sync.Mutex
	flows       []fakeFlow
	tcp         []fakeTCP
	flowOver    bpf.FlowCounters
	tcpOver     bpf.TCPCounters
	latency     []fakeLatency
	latencyOver bpf.LatencyOverflow
	drops       []fakeDrop
	dropOver    bpf.DropCounters
	requests    []fakeRequest
	requestOver bpf.RequestOverflow
	// requestDrains counts the drains of the requests table.
	requestDrains int
	err           error
	drains        int
	status        []bpf.ProgramStatus
	tables        []bpf.TableStats
	roles         [bpf.NumRoleMethods]uint64
	rotation      bpf.RotationStats
	payload       bpf.PayloadStats
	statsErr      error
	flowDrained   int
}

type fakeFlow struct {
	key    bpf.FlowKey
	perCPU []bpf.FlowCounters
}

type fakeTCP struct {
	key    bpf.FlowKey
	perCPU []bpf.TCPCounters
}

type fakeLatency struct {
	key bpf.FlowKey
	inc bpf.LatencyIncrement
}

type fakeDrop struct {
	key bpf.FlowKey
	inc bpf.DropIncrement
}

type fakeRequest struct {
	key bpf.FlowKey
	inc bpf.RequestIncrement
}

// addRequest queues n requests r for flow k.
func (f *fakeSource) addRequest(k bpf.FlowKey, r bpf.Request, n uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, fakeRequest{k, bpf.RequestIncrement{Request: r, Count: n}})
}

// addLatency queues samples of bucket b of histogram h for flow k.
func (f *fakeSource) addLatency(k bpf.FlowKey, h bpf.Histogram, b int, perCPU ...bpf.LatencyBucket) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = append(f.latency, fakeLatency{k, bpf.LatencyIncrement{Histogram: h, Bucket: b, LatencyBucket: sumOf(perCPU)}})
}

// addDrop queues drops for flow k and the kernel's reason.
func (f *fakeSource) addDrop(k bpf.FlowKey, reason uint32, perCPU ...bpf.DropCounters) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drops = append(f.drops, fakeDrop{k, bpf.DropIncrement{Reason: reason, DropCounters: sumOf(perCPU)}})
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
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flows = append(f.flows, fakeFlow{k, perCPU})
}

func (f *fakeSource) addTCP(k bpf.FlowKey, perCPU ...bpf.TCPCounters) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tcp = append(f.tcp, fakeTCP{k, perCPU})
}

func (f *fakeSource) DrainFlows(fn func(bpf.FlowKey, bpf.FlowCounters)) (bpf.FlowCounters, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drains++
	for _, fl := range f.flows {
		fn(fl.key, sumOf(fl.perCPU))
	}
	f.flowDrained = len(f.flows)
	f.flows = nil
	over := f.flowOver
	f.flowOver = bpf.FlowCounters{}
	return over, f.err
}

func (f *fakeSource) DrainTCP(fn func(bpf.FlowKey, bpf.TCPCounters)) (bpf.TCPCounters, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fl := range f.tcp {
		fn(fl.key, sumOf(fl.perCPU))
	}
	f.tcp = nil
	over := f.tcpOver
	f.tcpOver = bpf.TCPCounters{}
	return over, f.err
}

func (f *fakeSource) DrainLatency(fn func(bpf.FlowKey, bpf.LatencyIncrement)) (bpf.LatencyOverflow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.latency {
		fn(l.key, l.inc)
	}
	f.latency = nil
	over := f.latencyOver
	f.latencyOver = bpf.LatencyOverflow{}
	return over, f.err
}

func (f *fakeSource) DrainDrops(fn func(bpf.FlowKey, bpf.DropIncrement)) (bpf.DropCounters, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.drops {
		fn(d.key, d.inc)
	}
	f.drops = nil
	over := f.dropOver
	f.dropOver = bpf.DropCounters{}
	return over, f.err
}

func (f *fakeSource) DrainRequests(fn func(bpf.FlowKey, bpf.RequestIncrement)) (bpf.RequestOverflow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requestDrains++
	for _, r := range f.requests {
		fn(r.key, r.inc)
	}
	f.requests = nil
	over := f.requestOver
	f.requestOver = bpf.RequestOverflow{}
	return over, f.err
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
	local      map[uint64]Peer
	gone       map[uint64]bool
	remote     map[netip.Addr]Peer
	generation uint64
	// counted is what the last Resolve was given.
	counted time.Time
}

func (r *fakeResolver) Generation() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.generation
}

func (r *fakeResolver) Resolve(k bpf.FlowKey, counted time.Time) (Peer, Peer, uint16, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counted = counted
	l, ok := r.local[k.CgroupID]
	if !ok {
		l, ok = unknownPeer, r.gone[k.CgroupID]
	}
	rem, found := r.remote[k.Remote]
	if !found {
		rem = Peer{Workload: k.Remote.String(), Kind: "address"}
	}
	return l, rem, k.ServerPort, ok
}

// setLocal names cgroup id from now on, as a cache that caught up would.
func (r *fakeResolver) setLocal(id uint64, p Peer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.local[id] = p
}

func (r *fakeResolver) setRemote(a netip.Addr, p Peer) {
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
	c := &Config{enabled: map[string]*bool{}, MaxSeries: maxSeries, IdleTTL: 5 * time.Minute, HoldUnresolved: 2 * time.Minute, DrainInterval: DefaultDrainInterval}
	for _, n := range enabled {
		t := true
		c.enabled[n] = &t
	}
	return c
}

func nopLogger() log.Logger { return log.NewNopLogger() }

// testDropReasons names two of the kernel's drop reasons; others are UNKNOWN.
var testDropReasons = map[uint32]string{2: "NO_SOCKET", 12: "NETFILTER_DROP", 104: "QUEUE_PURGE"}

// newTestPodflow builds the enabled collectors over the fakes, with every
// collector's clock set to clk.
func newTestPodflow(t *testing.T, cfg *Config, src *fakeSource, res Resolver, schema Schema, clk *clock) (*Podflow, *prometheus.Registry) {
	t.Helper()
	p, err := New(cfg, Sources{
		Flows: src, TCP: src, Latency: src, Drops: src, Requests: src, DropReasons: testDropReasons, Tracer: src,
		Resolver: res, Schema: schema,
	}, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, registerWithClock(t, p, clk)
}

// registerWithClock sets the drainer's clock to clk and registers p
// with a pedantic registry.
func registerWithClock(t *testing.T, p *Podflow, clk *clock) *prometheus.Registry {
	t.Helper()
	p.drain.now = clk.Now
	p.drain.lastEnd = clk.Now().UnixNano()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(p); err != nil {
		t.Fatal(err)
	}
	return reg
}

// assertGolden compares the named families of reg with testdata/<name>.prom,
// or rewrites the file with -update.
func assertGolden(t *testing.T, reg *prometheus.Registry, name string, families ...string) {
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
