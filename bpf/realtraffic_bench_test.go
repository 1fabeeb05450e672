// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// netPair is a client and a server namespace joined by a veth pair, each
// side in its own cgroup under env.Root.
type netPair struct {
	t          testing.TB
	env        *testnet.Env
	client     *testnet.Netns
	clientCg   *testnet.Cgroup
	clientLink *testnet.Link
	server     *testnet.Netns
	serverCg   *testnet.Cgroup
	serverAddr string
}

func newNetPair(tb testing.TB) *netPair {
	env := testnet.New(tb)
	a, c := env.Netns("ip-a"), env.Netns("ip-b")
	la, lc := env.Veth(a, []netip.Prefix{netip.MustParsePrefix("10.221.0.1/24")}, c, []netip.Prefix{netip.MustParsePrefix("10.221.0.2/24")})
	return &netPair{t: tb, env: env, client: a, clientCg: env.Root.Child("client"), clientLink: la,
		server: c, serverCg: env.Root.Child("server"), serverAddr: lc.Addr(false).String()}
}

// newIperfPair is a netPair with an iperf3 server on the server side.
func newIperfPair(tb testing.TB) *netPair {
	p := newNetPair(tb)
	testnet.StartIperfServer(tb, p.server, p.serverCg, p.serverAddr)
	return p
}

// run streams TCP for the given seconds and returns the received bits per
// second (newIperfPair's server).
func (p *netPair) run(seconds int) float64 {
	return testnet.Iperf(p.t, p.client, p.clientCg, p.serverAddr, seconds)
}

// floorLinks attaches the floor (or no-op) programs to the egress and ingress of root.
func floorLinks(tb testing.TB, floor *floorObjects, root string, noop bool) io.Closer {
	egress, ingress := floor.FloorIncrement, floor.FloorIncrementIngress
	if noop {
		egress, ingress = floor.NoopEgress, floor.NoopIngress
	}
	var links multiCloser
	for _, a := range []struct {
		p *ebpf.Program
		t ebpf.AttachType
	}{{egress, ebpf.AttachCGroupInetEgress}, {ingress, ebpf.AttachCGroupInetIngress}} {
		l, err := link.AttachCgroup(link.CgroupOptions{Path: root, Attach: a.t, Program: a.p})
		if err != nil {
			tb.Fatal(err)
		}
		links = append(links, l)
	}
	return links
}

type multiCloser []io.Closer

func (m multiCloser) Close() error {
	for _, c := range m {
		c.Close()
	}
	return nil
}

func loadBaselines(tb testing.TB) *floorObjects {
	var floor floorObjects
	if err := loadFloorObjects(&floor, nil); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { floor.Close() })
	if err := floor.FloorFlows.Put(&podflowFlowKey{}, make([]FlowCounters, ebpf.MustPossibleCPU())); err != nil {
		tb.Fatal(err)
	}
	return &floor
}

// BenchmarkRealTraffic runs flows_egress and the floor side by side on the
// same real packets (iperf3 between two namespaces, both programs on the
// egress of their cgroup) and compares their average run time from the
// kernel's BPF statistics: unlike BPF_PROG_TEST_RUN, caches are as cold as
// real traffic leaves them. Programs on one hook run in attach order and the
// first pays for warming the socket's and skb's cache lines, so the order
// alternates by round.
//
//	go test -run '^$' -bench RealTraffic -benchtime 6x ./bpf/
func BenchmarkRealTraffic(b *testing.B) {
	p, floor := statsOnIperf(b)
	runStats := func(prog *ebpf.Program) (uint64, time.Duration) {
		st := progStats(b, prog)
		return st.RunCount, st.Runtime
	}
	var oursNs, floorNs []float64
	round := 0
	for b.Loop() {
		var tr *Tracer
		var fl io.Closer
		load := func() { tr = loadTracer(b, defaultConfig, p.env.Root.Path) }
		attachFloor := func() {
			l, err := link.AttachCgroup(link.CgroupOptions{Path: p.env.Root.Path, Attach: ebpf.AttachCGroupInetEgress, Program: floor.FloorIncrement})
			if err != nil {
				b.Fatal(err)
			}
			fl = l
		}
		if round%2 == 0 {
			load()
			attachFloor()
		} else {
			attachFloor()
			load()
		}
		round++
		ours := tr.named[ProgFlowsEgress]
		n0, d0 := runStats(ours)
		f0, fd0 := runStats(floor.FloorIncrement)
		p.run(3)
		n1, d1 := runStats(ours)
		f1, fd1 := runStats(floor.FloorIncrement)
		oursNs = append(oursNs, float64((d1-d0).Nanoseconds())/float64(n1-n0))
		floorNs = append(floorNs, float64((fd1-fd0).Nanoseconds())/float64(f1-f0))
		fl.Close()
		tr.Close()
	}
	o, f := median(oursNs), median(floorNs)
	b.ReportMetric(o, "ns/packet")
	b.ReportMetric(f, "floor-ns/packet")
	b.ReportMetric(o/f, "x-floor")
}

