// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package kube

import (
	"net/netip"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// Kinds of identities that are not pods.
const (
	KindService  = "service"
	KindNode     = "node"
	KindWorld    = "world"
	KindLoopback = "loopback"
	KindUnknown  = "unknown"
)

// Identity names one side of a flow.
type Identity struct {
	Namespace string
	// Workload is the pod's top owner, a service's or node's name, the
	// network's name for world addresses.
	Workload string
	// Kind is the workload's kind (Deployment, StatefulSet, ..., Pod) or
	// one of service, node, world, loopback, unknown.
	Kind    string
	Pod     string
	Service string
	// Labels are the values of --kube.pod-labels, in flag order.
	Labels []string
}

// Equal reports whether two identities name the same thing.
func (id Identity) Equal(o Identity) bool {
	return id.Namespace == o.Namespace && id.Workload == o.Workload && id.Kind == o.Kind &&
		id.Pod == o.Pod && id.Service == o.Service && slices.Equal(id.Labels, o.Labels)
}

// Outcome says how an address was resolved.
type Outcome int

// Outcomes of a resolution.
const (
	Unknown  Outcome = iota // the cache is not synced yet
	Resolved                // a pod, service, node or loopback
	World                   // outside the cluster (possibly a named network)
	// NumOutcomes is how many outcomes there are.
	NumOutcomes = iota
)

func (o Outcome) String() string {
	switch o {
	case Resolved:
		return "resolved"
	case World:
		return "world"
	default:
		return "unknown"
	}
}

var unknown = Identity{Workload: KindUnknown, Kind: KindUnknown}

// PodByUID returns the pod with the UID, whatever its phase: a socket's
// cgroup names its pod exactly, even a hostNetwork one.
func (c *Cache) PodByUID(uid string) (Identity, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if p, ok := c.pods[types.UID(uid)]; ok {
		return p.id, true
	}
	return Identity{}, false
}

// LocalPodByIP returns the pod on this node (--kube.node-name, when set)
// that owns a (non-host-network) address: the local side of a socket whose
// cgroup is not a pod's, e.g. packets the kernel sends for a pod's network
// namespace.
func (c *Cache) LocalPodByIP(a netip.Addr) (Identity, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p := c.owner(a)
	if p == nil || (c.cfg.NodeName != "" && p.node != c.cfg.NodeName) {
		return Identity{}, false
	}
	return p.id, true
}

// Remote names a remote address, in this order: loopback; the pod that owns
// it (with the headless service it is an endpoint of, if any); the service
// whose cluster IP (or external IP) it is; the node that has it (so a
// host-network pod's address is its node); the named network (--kube.network)
// containing it; else world. Before the cache is synced: unknown.
func (c *Cache) Remote(a netip.Addr) (Identity, Outcome) {
	if !c.Synced() {
		return unknown, Unknown
	}
	if a.IsLoopback() {
		return Identity{Workload: KindLoopback, Kind: KindLoopback}, Resolved
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if p := c.owner(a); p != nil {
		id := p.id
		id.Service = c.headlessService(a)
		return id, Resolved
	}
	if s := c.clusterIP[a]; s != nil {
		return Identity{Namespace: s.namespace, Workload: s.name, Kind: KindService, Service: s.name}, Resolved
	}
	if n, ok := c.nodeIPs[a]; ok {
		return Identity{Workload: n, Kind: KindNode}, Resolved
	}
	for _, n := range c.cfg.Networks {
		if n.Prefix.Contains(a) {
			return Identity{Workload: n.Name, Kind: KindWorld}, World
		}
	}
	return Identity{Workload: KindWorld, Kind: KindWorld}, World
}

// owner picks the pod that owns an address now. Several can claim one while
// a pod is replaced: one being deleted loses to one that is not, a Pending
// one to a Running one, an older one to a newer one.
func (c *Cache) owner(a netip.Addr) *podInfo {
	var best *podInfo
	for _, p := range c.podIPs[a] {
		if best == nil || better(p, best) {
			best = p
		}
	}
	return best
}

func better(p, q *podInfo) bool {
	if p.deleting != q.deleting {
		return !p.deleting
	}
	if p.running != q.running {
		return p.running
	}
	return p.created.After(q.created)
}

// headlessService returns the headless service (first by name) whose
// endpoint slices list the address: traffic to a headless service goes to
// pod addresses directly.
func (c *Cache) headlessService(a netip.Addr) string {
	var names []string
	for _, key := range c.endpoints[a] {
		if s := c.services[key]; s != nil && s.headless {
			names = append(names, s.name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	slices.Sort(names)
	return names[0]
}

// String is for logs.
func (id Identity) String() string {
	parts := []string{id.Kind}
	for _, s := range []string{id.Namespace, id.Workload, id.Pod} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "/")
}
