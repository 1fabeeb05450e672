// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package naming

import (
	"net/netip"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/kube"
	"github.com/podflow/podflow_exporter/naming/namingtest"
)

// The world of namingtest.
var (
	addrWeb, addrDB, addrC, addrGW = namingtest.AddrWeb, namingtest.AddrDB, namingtest.AddrC, namingtest.AddrGW
	cgroups                        = namingtest.WorldCgroups()
)

func TestKubeResolver(t *testing.T) {
	r := NewKubeResolver(namingtest.NewKube(), cgroups, kube.AggregatePod, nil, nil)
	for _, tc := range []struct {
		name          string
		key           bpf.FlowKey
		local, remote Peer
		notYet        bool
	}{
		{"pod by its cgroup", bpf.FlowKey{CgroupID: 1, Local: addrWeb, Remote: addrDB},
			Peer{Namespace: "shop", Workload: "web", Kind: "Deployment", Pod: "web-7d9c5b6f4-x2x9k", Labels: "web\x00payments"},
			Peer{Namespace: "shop", Workload: "db", Kind: "StatefulSet", Pod: "db-0", Service: "db-headless", Labels: "db\x00"}, false},
		{"host process by its cgroup", bpf.FlowKey{CgroupID: 2, Local: addrGW, Remote: addrDB},
			Peer{Workload: "kubelet.service", Kind: KindHost},
			Peer{Namespace: "shop", Workload: "db", Kind: "StatefulSet", Pod: "db-0", Service: "db-headless", Labels: "db\x00"}, false},
		{"kernel socket in a pod's namespace, by address", bpf.FlowKey{CgroupID: 3, Local: addrWeb, Remote: addrGW},
			Peer{Namespace: "shop", Workload: "web", Kind: "Deployment", Pod: "web-7d9c5b6f4-x2x9k", Labels: "web\x00payments"},
			Peer{Workload: "node-1", Kind: "node"}, false},
		{"a pod not in the cache yet: not yet", bpf.FlowKey{CgroupID: 4, Local: addrC, Remote: netip.MustParseAddr("8.8.8.8")},
			UnknownPeer, Peer{Workload: "world", Kind: "world"}, true},
		{"a cgroup gone", bpf.FlowKey{CgroupID: 99, Remote: addrDB}, UnknownPeer,
			Peer{Namespace: "shop", Workload: "db", Kind: "StatefulSet", Pod: "db-0", Service: "db-headless", Labels: "db\x00"}, false},
		{"no socket, a pod's address", bpf.FlowKey{Local: addrWeb, Remote: addrGW},
			Peer{Namespace: "shop", Workload: "web", Kind: "Deployment", Pod: "web-7d9c5b6f4-x2x9k", Labels: "web\x00payments"},
			Peer{Workload: "node-1", Kind: "node"}, false},
		{"no socket, not a pod's address", bpf.FlowKey{Local: addrGW, Remote: addrDB},
			Peer{Workload: "host", Kind: KindHost},
			Peer{Namespace: "shop", Workload: "db", Kind: "StatefulSet", Pod: "db-0", Service: "db-headless", Labels: "db\x00"}, false},
		{"no socket, no address", bpf.FlowKey{}, Peer{Workload: "host", Kind: KindHost}, UnknownPeer, false},
	} {
		l, rem, port, ok := r.Resolve(tc.key, time.Now())
		if l != tc.local || rem != tc.remote || port != tc.key.ServerPort || ok == tc.notYet {
			t.Errorf("%s:\n got %+v, %+v, ok %v\nwant %+v, %+v, ok %v", tc.name, l, rem, ok, tc.local, tc.remote, !tc.notYet)
		}
	}
	local, remote := r.Resolutions()
	if local != [3]uint64{2, 6, 0} || remote != [3]uint64{1, 6, 1} {
		t.Errorf("resolutions: local %v, remote %v (by outcome unknown, resolved, world)", local, remote)
	}
}

