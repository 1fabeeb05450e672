// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package naming

import (
	"time"

	"github.com/podflow/podflow_exporter/bpf"
)

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
	// that could not be read): that side is UnknownPeer for now, and the
	// caller asks again later instead of counting k as unknown for good.
	// A side that can never be named (a packet without an address, a
	// cgroup removed before it was seen) is UnknownPeer with ok true.
	Resolve(k bpf.FlowKey, counted time.Time) (local, remote Peer, port uint16, ok bool)
	// Generation changes whenever an answer Resolve gave may have
	// changed; callers may reuse answers while it stays the same.
	// Answers not ok, or naming an "unknown" side, must not be reused.
	Generation() uint64
	// Schema is the label schema the resolver fills.
	Schema() Schema
}

// CgroupPaths maps cgroup ids to their path in the cgroup v2 hierarchy
// (cgroups.Index).
type CgroupPaths interface {
	// Path returns the path of cgroup id, whose increments were counted
	// before counted. found is false when the cgroup is gone (or outside
	// the hierarchy's root); an error when that cannot be told now.
	Path(id uint64, counted time.Time) (path string, found bool, err error)
}

// cacheLimit bounds each resolver cache (at most ~20 MB); past it the
// cache starts over.
const cacheLimit = 1 << 17
