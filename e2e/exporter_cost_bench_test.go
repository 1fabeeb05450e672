// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// BenchmarkExporterCost measures what the exporter process itself costs
// under load, with every collector on (flows, tcp with retransmits and
// resets, latency, drops), attached at the cgroup root and scraped every
// second: its CPU time (all threads, from the kernel's process CPU clock:
// /proc's utime and stime in ns rather than 10 ms ticks) per GB an iperf3
// stream carries between two namespaces and per 10,000 requests of a wrk
// HTTP keep-alive load (4 connections, wrk and the Go server pinned to one
// CPU as in bpf's BenchmarkHTTPLoad), and its resident memory. One exporter
// runs throughout; each round (iteration) measures 5 s with no load, then
// an iperf3 run, then a wrk run. It reports medians over rounds: CPU per GB
// and per 10k requests, each also less what the same time costs without
// load (scrapes and drains of an idle host); the idle CPU per second; the
// largest resident set seen (sampled every 100 ms) during each load, and
// the peak over the exporter's life (VmHWM, its start included).
//
//	go test -run '^$' -bench ExporterCost -benchtime 5x -v ./e2e/
func BenchmarkExporterCost(b *testing.B) {
	const seconds, conns = 5, 4
	env := testnet.New(b)
	a, c := env.Netns("cost-a"), env.Netns("cost-b")
	_, lc := env.Veth(a, []netip.Prefix{netip.MustParsePrefix("10.222.0.1/24")}, c, []netip.Prefix{netip.MustParsePrefix("10.222.0.2/24")})
	clientCg, serverCg := env.Root.Child("client"), env.Root.Child("server")
	server, cpus := lc.Addr(false).String(), strconv.Itoa(testnet.LoadCPU)
	web := "http://" + server + ":8080/"
	testnet.StartIperfServer(b, c, serverCg, server)
	testnet.StartPinned(b, c, serverCg, cpus, "http-serve", server+":8080", "0")

	exp := startExporter(b, "--log.level=warn",
		"--collector.flows", "--collector.tcp", "--collector.latency", "--collector.drops")
	requireAllAttached(b, exp)
	pid := exp.cmd.Process.Pid
	scrapes := scrapeEvery(exp, benchScrapeInterval(), nil)
	rss := watchRSS(b, pid)

	// measure runs load and returns the exporter's CPU time, the wall
	// time and the largest resident set while it ran.
	measure := func(load func()) (cpu, wall time.Duration, maxRSS uint64) {
		rss.take()
		cpu0, t0 := processCPUClock(b, pid), time.Now()
		load()
		return processCPUClock(b, pid) - cpu0, time.Since(t0), rss.take()
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	var idle, perGB, perGBLoad, per10k, per10kLoad, rssIperf, rssWrk, gbits, rates []float64
	for b.Loop() {
		cpu, wall, _ := measure(func() { time.Sleep(seconds * time.Second) })
		idleRate := ms(cpu) / wall.Seconds() // ms of CPU per second
		idle = append(idle, idleRate)

		var bps float64
		cpu, wall, maxRSS := measure(func() { bps = testnet.Iperf(b, a, clientCg, server, seconds) })
		gb := bps * seconds / 8 / 1e9
		perGB = append(perGB, ms(cpu)/gb)
		perGBLoad = append(perGBLoad, (ms(cpu)-idleRate*wall.Seconds())/gb)
		rssIperf = append(rssIperf, mib(maxRSS))
		gbits = append(gbits, bps/1e9)
		b.Logf("idle %.2f ms CPU/s; iperf3 %.2f Gbit/s (%.2f GB): %.1f ms CPU, %.2f ms/GB, max RSS %.1f MiB",
			idleRate, bps/1e9, gb, ms(cpu), ms(cpu)/gb, mib(maxRSS))

		var w testnet.WrkResult
		cpu, wall, maxRSS = measure(func() { w = testnet.Wrk(b, a, clientCg, cpus, web, conns, seconds) })
		tenK := float64(w.Requests) / 1e4
		per10k = append(per10k, ms(cpu)/tenK)
		per10kLoad = append(per10kLoad, (ms(cpu)-idleRate*wall.Seconds())/tenK)
		rssWrk = append(rssWrk, mib(maxRSS))
		rates = append(rates, w.RequestsPerSec)
		b.Logf("wrk %.0f req/s (%d requests): %.1f ms CPU, %.3f ms/10k requests, max RSS %.1f MiB",
			w.RequestsPerSec, w.Requests, ms(cpu), ms(cpu)/tenK, mib(maxRSS))
	}
	stopScrapes(b, scrapes)
	rss.stop()
	peak := procStatusKiB(b, pid, "VmHWM")
	b.ReportMetric(median(perGB), "ms-cpu/GB")
	b.ReportMetric(median(perGBLoad), "ms-cpu/GB-above-idle")
	b.ReportMetric(median(per10k), "ms-cpu/10k-req")
	b.ReportMetric(median(per10kLoad), "ms-cpu/10k-req-above-idle")
	b.ReportMetric(median(idle), "idle-ms-cpu/s")
	b.ReportMetric(median(rssIperf), "iperf-max-rss-MiB")
	b.ReportMetric(median(rssWrk), "wrk-max-rss-MiB")
	b.ReportMetric(mib(peak*1024), "peak-rss-MiB")
	b.ReportMetric(median(gbits), "Gbit/s")
	b.ReportMetric(median(rates), "req/s")
	if code := exp.stop(); code != 0 {
		b.Fatalf("exporter exit code %d", code)
	}
}

// requireAllAttached fails unless every program the exporter reports is
// attached: the benchmark must measure all of them.
func requireAllAttached(b *testing.B, exp *exporter) {
	b.Helper()
	_, families := exp.scrape()
	progs := families["podflow_bpf_program_attached"].GetMetric()
	if len(progs) == 0 {
		b.Fatal("no podflow_bpf_program_attached in /metrics")
	}
	for _, m := range progs {
		if m.GetGauge().GetValue() != 1 {
			b.Fatalf("program %v not attached:\n%s", m.GetLabel(), exp.log)
		}
	}
}

func mib(bytes uint64) float64 { return float64(bytes) / (1 << 20) }

// rssWatch samples a process's resident set every 100 ms.
type rssWatch struct {
	mu   sync.Mutex
	max  uint64
	quit chan struct{}
	done chan struct{}
}

func watchRSS(b *testing.B, pid int) *rssWatch {
	w := &rssWatch{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			kib := procStatusKiB(b, pid, "VmRSS")
			w.mu.Lock()
			w.max = max(w.max, kib*1024)
			w.mu.Unlock()
			select {
			case <-w.quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return w
}

// take returns the largest resident set (bytes) since the previous take.
func (w *rssWatch) take() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.max
	w.max = 0
	return m
}

func (w *rssWatch) stop() { close(w.quit); <-w.done }

// procStatusKiB reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status.
func procStatusKiB(b *testing.B, pid int, field string) uint64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Error(err) // not Fatal: called from the sampling goroutine too
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == field+":" {
			kib, err := strconv.ParseUint(f[1], 10, 64)
			if err == nil {
				return kib
			}
		}
	}
	b.Errorf("no %s in /proc/%d/status", field, pid)
	return 0
}
