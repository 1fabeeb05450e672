// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/podflow/podflow_exporter/internal/kubetest"
	"github.com/podflow/podflow_exporter/internal/testnet"
)

// The control plane is shared by the package's tests (starting it takes
// about 10 s); each test uses its own namespace, node and addresses.
var (
	clusterOnce sync.Once
	theCluster  *kubetest.Cluster
	clusterErr  error
	subnet      atomic.Int32
)

func cluster(t *testing.T) *kubetest.Cluster {
	t.Helper()
	clusterOnce.Do(func() { theCluster, clusterErr = kubetest.Start() })
	if clusterErr != nil {
		t.Fatal(clusterErr)
	}
	return theCluster
}

func stopCluster() {
	if theCluster != nil {
		theCluster.Stop()
	}
}

// kubeNode is a simulated node registered in the cluster, with an exporter
// watching it.
type kubeNode struct {
	t    *testing.T
	c    *kubetest.Cluster
	objs *kubetest.Objects
	env  *testnet.Env
	node *testnet.Node
	name string
	ns   string
}

// newKubeNode creates a node with a pod CIDR of its own (10.40+N.0.0/24),
// registers it, and makes namespace ns.
func newKubeNode(t *testing.T, ns string) *kubeNode {
	c := cluster(t)
	n := &kubeNode{t: t, c: c, objs: c.Objects(t), env: testnet.New(t), ns: ns}
	cidr := netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/24", 40+subnet.Add(1)))
	n.name = "node-" + n.env.ID()
	n.node = n.env.Node("node", cidr)
	n.objs.Node(n.name, n.node.IP)
	n.objs.Namespace(ns)
	return n
}

// pod is a running pod: API object, network namespace, cgroup.
type pod struct {
	obj *corev1.Pod
	net *testnet.PodNet
	cg  *testnet.Cgroup
}

// pod creates a pod in the API with the next address and, on the node, its
// network namespace and a kubelet-shaped cgroup (systemd driver).
func (n *kubeNode) pod(name, ownerKind, ownerName string, labels map[string]string) *pod {
	n.t.Helper()
	net := n.node.PodNet(name)
	return n.podWithNet(name, ownerKind, ownerName, labels, net)
}

func (n *kubeNode) podWithNet(name, ownerKind, ownerName string, labels map[string]string, net *testnet.PodNet) *pod {
	n.t.Helper()
	obj := n.objs.Pod(kubetest.PodSpec{
		Namespace: n.ns, Name: name, OwnerKind: ownerKind, OwnerName: ownerName, Labels: labels,
		Node: n.name, Phase: corev1.PodRunning, IPs: []netip.Addr{net.IP},
	})
	cg := n.env.Root.Child(kubetest.SystemdCgroup(obj, "burstable", kubetest.ContainerID()))
	return &pod{obj: obj, net: net, cg: cg}
}

// hostNetworkPod creates a hostNetwork pod: it shares the node's network
// namespace and address, in a cgroup of its own (cgroupfs driver).
func (n *kubeNode) hostNetworkPod(name, ownerKind, ownerName string) *pod {
	n.t.Helper()
	obj := n.objs.Pod(kubetest.PodSpec{
		Namespace: n.ns, Name: name, OwnerKind: ownerKind, OwnerName: ownerName,
		Node: n.name, HostNetwork: true, Phase: corev1.PodRunning, IPs: []netip.Addr{n.node.IP},
	})
	cg := n.env.Root.Child(kubetest.CgroupfsCgroup(obj, "besteffort", kubetest.ContainerID()))
	return &pod{obj: obj, net: &testnet.PodNet{NS: n.node.NS, IP: n.node.IP}, cg: cg}
}

// exporter starts podflow_exporter for this node.
func (n *kubeNode) exporter(args ...string) *exporter {
	n.t.Helper()
	return startExporter(n.t, append([]string{
		"--cgroup.root=" + n.env.Root.Path,
		"--kube.config=" + n.c.Kubeconfig(kubetest.AdminUser),
		"--kube.node-name=" + n.name,
	}, args...)...)
}

// waitSynced waits until the exporter's Kubernetes cache is synced.
func waitSynced(t *testing.T, e *exporter) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, fams := e.scrape()
		if mf, ok := fams["podflow_kube_cache_synced"]; ok && mf.GetMetric()[0].GetGauge().GetValue() == 1 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("Kubernetes cache not synced after 30s:\n%s", e.log)
}

