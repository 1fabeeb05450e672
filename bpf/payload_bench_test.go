// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/podflow/podflow_exporter/internal/cgroups"
	"github.com/podflow/podflow_exporter/internal/testnet"
)

// BenchmarkPayloadCost measures what reading DNS and HTTP costs the
// packet programs per request, on real traffic between two namespaces: the
// run time the kernel's BPF statistics give flows_egress and flows_ingress
// (client and server side: each request is two packets on each) with DNS
// and HTTP tracking on, minus the same traffic's with it off, alternating
// by round (medians), per request. DNS: 200 UDP queries answered by a real
// server, one socket; HTTP: 200 keep-alive GETs on one connection.
//
//	go test -run '^$' -bench PayloadCost -benchtime 8x ./bpf/
func BenchmarkPayloadCost(b *testing.B) {
	const requests = 200
	stats, err := ebpf.EnableStats(uint32(0)) // BPF_STATS_RUN_TIME
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stats.Close() })
	p := newNetPair(b)
	server := netip.MustParseAddr(p.serverAddr)
	dnsAddr := netip.AddrPortFrom(server, 53).String()
	httpAddr := netip.AddrPortFrom(server, 8080).String()
	testnet.Start(b, p.server, p.serverCg, "dns-serve", dnsAddr)
	testnet.Start(b, p.server, p.serverCg, "http-mix-serve", httpAddr)
	dnsPlan := testnet.DNSPlan{Queries: []testnet.DNSPlanQuery{{Name: "ok.test.", Count: requests}}}
	httpPlan := testnet.HTTPPlan{Requests: []testnet.HTTPPlanRequest{{Path: "/status/200", Count: requests}}}
	scope, err := cgroups.ScopeID(p.env.Root.Path)
	if err != nil {
		b.Fatal(err)
	}

	// runtime returns the packet programs' run time over one run of traffic.
	measure := func(track bool, traffic func()) time.Duration {
		tr, err := Load(&defaultConfig, Options{
			ScopeCgroupID: scope, CgroupRoot: p.env.Root.Path, Programs: allPrograms,
			CountTCPEvents: true, RecordConnectLatency: true, EphemeralPorts: ReadEphemeralPortRange(),
			TrackDNS: track, TrackHTTP: track,
		})
		if err != nil {
			b.Fatal(err)
		}
		defer tr.Close()
		total := func() (d time.Duration) {
			for _, name := range []string{ProgFlowsEgress, ProgFlowsIngress} {
				d += progStats(b, tr.named[name]).Runtime
			}
			return d
		}
		before := total()
		traffic()
		return total() - before
	}
	for _, tc := range []struct {
		name    string
		traffic func()
	}{
		{"dns-query", func() { testnet.DNSAsk(b, p.client, p.clientCg, dnsAddr, dnsPlan) }},
		{"http-request", func() { testnet.HTTPMixGet(b, p.client, p.clientCg, "http://"+httpAddr, httpPlan) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var on, off []float64
			round := 0
			for b.Loop() {
				// Alternate which goes first: the first warms caches.
				if round%2 == 0 {
					off = append(off, float64(measure(false, tc.traffic).Nanoseconds()))
					on = append(on, float64(measure(true, tc.traffic).Nanoseconds()))
				} else {
					on = append(on, float64(measure(true, tc.traffic).Nanoseconds()))
					off = append(off, float64(measure(false, tc.traffic).Nanoseconds()))
				}
				round++
			}
			mOn, mOff := median(on), median(off)
			b.ReportMetric((mOn-mOff)/requests, "ns/request")
			b.ReportMetric(mOff/requests, "untracked-ns/request")
			b.ReportMetric(mOn/mOff, "x-untracked")
		})
	}
}
