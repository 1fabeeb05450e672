// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package naming

import (
	"net/netip"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/naming/namingtest"
)

func TestCgroupName(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ path, workload, kind string }{
		{"/", "host", "host"},
		{"/init.scope", "init.scope", "systemd"},
		{"/system.slice/ssh.service", "ssh.service", "systemd"},
		{"/user.slice/user-1000.slice/session-3.scope", "session-3.scope", "systemd"},
		{"/system.slice/docker-" + id + ".scope", "docker-0123456789ab", "container"},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-" + id + ".scope", "cri-containerd-0123456789ab", "container"},
		{"/docker/" + id, "docker-0123456789ab", "container"},
		{"/kubepods/burstable/pod1234/" + id, "container-0123456789ab", "container"},
		{"/podflow-test-abc/pod-a", "pod-a", "cgroup"},
	} {
		w, k := CgroupName(tc.path)
		if w != tc.workload || k != tc.kind {
			t.Errorf("CgroupName(%q) = %q, %q; want %q, %q", tc.path, w, k, tc.workload, tc.kind)
		}
	}
}

func TestAddressClass(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1": "loopback", "::1": "loopback",
		"10.1.2.3": "private", "172.16.0.1": "private", "192.168.1.1": "private", "fd00::1": "private", "100.64.0.1": "private",
		"169.254.1.1": "link_local", "fe80::1": "link_local",
		"224.0.0.1": "multicast", "ff02::1": "multicast", "255.255.255.255": "multicast",
		"0.0.0.0": "unspecified",
		"8.8.8.8": "public", "2001:4860:4860::8888": "public",
	} {
		if got := AddressClass(netip.MustParseAddr(addr)); got != want {
			t.Errorf("AddressClass(%s) = %s, want %s", addr, got, want)
		}
	}
}

func TestHostResolver(t *testing.T) {
	cg := namingtest.Cgroups{7: "/system.slice/nginx.service"}
	k := bpf.FlowKey{CgroupID: 7, Remote: netip.MustParseAddr("93.184.216.34")}
	for _, tc := range []struct {
		naming      RemoteNaming
		local, peer Peer
	}{
		{RemoteByAddress, Peer{Workload: "nginx.service", Kind: "systemd"}, Peer{Workload: "93.184.216.34", Kind: "public"}},
		{RemoteByClass, Peer{Workload: "nginx.service", Kind: "systemd"}, Peer{Workload: "public", Kind: "public"}},
	} {
		l, r, port, ok := NewHostResolver(cg, tc.naming).Resolve(k, time.Now())
		if l != tc.local || r != tc.peer || port != k.ServerPort || !ok {
			t.Errorf("%s: Resolve = %+v, %+v; want %+v, %+v", tc.naming, l, r, tc.local, tc.peer)
		}
	}
	// A cgroup gone before it was seen, and a packet without addresses:
	// unknown for good.
	l, r, _, ok := NewHostResolver(cg, RemoteByAddress).Resolve(bpf.FlowKey{CgroupID: 99}, time.Now())
	if l != UnknownPeer || r != UnknownPeer || !ok {
		t.Errorf("unknown cgroup and address resolved to %+v, %+v, ok %v", l, r, ok)
	}
	// A tree that could not be read: not yet.
	if l, _, _, ok := NewHostResolver(namingtest.Unreadable{}, RemoteByAddress).Resolve(k, time.Now()); l != UnknownPeer || ok {
		t.Errorf("with an unreadable tree, resolved to %+v, ok %v; want unknown, not yet", l, ok)
	}
	// No socket (cgroup id 0): the host, named like the root cgroup
	// without asking the index (which here would name id 0 otherwise).
	withZero := namingtest.Cgroups{0: "/system.slice/not-asked.service"}
	if l, _, _, _ := NewHostResolver(withZero, RemoteByAddress).Resolve(bpf.FlowKey{Remote: k.Remote}, time.Now()); l != (Peer{Workload: "host", Kind: "host"}) {
		t.Errorf("cgroup id 0 resolved to %+v, want the host", l)
	}
}