// udp sends n datagrams of size bytes from one pod to dst and makes sure
// the receiver got them all.
func udp(t *testing.T, from, to *pod, dst string, n, size int) {
	t.Helper()
	recv := testnet.Start(t, to.net.NS, to.cg, "udp-recv", netip.AddrPortFrom(to.net.IP, mustPort(dst)).String(), strconv.Itoa(n), "10s")
	testnet.RunHelper(t, from.net.NS, from.cg, "udp-send", dst, strconv.Itoa(n), strconv.Itoa(size))
	if got := recv.Wait(); got != strconv.Itoa(n) {
		t.Fatalf("receiver got %s datagrams, want %d", got, n)
	}
}

func mustPort(addrPort string) uint16 {
	return netip.MustParseAddrPort(addrPort).Port()
}

// TestKubeIdentities: a Deployment's pod talks to a StatefulSet's pod
// directly and through a ClusterIP, and a hostNetwork DaemonSet pod talks to
// it too. Each series names both sides exactly; the hostNetwork pod is named
// by its cgroup (not as the node) on its side, and as the node on the
// other (it has the node's address).
func TestKubeIdentities(t *testing.T) {
	const n, size = 50, 300
	kn := newKubeNode(t, "shop")
	web := kn.pod("web-7d9c5b6f4-x2x9k", "ReplicaSet", "web-7d9c5b6f4", map[string]string{"app": "web", "pod-template-hash": "7d9c5b6f4"})
	db := kn.pod("db-0", "StatefulSet", "db", map[string]string{"app": "db"})
	agent := kn.hostNetworkPod("agent-q8z2m", "DaemonSet", "agent")
	vip := netip.MustParseAddr("10.96.0.50")
	kn.objs.Service(kn.ns, "db", vip, 5432)
	kn.node.Service(vip, 5432, "udp", netip.AddrPortFrom(db.net.IP, 5432))
	exp := kn.exporter("--kube.aggregation=pod", "--kube.pod-labels=app")
	waitSynced(t, exp)

	udp(t, web, db, netip.AddrPortFrom(db.net.IP, 5432).String(), n, size)
	udp(t, web, db, netip.AddrPortFrom(vip, 5432).String(), 2*n, size)
	udp(t, agent, db, netip.AddrPortFrom(db.net.IP, 5432).String(), 3*n, size)

	text, fams := exp.scrape()
	webSide := map[string]string{"local_namespace": "shop", "local_workload": "web", "local_kind": "Deployment", "local_pod": web.obj.Name, "local_label_app": "web"}
	dbRemote := []string{"remote_namespace", "shop", "remote_workload", "db", "remote_kind", "StatefulSet", "remote_pod", "db-0", "remote_service", "", "remote_label_app", "db"}
	dbSide := map[string]string{"local_namespace": "shop", "local_workload": "db", "local_kind": "StatefulSet", "local_pod": "db-0", "role": "server", "port": "5432"}
	for _, c := range []struct {
		name   string
		family string
		labels map[string]string
		want   float64
	}{
		{"web to db's pod address", "podflow_flow_transmit_packets_total", with(webSide, append(dbRemote, "role", "client")...), n},
		{"web to db's service", "podflow_flow_transmit_packets_total",
			with(webSide, "role", "client", "remote_namespace", "shop", "remote_workload", "db", "remote_kind", "service", "remote_service", "db", "remote_pod", ""), 2 * n},
		{"db from web (both ways web went)", "podflow_flow_receive_packets_total",
			with(dbSide, "remote_namespace", "shop", "remote_workload", "web", "remote_kind", "Deployment", "remote_pod", web.obj.Name, "remote_label_app", "web"), 3 * n},
		{"the hostNetwork pod, named by its cgroup", "podflow_flow_transmit_bytes_total",
			with(map[string]string{"local_namespace": "shop", "local_workload": "agent", "local_kind": "DaemonSet", "local_pod": agent.obj.Name}, append(dbRemote, "role", "client")...), 3 * n * (size + 28)},
		{"db from the hostNetwork pod: its node", "podflow_flow_receive_bytes_total",
			with(dbSide, "remote_namespace", "", "remote_workload", kn.name, "remote_kind", "node", "remote_pod", ""), 3 * n * (size + 28)},
	} {
		if got := value(t, fams, c.family, c.labels); got != c.want {
			t.Errorf("%s: %s%v = %v, want %v", c.name, c.family, c.labels, got, c.want)
		}
	}
	promtoolCheck(t, text)
}
