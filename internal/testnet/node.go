// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package testnet

import (
	"fmt"
	"net/netip"
	"strconv"
	"testing"
)

// Node is a simulated Kubernetes node: a network namespace (the node's
// "host" network) with a bridge that is the pods' gateway and carries the
// node's address. Bridged traffic passes iptables (bridge-nf-call-iptables),
// so a DNAT for a service works between pods on the bridge, as with
// kube-proxy and a bridge CNI.
type Node struct {
	t      testing.TB
	env    *Env
	NS     *Netns
	IP     netip.Addr // the bridge's address: node IP and gateway
	prefix netip.Prefix
	next   netip.Addr
	pods   int
}

// Node creates a node whose pods get addresses from cidr; the node takes
// the first one.
func (e *Env) Node(name string, cidr netip.Prefix) *Node {
	e.t.Helper()
	n := &Node{t: e.t, env: e, NS: e.Netns(name), prefix: cidr.Masked()}
	n.IP = n.prefix.Addr().Next()
	n.next = n.IP.Next()
	n.NS.Run("ip", "link", "add", "br0", "type", "bridge")
	n.NS.Run("ip", "addr", "add", netip.PrefixFrom(n.IP, cidr.Bits()).String(), "dev", "br0")
	n.NS.Run("ip", "link", "set", "br0", "up")
	n.NS.Sysctl("net.ipv4.ip_forward", "1")
	// The node's own address is enough for tests: no IPv6 noise.
	n.NS.Sysctl("net.ipv6.conf.all.disable_ipv6", "1")
	n.NS.Sysctl("net.bridge.bridge-nf-call-iptables", "1")
	return n
}

// PodNet is a pod's network: a namespace with eth0 on the node's bridge.
type PodNet struct {
	NS *Netns
	IP netip.Addr
	// hostDev is eth0's peer, a port of the node's bridge.
	hostDev string
}

// PodNet creates a pod network namespace with the next free address.
func (n *Node) PodNet(name string) *PodNet {
	n.t.Helper()
	return n.PodNetWithIP(name, n.allocate())
}

func (n *Node) allocate() netip.Addr {
	a := n.next
	n.next = n.next.Next()
	if !n.prefix.Contains(a) {
		n.t.Fatalf("node %s: pod CIDR %s exhausted", n.NS.Name, n.prefix)
	}
	return a
}

// PodNetWithIP creates a pod network namespace with a given address (to
// reuse one a deleted pod had).
func (n *Node) PodNetWithIP(name string, ip netip.Addr) *PodNet {
	n.t.Helper()
	p := &PodNet{NS: n.env.Netns(name), IP: ip}
	n.pods++
	host := "veth" + strconv.Itoa(n.pods) + n.env.id
	p.hostDev = host
	n.NS.Run("ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", p.NS.Name)
	n.NS.Run("ip", "link", "set", host, "master", "br0")
	n.NS.Run("ip", "link", "set", host, "up")
	p.NS.Sysctl("net.ipv6.conf.all.disable_ipv6", "1")
	p.NS.Run("ip", "addr", "add", netip.PrefixFrom(ip, n.prefix.Bits()).String(), "dev", "eth0")
	p.NS.Run("ip", "link", "set", "eth0", "up")
	p.NS.Run("ip", "route", "add", "default", "via", n.IP.String())
	return p
}

// Service makes vip:port (TCP or UDP) lead to the backends, each chosen at
// random with equal probability, as kube-proxy's iptables mode does: for
// pods (PREROUTING) and for the node's own sockets (OUTPUT; the node
// routes the service range to its bridge).
func (n *Node) Service(vip netip.Addr, port uint16, proto string, backends ...netip.AddrPort) {
	n.t.Helper()
	for _, chain := range []string{"PREROUTING", "OUTPUT"} {
		for i, b := range backends {
			args := []string{"iptables", "-t", "nat", "-A", chain, "-d", vip.String(), "-p", proto, "--dport", strconv.Itoa(int(port))}
			if left := len(backends) - i; left > 1 {
				args = append(args, "-m", "statistic", "--mode", "random", "--probability", fmt.Sprintf("%.5f", 1/float64(left)))
			}
			n.NS.Run(append(args, "-j", "DNAT", "--to-destination", b.String())...)
		}
	}
	n.NS.Run("ip", "route", "replace", netip.PrefixFrom(vip, 32).String(), "dev", "br0")
}

// Link returns the pod's eth0, to read its counters.
func (p *PodNet) Link() *Link {
	return &Link{Netns: p.NS, Dev: "eth0", Addrs: []netip.Prefix{netip.PrefixFrom(p.IP, 32)}}
}

// PinNeighbours gives the pods and the node permanent neighbour entries
// for each other (and the pods for their gateway), and the bridge static
// forwarding entries for the pods, so that no ARP packet, and no frame the
// bridge floods while it has not learnt an address, crosses a pod's link:
// its counters then hold only the test's traffic.
func (n *Node) PinNeighbours(pods ...*PodNet) {
	n.t.Helper()
	mac := func(ns *Netns, dev string) string {
		out := ns.Run("cat", "/sys/class/net/"+dev+"/address")
		return string([]byte(out)[:len(out)-1])
	}
	bridge := mac(n.NS, "br0")
	macs := make([]string, len(pods))
	for i, p := range pods {
		macs[i] = mac(p.NS, "eth0")
		p.NS.Run("ip", "neigh", "replace", n.IP.String(), "lladdr", bridge, "nud", "permanent", "dev", "eth0")
		n.NS.Run("ip", "neigh", "replace", p.IP.String(), "lladdr", macs[i], "nud", "permanent", "dev", "br0")
		n.NS.Run("bridge", "fdb", "replace", macs[i], "dev", p.hostDev, "master", "static")
	}
	for i, p := range pods {
		for j, q := range pods {
			if i != j {
				p.NS.Run("ip", "neigh", "replace", q.IP.String(), "lladdr", macs[j], "nud", "permanent", "dev", "eth0")
			}
		}
	}
}
