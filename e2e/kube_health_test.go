// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// histogram returns the one histogram of family name whose labels include want.
func histogram(t *testing.T, families map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Histogram {
	t.Helper()
	mf, ok := families[name]
	if !ok {
		t.Fatalf("no family %s in the scrape", name)
	}
	var found []*dto.Histogram
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		match := m.Histogram != nil
		for k, v := range want {
			match = match && labels[k] == v
		}
		if match {
			found = append(found, m.Histogram)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%v: %d histograms match, want 1", name, want, len(found))
	}
	return found[0]
}

// TestKubeTCPHealth: a Deployment's pod connects to a StatefulSet's pod on
// a closed port, on a listening one, exchanges messages with it, and sends
// it datagrams its firewall drops. Failed connects, resets on both sides,
// connect durations, RTTs and drops each land on the series naming both
// pods, with exact counts where the test knows them.
func TestKubeTCPHealth(t *testing.T) {
	kn := newKubeNode(t, "health")
	web := kn.pod("web-5f8d7c9b6-abcde", "ReplicaSet", "web-5f8d7c9b6", map[string]string{"pod-template-hash": "5f8d7c9b6"})
	db := kn.pod("db-0", "StatefulSet", "db", nil)
	db.net.NS.Run("iptables", "-A", "INPUT", "-p", "udp", "--dport", "5353", "-j", "DROP")
	exp := kn.exporter("--kube.aggregation=pod")
	waitSynced(t, exp)

	const refused, accepted, rounds, dropped, size = 5, 4, 100, 20, 200
	dbAddr := func(port int) string { return netip.AddrPortFrom(db.net.IP, uint16(port)).String() }
	if res := testnet.RunHelper(t, web.net.NS, web.cg, "tcp-connect", dbAddr(9), strconv.Itoa(refused)); res != `{"refused":5}` {
		t.Fatalf("connects to a closed port: %s", res)
	}
	srv := testnet.Start(t, db.net.NS, db.cg, "tcp-serve", dbAddr(8080), strconv.Itoa(accepted))
	testnet.RunHelper(t, web.net.NS, web.cg, "tcp-connect", dbAddr(8080), strconv.Itoa(accepted))
	srv.Wait()
	echo := testnet.Start(t, db.net.NS, db.cg, "tcp-echo", dbAddr(7000), "1")
	var info testnet.TCPInfo
	if err := json.Unmarshal([]byte(testnet.RunHelper(t, web.net.NS, web.cg, "tcp-pingpong", dbAddr(7000), strconv.Itoa(rounds), "100")), &info); err != nil {
		t.Fatal(err)
	}
	echo.Wait()
	testnet.RunHelper(t, web.net.NS, web.cg, "udp-send", dbAddr(5353), strconv.Itoa(dropped), strconv.Itoa(size))

	text, fams := exp.scrape()
	if testing.Verbose() {
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, "podflow_tcp_") && strings.Contains(line, "db") && !strings.Contains(line, "_bucket") {
				t.Log(line)
			}
		}
	}
	webToDB := func(port int, kv ...string) map[string]string {
		m := map[string]string{"local_pod": web.obj.Name, "local_workload": "web", "local_kind": "Deployment",
			"remote_pod": "db-0", "remote_workload": "db", "remote_kind": "StatefulSet", "role": "client", "port": strconv.Itoa(port)}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	// The side without a socket (the RST for a closed port, the dropped
	// datagram) is named by its address: db's pod.
	dbFromWeb := func(port int, kv ...string) map[string]string {
		m := map[string]string{"local_pod": "db-0", "local_workload": "db", "local_kind": "StatefulSet",
			"remote_pod": web.obj.Name, "remote_workload": "web", "role": "server", "port": strconv.Itoa(port)}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, c := range []struct {
		name   string
		family string
		labels map[string]string
		want   float64
	}{
		{"refused connects", "podflow_tcp_connect_failures_total", webToDB(9, "reason", "refused"), refused},
		{"RSTs web received", "podflow_tcp_resets_received_total", webToDB(9), refused},
		{"RSTs db's kernel sent", "podflow_tcp_resets_sent_total", dbFromWeb(9), refused},
		{"accepted connects", "podflow_tcp_accepted_connections_total", dbFromWeb(8080), accepted},
		{"datagrams db's firewall dropped", "podflow_drop_packets_total", dbFromWeb(5353, "protocol", "udp", "reason", "NETFILTER_DROP"), dropped},
		{"their bytes", "podflow_drop_bytes_total", dbFromWeb(5353, "protocol", "udp", "reason", "NETFILTER_DROP"), dropped * (size + 28)},
	} {
		if got := value(t, fams, c.family, c.labels); got != c.want {
			t.Errorf("%s: %s%v = %v, want %v", c.name, c.family, c.labels, got, c.want)
		}
	}

	connect := histogram(t, fams, "podflow_tcp_connect_duration_seconds", webToDB(8080))
	if connect.GetSampleCount() != accepted {
		t.Errorf("connect durations: %d samples, want %d", connect.GetSampleCount(), accepted)
	}
	rtt := histogram(t, fams, "podflow_tcp_rtt_seconds", webToDB(7000))
	if n := rtt.GetSampleCount(); n == 0 || n > 2*rounds+4 {
		t.Errorf("RTT: %d samples for %d exchanges", n, rounds)
	}
	// The mean sample is within a factor of 4 of the socket's final
	// smoothed RTT (a log2 bucket either way).
	mean := rtt.GetSampleSum() / float64(rtt.GetSampleCount()) * 1e6
	if r := mean / float64(info.RTTMicros); r < 0.25 || r > 4 {
		t.Errorf("mean RTT sample %.0f us, TCP_INFO says %d us", mean, info.RTTMicros)
	}
	t.Logf("RTT: %d samples, mean %.0f us, TCP_INFO %d us; connect: mean %.0f us",
		rtt.GetSampleCount(), mean, info.RTTMicros, connect.GetSampleSum()/float64(connect.GetSampleCount())*1e6)
	promtoolCheck(t, text)
}
