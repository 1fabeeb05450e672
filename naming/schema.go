// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package naming

import (
	"strconv"

	"github.com/podflow/podflow_exporter/kube"
)

// Schema says which Peer fields become labels. It is fixed at start so
// every family has one set of label names; the Resolver says which one it
// fills (Resolver.Schema).
type Schema struct {
	Namespace bool     // local_namespace, remote_namespace
	Workload  bool     // local_workload, remote_workload
	Pod       bool     // local_pod, remote_pod
	Service   bool     // remote_service
	Labels    []string // local_label_<name>, remote_label_<name> (pod labels)
	// AppProtocol: edges keep their flow's application protocol, which
	// the flow and TCP families label (app_protocol); the Namer sets it.
	AppProtocol bool
}

// HostSchema is the label schema of host mode: workload and kind only.
var HostSchema = Schema{Workload: true}

// KubeSchema is the label schema of an aggregation level (kube.Aggregate*),
// with the pod labels of --kube.pod-labels.
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

// Label is one identity label of flow series: its name and how to read its
// value from an edge.
type Label struct {
	Name  string
	Value func(*Edge) string
}

// EdgeLabels are the identity labels every flow family carries, in
// /metrics order: each side's identity, then role, protocol and port.
type EdgeLabels []Label

// EdgeLabels returns the identity labels of s.
func (s Schema) EdgeLabels() EdgeLabels {
	local := func(get func(*Peer) string) func(*Edge) string {
		return func(e *Edge) string { return get(&e.Local.Peer) }
	}
	remote := func(get func(*Peer) string) func(*Edge) string {
		return func(e *Edge) string { return get(&e.Remote.Peer) }
	}
	namespace := func(p *Peer) string { return p.Namespace }
	workload := func(p *Peer) string { return p.Workload }
	kind := func(p *Peer) string { return p.Kind }
	pod := func(p *Peer) string { return p.Pod }
	service := func(p *Peer) string { return p.Service }

	var ls EdgeLabels
	for _, side := range []struct {
		prefix string
		get    func(func(*Peer) string) func(*Edge) string
	}{{"local_", local}, {"remote_", remote}} {
		if s.Namespace {
			ls = append(ls, Label{side.prefix + "namespace", side.get(namespace)})
		}
		if s.Workload {
			ls = append(ls, Label{side.prefix + "workload", side.get(workload)})
		}
		ls = append(ls, Label{side.prefix + "kind", side.get(kind)})
		if s.Pod {
			ls = append(ls, Label{side.prefix + "pod", side.get(pod)})
		}
		if s.Service && side.prefix == "remote_" {
			ls = append(ls, Label{"remote_service", side.get(service)})
		}
		for i, name := range s.Labels {
			ls = append(ls, Label{side.prefix + "label_" + name, side.get(func(p *Peer) string { return p.Label(i) })})
		}
	}
	return append(ls,
		Label{"role", func(e *Edge) string { return e.Role.String() }},
		Label{"protocol", func(e *Edge) string { return protocolName(e.Protocol) }},
		Label{"port", func(e *Edge) string { return portLabel(e.Protocol, e.Port) }},
	)
}

// Names returns the label names, in /metrics order.
func (l EdgeLabels) Names() []string {
	names := make([]string, len(l))
	for i, lb := range l {
		names[i] = lb.Name
	}
	return names
}

// Values appends e's label values, in the order of Names, to dst.
func (l EdgeLabels) Values(dst []string, e *Edge) []string {
	for _, lb := range l {
		dst = append(dst, lb.Value(e))
	}
	return dst
}

// protocolName names the IANA protocol numbers that matter (icmp, tcp,
// udp, icmpv6, sctp); the rest are "other", so the label stays bounded.
func protocolName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "icmpv6"
	case 132:
		return "sctp"
	default:
		return "other"
	}
}

// portLabel is the server port, empty for protocols without ports.
func portLabel(protocol uint8, port uint16) string {
	switch protocol {
	case 6, 17, 132:
		return strconv.Itoa(int(port))
	default:
		return ""
	}
}
