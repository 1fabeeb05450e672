// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package kube

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

func owned(kind, name string) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{Kind: kind, Name: name, Controller: &yes}}
}

func TestWorkloadOf(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pod      corev1.Pod
		workload string
		kind     string
	}{
		{"Deployment through its ReplicaSet", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-7d9c5b6f4-x2x9k", Labels: map[string]string{"pod-template-hash": "7d9c5b6f4"}, OwnerReferences: owned("ReplicaSet", "web-7d9c5b6f4")}}, "web", KindDeployment},
		{"ReplicaSet without the hash label (missing link)", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "rs-abcde", OwnerReferences: owned("ReplicaSet", "rs")}}, "rs", KindReplicaSet},
		{"ReplicaSet whose name does not end in the hash", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x-1", Labels: map[string]string{"pod-template-hash": "abc"}, OwnerReferences: owned("ReplicaSet", "other")}}, "other", KindReplicaSet},
		{"CronJob through its Job", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "backup-29400000-8s7d6", OwnerReferences: owned("Job", "backup-29400000")}}, "backup", KindCronJob},
		{"plain Job", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "migrate-v2-abcde", OwnerReferences: owned("Job", "migrate-v2")}}, "migrate-v2", KindJob},
		{"StatefulSet", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0", OwnerReferences: owned("StatefulSet", "db")}}, "db", KindStatefulSet},
		{"DaemonSet", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "agent-q8z2m", OwnerReferences: owned("DaemonSet", "agent")}}, "agent", KindDaemonSet},
		{"static pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kube-apiserver-node-1", OwnerReferences: owned("Node", "node-1")}}, "kube-apiserver", KindStaticPod},
		{"custom controller", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "r-1", OwnerReferences: owned("Rollout", "canary")}}, "canary", "Rollout"},
		{"bare pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debug"}}, "debug", KindPod},
	} {
		if w, k := workloadOf(&tc.pod); w != tc.workload || k != tc.kind {
			t.Errorf("%s: workloadOf = %s/%s, want %s/%s", tc.name, k, w, tc.kind, tc.workload)
		}
	}
}

func TestPodUIDFromCgroup(t *testing.T) {
	const uid = "0c6f2b6e-4d0a-4b6f-9f59-2f0b2d4d7a11"
	for path, want := range map[string]string{
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0c6f2b6e_4d0a_4b6f_9f59_2f0b2d4d7a11.slice/cri-containerd-abc.scope": uid,
		"/kubepods.slice/kubepods-pod0c6f2b6e_4d0a_4b6f_9f59_2f0b2d4d7a11.slice":                                                             uid,
		"/kubepods/besteffort/pod0c6f2b6e-4d0a-4b6f-9f59-2f0b2d4d7a11/0123456789abcdef":                                                      uid,
		"/system.slice/kubelet.service": "",
		"/":                             "",
	} {
		got, ok := PodUIDFromCgroup(path)
		if got != want || ok != (want != "") {
			t.Errorf("PodUIDFromCgroup(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--kube.network=office=10.8.0.0/16", "--kube.network=lab=10.8.1.0/24"}, ""},
		{[]string{"--kube.network=office"}, "want NAME=CIDR"},
		{[]string{"--kube.network=office=10.8.0.0/33"}, "--kube.network"},
		{[]string{"--kube.pod-labels=app,app.kubernetes.io/name"}, ""},
		{[]string{"--kube.pod-labels=bad key"}, "is not a Kubernetes label key"},
		{[]string{"--kube.pod-labels=a.b,a_b"}, "both become label"},
	} {
		app := kingpin.New("t", "")
		c := AddFlags(app)
		if _, err := app.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		err := c.Validate()
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%v: Validate() = %v, want %q", tc.args, err, tc.err)
		}
		if tc.err == "" && len(c.Networks) == 2 && c.Networks[0].Name != "lab" {
			t.Errorf("networks not ordered longest prefix first: %+v", c.Networks)
		}
	}
	if SanitizeLabelName("app.kubernetes.io/name") != "app_kubernetes_io_name" {
		t.Error("SanitizeLabelName")
	}
}

