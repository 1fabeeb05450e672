// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package naming

import (
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/kube"
)

// KubeIdentities answers who owns a pod UID or an address, and which
// service a frontend is (kube.Cache).
type KubeIdentities interface {
	PodByUID(uid string) (kube.Identity, bool)
	LocalPodByIP(a netip.Addr) (kube.Identity, bool)
	Remote(a netip.Addr) (kube.Identity, kube.Outcome)
	ServiceAt(f kube.Frontend) (kube.Identity, bool)
	Generation() uint64
	Synced() bool
	Stats() kube.Stats
}

// Sides of resolutions, for podflow_kube_resolutions_total.
const (
	sideLocal = iota
	sideRemote
	numSides
)

// Translator finds the backend the node's NAT sent a connection to a
// service frontend to (conntrack.Translator).
type Translator interface {
	// Translate returns the backend's address and port for the
	// connection from client to service (protocol: IANA number).
	Translate(protocol uint8, client, service netip.AddrPort) (netip.AddrPort, bool)
}

// KubeResolver names flows with Kubernetes identities. The local side: the
// pod whose cgroup the socket is in (hostNetwork pods included); a socket in
// no pod's cgroup, or a packet without a socket (cgroup id 0), with a pod's
// address (the kernel's own sockets in a pod's network namespace) is that
// pod's; other local processes are named by their cgroup like in host mode,
// with kind "host", and packets without a socket like the root cgroup. The
// remote side: see kube.Cache.Remote, and translated below.
//
// What the cache does not have yet (a pod's cgroup that has traffic before
// the pod's watch event arrives, anything before the cache is synced) is
// "not yet" (see Resolver), so that its increments are held back, not
// counted as unknown for good.
type KubeResolver struct {
	ids         KubeIdentities
	cgroups     CgroupPaths
	aggregation string
	schema      Schema
	translator  Translator
	outcomes    [numSides][kube.NumOutcomes]atomic.Uint64

	// named remembers the pods named by UID: a pod's last increments are
	// drained after the cache has dropped the deleted pod.
	mu    sync.Mutex
	named map[string]kube.Identity
}

// NewKubeResolver names flows at the given aggregation level
// (kube.Aggregate*), with the values of the pod labels of --kube.pod-labels
// the cache keeps. translator, when not nil, names the backend of each
// connection to a service (flows with a client port); without it such
// flows are named by the service.
func NewKubeResolver(ids KubeIdentities, cgroups CgroupPaths, aggregation string, podLabels []string, translator Translator) *KubeResolver {
	return &KubeResolver{ids: ids, cgroups: cgroups, aggregation: aggregation, schema: KubeSchema(aggregation, podLabels),
		translator: translator, named: map[string]kube.Identity{}}
}

// Schema implements Resolver: KubeSchema of the aggregation level and pod labels.
func (r *KubeResolver) Schema() Schema { return r.schema }

// Generation implements Resolver.
func (r *KubeResolver) Generation() uint64 { return r.ids.Generation() }

// Resolve implements Resolver. A remote address is unknown for good only
// when the packet had none; else unknown means the cache is not synced:
// not yet.
func (r *KubeResolver) Resolve(k bpf.FlowKey, counted time.Time) (local, remote Peer, port uint16, ok bool) {
	local, ok = r.local(k, counted)
	if k.ClientPort != 0 && k.Role == bpf.RoleClient && k.Remote.IsValid() {
		if p, pt, found := r.translated(k); found {
			return local, p, pt, ok
		}
	}
	id, outcome := kube.Identity{}, kube.Unknown
	if k.Remote.IsValid() {
		id, outcome = r.ids.Remote(k.Remote)
	}
	r.outcomes[sideRemote][outcome].Add(1)
	if outcome == kube.Unknown {
		return local, UnknownPeer, k.ServerPort, ok && !k.Remote.IsValid()
	}
	return local, r.peer(id), k.ServerPort, ok
}

