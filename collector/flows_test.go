// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/naming"
	"github.com/podflow/podflow_exporter/naming/namingtest"
)

var (
	addrWeb = netip.MustParseAddr("10.0.0.1")
	addrDB  = netip.MustParseAddr("10.0.0.2")
	addrC   = netip.MustParseAddr("10.0.0.3")
	addrD   = netip.MustParseAddr("10.0.0.4")

	flowFamilies = []string{
		"podflow_flow_transmit_bytes_total", "podflow_flow_transmit_packets_total",
		"podflow_flow_receive_bytes_total", "podflow_flow_receive_packets_total",
	}
)

func webTo(remote netip.Addr) bpf.FlowKey {
	return bpf.FlowKey{CgroupID: 1, Local: addrWeb, Remote: remote, ServerPort: 5432, Protocol: 6, Role: bpf.RoleClient}
}

func newResolver() *fakeResolver {
	return &fakeResolver{
		local:  map[uint64]naming.Peer{1: {Workload: "web.service", Kind: "systemd"}},
		remote: map[netip.Addr]naming.Peer{addrDB: {Workload: "db", Kind: "private"}},
	}
}

func flowsTestPodflow(t *testing.T, maxSeries int) (*fakeSource, *fakeResolver, *clock, *prometheus.Registry) {
	src, res, clk := newFakeSource(), newResolver(), &clock{now: time.Unix(1_800_000_000, 0)}
	_, reg := newTestPodflow(t, testConfig(maxSeries, "flows"), src, res, clk)
	return src, res, clk, reg
}

// Each drain yields per-CPU increments: the collector sums the CPUs and adds
// the sum to what it exported before, so counters only grow.
func TestFlowsSumCPUsAndAccumulateDrains(t *testing.T) {
	src, _, _, reg := flowsTestPodflow(t, 100)
	src.addFlow(webTo(addrDB),
		bpf.FlowCounters{TxBytes: 100, TxPackets: 1},
		bpf.FlowCounters{TxBytes: 50, TxPackets: 1, RxBytes: 60, RxPackets: 1})
	assertGolden(t, reg, "flows_first_drain", flowFamilies...)

	src.addFlow(webTo(addrDB), bpf.FlowCounters{TxBytes: 1000, TxPackets: 10}, bpf.FlowCounters{})
	assertGolden(t, reg, "flows_second_drain", flowFamilies...)
	if src.flows.drains != 2 {
		t.Errorf("source drained %d times for 2 scrapes", src.flows.drains)
	}
}

// An increment is named with the identity valid when it is drained: after
// the peer's address changes hands, new bytes go to the new owner and the
// old owner's series keeps (never loses) what it had.
func TestFlowsIncrementsGoToCurrentIdentity(t *testing.T) {
	src, res, _, reg := flowsTestPodflow(t, 100)
	src.addFlow(webTo(addrDB), bpf.FlowCounters{TxBytes: 100, TxPackets: 1})
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	res.setRemote(addrDB, naming.Peer{Workload: "cache", Kind: "private"})
	src.addFlow(webTo(addrDB), bpf.FlowCounters{TxBytes: 7, TxPackets: 1})
	assertGolden(t, reg, "flows_identity_change", "podflow_flow_transmit_bytes_total")
}

// Series without traffic for the idle TTL disappear; the others stay.
func TestFlowsExpireIdleSeries(t *testing.T) {
	src, _, clk, reg := flowsTestPodflow(t, 100)
	src.addFlow(webTo(addrDB), bpf.FlowCounters{TxBytes: 100, TxPackets: 1})
	src.addFlow(webTo(addrC), bpf.FlowCounters{TxBytes: 200, TxPackets: 2})
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	clk.advance(4 * time.Minute)
	src.addFlow(webTo(addrDB), bpf.FlowCounters{TxBytes: 1, TxPackets: 1})
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Minute) // addrC idle 6m > 5m TTL, addrDB 2m
	assertGolden(t, reg, "flows_expired", "podflow_flow_transmit_bytes_total", "podflow_series", "podflow_series_expired_total")
}

