// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package kube

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Services and endpoint slices: cluster IPs (and external ones) name a
// service, slices name the headless service a pod address serves, and
// every service's frontends are indexed for translation (frontends.go).

func (c *Cache) updateService(s *corev1.Service, deleted bool) bool {
	key := s.Namespace + "/" + s.Name
	old := c.services[key]
	if old != nil {
		for _, a := range old.ips {
			if c.clusterIP[a] == old {
				delete(c.clusterIP, a)
			}
		}
		delete(c.services, key)
		c.frontends.remove(old)
	}
	if deleted {
		return old != nil
	}
	info := &serviceInfo{namespace: s.Namespace, name: s.Name, headless: s.Spec.ClusterIP == corev1.ClusterIPNone, ports: s.Spec.Ports}
	for _, ip := range append(append([]string{s.Spec.ClusterIP}, s.Spec.ClusterIPs...), s.Spec.ExternalIPs...) {
		if a, err := netip.ParseAddr(ip); err == nil && !slices.Contains(info.ips, a) {
			info.ips = append(info.ips, a)
			c.clusterIP[a] = info
		}
	}
	for _, in := range s.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil {
			info.lbIPs = append(info.lbIPs, a)
		}
	}
	c.services[key] = info
	c.frontends.add(info, c.nodes[c.cfg.NodeName])
	return old == nil || old.headless != info.headless || !slices.Equal(old.ips, info.ips)
}

func (c *Cache) updateSlice(s *discoveryv1.EndpointSlice, deleted bool) bool {
	key := s.Namespace + "/" + s.Name
	old := c.slices[key]
	if old != nil {
		for _, a := range old.addrs {
			c.endpoints[a] = slices.DeleteFunc(c.endpoints[a], func(svc string) bool { return svc == old.service })
			if len(c.endpoints[a]) == 0 {
				delete(c.endpoints, a)
			}
		}
		delete(c.slices, key)
	}
	svc := s.Labels[discoveryv1.LabelServiceName]
	if deleted || svc == "" {
		return old != nil
	}
	info := &sliceInfo{service: s.Namespace + "/" + svc}
	for _, e := range s.Endpoints {
		for _, ip := range e.Addresses {
			if a, err := netip.ParseAddr(ip); err == nil {
				info.addrs = append(info.addrs, a)
				c.endpoints[a] = append(c.endpoints[a], info.service)
			}
		}
	}
	c.slices[key] = info
	return old == nil || old.service != info.service || !slices.Equal(old.addrs, info.addrs)
}
