// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package naming names both sides of the kernel's flows: a Resolver says
// who a flow key's local and remote sides are (HostResolver: cgroups and
// addresses; KubeResolver: pods, workloads, services from the Kubernetes
// cache), a Namer names each drain's keys once, interning the identities
// and holding back the flows a side of which cannot be named yet, and a
// Schema says which of an identity's facts are labels. It knows nothing of
// Prometheus: the series (package collector) and the live view (package
// live) both label an Edge from here, so they name it alike.
package naming

import (
	"strings"

	"github.com/podflow/podflow_exporter/kube"
)

// Peer names one side of a flow at the configured aggregation level. It is
// comparable: identities are interned by it. Empty fields are labels the
// active schema does not emit, or facts that do not apply (Service of a pod).
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

// Label returns the i-th pod label value of p (Schema.PodLabels order).
func (p *Peer) Label(i int) string {
	vals := strings.Split(p.Labels, labelSeparator)
	if i < len(vals) {
		return vals[i]
	}
	return ""
}

// Identity is one side of a flow as a drain named it. The Namer interns
// identities: equal Peers share one *Identity while it is in use, and its
// ID, never reused, keys series and edges. An Identity is read-only once
// made.
type Identity struct {
	ID uint64
	Peer
}

// UnknownPeer names a side that cannot be named (see Resolver).
var UnknownPeer = Peer{Workload: "unknown", Kind: "unknown"}

// OverflowValue is every label value of the series (and the live view's
// edge) that holds what did not fit: the series budget, or a full kernel
// table.
const OverflowValue = "__overflow__"

// Kinds of peers that are not workloads, besides those of host mode's
// cgroups (see CgroupName).
const (
	// KindHost names local processes that are not in a pod (kubelet,
	// sshd...) in Kubernetes mode.
	KindHost = "host"
	// KindService and KindNode name a remote side that is a Service (no
	// translation to its backend) or a node's address.
	KindService = kube.KindService
	KindNode    = kube.KindNode
)
