// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"net/netip"
	"strings"
	"sync/atomic"

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

// KindHost names local processes that are not in a pod (kubelet, sshd...).
const KindHost = "host"

// Sides and outcomes of resolutions, for podflow_kube_resolutions_total.
const (
	sideLocal = iota
	sideRemote
	numSides
	numOutcomes = 3
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
type KubeResolver struct {
	ids         KubeIdentities
	cgroups     CgroupPaths
	aggregation string
	translator  Translator
	outcomes    [numSides][numOutcomes]atomic.Uint64
}

// NewKubeResolver names flows at the given aggregation level
// (kube.Aggregate*). translator, when not nil, names the backend of each
// connection to a service (flows with a client port); without it such
// flows are named by the service.
func NewKubeResolver(ids KubeIdentities, cgroups CgroupPaths, aggregation string, translator Translator) *KubeResolver {
	return &KubeResolver{ids: ids, cgroups: cgroups, aggregation: aggregation, translator: translator}
}

// KubeSchema is the label schema of an aggregation level, with the pod
// labels of --kube.pod-labels.
func KubeSchema(aggregation string, podLabels []string) Schema {
	s := Schema{
		Namespace: true,
		Workload:  aggregation != kube.AggregateNamespace,
		Pod:       aggregation == kube.AggregatePod,
		Service:   true,
	}
	for _, k := range podLabels {
		s.Labels = append(s.Labels, kube.SanitizeLabelName(k))
	}
	return s
}

// Generation implements Resolver.
func (r *KubeResolver) Generation() uint64 { return r.ids.Generation() }

// Resolve implements Resolver.
func (r *KubeResolver) Resolve(k bpf.FlowKey) (local, remote Peer, port uint16) {
	local = r.local(k)
	if k.ClientPort != 0 && k.Role == bpf.RoleClient && k.Remote.IsValid() {
		if p, pt, ok := r.translated(k); ok {
			return local, p, pt
		}
	}
	id, outcome := kube.Identity{}, kube.Unknown
	if k.Remote.IsValid() {
		id, outcome = r.ids.Remote(k.Remote)
	}
	r.outcomes[sideRemote][outcome].Add(1)
	if outcome == kube.Unknown {
		return local, unknownPeer, k.ServerPort
	}
	return local, r.peer(id), k.ServerPort
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

func (r *KubeResolver) local(k bpf.FlowKey) Peer {
	// No socket (a dropped packet, a RST to a closed port): the kernel
	// acted in the root cgroup, for the pod of the local address if any.
	path := "/"
	if k.CgroupID != 0 {
		var ok bool
		if path, ok = r.cgroups.Path(k.CgroupID); !ok {
			r.outcomes[sideLocal][kube.Unknown].Add(1)
			return unknownPeer
		}
	}
	if uid, ok := kube.PodUIDFromCgroup(path); ok {
		id, ok := r.ids.PodByUID(uid)
		if !ok {
			// Not in the cache (yet): unknown, so it is resolved again.
			r.outcomes[sideLocal][kube.Unknown].Add(1)
			return unknownPeer
		}
		r.outcomes[sideLocal][kube.Resolved].Add(1)
		return r.peer(id)
	}
	if k.Local.IsValid() {
		if id, ok := r.ids.LocalPodByIP(k.Local); ok {
			r.outcomes[sideLocal][kube.Resolved].Add(1)
			return r.peer(id)
		}
	}
	r.outcomes[sideLocal][kube.Resolved].Add(1)
	workload, _ := CgroupName(path)
	return Peer{Workload: workload, Kind: KindHost}
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

// Stats implements KubeStatus.
func (r *KubeResolver) Stats() kube.Stats { return r.ids.Stats() }

// Resolutions returns how many local and remote resolutions had each
// outcome (indexed by kube.Outcome).
func (r *KubeResolver) Resolutions() (local, remote [numOutcomes]uint64) {
	for o := range numOutcomes {
		local[o] = r.outcomes[sideLocal][o].Load()
		remote[o] = r.outcomes[sideRemote][o].Load()
	}
	return local, remote
}
