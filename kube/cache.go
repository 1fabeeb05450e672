// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package kube names the two sides of flows with Kubernetes identities —
// namespace, workload, pod, service, node — from client-go informers on
// pods, services, endpoint slices and nodes. It knows nothing of eBPF or
// Prometheus.
package kube

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Resources the cache watches, as RBAC names them.
const (
	ResourcePods           = "pods"
	ResourceServices       = "services"
	ResourceEndpointSlices = "endpointslices"
	ResourceNodes          = "nodes"
)

// Cache keeps what flow labels need about the cluster, kept current by
// informers, and answers who owns an address or a pod UID.
type Cache struct {
	cfg     *Config
	factory informers.SharedInformerFactory
	// handlers are the event handlers' registrations: each knows when it
	// has received every object of the initial list.
	handlers []cache.ResourceEventHandlerRegistration
	logger   log.Logger
	synced   atomic.Bool
	// generation changes whenever an answer may have changed.
	generation atomic.Uint64

	mu        sync.RWMutex
	pods      map[types.UID]*podInfo
	podIPs    map[netip.Addr][]*podInfo // pods that own the address (see ownsIPs)
	services  map[string]*serviceInfo   // by "namespace/name"
	clusterIP map[netip.Addr]*serviceInfo
	nodes     map[string][]netip.Addr
	nodeIPs   map[netip.Addr]string
	slices    map[string]*sliceInfo   // by "namespace/name" of the slice
	endpoints map[netip.Addr][]string // address -> "namespace/service" of slices listing it
	frontends frontendIndex
	objects   map[string]int
	watchErrs map[string]uint64
	lastRBAC  map[string]time.Time
}

type podInfo struct {
	id          Identity
	uid         types.UID
	node        string
	hostNetwork bool
	ownsIPs     bool // Running or Pending and not host network: its IPs are its own
	running     bool
	deleting    bool
	created     time.Time
	ips         []netip.Addr
}

type serviceInfo struct {
	namespace, name string
	headless        bool
	ips             []netip.Addr
	// ports and lbIPs, with ips and this node's addresses, make the
	// frontends the node's NAT translates.
	ports     []corev1.ServicePort
	lbIPs     []netip.Addr
	frontends []Frontend
}

type sliceInfo struct {
	service string // "namespace/name"
	addrs   []netip.Addr
}

// NewCache sets up informers on pods, services, endpoint slices and nodes
// of the cluster restConfig reaches, trimmed to what labels need. Run starts
// them.
func NewCache(restConfig *rest.Config, cfg *Config, logger log.Logger) (*Cache, error) {
	c := &Cache{
		cfg:       cfg,
		logger:    logger,
		pods:      map[types.UID]*podInfo{},
		podIPs:    map[netip.Addr][]*podInfo{},
		services:  map[string]*serviceInfo{},
		clusterIP: map[netip.Addr]*serviceInfo{},
		nodes:     map[string][]netip.Addr{},
		nodeIPs:   map[netip.Addr]string{},
		slices:    map[string]*sliceInfo{},
		endpoints: map[netip.Addr][]string{},
		frontends: newFrontendIndex(),
		objects:   map[string]int{},
		watchErrs: map[string]uint64{},
		lastRBAC:  map[string]time.Time{},
	}
	restConfig = rest.CopyConfig(restConfig)
	restConfig.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return &countingTransport{next: rt, count: c.countError}
	})
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return nil, fmt.Errorf("Kubernetes client: %w", err)
	}
	// No resync: informers deliver every change; a periodic full replay
	// would only churn the generation.
	c.factory = informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTransform(trimmer{labels: cfg.PodLabels}.transform))
	for resource, inf := range map[string]cache.SharedIndexInformer{
		ResourcePods:           c.factory.Core().V1().Pods().Informer(),
		ResourceServices:       c.factory.Core().V1().Services().Informer(),
		ResourceEndpointSlices: c.factory.Discovery().V1().EndpointSlices().Informer(),
		ResourceNodes:          c.factory.Core().V1().Nodes().Informer(),
	} {
		reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.update(resource, obj, false) },
			UpdateFunc: func(_, obj any) { c.update(resource, obj, false) },
			DeleteFunc: func(obj any) { c.update(resource, obj, true) },
		})
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", resource, err)
		}
		c.handlers = append(c.handlers, reg)
		if err := inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
			c.watchError(ctx, r, resource, err)
		}); err != nil {
			return nil, fmt.Errorf("watch %s: %w", resource, err)
		}
	}
	return c, nil
}

