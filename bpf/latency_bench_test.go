// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// keepOff moves every thread of this process off cpu until the benchmark
// ends (threads started later inherit it), so that the drains and Go's
// runtime do not preempt the load there.
func keepOff(b *testing.B, cpu int) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		b.Fatal(err)
	}
	others := all
	others.Clear(cpu)
	if others.Count() == 0 {
		b.Fatalf("CPU %d is the only one this process may use", cpu)
	}
	setAll := func(set *unix.CPUSet) {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			b.Fatal(err)
		}
		for _, task := range tasks {
			tid, _ := strconv.Atoi(task.Name())
			_ = unix.SchedSetaffinity(tid, set) // a thread may have exited
		}
	}
	setAll(&others)
	b.Cleanup(func() { setAll(&all) })
}

// attachPodflow loads and attaches every podflow program at root (flows,
// handshakes, connect latency and RTT, retransmits, resets, ICMP refusals,
// drops) and drains every table each second, as the exporter's drain loop
// would, until closed.
func attachPodflow(b *testing.B, root string) io.Closer {
	tr := loadTracer(b, defaultConfig, root)
	stop := every(time.Second, func() { drainAll(b, tr) })
	return closerFunc(func() error { stop(); return tr.Close() })
}

// every calls fn every d, in a goroutine, until stop is called; stop
// returns once fn is no longer running.
func every(d time.Duration, fn func()) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case <-time.After(d):
				fn()
			}
		}
	}()
	return func() { close(quit); <-done }
}

// drainAll drains each of the tracer's tables once, discarding the flows.
func drainAll(b *testing.B, tr *Tracer) {
	_, e1 := Flows.Drain(tr, func(FlowKey, FlowCounters) {})
	_, e2 := TCP.Drain(tr, func(FlowKey, TCPCounters) {})
	_, e3 := Latency.Drain(tr, func(FlowKey, LatencyIncrement) {})
	_, e4 := Drops.Drain(tr, func(FlowKey, DropIncrement) {})
	if err := errors.Join(e1, e2, e3, e4); err != nil {
		b.Errorf("drain: %v", err) // not Fatal: called from the drain goroutine
	}
}

