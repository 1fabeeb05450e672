// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"

	"github.com/podflow/podflow_exporter/internal/kubetest"
)

// counters remembers every counter sample of a scrape, to check that none
// goes backwards in the next.
type counters map[string]float64

func snapshot(fams map[string]*dto.MetricFamily) counters {
	c := counters{}
	for name, mf := range fams {
		if mf.GetType() != dto.MetricType_COUNTER {
			continue
		}
		for _, m := range mf.GetMetric() {
			var b strings.Builder
			b.WriteString(name)
			for _, lp := range m.GetLabel() {
				b.WriteString("," + lp.GetName() + "=" + lp.GetValue())
			}
			c[b.String()] = m.GetCounter().GetValue()
		}
	}
	return c
}

func (c counters) noneBackwards(t *testing.T, next counters) {
	t.Helper()
	for k, v := range c {
		if w, ok := next[k]; ok && w < v {
			t.Errorf("counter went backwards: %s: %v -> %v", k, v, w)
		}
	}
}

// hasSeries reports whether any series of family has all labels.
func hasSeries(fams map[string]*dto.MetricFamily, family string, labels map[string]string) bool {
	for _, m := range fams[family].GetMetric() {
		match := true
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			match = match && have[k] == v
		}
		if match {
			return true
		}
	}
	return false
}

// TestKubeChurn deletes pod db-0 and gives its address to a new pod of
// another workload: traffic after that is the new pod's, db-0's series keeps
// its value until it expires after the idle TTL, and no counter ever goes
// backwards.
func TestKubeChurn(t *testing.T) {
	const n, size = 40, 200
	kn := newKubeNode(t, "churn")
	web := kn.pod("web-5c7f9d8b6d-q7w2e", "ReplicaSet", "web-5c7f9d8b6d", map[string]string{"pod-template-hash": "5c7f9d8b6d"})
	db := kn.pod("db-0", "StatefulSet", "db", nil)
	exp := kn.exporter("--collector.flows.idle-ttl=4s")
	waitSynced(t, exp)
	dst := netip.AddrPortFrom(db.net.IP, 7000).String()

	udp(t, web, db, dst, n, size)
	_, fams := exp.scrape()
	before := snapshot(fams)
	toDB := map[string]string{"local_workload": "web", "remote_workload": "db", "remote_kind": "StatefulSet", "role": "client"}
	if got := value(t, fams, "podflow_flow_transmit_packets_total", toDB); got != n {
		t.Fatalf("to db: %v packets, want %d", got, n)
	}

	// db-0 goes; cache-... comes with the same address. Traffic starts once
	// the exporter has seen both changes.
	pods := cachedPods(t, exp)
	kn.objs.DeletePod(kn.ns, "db-0")
	db.net.NS.Delete()
	waitCachedPods(t, exp, pods-1)
	cacheNet := kn.node.PodNetWithIP("cache", db.net.IP)
	cache := kn.podWithNet("cache-6b8d4f7c9-r4t5y", "ReplicaSet", "cache-6b8d4f7c9", map[string]string{"pod-template-hash": "6b8d4f7c9"}, cacheNet)
	waitCachedPods(t, exp, pods)
	web.net.NS.Run("ip", "neigh", "flush", "all") // the address moved to another MAC

	udp(t, web, cache, dst, 2*n, size)
	_, fams = exp.scrape()
	after := snapshot(fams)
	before.noneBackwards(t, after)
	toCache := map[string]string{"local_workload": "web", "remote_workload": "cache", "remote_kind": "Deployment", "role": "client"}
	if got := value(t, fams, "podflow_flow_transmit_packets_total", toCache); got != 2*n {
		t.Errorf("to the new owner of the address: %v packets, want %d", got, 2*n)
	}
	if got := value(t, fams, "podflow_flow_transmit_packets_total", toDB); got != n {
		t.Errorf("db-0 kept %v packets, want its %d", got, n)
	}

	// db-0's series goes after the idle TTL; cache's stays while it has traffic.
	deadline := time.Now().Add(15 * time.Second)
	for {
		udp(t, web, cache, dst, 1, size)
		_, fams = exp.scrape()
		next := snapshot(fams)
		after.noneBackwards(t, next)
		after = next
		if !hasSeries(fams, "podflow_flow_transmit_packets_total", toDB) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("db-0's series still exported 15s after its last traffic (idle TTL 4s)")
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !hasSeries(fams, "podflow_flow_transmit_packets_total", toCache) {
		t.Error("the live flow's series expired too")
	}
}

// cachedPods is the number of pods in the exporter's Kubernetes cache.
func cachedPods(t *testing.T, e *exporter) int {
	t.Helper()
	_, fams := e.scrape()
	return int(value(t, fams, "podflow_kube_cache_objects", map[string]string{"resource": "pods"}))
}

// waitCachedPods waits until the exporter's cache holds want pods: it has
// seen the API changes the test made.
func waitCachedPods(t *testing.T, e *exporter, want int) {
	t.Helper()
	waitCachedPodsWithin(t, e, want, 30*time.Second)
}

// waitCachedPodsWithin is waitCachedPods with a deadline of d.
func waitCachedPodsWithin(t *testing.T, e *exporter, want int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for cachedPods(t, e) != want {
		if time.Now().After(deadline) {
			t.Fatalf("exporter's cache holds %d pods, want %d, %s after the change", cachedPods(t, e), want, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKubeCompletedPodIP: a Job's pod that completed keeps its address in
// the API, while a running pod now owns it. Traffic goes to the running pod.
func TestKubeCompletedPodIP(t *testing.T) {
	const n, size = 30, 100
	kn := newKubeNode(t, "jobs")
	web := kn.pod("web-7f8c6d5b4-h2j3k", "ReplicaSet", "web-7f8c6d5b4", map[string]string{"pod-template-hash": "7f8c6d5b4"})
	api := kn.pod("api-0", "StatefulSet", "api", nil)
	kn.objs.Pod(kubetest.PodSpec{
		Namespace: kn.ns, Name: "backup-29400000-8s7d6", OwnerKind: "Job", OwnerName: "backup-29400000",
		Node: kn.name, Phase: corev1.PodSucceeded, IPs: []netip.Addr{api.net.IP},
	})
	exp := kn.exporter()
	waitSynced(t, exp)
	udp(t, web, api, netip.AddrPortFrom(api.net.IP, 7000).String(), n, size)
	_, fams := exp.scrape()
	if got := value(t, fams, "podflow_flow_transmit_packets_total", map[string]string{"local_workload": "web", "remote_workload": "api", "remote_kind": "StatefulSet"}); got != n {
		t.Errorf("to the running owner: %v packets, want %d", got, n)
	}
	if hasSeries(fams, "podflow_flow_transmit_packets_total", map[string]string{"remote_workload": "backup", "remote_kind": "CronJob"}) {
		t.Error("traffic was attributed to the completed Job's pod")
	}
}