// What the cache does not have yet is "not yet", never unknown for good:
// everything before the sync, a pod's cgroup before its watch event; a
// cgroup tree that could not be read too. A deleted pod's last increments
// keep its name.
func TestKubeResolverNotYet(t *testing.T) {
	ids := namingtest.NewKube()
	ids.Unsynced = true
	r := NewKubeResolver(ids, cgroups, kube.AggregatePod, nil, nil)
	toDB := bpf.FlowKey{CgroupID: 2, Local: addrGW, Remote: addrDB}
	if l, rem, _, ok := r.Resolve(toDB, time.Now()); ok || l != UnknownPeer || rem != UnknownPeer {
		t.Errorf("before the sync: %+v, %+v, ok %v; want both unknown, not yet", l, rem, ok)
	}
	ids.Unsynced = false
	if _, _, _, ok := r.Resolve(toDB, time.Now()); !ok {
		t.Error("after the sync, still not yet")
	}

	late := bpf.FlowKey{CgroupID: 4, Local: addrC, Remote: addrDB}
	if l, _, _, ok := r.Resolve(late, time.Now()); ok || l != UnknownPeer {
		t.Errorf("a pod not in the cache: %+v, ok %v; want not yet", l, ok)
	}
	latePod := kube.Identity{Namespace: "shop", Workload: "late", Kind: kube.KindStatefulSet, Pod: "late-0"}
	ids.ByUID[namingtest.LateUID] = latePod
	if l, _, _, ok := r.Resolve(late, time.Now()); !ok || l.Pod != "late-0" {
		t.Errorf("once the cache has the pod: %+v, ok %v", l, ok)
	}
	delete(ids.ByUID, namingtest.LateUID)
	if l, _, _, ok := r.Resolve(late, time.Now()); !ok || l.Pod != "late-0" {
		t.Errorf("once the pod is deleted: %+v, ok %v; want its last name", l, ok)
	}

	unreadable := NewKubeResolver(namingtest.NewKube(), namingtest.Unreadable{}, kube.AggregatePod, nil, nil)
	if l, _, _, ok := unreadable.Resolve(bpf.FlowKey{CgroupID: 1, Remote: addrDB}, time.Now()); ok || l != UnknownPeer {
		t.Errorf("an unreadable cgroup tree: %+v, ok %v; want not yet", l, ok)
	}
}

// toVIP is web's connection from port to service db.
func toVIP(port uint16) bpf.FlowKey {
	return bpf.FlowKey{CgroupID: 1, Local: addrWeb, Remote: namingtest.VIPDB, ServerPort: 80, Protocol: 6, Role: bpf.RoleClient, ClientPort: port}
}

// TestKubeResolverTranslated: a connection to a service frontend is named
// by the backend that served it, with remote_service the frontend's
// service and the backend's port; without a translation, or when the
// backend is no pod now, by the service on the frontend's port.
func TestKubeResolverTranslated(t *testing.T) {
	tr := namingtest.TranslatorFor(map[uint16]netip.AddrPort{
		40000: netip.AddrPortFrom(addrDB, 8080),
		40001: netip.AddrPortFrom(namingtest.AddrDB1, 8080),
		40002: netip.MustParseAddrPort("10.0.0.99:8080"), // a backend deleted since
	})
	dbAsBackend := Peer{Namespace: "shop", Workload: "db", Kind: "StatefulSet", Pod: "db-0", Service: "db", Labels: "db\x00"}
	service := Peer{Namespace: "shop", Workload: "db", Kind: "service", Service: "db"}
	otherPort := toVIP(40000)
	otherPort.ServerPort = 81
	server := toVIP(40000)
	server.Role = bpf.RoleServer
	for _, tc := range []struct {
		name       string
		translator Translator
		key        bpf.FlowKey
		remote     Peer
		port       uint16
	}{
		{"translated: the backend, with the service (not its headless one)", tr, toVIP(40000), dbAsBackend, 8080},
		{"another connection, another backend", tr, toVIP(40001), Peer{Namespace: "shop", Workload: "db", Kind: "StatefulSet", Pod: "db-1", Service: "db", Labels: "db\x00"}, 8080},
		{"no entry in connection tracking: the service", tr, toVIP(40009), service, 80},
		{"the backend is no pod now: the service", tr, toVIP(40002), service, 80},
		{"translation off: the service", nil, toVIP(40000), service, 80},
		{"not a frontend: named by its address", tr, otherPort, service, 81},
		{"a server flow is never translated", tr, server, service, 80},
	} {
		r := NewKubeResolver(namingtest.NewKube().WithService(), cgroups, kube.AggregatePod, nil, tc.translator)
		_, remote, port, _ := r.Resolve(tc.key, time.Now())
		if remote != tc.remote || port != tc.port {
			t.Errorf("%s:\n got %+v, port %d\nwant %+v, port %d", tc.name, remote, port, tc.remote, tc.port)
		}
	}
}
