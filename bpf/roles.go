// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import "fmt"

// RoleMethod says how the kernel programs decided which side of a
// connection a socket is (enum role_method in podflow.h): once per socket,
// or once per packet for traffic without a socket.
type RoleMethod int

// Role decisions. Port numbers (RoleByPorts) are the last resort, taken
// only for traffic whose socket cannot be read.
const (
	RoleByTCPConnect       = RoleMethod(podflowRoleMethodROLE_BY_TCP_CONNECT)
	RoleByTCPAccept        = RoleMethod(podflowRoleMethodROLE_BY_TCP_ACCEPT)
	RoleByTCPListen        = RoleMethod(podflowRoleMethodROLE_BY_TCP_LISTEN)
	RoleByTCPBacklog       = RoleMethod(podflowRoleMethodROLE_BY_TCP_BACKLOG)
	RoleByTCPNoBacklog     = RoleMethod(podflowRoleMethodROLE_BY_TCP_NO_BACKLOG)
	RoleByUDPConnected     = RoleMethod(podflowRoleMethodROLE_BY_UDP_CONNECTED)
	RoleByUDPKernelPort    = RoleMethod(podflowRoleMethodROLE_BY_UDP_KERNEL_PORT)
	RoleByUDPFirstDatagram = RoleMethod(podflowRoleMethodROLE_BY_UDP_FIRST_DATAGRAM)
	RoleByTCPSYN           = RoleMethod(podflowRoleMethodROLE_BY_TCP_SYN)
	RoleByPorts            = RoleMethod(podflowRoleMethodROLE_BY_PORTS)
	NumRoleMethods         = int(podflowRoleMethodROLE_METHOD_MAX)
)

// String is the method's label value.
func (m RoleMethod) String() string {
	switch m {
	case RoleByTCPConnect:
		return "tcp_connect"
	case RoleByTCPAccept:
		return "tcp_accept"
	case RoleByTCPListen:
		return "tcp_listen"
	case RoleByTCPBacklog:
		return "tcp_backlog"
	case RoleByTCPNoBacklog:
		return "tcp_no_backlog"
	case RoleByUDPConnected:
		return "udp_connected"
	case RoleByUDPKernelPort:
		return "udp_kernel_port"
	case RoleByUDPFirstDatagram:
		return "udp_first_datagram"
	case RoleByTCPSYN:
		return "tcp_syn"
	case RoleByPorts:
		return "ports"
	default:
		return fmt.Sprintf("method_%d", int(m))
	}
}

// RoleDecisions returns, per method, how many roles the programs decided
// since they were loaded (summed over CPUs; monotonic).
func (t *Tracer) RoleDecisions() ([NumRoleMethods]uint64, error) {
	var out [NumRoleMethods]uint64
	m := t.objs.RoleDecisions
	for i := range out {
		var perCPU []uint64
		if err := m.Lookup(uint32(i), &perCPU); err != nil {
			return out, fmt.Errorf("read role decisions: %w", err)
		}
		for _, v := range perCPU {
			out[i] += v
		}
	}
	return out, nil
}