// testCache is a Cache fed by calling its event handler, as informers would.
func testCache(t *testing.T, cfg *Config) *Cache {
	t.Helper()
	return NewTestCache(cfg)
}

type podOpt func(*corev1.Pod)

func newPod(ns, name, uid string, phase corev1.PodPhase, ip string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid), CreationTimestamp: metav1.Unix(1000, 0)},
		Status:     corev1.PodStatus{Phase: phase, PodIP: ip},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func created(sec int64) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.Unix(sec, 0) }
}
func deleting() podOpt {
	return func(p *corev1.Pod) { now := metav1.Now(); p.DeletionTimestamp = &now }
}
func hostNetwork() podOpt { return func(p *corev1.Pod) { p.Spec.HostNetwork = true } }

func TestRemote(t *testing.T) {
	c := testCache(t, &Config{Networks: []Network{{Name: "office", Prefix: netip.MustParsePrefix("192.168.0.0/16")}}})
	ip := netip.MustParseAddr
	c.update(ResourcePods, newPod("shop", "db-0", "u1", corev1.PodRunning, "10.1.0.5"), false)
	c.update(ResourcePods, newPod("shop", "job-x", "u2", corev1.PodSucceeded, "10.1.0.6"), false)
	c.update(ResourcePods, newPod("shop", "api-0", "u3", corev1.PodRunning, "10.1.0.6"), false)
	c.update(ResourcePods, newPod("kube-system", "agent", "u4", corev1.PodRunning, "10.0.0.1", hostNetwork()), false)
	c.update(ResourcePods, newPod("shop", "nope", "u5", corev1.PodPending, ""), false) // no IP: nothing to index
	c.update(ResourceNodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}}}}, false)
	c.update(ResourceServices, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.50"}}, false)
	c.update(ResourceServices, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-headless"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}}, false)
	c.update(ResourceEndpointSlices, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-headless-1", Labels: map[string]string{discoveryv1.LabelServiceName: "db-headless"}},
		Endpoints:  []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.5"}}},
	}, false)
	for addr, want := range map[string]struct {
		id      Identity
		outcome Outcome
	}{
		"10.1.0.5":    {Identity{Namespace: "shop", Workload: "db-0", Kind: KindPod, Pod: "db-0", Service: "db-headless"}, Resolved},
		"10.1.0.6":    {Identity{Namespace: "shop", Workload: "api-0", Kind: KindPod, Pod: "api-0"}, Resolved},
		"10.0.0.1":    {Identity{Workload: "node-1", Kind: KindNode}, Resolved},
		"10.96.0.50":  {Identity{Namespace: "shop", Workload: "db", Kind: KindService, Service: "db"}, Resolved},
		"127.0.0.1":   {Identity{Workload: KindLoopback, Kind: KindLoopback}, Resolved},
		"192.168.4.4": {Identity{Workload: "office", Kind: KindWorld}, World},
		"8.8.8.8":     {Identity{Workload: KindWorld, Kind: KindWorld}, World},
	} {
		id, o := c.Remote(ip(addr))
		if !id.Equal(want.id) || o != want.outcome {
			t.Errorf("Remote(%s) = %+v, %v; want %+v, %v", addr, id, o, want.id, want.outcome)
		}
	}
	// The hostNetwork pod is found by UID (its cgroup), never by address.
	if id, ok := c.PodByUID("u4"); !ok || id.Workload != "agent" {
		t.Errorf("PodByUID(u4) = %+v, %v", id, ok)
	}
	if _, ok := c.LocalPodByIP(ip("10.0.0.1")); ok {
		t.Error("a hostNetwork pod owns its node's address")
	}
	c.synced.Store(false)
	if id, o := c.Remote(ip("10.1.0.5")); o != Unknown || id.Kind != KindUnknown {
		t.Errorf("before sync: %+v, %v", id, o)
	}
}

