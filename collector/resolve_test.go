// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/kube"
	"github.com/podflow/podflow_exporter/naming"
	"github.com/podflow/podflow_exporter/naming/namingtest"
)

// gathered returns the value (a histogram's count) of the one series of
// family whose labels include want, and whether there is one.
func gathered(t *testing.T, reg prometheus.Gatherer, family string, want map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var found []float64
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue series
				}
			}
			if m.Histogram != nil {
				found = append(found, float64(m.Histogram.GetSampleCount()))
			} else {
				found = append(found, metricValue(m))
			}
		}
	}
	if len(found) > 1 {
		t.Fatalf("%s%v: %d series match", family, want, len(found))
	}
	if len(found) == 0 {
		return 0, false
	}
	return found[0], true
}

// holdCase is one collector's family and how to queue n events of a flow
// for it.
type holdCase struct {
	collector, family string
	add               func(src *fakeSource, k bpf.FlowKey, n uint64)
}

var holdCases = []holdCase{
	{"flows", "podflow_flow_transmit_bytes_total", func(src *fakeSource, k bpf.FlowKey, n uint64) {
		src.addFlow(k, bpf.FlowCounters{TxBytes: n, TxPackets: 1})
	}},
	{"tcp", "podflow_tcp_connect_attempts_total", func(src *fakeSource, k bpf.FlowKey, n uint64) {
		src.addTCP(k, tcpEvents(map[bpf.TCPEvent]uint64{bpf.TCPConnectAttempt: n}))
	}},
	{"latency", "podflow_tcp_rtt_seconds", func(src *fakeSource, k bpf.FlowKey, n uint64) {
		src.addLatency(k, bpf.HistRTT, 10, bpf.LatencyBucket{Count: n, SumMicros: 1000 * n})
	}},
	{"drops", "podflow_drop_packets_total", func(src *fakeSource, k bpf.FlowKey, n uint64) {
		src.addDrop(k, 2, bpf.DropCounters{Packets: n, Bytes: 100 * n})
	}},
}

// newcomer is a flow of cgroup 7, which the fake resolver cannot name yet.
var newcomer = bpf.FlowKey{CgroupID: 7, Local: addrC, Remote: addrDB, ServerPort: 5432, Protocol: 6, Role: bpf.RoleClient}

func noUnknown(t *testing.T, reg prometheus.Gatherer, family, when string) {
	t.Helper()
	for _, side := range []string{"local_kind", "remote_kind"} {
		if v, ok := gathered(t, reg, family, map[string]string{side: "unknown"}); ok {
			t.Errorf("%s: %s has a series with %s unknown (%v)", when, family, side, v)
		}
	}
}

// Increments of a flow whose cgroup cannot be named yet are held back, not
// exported as unknown; held increments of later drains add up; once the
// resolver can name it, everything appears on its series, exactly. The
// same in every collector.
func TestHoldUntilNamed(t *testing.T) {
	api := naming.Peer{Workload: "api.service", Kind: "systemd"}
	named := map[string]string{"local_workload": "api.service", "remote_workload": "db"}
	for _, tc := range holdCases {
		t.Run(tc.collector, func(t *testing.T) {
			src, res, clk := newFakeSource(), newResolver(), &clock{now: time.Unix(1_800_000_000, 0)}
			_, reg := newTestPodflow(t, testConfig(100, tc.collector), src, res, clk)
			stat := func(family string) float64 {
				v, _ := gathered(t, reg, family, map[string]string{"collector": tc.collector})
				return v
			}
			before := time.Now()
			tc.add(src, newcomer, 100)
			if _, ok := gathered(t, reg, tc.family, named); ok {
				t.Fatal("named before the resolver could")
			}
			if res.counted.Before(before) {
				t.Errorf("resolved with counted %v, before the drain began (%v)", res.counted, before)
			}
			noUnknown(t, reg, tc.family, "first drain")
			clk.advance(15 * time.Second)
			tc.add(src, newcomer, 20)
			noUnknown(t, reg, tc.family, "second drain")
			if p, h := stat("podflow_resolution_pending_flows"), stat("podflow_resolution_held_flows_total"); p != 1 || h != 1 {
				t.Errorf("pending %v, held %v; want 1 flow held across both drains", p, h)
			}

			res.setLocal(7, api)
			clk.advance(15 * time.Second)
			if got, _ := gathered(t, reg, tc.family, named); got != 120 {
				t.Errorf("once named: %v, want the 120 held", got)
			}
			tc.add(src, newcomer, 3)
			if got, _ := gathered(t, reg, tc.family, named); got != 123 {
				t.Errorf("after more traffic: %v, want 123", got)
			}
			noUnknown(t, reg, tc.family, "after")
			if p, r, e := stat("podflow_resolution_pending_flows"), stat("podflow_resolution_released_flows_total"), stat("podflow_resolution_expired_flows_total"); p != 0 || r != 1 || e != 0 {
				t.Errorf("pending %v, released %v, expired %v; want 0, 1, 0", p, r, e)
			}
		})
	}
}