// Run starts the informers and marks the cache synced once the indexes hold
// every object of the initial lists: not when the informers' stores do
// (the factory's WaitForCacheSync), but when each event handler has received
// them, which happens later. It does not wait: until then, and while the API
// server is unreachable (informers retry with backoff), answers are "unknown".
func (c *Cache) Run(ctx context.Context) {
	c.factory.Start(ctx.Done())
	go func() {
		start := time.Now()
		synced := make([]cache.InformerSynced, len(c.handlers))
		for i, h := range c.handlers {
			synced[i] = h.HasSynced
		}
		if !cache.WaitForCacheSync(ctx.Done(), synced...) {
			return // stopped before syncing
		}
		c.synced.Store(true)
		c.generation.Add(1)
		c.frontends.notify()
		level.Info(c.logger).Log("msg", "Kubernetes cache synced", "duration_seconds", time.Since(start).Seconds(), "pods", c.count(ResourcePods))
	}()
}

// Stop stops the informers and waits for their goroutines to end.
func (c *Cache) Stop() { c.factory.Shutdown() }

// Synced reports whether the indexes hold every object of the initial lists.
func (c *Cache) Synced() bool { return c.synced.Load() }

// Generation changes whenever an answer of the cache may have changed.
func (c *Cache) Generation() uint64 { return c.generation.Load() }

func (c *Cache) count(resource string) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.objects[resource]
}

// Stats describe the cache for self-monitoring.
type Stats struct {
	Synced      bool
	Objects     map[string]int    // by resource
	WatchErrors map[string]uint64 // by resource, since start
}

// Stats returns a snapshot of the cache's state.
func (c *Cache) Stats() Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	st := Stats{Synced: c.Synced(), Objects: map[string]int{}, WatchErrors: map[string]uint64{}}
	for _, r := range []string{ResourcePods, ResourceServices, ResourceEndpointSlices, ResourceNodes} {
		st.Objects[r] = c.objects[r]
		st.WatchErrors[r] = c.watchErrs[r]
	}
	return st
}

// countError counts a failed request to the API server.
func (c *Cache) countError(resource string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watchErrs[resource]++
}

// watchError says, for RBAC refusals, which permission is missing (the
// transport counted the failure). The reflector keeps retrying with backoff.
func (c *Cache) watchError(ctx context.Context, r *cache.Reflector, resource string, err error) {
	c.mu.Lock()
	report := time.Since(c.lastRBAC[resource]) > time.Minute
	if apierrors.IsForbidden(err) && report {
		c.lastRBAC[resource] = time.Now()
	}
	c.mu.Unlock()
	if apierrors.IsForbidden(err) {
		if report {
			level.Error(c.logger).Log("msg", "RBAC forbids reading "+resource+": grant the exporter's service account the verbs list and watch on "+resource+" (cluster-wide); until then flows are named unknown",
				"resource", resource, "err", err)
		}
		return
	}
	cache.DefaultWatchErrorHandler(ctx, r, err)
}

// update applies an informer event to the indexes and moves the generation
// when an answer changes.
func (c *Cache) update(resource string, obj any, deleted bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = t.Obj, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := false
	switch o := obj.(type) {
	case *corev1.Pod:
		changed = c.updatePod(o, deleted)
	case *corev1.Service:
		changed = c.updateService(o, deleted)
	case *discoveryv1.EndpointSlice:
		changed = c.updateSlice(o, deleted)
	case *corev1.Node:
		changed = c.updateNode(o, deleted)
	}
	c.objects[ResourcePods] = len(c.pods)
	c.objects[ResourceServices] = len(c.services)
	c.objects[ResourceEndpointSlices] = len(c.slices)
	c.objects[ResourceNodes] = len(c.nodes)
	if changed {
		c.generation.Add(1)
	}
}

