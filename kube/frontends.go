// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package kube

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Frontend is an address, port and protocol that the node's NAT
// (kube-proxy) sends to one of a service's backends: a cluster, external
// or load-balancer IP with a service port, or one of this node's addresses
// (--kube.node-name) with a node port.
type Frontend struct {
	Addr     netip.AddrPort
	Protocol uint8 // IANA protocol number: 6 TCP, 17 UDP, 132 SCTP
}

// IANA protocol numbers of the protocols services have.
const (
	ProtocolTCP  = 6
	ProtocolUDP  = 17
	ProtocolSCTP = 132
)

func protocolNumber(p corev1.Protocol) uint8 {
	switch p {
	case corev1.ProtocolUDP:
		return ProtocolUDP
	case corev1.ProtocolSCTP:
		return ProtocolSCTP
	default: // the API server defaults an empty protocol to TCP
		return ProtocolTCP
	}
}

// frontendIndex finds the service of a frontend, and tells a waiting
// reader (the kernel table's keeper) when the set of frontends changes.
type frontendIndex struct {
	services map[Frontend]*serviceInfo
	changed  chan struct{}
}

func newFrontendIndex() frontendIndex {
	return frontendIndex{services: map[Frontend]*serviceInfo{}, changed: make(chan struct{}, 1)}
}

// notify signals a change without blocking; one pending signal stands
// for any number of changes.
func (x *frontendIndex) notify() {
	select {
	case x.changed <- struct{}{}:
	default:
	}
}

// remove forgets the frontends of s.
func (x *frontendIndex) remove(s *serviceInfo) {
	for _, f := range s.frontends {
		if x.services[f] == s {
			delete(x.services, f)
		}
	}
	if len(s.frontends) > 0 {
		x.notify()
	}
}

// add indexes the frontends of s: its addresses with each port, and this
// node's addresses with each node port. A headless service has none: its
// clients connect to the backends' own addresses.
func (x *frontendIndex) add(s *serviceInfo, nodeIPs []netip.Addr) {
	s.frontends = nil
	if s.headless {
		return
	}
	for _, p := range s.ports {
		proto := protocolNumber(p.Protocol)
		for _, a := range slices.Concat(s.ips, s.lbIPs) {
			s.frontends = append(s.frontends, Frontend{netip.AddrPortFrom(a, uint16(p.Port)), proto})
		}
		if p.NodePort != 0 {
			for _, a := range nodeIPs {
				s.frontends = append(s.frontends, Frontend{netip.AddrPortFrom(a, uint16(p.NodePort)), proto})
			}
		}
	}
	for _, f := range s.frontends {
		if _, taken := x.services[f]; !taken {
			x.services[f] = s
		}
	}
	if len(s.frontends) > 0 {
		x.notify()
	}
}

// Frontends lists every frontend of every service.
func (c *Cache) Frontends() []Frontend {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Frontend, 0, len(c.frontends.services))
	for f := range c.frontends.services {
		out = append(out, f)
	}
	return out
}

// FrontendsChanged receives a value after the set of frontends may have
// changed, and once the cache is synced; read Frontends then.
func (c *Cache) FrontendsChanged() <-chan struct{} { return c.frontends.changed }

// ServiceAt names the service a frontend belongs to (kind service, with
// Service set), as Remote names a cluster IP. False when no service has
// it, or before the cache is synced.
func (c *Cache) ServiceAt(f Frontend) (Identity, bool) {
	if !c.Synced() {
		return Identity{}, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := c.frontends.services[f]
	if s == nil {
		return Identity{}, false
	}
	return Identity{Namespace: s.namespace, Workload: s.name, Kind: KindService, Service: s.name}, true
}