// When several pods claim an address (a pod replaced by another), the one
// not being deleted wins, then a Running one, then the newest.
func TestAddressOwnerDuringChurn(t *testing.T) {
	for _, tc := range []struct {
		name string
		pods []*corev1.Pod
		want string
	}{
		{"deleting loses", []*corev1.Pod{newPod("a", "old", "1", corev1.PodRunning, "10.1.0.9", deleting(), created(2)), newPod("a", "new", "2", corev1.PodPending, "10.1.0.9", created(1))}, "new"},
		{"running beats pending", []*corev1.Pod{newPod("a", "run", "1", corev1.PodRunning, "10.1.0.9", created(1)), newPod("a", "pend", "2", corev1.PodPending, "10.1.0.9", created(2))}, "run"},
		{"newest wins", []*corev1.Pod{newPod("a", "older", "1", corev1.PodRunning, "10.1.0.9", created(1)), newPod("a", "newer", "2", corev1.PodRunning, "10.1.0.9", created(2))}, "newer"},
	} {
		c := testCache(t, &Config{})
		for _, p := range tc.pods {
			c.update(ResourcePods, p, false)
		}
		if id, _ := c.Remote(netip.MustParseAddr("10.1.0.9")); id.Pod != tc.want {
			t.Errorf("%s: owner %s, want %s", tc.name, id.Pod, tc.want)
		}
	}
}

// The generation moves when an answer changes, not on updates that change
// nothing labels show (status heartbeats); deletes, tombstones included,
// remove the pod's address.
func TestGeneration(t *testing.T) {
	c := testCache(t, &Config{})
	p := newPod("a", "web", "1", corev1.PodRunning, "10.1.0.9")
	c.update(ResourcePods, p, false)
	g := c.Generation()
	c.update(ResourcePods, p.DeepCopy(), false)
	if c.Generation() != g {
		t.Error("an update without changes moved the generation")
	}
	q := p.DeepCopy()
	q.Status.PodIP = "10.1.0.10"
	c.update(ResourcePods, q, false)
	if c.Generation() == g {
		t.Error("a new address did not move the generation")
	}
	c.update(ResourcePods, cache.DeletedFinalStateUnknown{Key: "a/web", Obj: q}, true)
	if _, o := c.Remote(netip.MustParseAddr("10.1.0.10")); o != World {
		t.Error("a deleted pod still owns its address")
	}
	if st := c.Stats(); st.Objects[ResourcePods] != 0 {
		t.Errorf("pods in cache after delete: %d", st.Objects[ResourcePods])
	}
}

// The transform keeps only what labels need.
func TestTrimPod(t *testing.T) {
	full := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-1", Namespace: "shop", UID: "u",
			Labels:          map[string]string{"app": "web", "pod-template-hash": "h", "secret": "x"},
			Annotations:     map[string]string{"big": strings.Repeat("x", 10000)},
			OwnerReferences: owned("ReplicaSet", "web-h"),
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubelet"}},
		},
		Spec:   corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{{Name: "c", Image: "i", Env: []corev1.EnvVar{{Name: "A", Value: "B"}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.1.0.1", ContainerStatuses: []corev1.ContainerStatus{{Name: "c"}}},
	}
	got, _ := trimmer{labels: []string{"app"}}.transform(full)
	p := got.(*corev1.Pod)
	if len(p.Annotations) != 0 || len(p.ManagedFields) != 0 || len(p.Spec.Containers) != 0 || len(p.Status.ContainerStatuses) != 0 {
		t.Errorf("transform kept bulk: %+v", p)
	}
	if len(p.Labels) != 2 || p.Labels["app"] != "web" || p.Labels["pod-template-hash"] != "h" {
		t.Errorf("labels kept: %v, want app and pod-template-hash", p.Labels)
	}
	if w, k := workloadOf(p); w != "web" || k != KindDeployment || p.Status.PodIP != "10.1.0.1" || p.Spec.NodeName != "n" {
		t.Errorf("trimmed pod lost what labels need: %+v", p)
	}
}

func TestResourceOf(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/pods":                             ResourcePods,
		"/api/v1/namespaces/x/services":            ResourceServices,
		"/apis/discovery.k8s.io/v1/endpointslices": ResourceEndpointSlices,
		"/api/v1/nodes":                            ResourceNodes,
		"/version":                                 "other",
	} {
		if got := resourceOf(path); got != want {
			t.Errorf("resourceOf(%s) = %s, want %s", path, got, want)
		}
	}
}
