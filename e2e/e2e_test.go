// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// TestScrapeExactCounts runs the exporter on two "pods" (namespaces with
// their own cgroups), makes traffic whose size the test knows, and expects
// exactly that in /metrics, named by cgroup and peer; counters grow across
// scrapes; promtool finds nothing to say about the exposition.
func TestScrapeExactCounts(t *testing.T) {
	const n, size, port, refused = 100, 200, 7000, 4
	env := testnet.New(t)
	a, b := env.Netns("a"), env.Netns("b")
	la, lb := env.Veth(a, []netip.Prefix{netip.MustParsePrefix("10.210.0.1/24")}, b, []netip.Prefix{netip.MustParsePrefix("10.210.0.2/24")})
	cgA, cgB := env.Root.Child("pod-a"), env.Root.Child("pod-b")
	addrA, addrB := la.Addr(false).String(), lb.Addr(false).String()
	exp := startExporter(t, "--cgroup.root="+env.Root.Path)

	udp := func() {
		dst := addrB + ":" + strconv.Itoa(port)
		recv := testnet.Start(t, b, cgB, "udp-recv", dst, strconv.Itoa(n), "10s")
		testnet.RunHelper(t, a, cgA, "udp-send", dst, strconv.Itoa(n), strconv.Itoa(size))
		if got := recv.Wait(); got != strconv.Itoa(n) {
			t.Fatalf("receiver got %s datagrams, want %d", got, n)
		}
	}
	udp()
	testnet.RunHelper(t, a, cgA, "tcp-connect", addrB+":9", strconv.Itoa(refused))

	text, fams := exp.scrape()
	sender := map[string]string{"local_workload": "pod-a", "local_kind": "cgroup", "remote_workload": addrB, "remote_kind": "private", "role": "client", "protocol": "udp", "port": "7000"}
	receiver := map[string]string{"local_workload": "pod-b", "local_kind": "cgroup", "remote_workload": addrA, "remote_kind": "private", "role": "server", "protocol": "udp", "port": "7000"}
	for _, c := range []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"podflow_flow_transmit_packets_total", sender, n},
		{"podflow_flow_transmit_bytes_total", sender, n * (size + 28)},
		{"podflow_flow_receive_packets_total", receiver, n},
		{"podflow_flow_receive_bytes_total", receiver, n * (size + 28)},
		{"podflow_tcp_connect_attempts_total", map[string]string{"local_workload": "pod-a", "remote_workload": addrB, "port": "9"}, refused},
		{"podflow_tcp_connect_failures_total", map[string]string{"local_workload": "pod-a", "remote_workload": addrB, "port": "9", "reason": "refused"}, refused},
		{"podflow_bpf_program_attached", map[string]string{"program": "flows_egress"}, 1},
		{"podflow_bpf_program_attached", map[string]string{"program": "flows_ingress"}, 1},
		{"podflow_bpf_program_attached", map[string]string{"program": "tcp_state"}, 1},
		{"podflow_scrape_collector_success", map[string]string{"collector": "flows"}, 1},
	} {
		if got := value(t, fams, c.family, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.family, c.labels, got, c.want)
		}
	}
	if _, ok := fams["podflow_build_info"]; !ok {
		t.Error("no podflow_build_info")
	}
	promtoolCheck(t, text)

	// The same traffic again: the counters carry on from where they were.
	udp()
	_, fams = exp.scrape()
	if got := value(t, fams, "podflow_flow_transmit_packets_total", sender); got != 2*n {
		t.Errorf("after a second round, transmit packets = %v, want %d", got, 2*n)
	}
	if got := value(t, fams, "podflow_flow_receive_bytes_total", receiver); got != 2*n*(size+28) {
		t.Errorf("after a second round, receive bytes = %v, want %d", got, 2*n*(size+28))
	}
	if code := exp.stop(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
}
