// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podflow/podflow_exporter/internal/kubetest"
	"github.com/podflow/podflow_exporter/internal/testnet"
)

// TestKubeAPIServerOutage stops the API server for 60 s while the exporter
// runs: it keeps serving, with the identities it had; after the restart it
// catches up and names a pod created after the outage correctly.
func TestKubeAPIServerOutage(t *testing.T) {
	const n, size = 20, 100
	kn := newKubeNode(t, "outage")
	web := kn.pod("web-6d5c4b3a2-z9y8x", "ReplicaSet", "web-6d5c4b3a2", map[string]string{"pod-template-hash": "6d5c4b3a2"})
	db := kn.pod("db-0", "StatefulSet", "db", nil)
	exp := kn.exporter()
	waitSynced(t, exp)

	kn.c.StopAPIServer()
	stopped := time.Now()
	sent := 0
	for time.Since(stopped) < 60*time.Second {
		udp(t, web, db, netip.AddrPortFrom(db.net.IP, 7000).String(), n, size)
		sent += n
		_, fams := exp.scrape() // fails the test unless it answers 200
		if got := value(t, fams, "podflow_flow_transmit_packets_total", map[string]string{"local_workload": "web", "remote_workload": "db"}); got != float64(sent) {
			t.Fatalf("%.0fs into the outage: %v packets to db, want %d", time.Since(stopped).Seconds(), got, sent)
		}
		time.Sleep(5 * time.Second)
	}
	_, fams := exp.scrape()
	if errs := value(t, fams, "podflow_kube_watch_errors_total", map[string]string{"resource": "pods"}); errs == 0 {
		t.Error("no watch error counted during the outage")
	}
	if err := kn.c.StartAPIServer(); err != nil {
		t.Fatal(err)
	}

	// A pod created after the outage is named correctly once the exporter
	// has caught up.
	pods := cachedPods(t, exp)
	late := kn.pod("late-0", "StatefulSet", "late", nil)
	// After a minute of failures client-go's reflectors wait up to their
	// 30 s backoff ceiling, jittered by up to 100 %, before they list again.
	waitCachedPodsWithin(t, exp, pods+1, 90*time.Second)
	udp(t, web, late, netip.AddrPortFrom(late.net.IP, 7000).String(), n, size)
	_, fams = exp.scrape()
	if got := value(t, fams, "podflow_flow_transmit_packets_total", map[string]string{"local_workload": "web", "remote_workload": "late", "remote_kind": "StatefulSet"}); got != n {
		t.Errorf("to the pod created after the outage: %v packets, want %d", got, n)
	}
}

// TestKubeSeriesBudget: one pod talks to 2,000 distinct pods with a budget
// of 100 series per family: each family has exactly 100 series and one
// __overflow__ series, and its sum is what was sent.
func TestKubeSeriesBudget(t *testing.T) {
	const peers, budget = 2000, 100
	kn := newKubeNode(t, "budget")
	web := kn.pod("web-4f3e2d1c0-a1b2c", "ReplicaSet", "web-4f3e2d1c0", map[string]string{"pod-template-hash": "4f3e2d1c0"})
	// The peers exist only in the API, on another node's addresses: the
	// node routes nowhere, web's sends are what is counted.
	first := netip.MustParseAddr("10.39.0.1")
	specs := make([]kubetest.PodSpec, peers)
	addr := first
	for i := range specs {
		specs[i] = kubetest.PodSpec{Namespace: kn.ns, Name: fmt.Sprintf("peer-%04d", i), Node: "elsewhere", Phase: corev1.PodRunning, IPs: []netip.Addr{addr}}
		addr = addr.Next()
	}
	kn.objs.CreatePods(specs)
	exp := kn.exporter("--collector.max-series-per-family=" + strconv.Itoa(budget))
	waitSynced(t, exp)
	testnet.RunHelper(t, web.net.NS, web.cg, "udp-spray", first.String(), strconv.Itoa(peers), "7000")

	_, fams := exp.scrape()
	for _, family := range []string{"podflow_flow_transmit_packets_total", "podflow_flow_transmit_bytes_total"} {
		mf := fams[family]
		series, overflow, sum := 0, 0, 0.0
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
			if m.GetLabel()[0].GetValue() == "__overflow__" {
				overflow++
			} else {
				series++
			}
		}
		want := float64(peers)
		if strings.Contains(family, "bytes") {
			want = peers * 28 // empty datagrams: IP and UDP headers
		}
		if series != budget || overflow != 1 || sum != want {
			t.Errorf("%s: %d series + %d overflow, sum %v; want %d + 1, sum %v", family, series, overflow, sum, budget, want)
		}
		if got := value(t, fams, "podflow_series_dropped_total", map[string]string{"family": family}); got != peers-budget {
			t.Errorf("podflow_series_dropped_total{family=%s} = %v, want %d", family, got, peers-budget)
		}
	}
}