func (c *Cache) updatePod(p *corev1.Pod, deleted bool) bool {
	old := c.pods[p.UID]
	if old != nil {
		for _, a := range old.ips {
			c.podIPs[a] = slices.DeleteFunc(c.podIPs[a], func(x *podInfo) bool { return x == old })
			if len(c.podIPs[a]) == 0 {
				delete(c.podIPs, a)
			}
		}
		delete(c.pods, p.UID)
	}
	if deleted {
		return old != nil
	}
	name, kind := workloadOf(p)
	info := &podInfo{
		id: Identity{
			Namespace: p.Namespace,
			Workload:  name,
			Kind:      kind,
			Pod:       p.Name,
			Labels:    c.podLabels(p),
		},
		uid:         p.UID,
		node:        p.Spec.NodeName,
		hostNetwork: p.Spec.HostNetwork,
		ownsIPs:     !p.Spec.HostNetwork && (p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodPending),
		running:     p.Status.Phase == corev1.PodRunning,
		deleting:    p.DeletionTimestamp != nil,
		created:     p.CreationTimestamp.Time,
		ips:         podIPs(p),
	}
	c.pods[p.UID] = info
	if info.ownsIPs {
		for _, a := range info.ips {
			c.podIPs[a] = append(c.podIPs[a], info)
		}
	} else {
		info.ips = nil // not indexed: nothing to remove later
	}
	return old == nil || !old.sameAnswers(info)
}

func (a *podInfo) sameAnswers(b *podInfo) bool {
	return a.id.Equal(b.id) && a.ownsIPs == b.ownsIPs && a.running == b.running && a.deleting == b.deleting &&
		a.hostNetwork == b.hostNetwork && a.node == b.node && slices.Equal(a.ips, b.ips)
}

func (c *Cache) podLabels(p *corev1.Pod) []string {
	if len(c.cfg.PodLabels) == 0 {
		return nil
	}
	vals := make([]string, len(c.cfg.PodLabels))
	for i, k := range c.cfg.PodLabels {
		vals[i] = p.Labels[k]
	}
	return vals
}

func podIPs(p *corev1.Pod) []netip.Addr {
	var ips []netip.Addr
	for _, s := range p.Status.PodIPs {
		if a, err := netip.ParseAddr(s.IP); err == nil && !slices.Contains(ips, a) {
			ips = append(ips, a)
		}
	}
	if a, err := netip.ParseAddr(p.Status.PodIP); err == nil && !slices.Contains(ips, a) {
		ips = append(ips, a)
	}
	return ips
}

func (c *Cache) updateNode(n *corev1.Node, deleted bool) bool {
	old := c.nodes[n.Name]
	for _, a := range old {
		if c.nodeIPs[a] == n.Name {
			delete(c.nodeIPs, a)
		}
	}
	delete(c.nodes, n.Name)
	if deleted {
		return old != nil
	}
	var ips []netip.Addr
	for _, addr := range n.Status.Addresses {
		if addr.Type != corev1.NodeInternalIP && addr.Type != corev1.NodeExternalIP {
			continue
		}
		if a, err := netip.ParseAddr(addr.Address); err == nil {
			ips = append(ips, a)
			c.nodeIPs[a] = n.Name
		}
	}
	c.nodes[n.Name] = ips
	if n.Name == c.cfg.NodeName && !slices.Equal(old, ips) {
		// Node ports are frontends on this node's addresses.
		for _, s := range c.services {
			c.frontends.remove(s)
			c.frontends.add(s, ips)
		}
	}
	return old == nil || !slices.Equal(old, ips)
}
