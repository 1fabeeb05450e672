// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"net/netip"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/kube"
)

const webUID = "0c6f2b6e-4d0a-4b6f-9f59-2f0b2d4d7a11"

// fakeKube answers like kube.Cache from fixed maps.
type fakeKube struct {
	byUID     map[string]kube.Identity
	byIP      map[netip.Addr]kube.Identity
	local     map[netip.Addr]kube.Identity
	frontends map[kube.Frontend]kube.Identity
	synced    bool
}

func (f *fakeKube) ServiceAt(fr kube.Frontend) (kube.Identity, bool) {
	id, ok := f.frontends[fr]
	return id, ok && f.synced
}

func (f *fakeKube) PodByUID(uid string) (kube.Identity, bool) {
	id, ok := f.byUID[uid]
	return id, ok
}

func (f *fakeKube) LocalPodByIP(a netip.Addr) (kube.Identity, bool) {
	id, ok := f.local[a]
	return id, ok
}

func (f *fakeKube) Remote(a netip.Addr) (kube.Identity, kube.Outcome) {
	if !f.synced {
		return kube.Identity{}, kube.Unknown
	}
	if id, ok := f.byIP[a]; ok {
		return id, kube.Resolved
	}
	return kube.Identity{Workload: "world", Kind: kube.KindWorld}, kube.World
}

func (f *fakeKube) Generation() uint64 { return 1 }
func (f *fakeKube) Synced() bool       { return f.synced }
func (f *fakeKube) Stats() kube.Stats {
	return kube.Stats{Synced: f.synced, Objects: map[string]int{"pods": 2}, WatchErrors: map[string]uint64{"pods": 3}}
}

var (
	webPod  = kube.Identity{Namespace: "shop", Workload: "web", Kind: kube.KindDeployment, Pod: "web-7d9c5b6f4-x2x9k", Labels: []string{"web", "payments"}}
	dbPod   = kube.Identity{Namespace: "shop", Workload: "db", Kind: kube.KindStatefulSet, Pod: "db-0", Service: "db-headless", Labels: []string{"db", ""}}
	addrGW  = netip.MustParseAddr("10.1.0.1")
	cgroups = fakeCgroups{
		1: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0c6f2b6e_4d0a_4b6f_9f59_2f0b2d4d7a11.slice/cri-containerd-abc.scope",
		2: "/system.slice/kubelet.service",
		3: "/", // the kernel's own sockets, e.g. in a pod's network namespace
		4: "/kubepods.slice/kubepods-podffffffff_ffff_ffff_ffff_ffffffffffff.slice",
		0: "/system.slice/not-asked.service", // id 0 is no socket: never looked up
	}
)

func newFakeKube() *fakeKube {
	return &fakeKube{
		synced: true,
		byUID:  map[string]kube.Identity{webUID: webPod},
		byIP:   map[netip.Addr]kube.Identity{addrDB: dbPod, addrGW: {Workload: "node-1", Kind: kube.KindNode}},
		local:  map[netip.Addr]kube.Identity{addrWeb: webPod},
	}
}

