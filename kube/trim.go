// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package kube

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// trimmer keeps, of every object the informers receive, only what flow
// labels need; the rest (specs, annotations, managed fields) would be most
// of the cache's memory.
type trimmer struct {
	// labels are the pod label keys kept: the allow-list and
	// pod-template-hash (which names a pod's Deployment).
	labels []string
}

func (t trimmer) transform(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return t.pod(o), nil
	case *corev1.Service:
		s := &corev1.Service{
			ObjectMeta: meta(&o.ObjectMeta, nil),
			Spec: corev1.ServiceSpec{
				Type:        o.Spec.Type,
				ClusterIP:   o.Spec.ClusterIP,
				ClusterIPs:  o.Spec.ClusterIPs,
				ExternalIPs: o.Spec.ExternalIPs,
			},
		}
		// Ports and load-balancer addresses make the frontends the
		// node's NAT translates (frontends.go).
		for _, p := range o.Spec.Ports {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Protocol: p.Protocol, Port: p.Port, NodePort: p.NodePort})
		}
		for _, in := range o.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: in.IP})
			}
		}
		return s, nil
	case *discoveryv1.EndpointSlice:
		s := &discoveryv1.EndpointSlice{
			ObjectMeta:  meta(&o.ObjectMeta, map[string]string{discoveryv1.LabelServiceName: o.Labels[discoveryv1.LabelServiceName]}),
			AddressType: o.AddressType,
		}
		for _, e := range o.Endpoints {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: e.Addresses})
		}
		return s, nil
	case *corev1.Node:
		return &corev1.Node{
			ObjectMeta: meta(&o.ObjectMeta, nil),
			Status:     corev1.NodeStatus{Addresses: o.Status.Addresses},
		}, nil
	default:
		// Tombstones (cache.DeletedFinalStateUnknown) and anything else
		// pass unchanged.
		return obj, nil
	}
}

func (t trimmer) pod(p *corev1.Pod) *corev1.Pod {
	var labels map[string]string
	for _, k := range append(t.labels, "pod-template-hash") {
		if v, ok := p.Labels[k]; ok {
			if labels == nil {
				labels = map[string]string{}
			}
			labels[k] = v
		}
	}
	m := meta(&p.ObjectMeta, labels)
	if ref := controllerOf(p.OwnerReferences); ref != nil {
		m.OwnerReferences = []metav1.OwnerReference{{Kind: ref.Kind, Name: ref.Name, Controller: ref.Controller}}
	}
	return &corev1.Pod{
		ObjectMeta: m,
		Spec:       corev1.PodSpec{NodeName: p.Spec.NodeName, HostNetwork: p.Spec.HostNetwork},
		Status:     corev1.PodStatus{Phase: p.Status.Phase, PodIP: p.Status.PodIP, PodIPs: p.Status.PodIPs},
	}
}

func meta(m *metav1.ObjectMeta, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:              m.Name,
		Namespace:         m.Namespace,
		UID:               m.UID,
		ResourceVersion:   m.ResourceVersion,
		CreationTimestamp: m.CreationTimestamp,
		DeletionTimestamp: m.DeletionTimestamp,
		Labels:            labels,
	}
}

var _ cache.TransformFunc = trimmer{}.transform
