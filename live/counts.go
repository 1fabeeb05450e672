// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package live

import (
	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/naming"
)

// counts are an edge's counts as the drains hand them: kernel counters,
// summed. They add; Counters and Rates are their wire forms.
type counts struct {
	flow bpf.FlowCounters
	tcp  bpf.TCPCounters
	// hist holds each latency histogram's samples (count, sum), its
	// buckets summed: the live view shows means, /metrics the buckets.
	hist [bpf.NumHistograms]bpf.LatencyBucket
}

func (c *counts) add(o *counts) {
	c.flow.Add(&o.flow)
	c.tcp.Add(&o.tcp)
	for i := range c.hist {
		c.hist[i].Add(&o.hist[i])
	}
}

// bytes is what an edge is ranked by: bytes both ways.
func (c *counts) bytes() uint64 { return c.flow.TxBytes + c.flow.RxBytes }

// failureReasons are the reasons of podflow_tcp_connect_failures_total.
var failureReasons = bpf.ConnectFailureReasons()

// failures sums failed connects over reasons.
func (c *counts) failures() uint64 {
	var n uint64
	for ev := range failureReasons {
		n += c.tcp.Events[ev]
	}
	return n
}

// wire returns c as the API shows it.
func (c *counts) wire() Counters {
	out := Counters{
		TransmitBytes:         c.flow.TxBytes,
		TransmitPackets:       c.flow.TxPackets,
		ReceiveBytes:          c.flow.RxBytes,
		ReceivePackets:        c.flow.RxPackets,
		ConnectAttempts:       c.tcp.Events[bpf.TCPConnectAttempt],
		ConnectEstablished:    c.tcp.Events[bpf.TCPConnectEstablished],
		AcceptedConnections:   c.tcp.Events[bpf.TCPAccepted],
		RetransmittedSegments: c.tcp.Events[bpf.TCPRetransmit],
		ResetsSent:            c.tcp.Events[bpf.TCPResetSent],
		ResetsReceived:        c.tcp.Events[bpf.TCPResetReceived],
		RTT:                   samples(&c.hist[bpf.HistRTT]),
		ConnectDuration:       samples(&c.hist[bpf.HistConnect]),
	}
	for ev, reason := range failureReasons {
		if n := c.tcp.Events[ev]; n > 0 {
			if out.ConnectFailures == nil {
				out.ConnectFailures = map[string]uint64{}
			}
			out.ConnectFailures[reason] = n
		}
	}
	return out
}

func samples(b *bpf.LatencyBucket) *Samples {
	if b.Count == 0 {
		return nil
	}
	return &Samples{Count: b.Count, SumSeconds: float64(b.SumMicros) / 1e6}
}

// rates returns what now gained since then, per second over seconds.
func rates(now, then *counts, seconds float64) Rates {
	if seconds <= 0 {
		return Rates{}
	}
	per := func(a, b uint64) float64 { return float64(a-b) / seconds }
	r := Rates{
		TransmitBytes:         per(now.flow.TxBytes, then.flow.TxBytes),
		TransmitPackets:       per(now.flow.TxPackets, then.flow.TxPackets),
		ReceiveBytes:          per(now.flow.RxBytes, then.flow.RxBytes),
		ReceivePackets:        per(now.flow.RxPackets, then.flow.RxPackets),
		ConnectAttempts:       per(now.tcp.Events[bpf.TCPConnectAttempt], then.tcp.Events[bpf.TCPConnectAttempt]),
		AcceptedConnections:   per(now.tcp.Events[bpf.TCPAccepted], then.tcp.Events[bpf.TCPAccepted]),
		RetransmittedSegments: per(now.tcp.Events[bpf.TCPRetransmit], then.tcp.Events[bpf.TCPRetransmit]),
	}
	for ev, reason := range failureReasons {
		if d := now.tcp.Events[ev] - then.tcp.Events[ev]; d > 0 {
			if r.ConnectFailures == nil {
				r.ConnectFailures = map[string]float64{}
			}
			r.ConnectFailures[reason] = float64(d) / seconds
		}
	}
	return r
}

// addRates adds o to r (the __other__ edge's rates).
func (r *Rates) add(o *Rates) {
	r.TransmitBytes += o.TransmitBytes
	r.TransmitPackets += o.TransmitPackets
	r.ReceiveBytes += o.ReceiveBytes
	r.ReceivePackets += o.ReceivePackets
	r.ConnectAttempts += o.ConnectAttempts
	r.AcceptedConnections += o.AcceptedConnections
	r.RetransmittedSegments += o.RetransmittedSegments
	for k, v := range o.ConnectFailures {
		if r.ConnectFailures == nil {
			r.ConnectFailures = map[string]float64{}
		}
		r.ConnectFailures[k] += v
	}
}

// batchCounts calls f with each edge of b and what it gained, in b's
// order; an edge may come more than once.
func batchCounts(b *flow.Batch, f func(e *naming.Edge, c *counts)) {
	var c counts
	flows := flow.Flows.In(b).Increments
	for i := range flows {
		c = counts{flow: flows[i].Value}
		f(&flows[i].Edge, &c)
	}
	tcp := flow.TCP.In(b).Increments
	for i := range tcp {
		c = counts{tcp: tcp[i].Value}
		f(&tcp[i].Edge, &c)
	}
	latency := flow.Latency.In(b).Increments
	for i := range latency {
		l := &latency[i]
		c = counts{}
		c.hist[l.Value.Histogram] = l.Value.LatencyBucket
		f(&l.Edge, &c)
	}
}

// overflowCounts is what the kernel's tables could not hold in b.
func overflowCounts(b *flow.Batch) counts {
	c := counts{flow: flow.Flows.In(b).Overflow, tcp: flow.TCP.In(b).Overflow}
	latency := &flow.Latency.In(b).Overflow
	for h := range c.hist {
		for k := 0; k < bpf.LatencyBuckets; k++ {
			c.hist[h].Add(latency.Bucket(bpf.Histogram(h), k))
		}
	}
	return c
}
