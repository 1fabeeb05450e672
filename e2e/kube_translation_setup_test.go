// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

// Harness of the service-translation tests: a service with backends on a
// simulated node, exact wire truth from link counters, series filters.

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podflow/podflow_exporter/internal/kubetest"
	"github.com/podflow/podflow_exporter/internal/testnet"
)

// wire is what a pod's link carried, at L3 (the veth counts 14 bytes of
// Ethernet header per packet): the truth for what a pod sent and received.
type wire struct{ txBytes, txPackets, rxBytes, rxPackets float64 }

func l3(d testnet.LinkStats) wire {
	return wire{float64(d.TxBytes - 14*d.TxPackets), float64(d.TxPackets), float64(d.RxBytes - 14*d.RxPackets), float64(d.RxPackets)}
}

// peer is the same traffic seen from the other end of the link.
func (w wire) peer() wire { return wire{w.rxBytes, w.rxPackets, w.txBytes, w.txPackets} }

func (w wire) add(o wire) wire {
	return wire{w.txBytes + o.txBytes, w.txPackets + o.txPackets, w.rxBytes + o.rxBytes, w.rxPackets + o.rxPackets}
}

// linkStats reads a pod's link counters once they stop moving.
func linkStats(p *pod) testnet.LinkStats { return p.net.Link().SettledStats() }

// flowValues returns a flow series' four counters (transmit and receive
// bytes and packets); a family without the series counts 0.
func flowValues(fams map[string]*dto.MetricFamily, labels map[string]string) wire {
	return wire{
		sumWhere(fams, "podflow_flow_transmit_bytes_total", labels), sumWhere(fams, "podflow_flow_transmit_packets_total", labels),
		sumWhere(fams, "podflow_flow_receive_bytes_total", labels), sumWhere(fams, "podflow_flow_receive_packets_total", labels),
	}
}

