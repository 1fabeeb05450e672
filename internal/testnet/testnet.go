// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package testnet builds disposable networks for tests that need real
// traffic: network namespaces joined by veth pairs, cgroup v2 directories
// shaped like kubelet's, and traffic generators started inside them.
// Everything is removed when the test ends. It needs root.
//
// Packages using it must call MaybeRunHelper first thing in TestMain: the
// traffic generators are the test binary itself, re-executed.
package testnet

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/internal/cgroups"
)

// Env is one test's network and cgroups.
type Env struct {
	t  testing.TB
	id string
	// Root is the cgroup v2 directory holding every cgroup of this Env;
	// attaching at it observes only this Env's sockets.
	Root *Cgroup
}

// New creates an Env, or fails the test when not root.
func New(t testing.TB) *Env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("testnet needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_BPF): run the tests as root, as CI does")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	e := &Env{t: t, id: hex.EncodeToString(b)}
	mount, err := cgroups.FindV2Mount()
	if err != nil {
		t.Fatal(err)
	}
	e.Root = newCgroup(t, filepath.Join(mount, "podflow-test-"+e.id))
	return e
}

// ID is the random suffix of this Env's names.
func (e *Env) ID() string { return e.id }

// Netns is a named network namespace (ip netns).
type Netns struct {
	Name string
	t    testing.TB
}

// Netns creates a namespace with loopback up.
func (e *Env) Netns(name string) *Netns {
	e.t.Helper()
	ns := &Netns{Name: fmt.Sprintf("pf%s-%s", e.id, name), t: e.t}
	Run(e.t, "ip", "netns", "add", ns.Name)
	e.t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns.Name).Run() })
	ns.Run("ip", "link", "set", "lo", "up")
	return ns
}

// Run runs a command in the namespace and returns its output.
func (n *Netns) Run(args ...string) string {
	n.t.Helper()
	return Run(n.t, append([]string{"ip", "netns", "exec", n.Name}, args...)...)
}

// Sysctl sets a sysctl in the namespace.
func (n *Netns) Sysctl(key, value string) {
	n.t.Helper()
	n.Run("sysctl", "-q", "-w", key+"="+value)
}

// Counter reads one of the namespace's kernel SNMP counters by its nstat
// name (e.g. TcpRetransSegs, TcpExtTCPSynRetrans).
func (n *Netns) Counter(name string) uint64 {
	n.t.Helper()
	// -s: no history file, -a: absolute values, -z: zeros too.
	out := n.Run("nstat", "-saz", name)
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == name {
			v, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				n.t.Fatalf("nstat %s: %q", name, line)
			}
			return v
		}
	}
	n.t.Fatalf("nstat has no counter %s: %q", name, out)
	return 0
}

// Link is one end of a veth pair.
type Link struct {
	Netns *Netns
	Dev   string
	Addrs []netip.Prefix
	MAC   string
}

// Addr returns the link's first address of the given family.
func (l *Link) Addr(v6 bool) netip.Addr {
	for _, p := range l.Addrs {
		if p.Addr().Is6() == v6 {
			return p.Addr()
		}
	}
	l.Netns.t.Fatalf("%s has no IPv6=%v address", l.Dev, v6)
	return netip.Addr{}
}

// Veth joins a and b with a veth pair carrying the given addresses. Each
// side knows the other's MAC (permanent neighbour entries) and IPv6 runs
// without DAD or router solicitation, so no ARP or ND packet disturbs
// counters compared with the veth's own.
func (e *Env) Veth(a *Netns, aAddrs []netip.Prefix, b *Netns, bAddrs []netip.Prefix) (*Link, *Link) {
	e.t.Helper()
	la := &Link{Netns: a, Dev: "va" + e.id, Addrs: aAddrs}
	lb := &Link{Netns: b, Dev: "vb" + e.id, Addrs: bAddrs}
	Run(e.t, "ip", "link", "add", la.Dev, "netns", a.Name, "type", "veth", "peer", "name", lb.Dev, "netns", b.Name)
	v6 := false
	for _, p := range slices.Concat(aAddrs, bAddrs) { // not append: it could write into aAddrs' array
		v6 = v6 || p.Addr().Is6()
	}
	for _, l := range []*Link{la, lb} {
		if !v6 {
			// Not even link-local IPv6: no MLD reports on the link.
			l.Netns.Sysctl("net.ipv6.conf."+l.Dev+".disable_ipv6", "1")
		}
		l.Netns.Sysctl("net.ipv6.conf."+l.Dev+".accept_dad", "0")
		l.Netns.Sysctl("net.ipv6.conf."+l.Dev+".router_solicitations", "0")
		l.Netns.Sysctl("net.ipv6.conf."+l.Dev+".accept_ra", "0")
		// The MLD reports of joining each address's multicast group go
		// out at once, not up to a second later, when a test counts.
		l.Netns.Sysctl("net.ipv6.conf."+l.Dev+".mldv1_unsolicited_report_interval", "1")
		l.Netns.Sysctl("net.ipv6.conf."+l.Dev+".mldv2_unsolicited_report_interval", "1")
		for _, p := range l.Addrs {
			l.Netns.Run("ip", "addr", "add", p.String(), "dev", l.Dev, "nodad")
		}
		l.Netns.Run("ip", "link", "set", l.Dev, "up")
		l.MAC = strings.TrimSpace(l.Netns.Run("cat", "/sys/class/net/"+l.Dev+"/address"))
	}
	for _, pair := range [][2]*Link{{la, lb}, {lb, la}} {
		for _, p := range pair[1].Addrs {
			pair[0].Netns.Run("ip", "neigh", "replace", p.Addr().String(), "lladdr", pair[1].MAC, "nud", "permanent", "dev", pair[0].Dev)
		}
	}
	return la, lb
}

