// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// BenchmarkCgroupSKB measures flows_egress per packet with BPF_PROG_TEST_RUN
// against the floor program (one per-CPU hash lookup with the same flow key
// and one increment), alternating the two in rounds of the same run and
// reporting medians and their ratio. The test run's socket is a dummy
// without state, as a socket older than the exporter; tcp4-with-entry is
// an established socket counting in an entry of its own:
//
//	go test -run '^$' -bench CgroupSKB -benchtime 20x ./bpf/
func BenchmarkCgroupSKB(b *testing.B) {
	const repeat = 2_000_000
	// The floor's one entry exists, so every run is a hit like podflow's.
	floor := loadBaselines(b)
	_, progs := loadUnattached(b, ProgFlowsEgress)
	// The same program translating connections to services (Kubernetes
	// mode): client packets to ports of UDP or sockets without state
	// look the frontend table up; one address of it is a frontend.
	tr, translating := loadUnattachedWith(b, Options{EphemeralPorts: [2]uint16{32768, 60999}, CountTCPEvents: true, TranslateServices: true}, ProgFlowsEgress)
	if err := tr.SetServices([]ServiceFrontend{{netip.AddrPortFrom(v4b, 53), ipProtoUDP}, {netip.AddrPortFrom(v4b, 80), ipProtoTCP}}); err != nil {
		b.Fatal(err)
	}
	withEntry := loadEntryBench(b)
	// Floor and program run on one CPU, the same for both: the machine's
	// CPUs need not be equally fast or equally disturbed.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpu0 unix.CPUSet
	cpu0.Set(0)
	if err := unix.SchedSetaffinity(0, &cpu0); err != nil {
		b.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		pkt  packet
		prog *ebpf.Program
	}{
		// Not DNS (statsd): DNS datagrams are parsed (BenchmarkPayloadCost).
		{"udp4", packet{v4a, v4b, ipProtoUDP, udp(40000, 8125, 100), 0}, progs[ProgFlowsEgress]},
		{"tcp4", packet{v4a, v4b, ipProtoTCP, tcp(45000, 443, 1000), 0}, progs[ProgFlowsEgress]},
		{"tcp6", packet{v6a, v6b, ipProtoTCP, tcp(45000, 443, 1000), 0}, progs[ProgFlowsEgress]},
		{"udp4-translating", packet{v4a, v4b, ipProtoUDP, udp(40000, 54, 100), 0}, translating[ProgFlowsEgress]},
		{"udp4-to-service", packet{v4a, v4b, ipProtoUDP, udp(40000, 53, 100), 0}, translating[ProgFlowsEgress]},
		{"tcp4-translating", packet{v4a, v4b, ipProtoTCP, tcp(45000, 443, 1000), 0}, translating[ProgFlowsEgress]},
		// An established TCP socket with an entry of its own (entrybench.bpf.c).
		{"tcp4-with-entry", packet{v4a, v4b, ipProtoTCP, tcp(45000, 443, 1000), 0}, withEntry},
	} {
		b.Run(tc.name, func(b *testing.B) {
			data := tc.pkt.bytes()
			var floorNs, podflowNs []float64
			for b.Loop() {
				floorNs = append(floorNs, nsPerRun(b, floor.FloorIncrement, data, repeat))
				podflowNs = append(podflowNs, nsPerRun(b, tc.prog, data, repeat))
			}
			f, p := median(floorNs), median(podflowNs)
			b.ReportMetric(p, "ns/packet")
			b.ReportMetric(f, "floor-ns/packet")
			b.ReportMetric(p/f, "x-floor")
		})
	}
}

// loadEntryBench loads flows_egress_with_entry (entrybench.bpf.c), with
// counting per socket on, alone.
func loadEntryBench(b *testing.B) *ebpf.Program {
	spec, err := loadEntrybench()
	if err != nil {
		b.Fatal(err)
	}
	if err := spec.Variables["count_in_sockets"].Set(true); err != nil {
		b.Fatal(err)
	}
	const name = "flows_egress_with_entry"
	spec.Programs = map[string]*ebpf.ProgramSpec{name: spec.Programs[name]}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(coll.Close)
	return coll.Programs[name]
}

// nsPerRun times repeat runs of prog with the wall clock: the kernel reports
// whole nanoseconds per run, too coarse for 30 ns programs. The one-time
// setup of the test run is negligible over millions of runs.
func nsPerRun(b *testing.B, prog *ebpf.Program, data []byte, repeat int) float64 {
	start := time.Now()
	if _, _, err := prog.Benchmark(data, repeat, nil); err != nil {
		b.Fatal(err)
	}
	return float64(time.Since(start).Nanoseconds()) / float64(repeat)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