// noopLinks attaches the no-op stand-ins at the hooks podflow uses that
// floor.bpf.c has one for: cgroup_skb egress and ingress at root, and
// tp_btf/tcp_probe. With floor, the cgroup_skb pair is the floor instead:
// one per-CPU hash lookup and increment per packet, the least any
// per-flow counter does.
func noopLinks(b *testing.B, floor *floorObjects, root string, withFloor bool) io.Closer {
	links := multiCloser{floorLinks(b, floor, root, !withFloor)}
	l, err := link.AttachTracing(link.TracingOptions{Program: floor.NoopTcpProbe})
	if err != nil {
		b.Fatal(err)
	}
	return append(links, l)
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// condition is what a latency benchmark's run has attached at the cgroup
// root: nothing, the no-op stand-ins, the floor, or podflow's programs.
type condition struct {
	name   string
	attach func() io.Closer // nil: nothing
}

func hookConditions(b *testing.B, p *netPair) []condition {
	floor := loadBaselines(b)
	root := p.env.Root.Path
	return []condition{
		{"none", nil},
		{"noop", func() io.Closer { return noopLinks(b, floor, root, false) }},
		{"floor", func() io.Closer { return noopLinks(b, floor, root, true) }},
		{"podflow", func() io.Closer { return attachPodflow(b, root) }},
	}
}

// alternate runs measure once under each condition per round (one round
// per benchmark iteration), the order rotating from round to round so
// that neither drift nor position favours a condition, and returns each
// condition's results by round.
func alternate[T any](b *testing.B, conds []condition, measure func(cond string) T) [][]T {
	results := make([][]T, len(conds))
	round := 0
	for b.Loop() {
		for k := range conds {
			i := (round + k) % len(conds)
			var c io.Closer
			if conds[i].attach != nil {
				c = conds[i].attach()
			}
			results[i] = append(results[i], measure(conds[i].name))
			if c != nil {
				c.Close()
			}
		}
		round++
	}
	return results
}

// reportAdded reports, per condition, the median over rounds of a latency
// percentile in µs and, beside "none" (conds[0]), the median of its
// per-round difference to "none"; then the floor's and podflow's added
// over no-op's added (podflow's target: at most 1.25).
func reportAdded(b *testing.B, conds []condition, what string, byRound [][]time.Duration) {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	added := map[string]float64{}
	for i, c := range conds {
		var abs, diff []float64
		for r, d := range byRound[i] {
			abs = append(abs, us(d))
			diff = append(diff, us(d)-us(byRound[0][r]))
		}
		b.ReportMetric(median(abs), c.name+"-"+what+"-us")
		if i > 0 {
			added[c.name] = median(diff)
			b.ReportMetric(added[c.name], c.name+"-added-"+what+"-us")
		}
	}
	if added["noop"] <= 0 {
		b.Logf("%s: the no-op stand-ins added nothing measurable, no ratio", what)
		return
	}
	b.ReportMetric(added["floor"]/added["noop"], "floor/noop-added-"+what)
	b.ReportMetric(added["podflow"]/added["noop"], "podflow/noop-added-"+what)
}

// BenchmarkRequestLatency measures what the hooks add to a TCP
// request/response round trip: sockperf ping-pong (14-byte messages, one
// in flight) between two namespaces over a veth, client and server pinned
// to one CPU, for 5 s under each condition — nothing attached, the no-op
// stand-ins, the floor on the cgroup_skb hooks (noopLinks), podflow's
// programs drained every second (attachPodflow) — in rotating order, one
// round per iteration. It reports each condition's median p50 and p99
// round trip over rounds, the median µs each adds to the run without
// programs of the same round, and the ratios of the floor's and podflow's
// additions to the no-op's.
//
//	go test -run '^$' -bench RequestLatency -benchtime 8x -v ./bpf/
func BenchmarkRequestLatency(b *testing.B) {
	const seconds, port = 5, 11111
	p := newNetPair(b)
	conds := hookConditions(b, p)
	keepOff(b, testnet.LoadCPU)
	cpu := strconv.Itoa(testnet.LoadCPU)
	testnet.StartSockperfServer(b, p.server, p.serverCg, cpu, p.serverAddr, port)
	res := alternate(b, conds, func(cond string) testnet.Percentiles {
		r := testnet.SockperfPingPong(b, p.client, p.clientCg, cpu, p.serverAddr, port, seconds)
		b.Logf("%s: p50 %v, p99 %v", cond, r.P50, r.P99)
		return r
	})
	p50, p99 := make([][]time.Duration, len(conds)), make([][]time.Duration, len(conds))
	for i := range conds {
		for _, r := range res[i] {
			p50[i] = append(p50[i], r.P50)
			p99[i] = append(p99[i], r.P99)
		}
	}
	reportAdded(b, conds, "p50", p50)
	reportAdded(b, conds, "p99", p99)
}

// BenchmarkHTTPLoad measures what the hooks cost an HTTP keep-alive load:
// wrk (one thread, 1 or 4 connections) against a Go net/http server
// (testnet's http-serve) in the other namespace, both pinned to one CPU,
// so the CPU the hooks take is requests lost. Conditions and rounds as
// BenchmarkRequestLatency; it reports the requests per second without
// programs, each condition's median per-round ratio to that, and its p50
// and p99 (wrk --latency, whole µs) and what it adds to them.
//
//	go test -run '^$' -bench HTTPLoad -benchtime 8x -v ./bpf/
func BenchmarkHTTPLoad(b *testing.B) {
	const seconds = 5
	p := newNetPair(b)
	keepOff(b, testnet.LoadCPU)
	addr, cpu := p.serverAddr+":8080", strconv.Itoa(testnet.LoadCPU)
	testnet.StartPinned(b, p.server, p.serverCg, cpu, "http-serve", addr, "0")
	for _, conns := range []int{1, 4} {
		b.Run("conns="+strconv.Itoa(conns), func(b *testing.B) {
			conds := hookConditions(b, p)
			res := alternate(b, conds, func(cond string) testnet.WrkResult {
				r := testnet.Wrk(b, p.client, p.clientCg, cpu, "http://"+addr+"/", conns, seconds)
				b.Logf("%s: %.0f req/s, p50 %v, p99 %v", cond, r.RequestsPerSec, r.Latency.P50, r.Latency.P99)
				return r
			})
			p50, p99 := make([][]time.Duration, len(conds)), make([][]time.Duration, len(conds))
			for i, c := range conds {
				var rate, ratio []float64
				for r, w := range res[i] {
					rate = append(rate, w.RequestsPerSec)
					ratio = append(ratio, w.RequestsPerSec/res[0][r].RequestsPerSec)
					p50[i] = append(p50[i], w.Latency.P50)
					p99[i] = append(p99[i], w.Latency.P99)
				}
				if i == 0 {
					b.ReportMetric(median(rate), "none-req/s")
				} else {
					b.ReportMetric(median(ratio), c.name+"-req/s-ratio")
				}
			}
			reportAdded(b, conds, "p50", p50)
			reportAdded(b, conds, "p99", p99)
		})
	}
}