// A flow that is never named is held for the hold time, then counted on an
// unknown series, all of it, and the self-metrics say so.
func TestHoldExpires(t *testing.T) {
	src, res, clk := newFakeSource(), newResolver(), &clock{now: time.Unix(1_800_000_000, 0)}
	_, reg := newTestPodflow(t, testConfig(100, "flows"), src, res, clk)
	unknown := map[string]string{"local_workload": "unknown", "remote_workload": "db"}
	src.addFlow(newcomer, bpf.FlowCounters{TxBytes: 100, TxPackets: 1})
	noUnknown(t, reg, "podflow_flow_transmit_bytes_total", "at once")
	clk.advance(time.Minute)
	src.addFlow(newcomer, bpf.FlowCounters{TxBytes: 10, TxPackets: 1})
	noUnknown(t, reg, "podflow_flow_transmit_bytes_total", "after 1m")
	clk.advance(time.Minute)
	if got, _ := gathered(t, reg, "podflow_flow_transmit_bytes_total", unknown); got != 110 {
		t.Errorf("after the 2m hold: %v bytes on the unknown series, want 110", got)
	}
	want := `
# HELP podflow_resolution_expired_flows_total Held flows still unnamed after --collector.flows.hold-unresolved (or not held: no hold time, or too many held): their increments were added to a series with an unknown side.
# TYPE podflow_resolution_expired_flows_total counter
podflow_resolution_expired_flows_total{collector="flows"} 1
# HELP podflow_resolution_held_flows_total Flows whose increments were held back because a side could not be named yet; each is later released, expired, or still pending.
# TYPE podflow_resolution_held_flows_total counter
podflow_resolution_held_flows_total{collector="flows"} 1
# HELP podflow_resolution_pending_flows Flows whose increments are held back now, not yet exported, because a side cannot be named yet (a pod not yet in the Kubernetes cache, the cache not synced); they are asked about again at each drain.
# TYPE podflow_resolution_pending_flows gauge
podflow_resolution_pending_flows{collector="flows"} 0
# HELP podflow_resolution_released_flows_total Held flows named at a later drain: their held increments were added to their series then.
# TYPE podflow_resolution_released_flows_total counter
podflow_resolution_released_flows_total{collector="flows"} 0
# HELP podflow_resolution_unknown_flows_total Flows (one per flow and drain) with a side that can never be named, counted on a series with an unknown side at once: a packet without an address, a cgroup removed before the exporter saw it.
# TYPE podflow_resolution_unknown_flows_total counter
podflow_resolution_unknown_flows_total{collector="flows"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"podflow_resolution_pending_flows", "podflow_resolution_held_flows_total", "podflow_resolution_released_flows_total",
		"podflow_resolution_expired_flows_total", "podflow_resolution_unknown_flows_total"); err != nil {
		t.Error(err)
	}
}

// A side that can never be named (a cgroup removed before it was seen) is
// counted as unknown at once; so is everything without a hold time.
func TestUnnamableAtOnce(t *testing.T) {
	src, res, clk := newFakeSource(), newResolver(), &clock{now: time.Unix(1_800_000_000, 0)}
	res.gone = map[uint64]bool{9: true}
	cfg := testConfig(100, "flows")
	_, reg := newTestPodflow(t, cfg, src, res, clk)
	removed := newcomer
	removed.CgroupID = 9
	src.addFlow(removed, bpf.FlowCounters{TxBytes: 100, TxPackets: 1})
	unknown := map[string]string{"local_workload": "unknown"}
	if got, _ := gathered(t, reg, "podflow_flow_transmit_bytes_total", unknown); got != 100 {
		t.Errorf("a removed cgroup: %v bytes on the unknown series, want 100", got)
	}
	if got, _ := gathered(t, reg, "podflow_resolution_unknown_flows_total", nil); got != 1 {
		t.Errorf("podflow_resolution_unknown_flows_total = %v, want 1", got)
	}

	pcfg := pipelineConfig()
	pcfg.HoldUnresolved = 0
	src, clk = newFakeSource(), &clock{now: time.Unix(1_800_000_000, 0)}
	_, reg = newTestPodflowWith(t, cfg, pcfg, src, newResolver(), clk)
	src.addFlow(newcomer, bpf.FlowCounters{TxBytes: 5, TxPackets: 1})
	if got, _ := gathered(t, reg, "podflow_flow_transmit_bytes_total", unknown); got != 5 {
		t.Errorf("without a hold time: %v bytes on the unknown series, want 5", got)
	}
	if got, _ := gathered(t, reg, "podflow_resolution_expired_flows_total", nil); got != 1 {
		t.Errorf("without a hold time: podflow_resolution_expired_flows_total = %v, want 1", got)
	}
}

// Kubernetes mode: a pod's cgroup has traffic before the pod is in the
// cache, and everything has traffic before the cache is synced. The
// increments are held, then appear on the pod's series.
func TestHoldKube(t *testing.T) {
	ids := namingtest.NewKube()
	ids.Unsynced = true
	res := naming.NewKubeResolver(ids, namingtest.WorldCgroups(), kube.AggregatePod, nil, nil)
	src, clk := newFakeSource(), &clock{now: time.Unix(1_800_000_000, 0)}
	_, reg := newTestPodflow(t, testConfig(100, "flows"), src, res, clk)
	web := bpf.FlowKey{CgroupID: 1, Local: addrWeb, Remote: addrDB, ServerPort: 5432, Protocol: 6, Role: bpf.RoleClient}
	late := bpf.FlowKey{CgroupID: 4, Local: addrC, Remote: addrDB, ServerPort: 5432, Protocol: 6, Role: bpf.RoleClient}
	src.addFlow(web, bpf.FlowCounters{TxBytes: 100, TxPackets: 1})
	src.addFlow(late, bpf.FlowCounters{TxBytes: 40, TxPackets: 1})
	noUnknown(t, reg, "podflow_flow_transmit_bytes_total", "before the sync")

	ids.Unsynced = false
	clk.advance(15 * time.Second)
	src.addFlow(late, bpf.FlowCounters{TxBytes: 2, TxPackets: 1})
	if got, _ := gathered(t, reg, "podflow_flow_transmit_bytes_total", map[string]string{"local_pod": "web-7d9c5b6f4-x2x9k", "remote_pod": "db-0"}); got != 100 {
		t.Errorf("web, held before the sync: %v bytes, want 100", got)
	}
	noUnknown(t, reg, "podflow_flow_transmit_bytes_total", "pod not in the cache yet")

	ids.ByUID[namingtest.LateUID] = kube.Identity{Namespace: "shop", Workload: "late", Kind: kube.KindStatefulSet, Pod: "late-0"}
	clk.advance(15 * time.Second)
	if got, _ := gathered(t, reg, "podflow_flow_transmit_bytes_total", map[string]string{"local_pod": "late-0", "remote_pod": "db-0"}); got != 42 {
		t.Errorf("the late pod: %v bytes, want 42", got)
	}
	noUnknown(t, reg, "podflow_flow_transmit_bytes_total", "after")
	if got, _ := gathered(t, reg, "podflow_resolution_released_flows_total", nil); got != 2 {
		t.Errorf("podflow_resolution_released_flows_total = %v, want 2", got)
	}
}