// translated names the remote side of a client connection to a service
// frontend: the backend that served it, with remote_service the frontend's
// service and the backend's port; else (no translation: connection
// tracking has no entry or is unavailable; the backend is no pod or node
// now, e.g. deleted) the service itself on the frontend's port. Either way
// the connection is counted once. False when no service has the frontend
// (any more): the address is then named as any other.
func (r *KubeResolver) translated(k bpf.FlowKey) (Peer, uint16, bool) {
	front := kube.Frontend{Addr: netip.AddrPortFrom(k.Remote, k.ServerPort), Protocol: k.Protocol}
	svc, ok := r.ids.ServiceAt(front)
	if !ok {
		return Peer{}, 0, false
	}
	if r.translator != nil {
		if backend, ok := r.translator.Translate(k.Protocol, netip.AddrPortFrom(k.Local, k.ClientPort), front.Addr); ok {
			if id, outcome := r.ids.Remote(backend.Addr()); outcome == kube.Resolved {
				r.outcomes[sideRemote][outcome].Add(1)
				id.Service = svc.Service
				return r.peer(id), backend.Port(), true
			}
		}
	}
	r.outcomes[sideRemote][kube.Resolved].Add(1)
	return r.peer(svc), k.ServerPort, true
}

// local names the local side; false when it cannot be named yet.
func (r *KubeResolver) local(k bpf.FlowKey, counted time.Time) (Peer, bool) {
	// No socket (a dropped packet, a RST to a closed port): the kernel
	// acted in the root cgroup, for the pod of the local address if any.
	path := "/"
	if k.CgroupID != 0 {
		var found bool
		var err error
		if path, found, err = r.cgroups.Path(k.CgroupID, counted); err != nil || !found {
			// Removed before it was seen: unknown for good; an
			// unreadable tree: not yet.
			r.outcomes[sideLocal][kube.Unknown].Add(1)
			return UnknownPeer, err == nil
		}
	}
	if uid, ok := kube.PodUIDFromCgroup(path); ok {
		id, ok := r.pod(uid)
		if !ok {
			// Not in the cache yet: the pod's cgroup had traffic
			// before the pod's watch event came, or before the sync.
			r.outcomes[sideLocal][kube.Unknown].Add(1)
			return UnknownPeer, false
		}
		r.outcomes[sideLocal][kube.Resolved].Add(1)
		return r.peer(id), true
	}
	if k.Local.IsValid() {
		if id, ok := r.ids.LocalPodByIP(k.Local); ok {
			r.outcomes[sideLocal][kube.Resolved].Add(1)
			return r.peer(id), true
		}
		if !r.ids.Synced() {
			// Maybe a pod's address, which only the synced cache knows.
			r.outcomes[sideLocal][kube.Unknown].Add(1)
			return UnknownPeer, false
		}
	}
	r.outcomes[sideLocal][kube.Resolved].Add(1)
	workload, _ := CgroupName(path)
	return Peer{Workload: workload, Kind: KindHost}, true
}

// pod returns the identity of the pod with a UID: the cache's, else the one
// it had when last named here (the pod was deleted since).
func (r *KubeResolver) pod(uid string) (kube.Identity, bool) {
	id, ok := r.ids.PodByUID(uid)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !ok {
		id, ok = r.named[uid]
		return id, ok
	}
	if len(r.named) >= cacheLimit {
		clear(r.named)
	}
	r.named[uid] = id
	return id, true
}

// peer applies the aggregation level to an identity.
func (r *KubeResolver) peer(id kube.Identity) Peer {
	p := Peer{Namespace: id.Namespace, Workload: id.Workload, Kind: id.Kind, Service: id.Service, Labels: strings.Join(id.Labels, labelSeparator)}
	switch r.aggregation {
	case kube.AggregateNamespace:
		p.Workload = ""
	case kube.AggregatePod:
		p.Pod = id.Pod
	}
	return p
}

// Stats returns the Kubernetes cache's.
func (r *KubeResolver) Stats() kube.Stats { return r.ids.Stats() }

// Resolutions returns how many local and remote resolutions had each
// outcome (indexed by kube.Outcome).
func (r *KubeResolver) Resolutions() (local, remote [kube.NumOutcomes]uint64) {
	for o := range kube.NumOutcomes {
		local[o] = r.outcomes[sideLocal][o].Load()
		remote[o] = r.outcomes[sideRemote][o].Load()
	}
	return local, remote
}