// sumWhere sums the samples of family whose labels include want.
func sumWhere(fams map[string]*dto.MetricFamily, family string, want map[string]string) float64 {
	sum := 0.0
	for _, m := range fams[family].GetMetric() {
		if labelsMatch(m, want) {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	have := map[string]string{}
	for _, lp := range m.GetLabel() {
		have[lp.GetName()] = lp.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// with returns a copy of base with the label pairs kv added.
func with(base map[string]string, kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// serviceSetup is a client pod and a service's backend pods on one node,
// behind a kube-proxy-like DNAT that picks a backend at random for each
// connection, with no ARP on the pods' links.
type serviceSetup struct {
	kn       *kubeNode
	web      *pod
	backends []*pod
	vip      netip.Addr
	port     int32
	target   uint16
}

func newServiceSetup(t *testing.T, ns, svc, proto string, vip netip.Addr, port int32, target uint16, backends ...string) *serviceSetup {
	kn := newKubeNode(t, ns)
	s := &serviceSetup{kn: kn, vip: vip, port: port, target: target}
	s.web = kn.pod("web-6b8f7c9d5-k2x4p", "ReplicaSet", "web-6b8f7c9d5", map[string]string{"pod-template-hash": "6b8f7c9d5"})
	var addrs []netip.Addr
	var dnat []netip.AddrPort
	nets := []*testnet.PodNet{s.web.net}
	for _, name := range backends {
		b := kn.pod(name, "StatefulSet", svc, nil)
		s.backends = append(s.backends, b)
		addrs = append(addrs, b.net.IP)
		dnat = append(dnat, netip.AddrPortFrom(b.net.IP, target))
		nets = append(nets, b.net)
	}
	protocol := corev1.ProtocolTCP
	if proto == "udp" {
		protocol = corev1.ProtocolUDP
	}
	obj := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns},
		Spec: corev1.ServiceSpec{ClusterIP: vip.String(), Ports: []corev1.ServicePort{
			{Name: "p", Port: port, Protocol: protocol, TargetPort: intstr.FromInt32(int32(target))},
		}},
	}
	if _, err := kn.c.Client.CoreV1().Services(ns).Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kn.c.Client.CoreV1().Services(ns).Delete(context.Background(), svc, metav1.DeleteOptions{})
	})
	kn.objs.EndpointSlice(ns, svc, addrs...)
	kn.node.Service(vip, uint16(port), proto, dnat...)
	kn.node.PinNeighbours(nets...)
	return s
}

// exporter starts an exporter at pod aggregation and waits until its
// cache is synced and, when it translates, the kernel has the frontend.
func (s *serviceSetup) exporter(t *testing.T, args ...string) *exporter {
	e := s.kn.exporter(append([]string{"--kube.aggregation=pod"}, args...)...)
	waitSynced(t, e)
	_, fams := e.scrape()
	if v, ok := fams["podflow_translation_available"]; ok && v.GetMetric()[0].GetGauge().GetValue() == 1 {
		waitFrontend(t, s.kn, e)
	}
	return e
}

// exporterWithoutSysAdmin is exporter, run as root without CAP_SYS_ADMIN:
// it cannot enter the node's network namespace (setns), so connection
// tracking there is unavailable at run time, and connections to services
// are named by the service.
func (s *serviceSetup) exporterWithoutSysAdmin(t *testing.T, args ...string) *exporter {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	argv := append([]string{"--bounding-set=-sys_admin", "--inh-caps=-sys_admin", binary,
		"--web.listen-address=" + addr,
		"--cgroup.root=" + s.kn.env.Root.Path,
		"--kube.config=" + s.kn.c.Kubeconfig(kubetest.AdminUser),
		"--kube.node-name=" + s.kn.name,
		"--kube.aggregation=pod",
	}, args...)
	e := launchExporter(t, exec.Command("setpriv", argv...), "http://"+addr)
	waitServing(t, e)
	waitSynced(t, e)
	return e
}

// waitFrontend waits until the kernel's table holds every frontend of the
// cluster (each service's cluster IPs times ports).
func waitFrontend(t *testing.T, kn *kubeNode, e *exporter) {
	t.Helper()
	list, err := kn.c.Client.CoreV1().Services("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := 0.0
	for _, svc := range list.Items {
		if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			want += float64(len(svc.Spec.ClusterIPs) * len(svc.Spec.Ports))
		}
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, fams := e.scrape(); sumWhere(fams, "podflow_translation_frontends", nil) >= want {
			return
		}
	}
	t.Fatalf("the kernel's table does not hold the %v frontends of the cluster after 10s:\n%s", want, e.log)
}

// webClient is the client side of web's flows.
func (s *serviceSetup) webClient(kv ...string) map[string]string {
	return with(map[string]string{"local_pod": s.web.obj.Name, "role": "client"}, kv...)
}

// toBackend labels web's flows to a backend, translated.
func (s *serviceSetup) toBackend(b *pod, svc string) map[string]string {
	return s.webClient("remote_pod", b.obj.Name, "remote_workload", svc, "remote_kind", "StatefulSet",
		"remote_service", svc, "port", strconv.Itoa(int(s.target)))
}

// toService labels web's flows named by the service (not translated).
func (s *serviceSetup) toService(svc string) map[string]string {
	return s.webClient("remote_pod", "", "remote_workload", svc, "remote_kind", "service",
		"remote_service", svc, "port", strconv.Itoa(int(s.port)))
}

// expectNoOtherRemote fails for any series of web's client traffic whose
// remote side is not a pod: the service, world or unknown.
func expectNoOtherRemote(t *testing.T, name string, fams map[string]*dto.MetricFamily, web string) {
	t.Helper()
	for family, mf := range fams {
		if !strings.HasPrefix(family, "podflow_flow_") && !strings.HasPrefix(family, "podflow_tcp_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !labelsMatch(m, map[string]string{"local_pod": web, "role": "client"}) {
				continue
			}
			for _, kind := range []string{"service", "world", "unknown"} {
				if labelsMatch(m, map[string]string{"remote_kind": kind}) {
					t.Errorf("%s: %s names the remote side %s: %v", name, family, kind, m.GetLabel())
				}
			}
		}
	}
}

// serve runs one round of conns TCP connections from client to the
// service while the given backends accept, and returns what each
// backend's link carried (as the client's series must show it) and how
// many it accepted.
func (s *serviceSetup) serve(t *testing.T, client *pod, conns, size int, backends ...*pod) (map[*pod]wire, map[*pod]int) {
	t.Helper()
	servers := map[*pod]*testnet.Proc{}
	before := map[*pod]testnet.LinkStats{}
	for _, b := range backends {
		servers[b] = testnet.Start(t, b.net.NS, b.cg, "tcp-accept", netip.AddrPortFrom(b.net.IP, s.target).String())
		before[b] = linkStats(b)
	}
	testnet.RunHelper(t, client.net.NS, client.cg, "tcp-sends", netip.AddrPortFrom(s.vip, uint16(s.port)).String(), strconv.Itoa(conns), strconv.Itoa(size))
	truth, accepted := map[*pod]wire{}, map[*pod]int{}
	total := 0
	for _, b := range backends {
		served := servers[b].StopServed()
		if served.Bytes != int64(served.Conns*size) {
			t.Fatalf("%s: %+v, want %d bytes per connection", b.obj.Name, served, size)
		}
		accepted[b] = served.Conns
		total += accepted[b]
		truth[b] = l3(linkStats(b).Sub(before[b])).peer()
	}
	if total != conns {
		t.Fatalf("backends accepted %d connections, the client made %d", total, conns)
	}
	return truth, accepted
}