// With a budget of 2 series, the third label set and the traffic the kernel
// could not place (full table) go to the __overflow__ series; the family's
// sum stays the truth.
func TestFlowsSeriesBudgetOverflow(t *testing.T) {
	src, _, _, reg := flowsTestPodflow(t, 2)
	src.addFlow(webTo(addrDB), bpf.FlowCounters{TxBytes: 100, TxPackets: 1})
	src.addFlow(webTo(addrC), bpf.FlowCounters{TxBytes: 200, TxPackets: 2})
	src.addFlow(webTo(addrD), bpf.FlowCounters{TxBytes: 400, TxPackets: 4})
	src.flows.over = bpf.FlowCounters{TxBytes: 8001, TxPackets: 81}
	assertGolden(t, reg, "flows_budget", "podflow_flow_transmit_bytes_total", "podflow_series", "podflow_series_limit", "podflow_series_dropped_total")
	if got, want := familySum(t, reg, "podflow_flow_transmit_bytes_total"), 100.0+200+400+8000+1; got != want {
		t.Errorf("sum over the family = %v, want %v", got, want)
	}
}

// A failed drain fails the collector but keeps its series exported, so one
// bad read does not make every series go stale.
func TestFlowsDrainErrorKeepsSeries(t *testing.T) {
	src, _, _, reg := flowsTestPodflow(t, 100)
	src.addFlow(webTo(addrDB), bpf.FlowCounters{TxBytes: 100, TxPackets: 1})
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	src.err = errDrain
	want := `
# HELP podflow_flow_transmit_bytes_total Bytes local sockets sent, IP header included (one per datagram: an IP-fragmented datagram counts one header), per flow.
# TYPE podflow_flow_transmit_bytes_total counter
podflow_flow_transmit_bytes_total{app_protocol="none",local_kind="systemd",local_workload="web.service",port="5432",protocol="tcp",remote_kind="private",remote_workload="db",role="client"} 100
# HELP podflow_scrape_collector_success podflow_exporter: Whether a collector succeeded.
# TYPE podflow_scrape_collector_success gauge
podflow_scrape_collector_success{collector="flows"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "podflow_flow_transmit_bytes_total", "podflow_scrape_collector_success"); err != nil {
		t.Error(err)
	}
}

func familySum(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += metricValue(m)
		}
	}
	return sum
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// Two kernel flows whose sides resolve to the same identities (here: two
// public peers, named by class) are one series carrying their sum.
func TestFlowsAggregateIdenticalLabelSets(t *testing.T) {
	src, clk := newFakeSource(), &clock{now: time.Unix(1_800_000_000, 0)}
	res := naming.NewHostResolver(namingtest.Cgroups{1: "/system.slice/web.service"}, naming.RemoteByClass)
	_, reg := newTestPodflow(t, testConfig(100, "flows"), src, res, clk)
	src.addFlow(webTo(netip.MustParseAddr("8.8.8.8")), bpf.FlowCounters{TxBytes: 100, TxPackets: 1})
	src.addFlow(webTo(netip.MustParseAddr("1.1.1.1")), bpf.FlowCounters{TxBytes: 20, TxPackets: 2})
	want := `
# HELP podflow_flow_transmit_bytes_total Bytes local sockets sent, IP header included (one per datagram: an IP-fragmented datagram counts one header), per flow.
# TYPE podflow_flow_transmit_bytes_total counter
podflow_flow_transmit_bytes_total{app_protocol="none",local_kind="systemd",local_workload="web.service",port="5432",protocol="tcp",remote_kind="public",remote_workload="public",role="client"} 120
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "podflow_flow_transmit_bytes_total"); err != nil {
		t.Error(err)
	}
}
