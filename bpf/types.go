// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"net/netip"
	"structs"
)

// Role says which side of a connection the local socket is.
type Role uint8

// Roles, as the kernel programs record them (enum flow_role).
const (
	RoleUnknown Role = Role(podflowFlowRoleROLE_UNKNOWN)
	RoleClient  Role = Role(podflowFlowRoleROLE_CLIENT)
	RoleServer  Role = Role(podflowFlowRoleROLE_SERVER)
)

func (r Role) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleServer:
		return "server"
	default:
		return "unknown"
	}
}

// FlowKey identifies an aggregated flow: one local identity (the socket's
// cgroup and local address) talking to one remote address on one server port.
// The client's ephemeral port is not part of it.
type FlowKey struct {
	CgroupID   uint64
	Local      netip.Addr // IPv4 unmapped; zero when the packet could not be parsed
	Remote     netip.Addr
	ServerPort uint16
	Protocol   uint8 // IANA protocol number
	Role       Role
}

func flowKeyFromKernel(k *podflowFlowKey) FlowKey {
	return FlowKey{
		CgroupID:   k.CgroupId,
		Local:      kernelAddr(k.LocalAddr),
		Remote:     kernelAddr(k.RemoteAddr),
		ServerPort: k.ServerPort,
		Protocol:   k.Protocol,
		Role:       Role(k.Role),
	}
}

// kernelAddr turns the kernel's 16-byte address into a netip.Addr. The
// all-zero address means "not parsed" and becomes the zero Addr.
func kernelAddr(b [16]byte) netip.Addr {
	if b == ([16]byte{}) {
		return netip.Addr{}
	}
	return netip.AddrFrom16(b).Unmap()
}

// FlowCounters are one CPU's (or, summed, a flow's) traffic. Bytes are IP
// lengths (header included) and packets are wire segments: a GSO/GRO packet
// counts as the segments it stands for.
// The layout matches struct flow_counters so maps unmarshal into it directly.
type FlowCounters struct {
	_         structs.HostLayout
	TxBytes   uint64
	TxPackets uint64
	RxBytes   uint64
	RxPackets uint64
}

// Add adds o to c.
func (c *FlowCounters) Add(o *FlowCounters) {
	c.TxBytes += o.TxBytes
	c.TxPackets += o.TxPackets
	c.RxBytes += o.RxBytes
	c.RxPackets += o.RxPackets
}

// TCPEvent indexes TCPCounters.Events.
type TCPEvent int

// TCP handshake outcomes (enum tcp_event).
const (
	TCPConnectAttempt     = TCPEvent(podflowTcpEventTCP_EV_CONNECT_ATTEMPT)
	TCPConnectEstablished = TCPEvent(podflowTcpEventTCP_EV_CONNECT_ESTABLISHED)
	TCPFailRefused        = TCPEvent(podflowTcpEventTCP_EV_FAIL_REFUSED)
	TCPFailTimeout        = TCPEvent(podflowTcpEventTCP_EV_FAIL_TIMEOUT)
	TCPFailUnreachable    = TCPEvent(podflowTcpEventTCP_EV_FAIL_UNREACHABLE)
	TCPFailReset          = TCPEvent(podflowTcpEventTCP_EV_FAIL_RESET)
	TCPFailAborted        = TCPEvent(podflowTcpEventTCP_EV_FAIL_ABORTED)
	TCPFailOther          = TCPEvent(podflowTcpEventTCP_EV_FAIL_OTHER)
	TCPAccepted           = TCPEvent(podflowTcpEventTCP_EV_ACCEPTED)
	NumTCPEvents          = int(podflowTcpEventTCP_EV_MAX)
)

// TCPCounters count handshake outcomes of one flow.
// The layout matches struct tcp_counters.
type TCPCounters struct {
	_      structs.HostLayout
	Events [NumTCPEvents]uint64
}

// Add adds o to c.
func (c *TCPCounters) Add(o *TCPCounters) {
	for i := range c.Events {
		c.Events[i] += o.Events[i]
	}
}

// Table names a family of flow counters that the kernel keeps in rotating tables.
type Table int

// Tables (enum flow_table_id).
const (
	TableFlows = Table(podflowFlowTableIdTABLE_FLOWS)
	TableTCP   = Table(podflowFlowTableIdTABLE_TCP)
	numTables  = int(podflowFlowTableIdTABLE_MAX)
)

func (t Table) String() string {
	switch t {
	case TableFlows:
		return "flows"
	case TableTCP:
		return "tcp_events"
	default:
		return "unknown"
	}
}

// UpdateFailure says why a program could not insert a flow (enum update_failure).
type UpdateFailure int

// Reasons an insert failed; the traffic was then counted in the overflow slot.
const (
	FailFull    = UpdateFailure(podflowUpdateFailureFAIL_FULL)
	FailBusy    = UpdateFailure(podflowUpdateFailureFAIL_BUSY)
	FailOther   = UpdateFailure(podflowUpdateFailureFAIL_OTHER)
	FailNoTable = UpdateFailure(podflowUpdateFailureFAIL_NO_TABLE)
	numFailures = int(podflowUpdateFailureFAIL_MAX)
)

func (f UpdateFailure) String() string {
	switch f {
	case FailFull:
		return "full"
	case FailBusy:
		return "busy"
	case FailNoTable:
		return "no_table"
	default:
		return "other"
	}
}
