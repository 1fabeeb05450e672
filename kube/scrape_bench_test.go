// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package kube_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/collector"
	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/kube"
	"github.com/podflow/podflow_exporter/naming"
)

type replay struct{ keys []bpf.FlowKey }

// Drain implements flow.Source.
func (r *replay) Drain(fn func(bpf.FlowKey, bpf.FlowCounters)) (bpf.FlowCounters, error) {
	for _, k := range r.keys {
		fn(k, bpf.FlowCounters{TxBytes: 100, TxPackets: 1, RxBytes: 50, RxPackets: 1})
	}
	return bpf.FlowCounters{}, nil
}

type paths map[uint64]string

func (p paths) Path(id uint64, _ time.Time) (string, bool, error) {
	s, ok := p[id]
	return s, ok, nil
}

// BenchmarkScrapeResolved measures a scrape of 10,000 flows whose sides
// are named from a cache of 10,000 pods: 100 local pods (found by cgroup)
// each talking to 100 remote pods (found by address). "first" is the scrape
// that resolves every flow and creates every series, "steady" the ones after.
//
//	go test -run '^$' -bench ScrapeResolved -benchtime 20x ./kube/
func BenchmarkScrapeResolved(b *testing.B) {
	const pods, local = 10000, 100
	cache := kube.NewTestCache(&kube.Config{Aggregation: kube.AggregatePod})
	cgroups := paths{}
	var addrs []netip.Addr
	ip := netip.MustParseAddr("10.100.0.1")
	for i := range pods {
		uid := fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
		yes := true
		cache.Apply(kube.ResourcePods, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprint("ns-", i%20), Name: fmt.Sprintf("app-%05d-abcde", i), UID: types.UID(uid),
				Labels:          map[string]string{"pod-template-hash": "h"},
				OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: fmt.Sprintf("app-%05d-h", i), Controller: &yes}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip.String()},
		})
		if i < local {
			cgroups[uint64(i+1)] = "/kubepods.slice/kubepods-pod" + uid + ".slice/cri-containerd-x.scope"
		}
		addrs = append(addrs, ip)
		ip = ip.Next()
	}
	src := &replay{}
	for l := range local {
		for r := range pods / local {
			src.keys = append(src.keys, bpf.FlowKey{CgroupID: uint64(l + 1), Local: addrs[l], Remote: addrs[local+l*(pods/local)%(pods-local)+r], ServerPort: 8080, Protocol: 6, Role: bpf.RoleClient})
		}
	}
	resolver := naming.NewKubeResolver(cache, cgroups, kube.AggregatePod, nil, nil)
	app := kingpin.New("bench", "")
	cfg := collector.AddFlags(app)
	if _, err := app.Parse([]string{"--collector.max-series-per-family=20000", "--no-collector.tcp", "--no-collector.latency", "--no-collector.drops", "--no-collector.bpf", "--no-collector.kube",
		"--no-collector.dns", "--no-collector.http"}); err != nil {
		b.Fatal(err)
	}
	pcfg := flow.DefaultConfig()
	pipeline, err := flow.New(&pcfg, flow.Options{Inputs: []flow.Input{flow.Flows.From(src)}, Resolver: resolver}, log.NewNopLogger())
	if err != nil {
		b.Fatal(err)
	}
	pf, err := collector.New(cfg, collector.Sources{Pipeline: pipeline}, log.NewNopLogger())
	if err != nil {
		b.Fatal(err)
	}
	scrape := func() int {
		ch := make(chan prometheus.Metric, 4096)
		n := make(chan int)
		go func() {
			c := 0
			for range ch {
				c++
			}
			n <- c
		}()
		pf.Collect(ch)
		close(ch)
		return <-n
	}
	start := time.Now()
	series := scrape()
	first := time.Since(start)
	for b.Loop() {
		scrape()
	}
	b.ReportMetric(float64(first.Microseconds())/1000, "ms/first-scrape")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/steady-scrape")
	b.ReportMetric(float64(series), "series")
}
