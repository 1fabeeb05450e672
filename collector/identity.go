// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"strconv"
	"strings"
	"time"

	"github.com/podflow/podflow_exporter/bpf"
)

// Peer names one side of a flow at the configured aggregation level. It is
// comparable: series are keyed by it. Empty fields are labels the active
// schema does not emit, or facts that do not apply (Service of a pod).
type Peer struct {
	Namespace string
	Workload  string
	Kind      string
	Pod       string
	Service   string
	// Labels are the values of the schema's pod labels, joined by
	// labelSeparator (a string keeps Peer comparable).
	Labels string
}

// labelSeparator joins pod label values in Peer.Labels; label values are
// UTF-8 text, which never contains NUL.
const labelSeparator = "\x00"

// label returns the i-th pod label value of p.
func (p *Peer) label(i int) string {
	vals := strings.Split(p.Labels, labelSeparator)
	if i < len(vals) {
		return vals[i]
	}
	return ""
}

// Resolver names both sides of a flow with the identity valid now, so that
// increments of a reused address or cgroup go to its current owner.
// Implementations must be safe for concurrent use. The key is passed by
// value: through an interface a pointer would cost an allocation per flow.
type Resolver interface {
	// Resolve names both sides of k and its port label: k's server port,
	// or, for a connection to a service that was translated to the
	// backend that served it (k.ClientPort set), the backend's port.
	//
	// Every increment of k was counted before counted (callers take it
	// after the kernel stopped writing the table they drain), so an
	// identity that existed then is found, however new: a cgroup created
	// after the resolver last looked is looked up again.
	//
	// ok is false when a side cannot be named yet but may be later (a pod
	// not yet in the Kubernetes cache, the cache not synced, a cgroup tree
	// that could not be read): that side is unknownPeer for now, and the
	// caller asks again later instead of counting k as unknown for good.
	// A side that can never be named (a packet without an address, a
	// cgroup removed before it was seen) is unknownPeer with ok true.
	Resolve(k bpf.FlowKey, counted time.Time) (local, remote Peer, port uint16, ok bool)
	// Generation changes whenever an answer Resolve gave may have
	// changed; callers may reuse answers while it stays the same.
	// Answers not ok, or naming an "unknown" side, must not be reused.
	Generation() uint64
}

// Schema says which Peer fields become labels. It is fixed at start so every
// family has one set of label names.
type Schema struct {
	Namespace bool     // local_namespace, remote_namespace
	Workload  bool     // local_workload, remote_workload
	Pod       bool     // local_pod, remote_pod
	Service   bool     // remote_service
	Labels    []string // local_label_<name>, remote_label_<name> (pod labels)
}

// label is one label of a store's schema and how to read it from a
// series' edge and variant.
type label struct {
	name  string
	value func(e *Edge, variant uint32) string
	// ofVariant says value reads the variant only (e is nil then): the
	// __overflow__ series keep such labels, one series per variant, since
	// the kernel's overflow knows them (e.g. a DNS response code).
	ofVariant bool
}

// identityLabels lists the labels every flow family carries, in schema order.
func (s Schema) identityLabels() []label {
	local := func(get func(*Peer) string) func(*Edge, uint32) string {
		return func(e *Edge, _ uint32) string { return get(&e.Local.Peer) }
	}
	remote := func(get func(*Peer) string) func(*Edge, uint32) string {
		return func(e *Edge, _ uint32) string { return get(&e.Remote.Peer) }
	}
	namespace := func(p *Peer) string { return p.Namespace }
	workload := func(p *Peer) string { return p.Workload }
	kind := func(p *Peer) string { return p.Kind }
	pod := func(p *Peer) string { return p.Pod }
	service := func(p *Peer) string { return p.Service }

	var ls []label
	for _, side := range []struct {
		prefix string
		get    func(func(*Peer) string) func(*Edge, uint32) string
	}{{"local_", local}, {"remote_", remote}} {
		if s.Namespace {
			ls = append(ls, label{name: side.prefix + "namespace", value: side.get(namespace)})
		}
		if s.Workload {
			ls = append(ls, label{name: side.prefix + "workload", value: side.get(workload)})
		}
		ls = append(ls, label{name: side.prefix + "kind", value: side.get(kind)})
		if s.Pod {
			ls = append(ls, label{name: side.prefix + "pod", value: side.get(pod)})
		}
		if s.Service && side.prefix == "remote_" {
			ls = append(ls, label{name: "remote_service", value: side.get(service)})
		}
		for i, name := range s.Labels {
			ls = append(ls, label{name: side.prefix + "label_" + name, value: side.get(func(p *Peer) string { return p.label(i) })})
		}
	}
	return append(ls,
		label{name: "role", value: func(e *Edge, _ uint32) string { return e.Role.String() }},
		label{name: "protocol", value: func(e *Edge, _ uint32) string { return protocolName(e.Protocol) }},
		label{name: "port", value: func(e *Edge, _ uint32) string { return portLabel(e.Protocol, e.Port) }},
	)
}

// appLabel is the application protocol of the flows and TCP families'
// series (bpf.AppProtocol: none, http1, http2, tls, postgres, redis, mysql,
// dns, unknown).
var appLabel = label{name: "app_protocol", value: func(e *Edge, _ uint32) string { return e.App.String() }}

// withApp adds appLabel to labels unless cfg leaves it out.
func withApp(labels []label, cfg *Config) []label {
	if cfg.WithoutAppProtocol {
		return labels
	}
	return append(labels, appLabel)
}

// protocolName names the IANA protocol numbers that matter; the rest are "other"
// so the label stays bounded.
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

// EdgeLabels gives the identity labels of flow series — the label names
// and values every flow family on /metrics carries — to readers of batches
// outside this package (the live view), so that they name an edge as
// /metrics does.
type EdgeLabels struct{ labels []label }

// EdgeLabels returns the identity labels of s.
func (s Schema) EdgeLabels() EdgeLabels { return EdgeLabels{s.identityLabels()} }

// Names returns the label names, in /metrics order.
func (l EdgeLabels) Names() []string {
	names := make([]string, len(l.labels))
	for i, lb := range l.labels {
		names[i] = lb.name
	}
	return names
}

// Values appends e's label values, in the order of Names, to dst.
func (l EdgeLabels) Values(dst []string, e *Edge) []string {
	for _, lb := range l.labels {
		dst = append(dst, lb.value(e, 0))
	}
	return dst
}
