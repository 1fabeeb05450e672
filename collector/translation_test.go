// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/kube"
)

// fakeTranslator answers from a map of client address and port to backend.
type fakeTranslator struct {
	mu       sync.Mutex
	backends map[netip.AddrPort]netip.AddrPort
	asked    int
}

func (f *fakeTranslator) Translate(_ uint8, client, _ netip.AddrPort) (netip.AddrPort, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked++
	b, ok := f.backends[client]
	return b, ok
}

var (
	vipDB   = netip.MustParseAddr("10.96.0.10")
	addrDB1 = netip.MustParseAddr("10.0.0.4")
	db1Pod  = kube.Identity{Namespace: "shop", Workload: "db", Kind: kube.KindStatefulSet, Pod: "db-1", Labels: []string{"db", ""}}
	svcDB   = kube.Identity{Namespace: "shop", Workload: "db", Kind: kube.KindService, Service: "db"}
)

// kubeWithService is newFakeKube with service db at vipDB:80 (backends
// db-0 and db-1 on port 8080).
func kubeWithService() *fakeKube {
	k := newFakeKube()
	k.byIP[addrDB1] = db1Pod
	k.byIP[vipDB] = svcDB
	k.frontends = map[kube.Frontend]kube.Identity{{Addr: netip.AddrPortFrom(vipDB, 80), Protocol: 6}: svcDB}
	return k
}

func translatorFor(backends map[uint16]netip.AddrPort) *fakeTranslator {
	f := &fakeTranslator{backends: map[netip.AddrPort]netip.AddrPort{}}
	for port, b := range backends {
		f.backends[netip.AddrPortFrom(addrWeb, port)] = b
	}
	return f
}

// toVIP is web's connection from port to service db.
func toVIP(port uint16) bpf.FlowKey {
	return bpf.FlowKey{CgroupID: 1, Local: addrWeb, Remote: vipDB, ServerPort: 80, Protocol: 6, Role: bpf.RoleClient, ClientPort: port}
}

// TestKubeResolverTranslated: a connection to a service frontend is named
// by the backend that served it, with remote_service the frontend's
// service and the backend's port; without a translation, or when the
// backend is no pod now, by the service on the frontend's port.
func TestKubeResolverTranslated(t *testing.T) {
	tr := translatorFor(map[uint16]netip.AddrPort{
		40000: netip.AddrPortFrom(addrDB, 8080),
		40001: netip.AddrPortFrom(addrDB1, 8080),
		40002: netip.MustParseAddrPort("10.0.0.99:8080"), // a backend deleted since
	})
	dbAsBackend := Peer{Namespace: "shop", Workload: "db", Kind: "StatefulSet", Pod: "db-0", Service: "db", Labels: "db\x00"}
	service := Peer{Namespace: "shop", Workload: "db", Kind: "service", Service: "db"}
	otherPort := toVIP(40000)
	otherPort.ServerPort = 81
	server := toVIP(40000)
	server.Role = bpf.RoleServer
	for _, tc := range []struct {
		name       string
		translator Translator
		key        bpf.FlowKey
		remote     Peer
		port       uint16
	}{
		{"translated: the backend, with the service (not its headless one)", tr, toVIP(40000), dbAsBackend, 8080},
		{"another connection, another backend", tr, toVIP(40001), Peer{Namespace: "shop", Workload: "db", Kind: "StatefulSet", Pod: "db-1", Service: "db", Labels: "db\x00"}, 8080},
		{"no entry in connection tracking: the service", tr, toVIP(40009), service, 80},
		{"the backend is no pod now: the service", tr, toVIP(40002), service, 80},
		{"translation off: the service", nil, toVIP(40000), service, 80},
		{"not a frontend: named by its address", tr, otherPort, service, 81},
		{"a server flow is never translated", tr, server, service, 80},
	} {
		r := NewKubeResolver(kubeWithService(), cgroups, kube.AggregatePod, tc.translator)
		_, remote, port, _ := r.Resolve(tc.key, time.Now())
		if remote != tc.remote || port != tc.port {
			t.Errorf("%s:\n got %+v, port %d\nwant %+v, port %d", tc.name, remote, port, tc.remote, tc.port)
		}
	}
}

// TestTranslatedFlowsCountedOnce: connections to a service, each its own
// kernel flow, add up in the series of the backend that served each (or
// of the service, untranslated): the sum over series is what was sent, in
// every drain; connections are not remembered by the collector.
func TestTranslatedFlowsCountedOnce(t *testing.T) {
	tr := translatorFor(map[uint16]netip.AddrPort{
		40000: netip.AddrPortFrom(addrDB, 8080),
		40001: netip.AddrPortFrom(addrDB1, 8080),
		40002: netip.AddrPortFrom(addrDB, 8080),
	})
	res := NewKubeResolver(kubeWithService(), cgroups, kube.AggregatePod, tr)
	src, clk := &fakeSource{}, &clock{now: time.Unix(1_800_000_000, 0)}
	p, reg := newTestPodflow(t, testConfig(100, "flows"), src, res, KubeSchema(kube.AggregatePod, []string{"app", "team"}), clk)
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
	for k := range p.drain.names.keys {
		if k.ClientPort != 0 {
			t.Errorf("connection %+v remembered by the drain", k)
		}
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
	reg := registerWithClock(t, p, &clock{})
	assertGolden(t, reg, "translation", "podflow_translation_available", "podflow_translation_lookups_total",
		"podflow_translation_cache_entries", "podflow_translation_frontends")

	p, err = New(testConfig(100, "translation"), Sources{}, nopLogger())
	if err != nil {
		t.Fatal(err)
	}
	reg = registerWithClock(t, p, &clock{})
	if n, err := testutil.GatherAndCount(reg, "podflow_translation_available"); err != nil || n != 0 {
		t.Errorf("without translation: %d series, %v", n, err)
	}
}
