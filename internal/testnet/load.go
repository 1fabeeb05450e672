// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package testnet

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// Load generators for latency benchmarks, from Debian (make deps):
// sockperf (TCP ping-pong) and wrk (HTTP keep-alive). Each may be pinned to
// CPUs.

// LoadCPU is the one CPU both ends of a latency benchmark's load run on:
// unpinned, a request often wakes its peer on the other CPU, and that
// wake-up's latency hides the microseconds the kernel's hooks add.
const LoadCPU = 0

// pinned prefixes args with taskset when cpus (taskset -c syntax) is set.
func pinned(cpus string, args ...string) []string {
	if cpus == "" {
		return args
	}
	return append([]string{"taskset", "-c", cpus}, args...)
}

// Percentiles are a latency distribution's median and 99th percentile.
type Percentiles struct {
	P50, P99 time.Duration
}

// StartSockperfServer runs a sockperf TCP server in ns and cg (nil: the
// caller's cgroup), pinned to cpus ("": any), on addr:port until the test
// ends.
func StartSockperfServer(t testing.TB, ns *Netns, cg *Cgroup, cpus, addr string, port int) {
	t.Helper()
	startServer(t, "sockperf", inNetnsAndCgroup(t, ns, cg,
		pinned(cpus, "sockperf", "server", "--tcp", "-i", addr, "-p", strconv.Itoa(port))...))
}

var sockperfPercentile = regexp.MustCompile(`percentile (50|99)\.000 =\s*([0-9.]+)`)

// SockperfPingPong runs a sockperf TCP ping-pong client from ns and cg,
// pinned to cpus, against addr:port for the given seconds, and returns the
// percentiles of the full round trip (sockperf's default is half of it).
func SockperfPingPong(t testing.TB, ns *Netns, cg *Cgroup, cpus, addr string, port, seconds int) Percentiles {
	t.Helper()
	out, err := inNetnsAndCgroup(t, ns, cg, pinned(cpus, "sockperf", "ping-pong", "--tcp", "--full-rtt",
		"-i", addr, "-p", strconv.Itoa(port), "-t", strconv.Itoa(seconds))...).CombinedOutput()
	var p Percentiles
	for _, m := range sockperfPercentile.FindAllStringSubmatch(string(out), -1) {
		us, _ := strconv.ParseFloat(m[2], 64)
		d := time.Duration(us * float64(time.Microsecond))
		if m[1] == "50" {
			p.P50 = d
		} else {
			p.P99 = d
		}
	}
	if err != nil || p.P50 == 0 || p.P99 == 0 {
		t.Fatalf("sockperf ping-pong (make deps installs it): %v\n%s", err, out)
	}
	return p
}

// WrkResult is what wrk measured.
type WrkResult struct {
	Requests       uint64
	RequestsPerSec float64
	Latency        Percentiles
}

var (
	wrkRequests = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	wrkRate     = regexp.MustCompile(`(?m)^Requests/sec:\s*([0-9.]+)`)
	wrkLatency  = regexp.MustCompile(`(?m)^\s*(50|99)%\s+([0-9.]+[a-z]+)`)
	wrkNonOK    = regexp.MustCompile(`(?m)^\s*(Socket errors|Non-2xx or 3xx responses)`)
)

// Wrk runs wrk (one thread, conns keep-alive connections) from ns and cg,
// pinned to cpus, against url for the given seconds. A socket error or a
// response other than 2xx or 3xx fails the test.
func Wrk(t testing.TB, ns *Netns, cg *Cgroup, cpus, url string, conns, seconds int) WrkResult {
	t.Helper()
	out, err := inNetnsAndCgroup(t, ns, cg, pinned(cpus, "wrk", "--threads=1",
		"--connections="+strconv.Itoa(conns), "--duration="+strconv.Itoa(seconds)+"s", "--latency", url)...).CombinedOutput()
	fail := func(why error) {
		t.Fatalf("wrk (make deps installs it): %v\n%s", why, out)
	}
	if err != nil {
		fail(err)
	}
	if wrkNonOK.Match(out) {
		fail(fmt.Errorf("errors or failed responses"))
	}
	var r WrkResult
	m, rate := wrkRequests.FindSubmatch(out), wrkRate.FindSubmatch(out)
	if m == nil || rate == nil {
		fail(fmt.Errorf("no request count"))
	}
	r.Requests, _ = strconv.ParseUint(string(m[1]), 10, 64)
	r.RequestsPerSec, _ = strconv.ParseFloat(string(rate[1]), 64)
	for _, l := range wrkLatency.FindAllSubmatch(out, -1) {
		d, perr := time.ParseDuration(string(l[2])) // wrk's units: us, ms, s, m
		if perr != nil {
			fail(perr)
		}
		if string(l[1]) == "50" {
			r.Latency.P50 = d
		} else {
			r.Latency.P99 = d
		}
	}
	if r.Latency.P50 == 0 || r.Latency.P99 == 0 {
		fail(fmt.Errorf("no latency distribution"))
	}
	return r
}

// startServer starts a server command that runs until the test ends, and
// gives it time to listen.
func startServer(t testing.TB, what string, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s (make deps installs it): %v", what, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	time.Sleep(300 * time.Millisecond) // until it listens
}
