// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"maps"
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
	// ClientPort is set only in client flows to a service frontend of the
	// translated-services table (SetServices): it keeps each connection
	// apart, so that the backend the node's NAT chose for it can be found.
	// Never set in drop tables.
	ClientPort uint16
	// App is the application protocol of the flow's packets, in the
	// flows and TCP tables (AppNone elsewhere).
	App AppProtocol
}

// flowKeyFromKernel converts a kernel key and returns the rest of its
// variant: the latency table's histogram and bucket (latencyBucketOf), the
// drop table's reason, the requests table's code, zero in the others. In
// tables other than drops, the upper half of the kernel's variant is the
// client's port (CLIENT_PORT_VARIANT in podflow.h) and bits 12-15 the
// application protocol (APP_VARIANT).
func flowKeyFromKernel(k *podflowFlowKey, clientPort bool) (FlowKey, uint32) {
	fk := FlowKey{
		CgroupID:   k.CgroupId,
		Local:      kernelAddr(k.LocalAddr),
		Remote:     kernelAddr(k.RemoteAddr),
		ServerPort: k.ServerPort,
		Protocol:   k.Protocol,
		Role:       Role(k.Role),
	}
	variant := k.Variant
	if clientPort {
		fk.ClientPort = uint16(variant >> clientPortShift)
		fk.App = AppProtocol((variant & appMask) >> appShift)
		variant &= 1<<clientPortShift - 1&^appMask
	}
	return fk, variant
}

// clientPortShift is CLIENT_PORT_SHIFT in podflow.h.
const clientPortShift = 16

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

// Variant keys the increments of one flow that sum together (see
// LatencyIncrement.Variant): a flow has one set of FlowCounters.
func (c *FlowCounters) Variant() uint32 { return 0 }

func (c *FlowCounters) sub(o *FlowCounters) {
	c.TxBytes -= o.TxBytes
	c.TxPackets -= o.TxPackets
	c.RxBytes -= o.RxBytes
	c.RxPackets -= o.RxPackets
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
	TCPRetransmit         = TCPEvent(podflowTcpEventTCP_EV_RETRANSMIT)
	TCPResetSent          = TCPEvent(podflowTcpEventTCP_EV_RESET_SENT)
	TCPResetReceived      = TCPEvent(podflowTcpEventTCP_EV_RESET_RECEIVED)
	NumTCPEvents          = int(podflowTcpEventTCP_EV_MAX)
)

// connectFailures name the failed-connect events (connect_failure in
// tcp.bpf.h says which error is which).
var connectFailures = map[TCPEvent]string{
	TCPFailRefused:     "refused",
	TCPFailTimeout:     "timeout",
	TCPFailUnreachable: "unreachable",
	TCPFailReset:       "reset",
	TCPFailAborted:     "aborted",
	TCPFailOther:       "other",
}

// ConnectFailureReasons returns the name of each TCP event that is a failed
// connect (podflow_tcp_connect_failures_total's reason label), a new map
// each call.
func ConnectFailureReasons() map[TCPEvent]string { return maps.Clone(connectFailures) }

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

// Variant keys the increments of one flow that sum together: a flow has
// one set of TCPCounters.
func (c *TCPCounters) Variant() uint32 { return 0 }

func (c *TCPCounters) sub(o *TCPCounters) {
	for i := range c.Events {
		c.Events[i] -= o.Events[i]
	}
}

// Table names a family of flow counters that the kernel keeps in rotating tables.
type Table int

// Tables (enum flow_table_id).
const (
	TableFlows    = Table(podflowFlowTableIdTABLE_FLOWS)
	TableTCP      = Table(podflowFlowTableIdTABLE_TCP)
	TableLatency  = Table(podflowFlowTableIdTABLE_LATENCY)
	TableDrops    = Table(podflowFlowTableIdTABLE_DROPS)
	TableRequests = Table(podflowFlowTableIdTABLE_REQUESTS)
	NumTables     = int(podflowFlowTableIdTABLE_MAX) // how many tables there are
)

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

// Histogram names a latency histogram the kernel fills (enum latency_histogram).
type Histogram int

