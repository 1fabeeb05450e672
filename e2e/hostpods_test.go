// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"fmt"
	"net/netip"
	"strconv"
	"testing"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// hostPods are two "pods" of a host-mode node: network namespaces joined by
// a veth pair, in cgroups <name>-a and <name>-b under the test's cgroup
// root. Each round sends datagrams of size bytes from a to b's port, then
// makes refused connects from a to b's port 9 (closed): traffic whose
// counts the test knows.
type hostPods struct {
	t                              *testing.T
	env                            *testnet.Env
	a, b                           *testnet.Netns
	cgA, cgB                       *testnet.Cgroup
	nameA, nameB, addrA, addrB     string
	datagrams, size, port, refused int
}

// newHostPods makes the pods, at subnet.1 and subnet.2 (subnet is
// "10.218.0").
func newHostPods(t *testing.T, subnet, name string, datagrams, size, port, refused int) *hostPods {
	env := testnet.New(t)
	a, b := env.Netns("a"), env.Netns("b")
	la, lb := env.Veth(a, []netip.Prefix{netip.MustParsePrefix(subnet + ".1/24")}, b, []netip.Prefix{netip.MustParsePrefix(subnet + ".2/24")})
	return &hostPods{t: t, env: env, a: a, b: b, cgA: env.Root.Child(name + "-a"), cgB: env.Root.Child(name + "-b"),
		nameA: name + "-a", nameB: name + "-b", addrA: la.Addr(false).String(), addrB: lb.Addr(false).String(),
		datagrams: datagrams, size: size, port: port, refused: refused}
}

// exporterArgs are the flags of an exporter that counts the pods, drained
// every 200ms.
func (p *hostPods) exporterArgs() []string {
	return []string{"--cgroup.root=" + p.env.Root.Path, "--collector.drain-interval=200ms"}
}

// roundBytes is the bytes on the wire, each way, of a round's datagrams
// (28 bytes of IPv4 and UDP headers each).
func (p *hostPods) roundBytes() int { return p.datagrams * (p.size + 28) }

// round sends a round's traffic and checks it went as planned.
func (p *hostPods) round() {
	p.t.Helper()
	dst := p.addrB + ":" + strconv.Itoa(p.port)
	recv := testnet.Start(p.t, p.b, p.cgB, "udp-recv", dst, strconv.Itoa(p.datagrams), "10s")
	testnet.RunHelper(p.t, p.a, p.cgA, "udp-send", dst, strconv.Itoa(p.datagrams), strconv.Itoa(p.size))
	if got := recv.Wait(); got != strconv.Itoa(p.datagrams) {
		p.t.Fatalf("receiver got %s datagrams, want %d", got, p.datagrams)
	}
	if got := testnet.RunHelper(p.t, p.a, p.cgA, "tcp-connect", p.addrB+":9", strconv.Itoa(p.refused)); got != fmt.Sprintf(`{"refused":%d}`, p.refused) {
		p.t.Fatalf("connects to a closed port: %s", got)
	}
}

// edges are the labels of the traffic's edges: the datagrams' sender and
// receiver, and the refused connects.
func (p *hostPods) edges() (sender, receiver, connects map[string]string) {
	port := strconv.Itoa(p.port)
	sender = map[string]string{"local_workload": p.nameA, "local_kind": "cgroup", "remote_workload": p.addrB, "remote_kind": "private", "role": "client", "protocol": "udp", "port": port}
	receiver = map[string]string{"local_workload": p.nameB, "local_kind": "cgroup", "remote_workload": p.addrA, "remote_kind": "private", "role": "server", "protocol": "udp", "port": port}
	connects = map[string]string{"local_workload": p.nameA, "local_kind": "cgroup", "remote_workload": p.addrB, "remote_kind": "private", "role": "client", "protocol": "tcp", "port": "9"}
	return sender, receiver, connects
}
