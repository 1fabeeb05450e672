// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package namingtest is a small cluster for tests of naming and of what
// consumes it: a fake Kubernetes cache (naming.KubeIdentities), cgroup
// paths and a translator, answering from maps, and one fixed world in them
// — pod web (a Deployment, cgroup 1) talking to pod db-0 (a StatefulSet),
// a node, a kubelet, and service db in front of db-0 and db-1.
package namingtest

import (
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/podflow/podflow_exporter/kube"
)

// The world's addresses.
var (
	AddrWeb = netip.MustParseAddr("10.0.0.1")
	AddrDB  = netip.MustParseAddr("10.0.0.2")
	AddrC   = netip.MustParseAddr("10.0.0.3") // a pod not in the cache
	AddrDB1 = netip.MustParseAddr("10.0.0.4")
	AddrGW  = netip.MustParseAddr("10.1.0.1") // node-1
	VIPDB   = netip.MustParseAddr("10.96.0.10")
)

// WebUID is pod web's UID, in the path of cgroup 1.
const WebUID = "0c6f2b6e-4d0a-4b6f-9f59-2f0b2d4d7a11"

// LateUID is the UID of a pod whose cgroup (4) exists before the cache
// has the pod.
const LateUID = "ffffffff-ffff-ffff-ffff-ffffffffffff"

// The world's identities, with the values of two pod labels.
var (
	WebPod = kube.Identity{Namespace: "shop", Workload: "web", Kind: kube.KindDeployment, Pod: "web-7d9c5b6f4-x2x9k", Labels: []string{"web", "payments"}}
	DBPod  = kube.Identity{Namespace: "shop", Workload: "db", Kind: kube.KindStatefulSet, Pod: "db-0", Service: "db-headless", Labels: []string{"db", ""}}
	DB1Pod = kube.Identity{Namespace: "shop", Workload: "db", Kind: kube.KindStatefulSet, Pod: "db-1", Labels: []string{"db", ""}}
	SvcDB  = kube.Identity{Namespace: "shop", Workload: "db", Kind: kube.KindService, Service: "db"}
)

// Cgroups are cgroup paths by id (naming.CgroupPaths); an id not in it is
// a cgroup gone.
type Cgroups map[uint64]string

// Path implements naming.CgroupPaths.
func (c Cgroups) Path(id uint64, _ time.Time) (string, bool, error) {
	p, ok := c[id]
	return p, ok, nil
}

// Unreadable is a cgroup tree that cannot be read.
type Unreadable struct{}

// Path implements naming.CgroupPaths: always an error.
func (Unreadable) Path(uint64, time.Time) (string, bool, error) {
	return "", false, errors.New("permission denied")
}

// WorldCgroups are the world's cgroups: 1 web's container, 2 kubelet, 3 the
// root (the kernel's own sockets), 4 the late pod's.
func WorldCgroups() Cgroups {
	return Cgroups{
		1: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0c6f2b6e_4d0a_4b6f_9f59_2f0b2d4d7a11.slice/cri-containerd-abc.scope",
		2: "/system.slice/kubelet.service",
		3: "/", // the kernel's own sockets, e.g. in a pod's network namespace
		4: "/kubepods.slice/kubepods-podffffffff_ffff_ffff_ffff_ffffffffffff.slice",
		0: "/system.slice/not-asked.service", // id 0 is no socket: never looked up
	}
}

// Kube answers like kube.Cache from its maps. Tests change them between
// drains.
type Kube struct {
	ByUID     map[string]kube.Identity
	ByIP      map[netip.Addr]kube.Identity
	Local     map[netip.Addr]kube.Identity
	Frontends map[kube.Frontend]kube.Identity
	// Unsynced is a cache that has not listed everything yet.
	Unsynced bool
}

// NewKube returns the world's cache, synced: web by UID and address, db-0
// and node-1 by address.
func NewKube() *Kube {
	return &Kube{
		ByUID: map[string]kube.Identity{WebUID: WebPod},
		ByIP:  map[netip.Addr]kube.Identity{AddrDB: DBPod, AddrGW: {Workload: "node-1", Kind: kube.KindNode}},
		Local: map[netip.Addr]kube.Identity{AddrWeb: WebPod},
	}
}

// WithService adds service db at VIPDB:80/TCP (backends db-0 and db-1 on
// port 8080) to k.
func (k *Kube) WithService() *Kube {
	k.ByIP[AddrDB1] = DB1Pod
	k.ByIP[VIPDB] = SvcDB
	k.Frontends = map[kube.Frontend]kube.Identity{{Addr: netip.AddrPortFrom(VIPDB, 80), Protocol: 6}: SvcDB}
	return k
}

// ServiceAt implements naming.KubeIdentities.
func (k *Kube) ServiceAt(fr kube.Frontend) (kube.Identity, bool) {
	id, ok := k.Frontends[fr]
	return id, ok && !k.Unsynced
}

// PodByUID implements naming.KubeIdentities.
func (k *Kube) PodByUID(uid string) (kube.Identity, bool) {
	id, ok := k.ByUID[uid]
	return id, ok
}

// LocalPodByIP implements naming.KubeIdentities.
func (k *Kube) LocalPodByIP(a netip.Addr) (kube.Identity, bool) {
	id, ok := k.Local[a]
	return id, ok
}

// Remote implements naming.KubeIdentities: unknown before the sync, world
// for an address not in ByIP.
func (k *Kube) Remote(a netip.Addr) (kube.Identity, kube.Outcome) {
	if k.Unsynced {
		return kube.Identity{}, kube.Unknown
	}
	if id, ok := k.ByIP[a]; ok {
		return id, kube.Resolved
	}
	return kube.Identity{Workload: "world", Kind: kube.KindWorld}, kube.World
}

// Generation implements naming.KubeIdentities: answers never change.
func (k *Kube) Generation() uint64 { return 1 }

// Synced implements naming.KubeIdentities.
func (k *Kube) Synced() bool { return !k.Unsynced }

// Stats implements naming.KubeIdentities: 2 pods, 3 watch errors.
func (k *Kube) Stats() kube.Stats {
	return kube.Stats{Synced: !k.Unsynced, Objects: map[string]int{"pods": 2}, WatchErrors: map[string]uint64{"pods": 3}}
}

// Translator answers from a map of client address and port to backend
// (naming.Translator).
type Translator struct {
	mu       sync.Mutex
	backends map[netip.AddrPort]netip.AddrPort
	asked    int
}

// TranslatorFor returns the translator of web's connections from each
// client port to its backend.
func TranslatorFor(backends map[uint16]netip.AddrPort) *Translator {
	f := &Translator{backends: map[netip.AddrPort]netip.AddrPort{}}
	for port, b := range backends {
		f.backends[netip.AddrPortFrom(AddrWeb, port)] = b
	}
	return f
}

// Translate implements naming.Translator.
func (f *Translator) Translate(_ uint8, client, _ netip.AddrPort) (netip.AddrPort, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked++
	b, ok := f.backends[client]
	return b, ok
}

// Asked is how many lookups the translator answered.
func (f *Translator) Asked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked
}