func TestKubeResolver(t *testing.T) {
	r := NewKubeResolver(newFakeKube(), cgroups, kube.AggregatePod, nil)
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
			unknownPeer, Peer{Workload: "world", Kind: "world"}, true},
		{"a cgroup gone", bpf.FlowKey{CgroupID: 99, Remote: addrDB}, unknownPeer,
			Peer{Namespace: "shop", Workload: "db", Kind: "StatefulSet", Pod: "db-0", Service: "db-headless", Labels: "db\x00"}, false},
		{"no socket, a pod's address", bpf.FlowKey{Local: addrWeb, Remote: addrGW},
			Peer{Namespace: "shop", Workload: "web", Kind: "Deployment", Pod: "web-7d9c5b6f4-x2x9k", Labels: "web\x00payments"},
			Peer{Workload: "node-1", Kind: "node"}, false},
		{"no socket, not a pod's address", bpf.FlowKey{Local: addrGW, Remote: addrDB},
			Peer{Workload: "host", Kind: KindHost},
			Peer{Namespace: "shop", Workload: "db", Kind: "StatefulSet", Pod: "db-0", Service: "db-headless", Labels: "db\x00"}, false},
		{"no socket, no address", bpf.FlowKey{}, Peer{Workload: "host", Kind: KindHost}, unknownPeer, false},
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
	ids := newFakeKube()
	ids.synced = false
	r := NewKubeResolver(ids, cgroups, kube.AggregatePod, nil)
	toDB := bpf.FlowKey{CgroupID: 2, Local: addrGW, Remote: addrDB}
	if l, rem, _, ok := r.Resolve(toDB, time.Now()); ok || l != unknownPeer || rem != unknownPeer {
		t.Errorf("before the sync: %+v, %+v, ok %v; want both unknown, not yet", l, rem, ok)
	}
	ids.synced = true
	if _, _, _, ok := r.Resolve(toDB, time.Now()); !ok {
		t.Error("after the sync, still not yet")
	}

	late := bpf.FlowKey{CgroupID: 4, Local: addrC, Remote: addrDB}
	if l, _, _, ok := r.Resolve(late, time.Now()); ok || l != unknownPeer {
		t.Errorf("a pod not in the cache: %+v, ok %v; want not yet", l, ok)
	}
	latePod := kube.Identity{Namespace: "shop", Workload: "late", Kind: kube.KindStatefulSet, Pod: "late-0"}
	ids.byUID["ffffffff-ffff-ffff-ffff-ffffffffffff"] = latePod
	if l, _, _, ok := r.Resolve(late, time.Now()); !ok || l.Pod != "late-0" {
		t.Errorf("once the cache has the pod: %+v, ok %v", l, ok)
	}
	delete(ids.byUID, "ffffffff-ffff-ffff-ffff-ffffffffffff")
	if l, _, _, ok := r.Resolve(late, time.Now()); !ok || l.Pod != "late-0" {
		t.Errorf("once the pod is deleted: %+v, ok %v; want its last name", l, ok)
	}

	unreadable := NewKubeResolver(newFakeKube(), unreadableCgroups{}, kube.AggregatePod, nil)
	if l, _, _, ok := unreadable.Resolve(bpf.FlowKey{CgroupID: 1, Remote: addrDB}, time.Now()); ok || l != unknownPeer {
		t.Errorf("an unreadable cgroup tree: %+v, ok %v; want not yet", l, ok)
	}
}

// Golden expositions of one flow at each aggregation level, with two pod labels.
func TestKubeSchemas(t *testing.T) {
	for _, agg := range []string{kube.AggregateNamespace, kube.AggregateWorkload, kube.AggregatePod} {
		t.Run(agg, func(t *testing.T) {
			src, clk := &fakeSource{}, &clock{now: time.Unix(1_800_000_000, 0)}
			res := NewKubeResolver(newFakeKube(), cgroups, agg, nil)
			cfg := testConfig(100, "flows", "kube")
			p, err := New(cfg, Sources{Flows: src, Resolver: res, Kube: res, Schema: KubeSchema(agg, []string{"app", "team.example.com/name"})}, nopLogger())
			if err != nil {
				t.Fatal(err)
			}
			reg := registerWithClock(t, p, clk)
			src.addFlow(bpf.FlowKey{CgroupID: 1, Local: addrWeb, Remote: addrDB, ServerPort: 5432, Protocol: 6, Role: bpf.RoleClient}, bpf.FlowCounters{TxBytes: 1000, TxPackets: 10})
			assertGolden(t, reg, "kube_"+agg, "podflow_flow_transmit_bytes_total", "podflow_kube_cache_synced", "podflow_kube_cache_objects", "podflow_kube_watch_errors_total")
		})
	}
}
