// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package naming

import (
	"github.com/podflow/podflow_exporter/bpf"
)

// EdgeKey identifies an edge: both sides' identities and the connection
// facts that are labels. It is small and pointer-free, so hashing it is
// cheap; every consumer of edges keys them by it (with what it adds of its
// own, e.g. a drop reason).
type EdgeKey struct {
	// LocalID and RemoteID are the sides' Identity.IDs.
	LocalID, RemoteID uint64
	// Port is the server's port; for a connection to a service that was
	// translated, the backend's.
	Port     uint16
	Role     bpf.Role
	Protocol uint8 // IANA protocol number
	// App is the application protocol of the flow's packets: set in the
	// flows and TCP tables, whose families label it (app_protocol), and
	// bpf.AppNone in the others (and in every table when the Namer was
	// told to sum protocols).
	App bpf.AppProtocol
}

// AnyApp returns k with App none: the key of an edge whose application
// protocols count together (the live view's).
func (k EdgeKey) AnyApp() EdgeKey {
	k.App = bpf.AppNone
	return k
}

// Edge is a flow as its consumers see it: both sides' identities and the
// connection facts that are labels. The IDs are in the EdgeKey, so that
// keying an edge does not visit both identities (a cache miss each on a
// busy node).
type Edge struct {
	EdgeKey
	Local, Remote *Identity
}

// NewEdge returns the edge between two identities.
func NewEdge(local, remote *Identity, role bpf.Role, protocol uint8, port uint16, app bpf.AppProtocol) Edge {
	return Edge{
		EdgeKey: EdgeKey{LocalID: local.ID, RemoteID: remote.ID, Port: port, Role: role, Protocol: protocol, App: app},
		Local:   local, Remote: remote,
	}
}

// Key returns e's key.
func (e *Edge) Key() EdgeKey { return e.EdgeKey }