// Latency histograms.
const (
	HistRTT       = Histogram(podflowLatencyHistogramHIST_RTT)
	HistConnect   = Histogram(podflowLatencyHistogramHIST_CONNECT)
	HistDNS       = Histogram(podflowLatencyHistogramHIST_DNS)
	HistHTTP      = Histogram(podflowLatencyHistogramHIST_HTTP)
	NumHistograms = int(podflowLatencyHistogramHIST_MAX)
)

// LatencyBuckets is the number of log2 buckets of a kernel histogram:
// bucket b < LatencyBuckets-1 holds samples of at most 2^b microseconds,
// the last one everything above (LAT_BUCKETS in podflow.h).
const LatencyBuckets = 26

// latencyBucketOf splits the variant of a latency table key into the
// histogram and the bucket (LATENCY_VARIANT in podflow.h).
func latencyBucketOf(variant uint32) (Histogram, int) {
	return Histogram(variant >> 8), int(variant & 0xff)
}

// LatencyIncrement is what one bucket of one flow's histogram gained:
// samples of histogram Histogram that fell into kernel bucket Bucket
// (0 .. LatencyBuckets-1), summed over CPUs.
type LatencyIncrement struct {
	Histogram Histogram
	Bucket    int
	LatencyBucket
}

// Variant keys the increments of one flow that sum together: one per
// histogram and bucket (LATENCY_VARIANT in podflow.h).
func (l *LatencyIncrement) Variant() uint32 { return uint32(l.Histogram)<<8 | uint32(l.Bucket) }

// Add adds the samples of o, of the same histogram and bucket, to l.
func (l *LatencyIncrement) Add(o *LatencyIncrement) { l.LatencyBucket.Add(&o.LatencyBucket) }

// DropIncrement is what one flow's drops for one reason gained, summed
// over CPUs. Reason is the kernel's enum skb_drop_reason value
// (DropReasons names it).
type DropIncrement struct {
	Reason uint32
	DropCounters
}

// Variant keys the increments of one flow that sum together: one per
// drop reason.
func (d *DropIncrement) Variant() uint32 { return d.Reason }

// Add adds the drops of o, of the same reason, to d.
func (d *DropIncrement) Add(o *DropIncrement) { d.DropCounters.Add(&o.DropCounters) }

// LatencyBucket is one bucket of one flow's histogram: the samples that
// fell into it and their sum in microseconds. The layout matches struct
// latency_bucket.
type LatencyBucket struct {
	_         structs.HostLayout
	Count     uint64
	SumMicros uint64
}

// Add adds o to b.
func (b *LatencyBucket) Add(o *LatencyBucket) {
	b.Count += o.Count
	b.SumMicros += o.SumMicros
}

// LatencyOverflow holds, per histogram and bucket, the samples that found
// no table entry (struct latency_overflow).
type LatencyOverflow struct {
	_       structs.HostLayout
	Buckets [NumHistograms * LatencyBuckets]LatencyBucket
}

// Bucket returns the overflow of bucket b of histogram h.
func (o *LatencyOverflow) Bucket(h Histogram, b int) *LatencyBucket {
	return &o.Buckets[int(h)*LatencyBuckets+b]
}

// Add adds p to o.
func (o *LatencyOverflow) Add(p *LatencyOverflow) {
	for i := range o.Buckets {
		o.Buckets[i].Add(&p.Buckets[i])
	}
}

func (o *LatencyOverflow) sub(p *LatencyOverflow) {
	for i := range o.Buckets {
		o.Buckets[i].Count -= p.Buckets[i].Count
		o.Buckets[i].SumMicros -= p.Buckets[i].SumMicros
	}
}

// DropCounters are packets the kernel dropped for one flow and reason,
// and their IP length (struct drop_counters).
type DropCounters struct {
	_       structs.HostLayout
	Packets uint64
	Bytes   uint64
}

// Add adds o to c.
func (c *DropCounters) Add(o *DropCounters) {
	c.Packets += o.Packets
	c.Bytes += o.Bytes
}

func (c *DropCounters) sub(o *DropCounters) {
	c.Packets -= o.Packets
	c.Bytes -= o.Bytes
}