// LinkStats are a device's own counters (L2: bytes include the 14-byte
// Ethernet header).
type LinkStats struct {
	RxBytes, RxPackets, TxBytes, TxPackets uint64
}

// Stats reads the link's counters.
func (l *Link) Stats() LinkStats {
	l.Netns.t.Helper()
	out := l.Netns.Run("ip", "-s", "-j", "link", "show", "dev", l.Dev)
	var links []struct {
		Stats64 struct {
			Rx struct{ Bytes, Packets uint64 } `json:"rx"`
			Tx struct{ Bytes, Packets uint64 } `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		l.Netns.t.Fatalf("parse ip -s -j link: %v: %s", err, out)
	}
	s := links[0].Stats64
	return LinkStats{RxBytes: s.Rx.Bytes, RxPackets: s.Rx.Packets, TxBytes: s.Tx.Bytes, TxPackets: s.Tx.Packets}
}

// SettledStats reads the link's counters once they stop moving: the last
// ACK of a FIN exchange may still be in flight when a helper returns.
func (l *Link) SettledStats() LinkStats {
	prev := l.Stats()
	for range 50 {
		time.Sleep(50 * time.Millisecond)
		cur := l.Stats()
		if cur == prev {
			return cur
		}
		prev = cur
	}
	return prev
}

// QuietStats reads the link's counters once they have not moved for d
// (at most 10 s): an IPv6 link's MLD reports may come up to a second
// after it is set up, when a test starts counting.
func (l *Link) QuietStats(d time.Duration) LinkStats {
	l.Netns.t.Helper()
	prev, since := l.Stats(), time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		if cur := l.Stats(); cur != prev {
			prev, since = cur, time.Now()
		} else if time.Since(since) >= d {
			break
		}
	}
	return prev
}

// Sub returns s - o.
func (s LinkStats) Sub(o LinkStats) LinkStats {
	return LinkStats{s.RxBytes - o.RxBytes, s.RxPackets - o.RxPackets, s.TxBytes - o.TxBytes, s.TxPackets - o.TxPackets}
}

// Run runs a command and fails the test with its output if it fails.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// Cgroup is a cgroup v2 directory.
type Cgroup struct {
	Path string
	ID   uint64
	t    testing.TB
}

func newCgroup(t testing.TB, path string) *Cgroup {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	id, err := cgroups.ID(path)
	if err != nil {
		t.Fatal(err)
	}
	cg := &Cgroup{Path: path, ID: id, t: t}
	t.Cleanup(cg.remove)
	return cg
}

// Child creates a cgroup below c; rel may have several elements
// ("kubepods.slice/kubepods-pod<uid>.slice/cri-containerd-<id>.scope").
func (c *Cgroup) Child(rel string) *Cgroup {
	c.t.Helper()
	parts := strings.Split(rel, "/")
	cur := c
	for _, p := range parts {
		cur = newCgroup(c.t, filepath.Join(cur.Path, p))
	}
	return cur
}

// remove kills what still runs in the cgroup and removes it.
func (c *Cgroup) remove() {
	_ = os.WriteFile(filepath.Join(c.Path, "cgroup.kill"), []byte("1"), 0)
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.Rmdir(c.Path)
		if err == nil || os.IsNotExist(err) || time.Now().After(deadline) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Delete removes the namespace now (its veths go with it); the cleanup
// registered by Netns then finds nothing to do.
func (n *Netns) Delete() {
	n.t.Helper()
	Run(n.t, "ip", "netns", "del", n.Name)
}
