// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"strconv"

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
}

// Resolver names both sides of a flow with the identity valid now, so that
// increments of a reused address or cgroup go to its current owner.
// Implementations must be safe for concurrent use.
type Resolver interface {
	Resolve(k *bpf.FlowKey) (local, remote Peer)
}

// Schema says which Peer fields become labels. It is fixed at start so every
// family has one set of label names.
type Schema struct {
	Namespace bool // local_namespace, remote_namespace
	Pod       bool // local_pod, remote_pod
	Service   bool // remote_service
}

// seriesKey identifies a series within a family: both identities, the
// connection facts that are labels, and variant (e.g. a failure reason).
type seriesKey struct {
	local, remote Peer
	role          bpf.Role
	protocol      uint8
	port          uint16
	variant       uint8
}

// overflowValue is every label value of the series that holds what did not
// fit: the series budget, or a full kernel table.
const overflowValue = "__overflow__"

// label is one label of the identity schema and how to read it from a key.
type label struct {
	name  string
	value func(*seriesKey) string
}

// identityLabels lists the labels every flow family carries, in schema order.
func (s Schema) identityLabels() []label {
	var ls []label
	if s.Namespace {
		ls = append(ls, label{"local_namespace", func(k *seriesKey) string { return k.local.Namespace }})
	}
	ls = append(ls,
		label{"local_workload", func(k *seriesKey) string { return k.local.Workload }},
		label{"local_kind", func(k *seriesKey) string { return k.local.Kind }},
	)
	if s.Pod {
		ls = append(ls, label{"local_pod", func(k *seriesKey) string { return k.local.Pod }})
	}
	if s.Namespace {
		ls = append(ls, label{"remote_namespace", func(k *seriesKey) string { return k.remote.Namespace }})
	}
	ls = append(ls,
		label{"remote_workload", func(k *seriesKey) string { return k.remote.Workload }},
		label{"remote_kind", func(k *seriesKey) string { return k.remote.Kind }},
	)
	if s.Pod {
		ls = append(ls, label{"remote_pod", func(k *seriesKey) string { return k.remote.Pod }})
	}
	if s.Service {
		ls = append(ls, label{"remote_service", func(k *seriesKey) string { return k.remote.Service }})
	}
	return append(ls,
		label{"role", func(k *seriesKey) string { return k.role.String() }},
		label{"protocol", func(k *seriesKey) string { return protocolName(k.protocol) }},
		label{"port", func(k *seriesKey) string { return portLabel(k.protocol, k.port) }},
	)
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
