// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"net/netip"
	"strconv"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// TestRolesAndTeardownInScrape runs the exporter over traffic that port
// numbers and drop reasons misname: a UDP service on port 50000 (inside
// the ephemeral range) asked by five sockets whose ports the kernel chose
// below it, and 30 short HTTP requests, each of whose connections closes
// with a FIN one side never read. In /metrics: one series per side, both
// on the service's port; the requests' queue purges are socket discards
// on the server's port, not drops.
func TestRolesAndTeardownInScrape(t *testing.T) {
	const sockets, count, size, udpPort, httpPort, requests = 5, 4, 100, 50000, 8080, 30
	env := testnet.New(t)
	a, b := env.Netns("a"), env.Netns("b")
	la, lb := env.Veth(a, []netip.Prefix{netip.MustParsePrefix("10.213.0.1/24")}, b, []netip.Prefix{netip.MustParsePrefix("10.213.0.2/24")})
	a.Sysctl("net.ipv4.ip_local_port_range", "40000 49999")
	cgA, cgB := env.Root.Child("pod-a"), env.Root.Child("pod-b")
	addrA, addrB := la.Addr(false), lb.Addr(false)
	exp := startExporter(t, "--cgroup.root="+env.Root.Path)

	dst := netip.AddrPortFrom(addrB, udpPort).String()
	echo := testnet.Start(t, b, cgB, "udp-echo", dst, strconv.Itoa(sockets*count), "10s")
	testnet.RunHelper(t, a, cgA, "udp-ask", dst, "-", strconv.Itoa(sockets), strconv.Itoa(count), strconv.Itoa(size), "unconnected")
	echo.Wait()
	web := netip.AddrPortFrom(addrB, httpPort).String()
	srv := testnet.Start(t, b, cgB, "http-serve", web, strconv.Itoa(requests))
	testnet.RunHelper(t, a, cgA, "http-get", "http://"+web+"/", strconv.Itoa(requests))
	srv.Wait()

	text, fams := exp.scrape()
	promtoolCheck(t, text)
	udp := map[string]string{"protocol": "udp"}
	if ports := labelValues(fams, "podflow_flow_transmit_packets_total", udp, "port"); len(ports) != 1 || !ports[strconv.Itoa(udpPort)] {
		t.Errorf("UDP series have ports %v, want only %d", ports, udpPort)
	}
	n := float64(sockets * count)
	for _, c := range []struct {
		labels map[string]string
	}{
		{map[string]string{"local_workload": "pod-a", "remote_workload": addrB.String(), "role": "client", "protocol": "udp", "port": "50000"}},
		{map[string]string{"local_workload": "pod-b", "remote_workload": addrA.String(), "role": "server", "protocol": "udp", "port": "50000"}},
	} {
		for _, family := range []string{"podflow_flow_transmit_packets_total", "podflow_flow_receive_packets_total"} {
			if got := value(t, fams, family, c.labels); got != n {
				t.Errorf("%s%v = %v, want %v", family, c.labels, got, n)
			}
		}
	}

	for _, reason := range []string{"QUEUE_PURGE", "SOCKET_CLOSE"} {
		if got := sumWhere(fams, "podflow_drop_packets_total", map[string]string{"reason": reason}); got != 0 {
			t.Errorf("podflow_drop_packets_total{reason=%q} = %v: a closing socket's queue is not a drop", reason, got)
		}
	}
	tcp := map[string]string{"protocol": "tcp"}
	if ports := labelValues(fams, "podflow_socket_discard_packets_total", tcp, "port"); len(ports) != 1 || !ports[strconv.Itoa(httpPort)] {
		t.Errorf("socket discards have ports %v, want only %d", ports, httpPort)
	}
	// Each request's connection leaves an unread FIN, on one side or the
	// other (the server's shutdown may leave one more: not an exact truth).
	if got := sumWhere(fams, "podflow_socket_discard_packets_total", map[string]string{"reason": "QUEUE_PURGE"}); got < requests {
		t.Errorf("socket discards = %v, want at least %d (one per connection)", got, requests)
	}
	for _, side := range []map[string]string{
		{"local_workload": "pod-a", "role": "server"},
		{"local_workload": "pod-b", "role": "client"},
	} {
		if got := sumWhere(fams, "podflow_socket_discard_packets_total", side); got != 0 {
			t.Errorf("socket discards %v = %v: wrong role", side, got)
		}
	}
}

// labelValues returns the values label takes among family's series whose
// labels include want.
func labelValues(fams map[string]*dto.MetricFamily, family string, want map[string]string, label string) map[string]bool {
	out := map[string]bool{}
	for _, m := range fams[family].GetMetric() {
		if !labelsMatch(m, want) {
			continue
		}
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label {
				out[lp.GetValue()] = true
			}
		}
	}
	return out
}
