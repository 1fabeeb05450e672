// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/kube"
	"github.com/podflow/podflow_exporter/naming"
	"github.com/podflow/podflow_exporter/naming/namingtest"
)

// toVIP is web's connection from port to service db.
func toVIP(port uint16) bpf.FlowKey {
	return bpf.FlowKey{CgroupID: 1, Local: addrWeb, Remote: namingtest.VIPDB, ServerPort: 80, Protocol: 6, Role: bpf.RoleClient, ClientPort: port}
}

// TestTranslatedFlowsCountedOnce: connections to a service, each its own
// kernel flow, add up in the series of the backend that served each (or
// of the service, untranslated): the sum over series is what was sent, in
// every drain; connections are not remembered by the collector.
func TestTranslatedFlowsCountedOnce(t *testing.T) {
	tr := namingtest.TranslatorFor(map[uint16]netip.AddrPort{
		40000: netip.AddrPortFrom(addrDB, 8080),
		40001: netip.AddrPortFrom(namingtest.AddrDB1, 8080),
		40002: netip.AddrPortFrom(addrDB, 8080),
	})
	res := naming.NewKubeResolver(namingtest.NewKube().WithService(), namingtest.WorldCgroups(), kube.AggregatePod, []string{"app", "team"}, tr)
	src, clk := newFakeSource(), &clock{now: time.Unix(1_800_000_000, 0)}
	_, reg := newTestPodflow(t, testConfig(100, "flows"), src, res, clk)
	for round := 1; round <= 2; round++ {
		for port := uint16(40000); port <= 40003; port++ {
			src.addFlow(toVIP(port), bpf.FlowCounters{TxBytes: uint64(port - 39000), TxPackets: 1})
		}
		n, err := testutil.GatherAndCount(reg, "podflow_flow_transmit_bytes_total")
		if err != nil || n != 3 {
			t.Fatalf("round %d: %d series, %v; want db-0, db-1 and the service", round, n, err)
		}
		mfs, _ := reg.Gather()
		got := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() != "podflow_flow_transmit_bytes_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, lp := range m.GetLabel() {
					labels[lp.GetName()] = lp.GetValue()
				}
				got[labels["remote_pod"]+"/"+labels["remote_kind"]+":"+labels["port"]] += m.GetCounter().GetValue()
			}
		}
		r := float64(round)
		want := map[string]float64{"db-0/StatefulSet:8080": r * (1000 + 1002), "db-1/StatefulSet:8080": r * 1001, "/service:80": r * 1003}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("round %d: %s = %v, want %v (all: %v)", round, k, got[k], v, got)
			}
		}
	}
	// A connection is asked about at each drain it is in, never
	// remembered: 4 connections, 2 drains.
	if n := tr.Asked(); n != 8 {
		t.Errorf("%d translations asked, want 8", n)
	}
}

type fakeTranslation struct{ st TranslationStats }

func (f fakeTranslation) TranslationStats() TranslationStats { return f.st }

// TestTranslationSelfMetrics: the translation collector's exposition
// (golden), and nothing without a status (host mode).
func TestTranslationSelfMetrics(t *testing.T) {
	st := TranslationStats{Available: true, CacheEntries: 12, Frontends: 40,
		Lookups: map[string]uint64{"translated": 30, "not_found": 4, "error": 0}}
	p, err := New(testConfig(100, "translation"), Sources{Translation: fakeTranslation{st}}, nopLogger())
	if err != nil {
		t.Fatal(err)
	}
	reg := registerPodflow(t, p)
	assertGolden(t, reg, "translation", "podflow_translation_available", "podflow_translation_lookups_total",
		"podflow_translation_cache_entries", "podflow_translation_frontends")

	p, err = New(testConfig(100, "translation"), Sources{}, nopLogger())
	if err != nil {
		t.Fatal(err)
	}
	reg = registerPodflow(t, p)
	if n, err := testutil.GatherAndCount(reg, "podflow_translation_available"); err != nil || n != 0 {
		t.Errorf("without translation: %d series, %v", n, err)
	}
}
