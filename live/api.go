// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package live

// The wire format of /api/v1/flows and /api/v1/flows/stream (docs/live.md).
// Field names follow the metric names of /metrics: transmit_bytes is what
// podflow_flow_transmit_bytes_total counts, for the same edge.

// OtherEdgeID is the ID of the edge that sums every edge a snapshot leaves
// out (beyond its top N), so that a snapshot's edges sum to the truth.
const OtherEdgeID = "__other__"

// Snapshot is the body of GET /api/v1/flows, and the data of the stream's
// "snapshot" event.
type Snapshot struct {
	// Scope is "node" (this exporter's drains) or "cluster" (Prometheus's
	// recording rules, --web.live-view.prometheus-url).
	Scope string `json:"scope"`
	// Seq is the last drain the snapshot holds (counted from 1; 0 before
	// the first). A stream's deltas follow on from it.
	Seq uint64 `json:"seq"`
	// Time is when drain Seq ended, RFC 3339 with nanoseconds.
	Time string `json:"time"`
	// RateWindowSeconds is the window Rate is taken over: the last
	// complete one, at least --collector.drain-interval long.
	RateWindowSeconds float64 `json:"rate_window_seconds"`
	// LabelNames are the labels of every edge, in /metrics order.
	LabelNames []string `json:"label_names"`
	// TotalEdges is how many edges there are, top N or not.
	TotalEdges int `json:"total_edges"`
	// Edges are the top N edges by bytes (both ways, since start), then,
	// when some were left out, one edge with ID OtherEdgeID that sums
	// them.
	Edges []Edge `json:"edges"`
	// ClusterAvailable says scope=cluster can be asked for.
	ClusterAvailable bool `json:"cluster_available"`
}

// Edge is one flow as /metrics labels it: both sides' identities and the
// connection facts (role, protocol, port).
type Edge struct {
	// ID names the edge while it lives, in snapshots and deltas alike.
	ID string `json:"id"`
	// Local and Remote are the graph nodes the edge joins.
	Local  Node `json:"local"`
	Remote Node `json:"remote"`
	// Labels are the edge's label values on /metrics, by label name.
	Labels map[string]string `json:"labels"`
	// Total counts since the exporter started (a snapshot), or what the
	// drains of a delta added (a delta).
	Total Counters `json:"total"`
	// Rate is Total's per-second rate over the snapshot's rate window;
	// absent in deltas.
	Rate *Rates `json:"rate,omitempty"`
}

// Node is one side of an edge at the aggregation level: a workload, pod or
// namespace (Kubernetes), a cgroup (host mode), or a service, node, address
// class (world, loopback...). The same identity on either side of two edges
// has the same ID.
type Node struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
}

// Counters are an edge's counts. Zero counts are left out.
type Counters struct {
	TransmitBytes   uint64 `json:"transmit_bytes,omitempty"`
	TransmitPackets uint64 `json:"transmit_packets,omitempty"`
	ReceiveBytes    uint64 `json:"receive_bytes,omitempty"`
	ReceivePackets  uint64 `json:"receive_packets,omitempty"`

	ConnectAttempts    uint64 `json:"connect_attempts,omitempty"`
	ConnectEstablished uint64 `json:"connect_established,omitempty"`
	// ConnectFailures counts failed connects by reason: refused, timeout,
	// unreachable, reset, aborted, other.
	ConnectFailures       map[string]uint64 `json:"connect_failures,omitempty"`
	AcceptedConnections   uint64            `json:"accepted_connections,omitempty"`
	RetransmittedSegments uint64            `json:"retransmitted_segments,omitempty"`
	ResetsSent            uint64            `json:"resets_sent,omitempty"`
	ResetsReceived        uint64            `json:"resets_received,omitempty"`

	// RTT and ConnectDuration are the samples of podflow_tcp_rtt_seconds
	// and podflow_tcp_connect_duration_seconds: their count and sum.
	RTT             *Samples `json:"rtt,omitempty"`
	ConnectDuration *Samples `json:"connect_duration,omitempty"`
}

// Add adds what o counts to c: a client applying a delta to its totals.
func (c *Counters) Add(o *Counters) {
	c.TransmitBytes += o.TransmitBytes
	c.TransmitPackets += o.TransmitPackets
	c.ReceiveBytes += o.ReceiveBytes
	c.ReceivePackets += o.ReceivePackets
	c.ConnectAttempts += o.ConnectAttempts
	c.ConnectEstablished += o.ConnectEstablished
	c.AcceptedConnections += o.AcceptedConnections
	c.RetransmittedSegments += o.RetransmittedSegments
	c.ResetsSent += o.ResetsSent
	c.ResetsReceived += o.ResetsReceived
	for reason, n := range o.ConnectFailures {
		if c.ConnectFailures == nil {
			c.ConnectFailures = map[string]uint64{}
		}
		c.ConnectFailures[reason] += n
	}
	c.RTT = c.RTT.add(o.RTT)
	c.ConnectDuration = c.ConnectDuration.add(o.ConnectDuration)
}

func (s *Samples) add(o *Samples) *Samples {
	if o == nil {
		return s
	}
	if s == nil {
		s = &Samples{}
	}
	s.Count += o.Count
	s.SumSeconds += o.SumSeconds
	return s
}

// Samples are a histogram's count and sum (seconds).
type Samples struct {
	Count      uint64  `json:"count"`
	SumSeconds float64 `json:"sum_seconds"`
}

// Rates are Counters per second.
type Rates struct {
	TransmitBytes         float64            `json:"transmit_bytes"`
	TransmitPackets       float64            `json:"transmit_packets"`
	ReceiveBytes          float64            `json:"receive_bytes"`
	ReceivePackets        float64            `json:"receive_packets"`
	ConnectAttempts       float64            `json:"connect_attempts"`
	ConnectFailures       map[string]float64 `json:"connect_failures,omitempty"`
	AcceptedConnections   float64            `json:"accepted_connections"`
	RetransmittedSegments float64            `json:"retransmitted_segments"`
}

// Delta is the data of the stream's "delta" event: what drains First to
// Last added, edge by edge. Summing a snapshot and every delta after it
// gives the totals of a snapshot at the last delta's Last.
type Delta struct {
	// FirstSeq and LastSeq are the drains the delta holds: one, or several
	// merged for a client that fell behind (nothing is lost).
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	// Time is when drain LastSeq ended (RFC 3339); IntervalSeconds is the
	// time the delta covers, from the end of drain FirstSeq-1.
	Time            string  `json:"time"`
	IntervalSeconds float64 `json:"interval_seconds"`
	// Edges are the edges that changed, each with what it gained in Total.
	Edges []Edge `json:"edges"`
	// Removed are the IDs of edges that ended: idle for
	// --collector.flows.idle-ttl, as their series leave /metrics.
	Removed []string `json:"removed,omitempty"`
}
