// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package kube

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func front(s string, proto uint8) Frontend {
	return Frontend{Addr: netip.MustParseAddrPort(s), Protocol: proto}
}

func sortedFrontends(c *Cache) []Frontend {
	fs := c.Frontends()
	slices.SortFunc(fs, func(a, b Frontend) int {
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c
		}
		return int(a.Protocol) - int(b.Protocol)
	})
	return fs
}

func node(name string, ips ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, ip := range ips {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	return n
}

// TestFrontends: every address and port the node's NAT translates for a
// service: cluster IPs, external and load-balancer IPs with each port and
// protocol, this node's addresses (not another node's) with each node
// port; none for a headless service. The index follows updates and
// deletions, signals each change, and names each frontend's service.
func TestFrontends(t *testing.T) {
	c := testCache(t, &Config{NodeName: "node-1"})
	changed := func() bool {
		select {
		case <-c.FrontendsChanged():
			return true
		default:
			return false
		}
	}
	c.update(ResourceNodes, node("node-1", "10.0.0.1"), false)
	c.update(ResourceNodes, node("node-2", "10.0.0.2"), false)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: corev1.ServiceSpec{
			ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10", "fd00:96::a"}, ExternalIPs: []string{"192.0.2.7"},
			Ports: []corev1.ServicePort{
				{Port: 80, Protocol: corev1.ProtocolTCP, NodePort: 30080},
				{Port: 53, Protocol: corev1.ProtocolUDP},
			},
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "198.51.100.9"}, {Hostname: "lb.example.com"}}}},
	}
	// As the informer delivers it.
	trimmed, _ := trimmer{}.transform(svc)
	c.update(ResourceServices, trimmed, false)
	c.update(ResourceServices, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-headless"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Port: 5432}}},
	}, false)
	want := []Frontend{
		front("10.0.0.1:30080", 6),
		front("10.96.0.10:53", 17), front("10.96.0.10:80", 6),
		front("192.0.2.7:53", 17), front("192.0.2.7:80", 6),
		front("198.51.100.9:53", 17), front("198.51.100.9:80", 6),
		front("[fd00:96::a]:53", 17), front("[fd00:96::a]:80", 6),
	}
	if got := sortedFrontends(c); !slices.Equal(got, want) {
		t.Errorf("frontends\n got %v\nwant %v", got, want)
	}
	if !changed() {
		t.Error("no change signalled")
	}
	web := Identity{Namespace: "shop", Workload: "web", Kind: KindService, Service: "web"}
	for _, f := range []Frontend{front("10.96.0.10:80", 6), front("10.0.0.1:30080", 6), front("198.51.100.9:53", 17)} {
		if id, ok := c.ServiceAt(f); !ok || !id.Equal(web) {
			t.Errorf("ServiceAt(%v) = %+v, %v", f, id, ok)
		}
	}
	for _, f := range []Frontend{front("10.96.0.10:81", 6), front("10.96.0.10:80", 17), front("10.0.0.2:30080", 6)} {
		if _, ok := c.ServiceAt(f); ok {
			t.Errorf("ServiceAt(%v): not a frontend", f)
		}
	}

	// This node's address changes: its node ports follow.
	c.update(ResourceNodes, node("node-1", "10.0.0.11"), false)
	if _, ok := c.ServiceAt(front("10.0.0.11:30080", 6)); !ok || !changed() {
		t.Error("node port not on the node's new address")
	}
	if _, ok := c.ServiceAt(front("10.0.0.1:30080", 6)); ok {
		t.Error("node port still on the node's old address")
	}
	c.update(ResourceServices, trimmed, true)
	if got := c.Frontends(); len(got) != 0 || !changed() {
		t.Errorf("after deleting the service: %v", got)
	}
	c.synced.Store(false)
	if _, ok := c.ServiceAt(front("10.96.0.10:80", 6)); ok {
		t.Error("a frontend named before the cache is synced")
	}
}
