// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// BenchmarkDrainInterval measures the exporter's CPU time with N flows
// active all the time (a sprayer sends one datagram to each of N addresses
// every 100 ms, so that every drain finds all of them) for
// --collector.drain-interval 5s (the default: the baseline), 1s and 200ms.
// Each iteration is one round: the exporter is started with each interval
// in turn (the order rotating from round to round), drained once by a
// scrape so that every series and live-view edge exists, then left alone
// (no scrape, no stream) for a window of 5 s, over which its CPU time is
// read from the kernel. It reports the median share of one core for each
// interval and the median of the per-round ratios to 5s, and what one
// drain costs: the CPU time 200ms adds to 5s over the drains it adds.
// PODFLOW_BENCH_EXPORTER_ARGS adds flags to the exporter's (e.g.
// --no-web.live-view, to tell the live view's share).
//
//	go test -run '^$' -bench DrainInterval -benchtime 3x -v ./e2e/
//
// Each round takes about 20 s: the whole, about 2 minutes.
func BenchmarkDrainInterval(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("flows=%d", n), func(b *testing.B) { benchDrainInterval(b, n) })
	}
}

// drainWindow is how long CPU time is measured: a multiple of every
// interval, so that each run holds a whole number of drains.
const drainWindow = 5 * time.Second

func benchDrainInterval(b *testing.B, n int) {
	intervals := []time.Duration{5 * time.Second, time.Second, 200 * time.Millisecond}
	env := testnet.New(b)
	// The sprayed addresses are routed to a sink namespace that drops them.
	ns, sink := env.Netns("spray"), env.Netns("sink")
	_, lsink := env.Veth(ns, []netip.Prefix{netip.MustParsePrefix("10.63.0.1/24")}, sink, []netip.Prefix{netip.MustParsePrefix("10.63.0.2/24")})
	ns.Run("ip", "route", "add", "10.64.0.0/10", "via", lsink.Addr(false).String())
	startSprayer(b, ns, env.Root.Child("sprayer"), "10.64.0.1", n, 100*time.Millisecond)

	extraArgs := strings.Fields(os.Getenv("PODFLOW_BENCH_EXPORTER_ARGS"))
	run := func(interval time.Duration) float64 {
		exp := startExporter(b, append([]string{"--log.level=warn", "--cgroup.root=" + env.Root.Path,
			"--collector.drain-interval=" + interval.String(),
			// Every flow its own series and live-view edge.
			"--collector.max-series-per-family=" + strconv.Itoa(2*n)}, extraArgs...)...)
		exp.scrape() // the first drain names every flow and makes its series
		time.Sleep(200 * time.Millisecond)
		pid := exp.cmd.Process.Pid
		before := processCPUClock(b, pid)
		time.Sleep(drainWindow)
		cpu := processCPUClock(b, pid) - before
		// What the run held, to check it: the drains and the flow series.
		_, families := exp.scrape()
		var byInterval, series float64
		for _, m := range families["podflow_drains_total"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "trigger" && l.GetValue() == "interval" {
					byInterval = m.GetCounter().GetValue()
				}
			}
		}
		for _, m := range families["podflow_flow_transmit_packets_total"].GetMetric() {
			if m.GetCounter().GetValue() > 0 {
				series++
			}
		}
		b.Logf("interval %s: %.2f%% of a core over %s; %.0f interval drains by then, %.0f flow series",
			interval, 100*cpu.Seconds()/drainWindow.Seconds(), drainWindow, byInterval, series)
		if code := exp.stop(); code != 0 {
			b.Fatalf("exporter exit code %d", code)
		}
		return cpu.Seconds() / drainWindow.Seconds()
	}

	shares := make([][]float64, len(intervals))
	ratios := make([][]float64, len(intervals))
	round := 0
	for b.Loop() {
		got := make([]float64, len(intervals))
		for k := range intervals {
			i := (round + k) % len(intervals)
			got[i] = run(intervals[i])
		}
		round++
		for i := range intervals {
			shares[i] = append(shares[i], got[i])
			ratios[i] = append(ratios[i], got[i]/got[0])
		}
	}
	for i, d := range intervals {
		b.ReportMetric(100*median(shares[i]), "%cpu-"+d.String())
		if i > 0 {
			b.ReportMetric(median(ratios[i]), "ratio-"+d.String())
		}
	}
	// What one drain costs: the CPU the shortest interval adds to the
	// baseline, over the drains it adds.
	last := len(intervals) - 1
	extra := (median(shares[last]) - median(shares[0])) * drainWindow.Seconds()
	drains := drainWindow.Seconds()/intervals[last].Seconds() - drainWindow.Seconds()/intervals[0].Seconds()
	b.ReportMetric(extra/drains*1e6, "us/drain")
	b.ReportMetric(extra/drains*1e9/float64(n), "ns/flow/drain")
}

// processCPUClock returns the CPU time process pid has used, all its
// threads, from its process CPU clock (nanoseconds; /proc's utime and
// stime count 10 ms ticks, too coarse for a drain every 5 s).
func processCPUClock(b *testing.B, pid int) time.Duration {
	var ts unix.Timespec
	// MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED), see clock_getcpuclockid(3).
	if err := unix.ClockGettime(int32(^pid<<3|2), &ts); err != nil {
		b.Fatalf("CPU clock of process %d: %v", pid, err)
	}
	return time.Duration(ts.Nano())
}

// sprayerEnv makes the test binary a sprayer (see spray): it is started
// inside a namespace and a cgroup, like testnet's helpers.
const sprayerEnv = "PODFLOW_BENCH_SPRAYER"

func init() {
	spec := os.Getenv(sprayerEnv)
	if spec == "" {
		return
	}
	if err := spray(strings.Fields(spec)); err != nil {
		fmt.Fprintln(os.Stderr, "sprayer:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// spray FIRST COUNT PERIOD: from one unconnected socket, one empty datagram
// to port 53 of each of COUNT addresses counting up from FIRST, again every
// PERIOD, until killed: COUNT flows active all the time.
func spray(args []string) error {
	if len(args) != 3 {
		return errors.New("want FIRST COUNT PERIOD")
	}
	first, err := netip.ParseAddr(args[0])
	if err != nil {
		return err
	}
	count, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	period, err := time.ParseDuration(args[2])
	if err != nil {
		return err
	}
	c, err := net.ListenUDP("udp", nil)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	for next := time.Now(); ; {
		addr := first
		for range count {
			if _, err := c.WriteToUDPAddrPort(nil, netip.AddrPortFrom(addr, 53)); err != nil {
				return fmt.Errorf("send to %s: %w", addr, err)
			}
			addr = addr.Next()
		}
		next = next.Add(period)
		time.Sleep(time.Until(next))
	}
}

// startSprayer runs spray in ns and cg until the benchmark ends.
func startSprayer(b *testing.B, ns *testnet.Netns, cg *testnet.Cgroup, first string, count int, period time.Duration) {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	dir, err := os.Open(cg.Path)
	if err != nil {
		b.Fatal(err)
	}
	defer dir.Close()
	cmd := exec.Command("ip", "netns", "exec", ns.Name, exe)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %s", sprayerEnv, first, count, period))
	// Born in the cgroup, so its socket is counted under the exporter's
	// --cgroup.root.
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		ready <- s.Scan() && s.Text() == "ready"
	}()
	select {
	case ok := <-ready:
		if !ok {
			b.Fatalf("sprayer did not start: %s", &stderr)
		}
	case <-time.After(10 * time.Second):
		b.Fatalf("sprayer not ready after 10s: %s", &stderr)
	}
}
