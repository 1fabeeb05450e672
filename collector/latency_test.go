// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/bpf"
)

var latencyFamilies = []string{"podflow_tcp_rtt_seconds", "podflow_tcp_connect_duration_seconds"}

func latencyTestPodflow(t *testing.T, maxSeries int) (*fakeSource, *clock, *prometheus.Registry) {
	src, clk := newFakeSource(), &clock{now: time.Unix(1_800_000_000, 0)}
	_, reg := newTestPodflow(t, testConfig(maxSeries, "latency"), src, newResolver(), clk)
	return src, clk, reg
}

// bucket is one kernel histogram bucket's increment: n samples summing to us microseconds.
func bucket(n, us uint64) bpf.LatencyBucket { return bpf.LatencyBucket{Count: n, SumMicros: us} }

// Kernel log2 buckets become cumulative Prometheus buckets le = 2^4 .. 2^24
// µs: kernel buckets 0..4 count into le=1.6e-05, bucket 25 only into +Inf;
// _sum is in seconds; per-CPU values are summed, all buckets of a flow are
// one histogram, and samples without a table entry (the kernel's overflow,
// bucket by bucket) go to the __overflow__ histogram. A second drain adds
// to the first.
func TestLatencyHistograms(t *testing.T) {
	src, _, reg := latencyTestPodflow(t, 100)
	db := webTo(addrDB)
	src.addLatency(db, bpf.HistRTT, 0, bucket(1, 1))                // 1 µs
	src.addLatency(db, bpf.HistRTT, 3, bucket(2, 14), bucket(1, 8)) // 7+7, 8 µs on two CPUs
	src.addLatency(db, bpf.HistRTT, 4, bucket(1, 16))
	src.addLatency(db, bpf.HistRTT, 10, bucket(2, 2000)) // 1000 µs each
	src.addLatency(db, bpf.HistRTT, 25, bucket(1, 20_000_000))
	src.addLatency(db, bpf.HistConnect, 12, bucket(1, 3000))
	var over bpf.LatencyOverflow
	*over.Bucket(bpf.HistRTT, 6) = bucket(2, 100)
	*over.Bucket(bpf.HistConnect, 25) = bucket(1, 17_000_000)
	src.latency.over = over
	assertGolden(t, reg, "latency_first_drain", latencyFamilies...)

	src.addLatency(db, bpf.HistRTT, 10, bucket(1, 900))
	src.addLatency(db, bpf.HistRTT, 24, bucket(1, 10_000_000))
	src.addLatency(db, bpf.HistConnect, 12, bucket(1, 2500), bucket(1, 2600))
	assertGolden(t, reg, "latency_second_drain", latencyFamilies...)
}

// Each histogram family admits its budget of label sets; the samples of
// label sets beyond it go to the family's __overflow__ histogram.
func TestLatencyBudgetOverflow(t *testing.T) {
	src, _, reg := latencyTestPodflow(t, 1)
	src.addLatency(webTo(addrDB), bpf.HistRTT, 8, bucket(1, 200))
	src.addLatency(webTo(addrC), bpf.HistRTT, 9, bucket(2, 900))
	src.addLatency(webTo(addrC), bpf.HistRTT, 12, bucket(1, 3000))
	src.addLatency(webTo(addrC), bpf.HistConnect, 12, bucket(1, 4000))
	assertGolden(t, reg, "latency_budget",
		"podflow_tcp_rtt_seconds", "podflow_tcp_connect_duration_seconds",
		"podflow_series", "podflow_series_limit", "podflow_series_dropped_total")
}

// Histograms without samples for the idle TTL disappear, the others stay.
func TestLatencyExpireIdleSeries(t *testing.T) {
	src, clk, reg := latencyTestPodflow(t, 100)
	src.addLatency(webTo(addrDB), bpf.HistRTT, 8, bucket(1, 200))
	src.addLatency(webTo(addrC), bpf.HistRTT, 8, bucket(1, 250))
	src.addLatency(webTo(addrC), bpf.HistConnect, 9, bucket(1, 300))
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	clk.advance(4 * time.Minute)
	src.addLatency(webTo(addrDB), bpf.HistRTT, 8, bucket(1, 210))
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Minute) // addrC idle 6m > 5m TTL, addrDB 2m
	assertGolden(t, reg, "latency_expired",
		"podflow_tcp_rtt_seconds", "podflow_tcp_connect_duration_seconds", "podflow_series", "podflow_series_expired_total")
}