// TestKubeRBACDenied runs the exporter as a user RBAC gives nothing: it
// says which permission is missing, keeps serving, and reports the cache
// unsynced.
func TestKubeRBACDenied(t *testing.T) {
	c := cluster(t)
	env := testnet.New(t)
	exp := startExporter(t, "--cgroup.root="+env.Root.Path, "--kube.config="+c.Kubeconfig(kubetest.LimitedUser))
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(exp.log.String(), "RBAC forbids reading pods") {
		if time.Now().After(deadline) {
			t.Fatalf("no RBAC message after 20s:\n%s", exp.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(exp.log.String(), "grant the exporter's service account the verbs list and watch on pods") {
		t.Errorf("the RBAC message does not name the missing verbs:\n%s", exp.log)
	}
	_, fams := exp.scrape()
	if got := value(t, fams, "podflow_kube_cache_synced", nil); got != 0 {
		t.Errorf("podflow_kube_cache_synced = %v with every list forbidden", got)
	}
	if got := value(t, fams, "podflow_kube_watch_errors_total", map[string]string{"resource": "pods"}); got == 0 {
		t.Error("no watch error counted")
	}
}

// TestKubeUnreachable configures an API server that does not answer: the
// exporter serves, retrying in the background. The flows, which it cannot
// name, are held back for --collector.flows.hold-unresolved, then counted
// as unknown, all of them, and the self-metrics say so.
func TestKubeUnreachable(t *testing.T) {
	const hold = 3 * time.Second
	env := testnet.New(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, freePort(t))
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	a, b := env.Netns("a"), env.Netns("b")
	_, lb := env.Veth(a, []netip.Prefix{netip.MustParsePrefix("10.38.0.1/24")}, b, []netip.Prefix{netip.MustParsePrefix("10.38.0.2/24")})
	// Pod cgroups whose pods the exporter cannot look up.
	podCgroup := func(uid string) *testnet.Cgroup {
		return env.Root.Child(kubetest.SystemdCgroup(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)}}, "besteffort", kubetest.ContainerID()))
	}
	cgA := podCgroup("0c6f2b6e-4d0a-4b6f-9f59-2f0b2d4d7a11")
	cgB := podCgroup("5a1f4c3d-8e2b-4c7a-b1d9-6e3f0a9b8c22")
	exp := startExporter(t, "--cgroup.root="+env.Root.Path, "--kube.config="+kubeconfig, "--collector.flows.hold-unresolved="+hold.String())
	dst := netip.AddrPortFrom(lb.Addr(false), 7000).String()
	recv := testnet.Start(t, b, cgB, "udp-recv", dst, "10", "10s")
	testnet.RunHelper(t, a, cgA, "udp-send", dst, "10", "10")
	recv.Wait()
	_, fams := exp.scrape()
	held := time.Now()
	if got := value(t, fams, "podflow_kube_cache_synced", nil); got != 0 {
		t.Errorf("podflow_kube_cache_synced = %v with no API server", got)
	}
	for _, s := range unknownSeries(fams) {
		t.Errorf("during the hold, a series named unknown: %s", s)
	}
	flows := map[string]string{"collector": "flows"}
	pending := value(t, fams, "podflow_resolution_pending_flows", flows)
	if pending < 1 {
		t.Errorf("podflow_resolution_pending_flows = %v, want the flows held", pending)
	}

	time.Sleep(time.Until(held.Add(hold)))
	_, fams = exp.scrape()
	if got := value(t, fams, "podflow_flow_transmit_packets_total", map[string]string{"local_kind": "unknown", "remote_kind": "unknown"}); got != 10 {
		t.Errorf("after the hold: %v packets named unknown, want 10", got)
	}
	if got := value(t, fams, "podflow_resolution_expired_flows_total", flows); got != pending {
		t.Errorf("podflow_resolution_expired_flows_total = %v, want the %v flows held", got, pending)
	}
	if got := value(t, fams, "podflow_resolution_pending_flows", flows); got != 0 {
		t.Errorf("after the hold, podflow_resolution_pending_flows = %v, want 0", got)
	}
}