// BenchmarkHookCost measures what the cgroup_skb hook costs TCP throughput
// (iperf3 over a veth pair, 5 s runs) with, at the cgroup root: no-op
// programs, the floor programs, and podflow's programs drained every second
// as the exporter would; each round runs every variant and a run without any
// program, and each variant reports the median ratio to those runs.
//
//	go test -run '^$' -bench HookCost -benchtime 6x ./bpf/
func BenchmarkHookCost(b *testing.B) {
	const seconds = 5
	p := newIperfPair(b)
	floor := loadBaselines(b)
	root := p.env.Root.Path
	variants := []struct {
		name   string
		attach func() io.Closer
	}{
		{"noop", func() io.Closer { return floorLinks(b, floor, root, true) }},
		{"floor", func() io.Closer { return floorLinks(b, floor, root, false) }},
		{"podflow", func() io.Closer { return attachPodflow(b, root) }},
	}
	ratios := make([][]float64, len(variants))
	for b.Loop() {
		for i, v := range variants {
			without := p.run(seconds)
			c := v.attach()
			with := p.run(seconds)
			c.Close()
			ratios[i] = append(ratios[i], with/without)
		}
	}
	for i, v := range variants {
		b.ReportMetric(median(ratios[i]), v.name+"-ratio")
	}
}

// BenchmarkRTTHooks compares the two hooks that can see RTT samples on
// iperf3 traffic: tp_btf/tcp_probe (podflow's tcp_rtt) and sockops with
// BPF_SOCK_OPS_RTT_CB (floor.bpf.c's sockops_rtt, doing the same work),
// beside a no-op tcp_probe program. Each runs alone (programs sharing a
// hook run in order and the first pays for cold caches), and its run time
// from the kernel's BPF statistics is divided by the packets on the veth
// (both directions): tcp_probe runs for every segment a socket receives,
// sockops only per RTT sample.
//
//	go test -run '^$' -bench RTTHooks -benchtime 4x ./bpf/
func BenchmarkRTTHooks(b *testing.B) {
	p, floor := statsOnIperf(b)
	tr, err := Load(&defaultConfig, Options{EphemeralPorts: ReadEphemeralPortRange()})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	spec, err := loadPodflow()
	if err != nil {
		b.Fatal(err)
	}
	tcpRTT, err := tr.loadProgram(spec, ProgTCPRTT)
	if err != nil {
		b.Fatal(err)
	}
	defer tcpRTT.Close()

	hooks := []struct {
		name   string
		prog   *ebpf.Program
		attach func() (link.Link, error)
	}{
		{"noop-tcp_probe", floor.NoopTcpProbe, func() (link.Link, error) {
			return link.AttachTracing(link.TracingOptions{Program: floor.NoopTcpProbe})
		}},
		{"tcp_probe", tcpRTT, func() (link.Link, error) {
			return link.AttachTracing(link.TracingOptions{Program: tcpRTT})
		}},
		{"sockops", floor.SockopsRtt, func() (link.Link, error) {
			return link.AttachCgroup(link.CgroupOptions{Path: p.env.Root.Path, Attach: ebpf.AttachCGroupSockOps, Program: floor.SockopsRtt})
		}},
	}
	nsPerPacket := make([][]float64, len(hooks))
	runsPerPacket := make([][]float64, len(hooks))
	for b.Loop() {
		for i, h := range hooks {
			l, err := h.attach()
			if err != nil {
				b.Fatal(err)
			}
			st0 := progStats(b, h.prog)
			before := p.clientLink.Stats()
			p.run(3)
			d := p.clientLink.Stats().Sub(before)
			st1 := progStats(b, h.prog)
			l.Close()
			pkts := float64(d.RxPackets + d.TxPackets)
			nsPerPacket[i] = append(nsPerPacket[i], float64((st1.Runtime-st0.Runtime).Nanoseconds())/pkts)
			runsPerPacket[i] = append(runsPerPacket[i], float64(st1.RunCount-st0.RunCount)/pkts)
		}
	}
	for i, h := range hooks {
		b.ReportMetric(median(nsPerPacket[i]), h.name+"-ns/packet")
		b.ReportMetric(median(runsPerPacket[i]), h.name+"-runs/packet")
	}
}

// statsOnIperf turns on the kernel's BPF run-time statistics for the
// benchmark and returns an iperf3 pair and the baseline programs.
func statsOnIperf(b *testing.B) (*netPair, *floorObjects) {
	stats, err := ebpf.EnableStats(uint32(0)) // BPF_STATS_RUN_TIME
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stats.Close() })
	return newIperfPair(b), loadBaselines(b)
}

// progStats reads a program's run count and time (BPF statistics must be on).
func progStats(tb testing.TB, prog *ebpf.Program) *ebpf.ProgramStats {
	tb.Helper()
	st, err := prog.Stats()
	if err != nil {
		tb.Fatal(err)
	}
	return st
}
