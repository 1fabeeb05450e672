// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/bpf"
)

// FlowSource yields the bytes and packets counted since its previous drain
// (bpf.Tracer).
type FlowSource interface {
	DrainFlows(fn func(bpf.FlowKey, bpf.FlowCounters)) (overflow bpf.FlowCounters, err error)
}

// TCPSource yields the TCP handshake outcomes, retransmits and resets
// counted since its previous drain (bpf.Tracer).
type TCPSource interface {
	DrainTCP(fn func(bpf.FlowKey, bpf.TCPCounters)) (overflow bpf.TCPCounters, err error)
}

// LatencySource yields the latency samples recorded since its previous
// drain (bpf.Tracer).
type LatencySource interface {
	DrainLatency(fn func(bpf.FlowKey, bpf.LatencyIncrement)) (overflow bpf.LatencyOverflow, err error)
}

// DropSource yields the packets the kernel dropped since its previous
// drain (bpf.Tracer).
type DropSource interface {
	DrainDrops(fn func(bpf.FlowKey, bpf.DropIncrement)) (overflow bpf.DropCounters, err error)
}

// RequestSource yields the DNS and HTTP requests counted since its
// previous drain (bpf.Tracer), both kinds in one table.
type RequestSource interface {
	DrainRequests(fn func(bpf.FlowKey, bpf.RequestIncrement)) (overflow bpf.RequestOverflow, err error)
}

// Drainer owns the kernel's tables: it drains them every interval and
// whenever a scrape asks (Sync), names each drain's flows once, and hands
// the named increments to every subscriber.
type Drainer struct {
	flows   FlowSource
	tcp     TCPSource
	latency LatencySource
	drops   DropSource
	// requests is drained once per drain, whether the dns collector, the
	// http one or both read it.
	requests RequestSource
	ttl      time.Duration
	now      func() time.Time
	logger   log.Logger

	// mu guards inflight: a drain running now, which a Sync joins.
	mu       sync.Mutex
	inflight *drainCall

	// drainMu serialises drains and guards what they change.
	drainMu sync.Mutex
	names   *resolutions
	seq     uint64
	lastEnd int64
	stats   drainStats
	// sizes are the increments of each table the last drain found.
	sizes [bpf.NumTables]int
	// free are batches every subscriber consumed, to reuse.
	freeMu sync.Mutex
	free   []*Batch

	subsMu sync.Mutex
	subs   []*subscription
}

type drainCall struct {
	done chan struct{}
	seq  uint64
}

// DefaultDrainInterval is --collector.drain-interval's default. Measured
// on 2 cores with the real exporter (BenchmarkDrainInterval,
// docs/benchmarks.md), a drain costs about 3 ms of CPU plus 2 µs per
// active flow (kernel batch reads, naming, the /metrics series and the
// live view): 10,000 active flows cost 0.45% of one core every 5 s, 2.5%
// every second, 12% every 200 ms (about 4% every 5 s for 100,000, by
// extrapolation). The kernel's flow table (65,536 entries by default)
// needs room for the distinct flows of one drain interval: every 5 s it
// holds 13,000 new flows a second, three times what a 15 s scrape interval
// allowed when scrapes alone drained. And the live view moves every 5 s.
const DefaultDrainInterval = 5 * time.Second

// Drain triggers, the trigger label of podflow_drains_total.
const (
	TriggerInterval = "interval"
	TriggerScrape   = "scrape"
)

type drainStats struct {
	drains   map[string]uint64 // by trigger
	duration time.Duration     // all drains
}

// newDrainer drains the sources that are not nil, naming flows with r.
func newDrainer(src Sources, cfg *Config, logger log.Logger) *Drainer {
	return &Drainer{
		flows: src.Flows, tcp: src.TCP, latency: src.Latency, drops: src.Drops, requests: src.Requests,
		ttl: cfg.IdleTTL, now: time.Now, logger: logger,
		// The first batch counts from here: the tables were loaded
		// just before.
		lastEnd: time.Now().UnixNano(),
		names:   newResolutions(src.Resolver, cfg.HoldUnresolved, !cfg.WithoutAppProtocol),
		stats:   drainStats{drains: map[string]uint64{TriggerInterval: 0, TriggerScrape: 0}},
	}
}

// Run drains every interval until ctx ends.
func (d *Drainer) Run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			d.Sync(TriggerInterval)
		}
	}
}

// Sync drains the tables and returns the drain's sequence number, once
// the batch is handed to every subscriber. A Sync while a drain runs joins
// it: concurrent scrapes share one drain.
func (d *Drainer) Sync(trigger string) uint64 {
	d.mu.Lock()
	if c := d.inflight; c != nil {
		d.mu.Unlock()
		<-c.done
		return c.seq
	}
	c := &drainCall{done: make(chan struct{})}
	d.inflight = c
	d.mu.Unlock()

	c.seq = d.drain(trigger)
	d.mu.Lock()
	d.inflight = nil
	d.mu.Unlock()
	close(c.done)
	return c.seq
}

// drain empties every table into one batch and publishes it.
func (d *Drainer) drain(trigger string) uint64 {
	d.drainMu.Lock()
	defer d.drainMu.Unlock()
	began := time.Now()
	now := d.now().UnixNano()
	d.seq++
	b := d.newBatch()
	b.First, b.Last, b.Start, b.Time = d.seq, d.seq, d.lastEnd, now
	rs := d.names
	rs.start()
	fail := func(t bpf.Table, err error) {
		if err == nil {
			return
		}
		if b.Errs == nil {
			b.Errs = map[bpf.Table]error{}
		}
		b.Errs[t] = err
		level.Debug(d.logger).Log("msg", "draining a kernel table failed", "table", t, "err", err)
	}
	var err error
	if d.flows != nil {
		b.Overflow.Flows, err = d.flows.DrainFlows(func(k bpf.FlowKey, v bpf.FlowCounters) {
			if e, h := rs.edge(k, bpf.TableFlows, now); h != nil {
				h.flows.Add(&v)
			} else {
				b.Flows = append(b.Flows, FlowIncrement{e, v})
			}
		})
		fail(bpf.TableFlows, err)
	}
	if d.tcp != nil {
		b.Overflow.TCP, err = d.tcp.DrainTCP(func(k bpf.FlowKey, v bpf.TCPCounters) {
			if e, h := rs.edge(k, bpf.TableTCP, now); h != nil {
				h.tcp.Add(&v)
			} else {
				b.TCP = append(b.TCP, TCPIncrement{e, v})
			}
		})
		fail(bpf.TableTCP, err)
	}
	if d.latency != nil {
		b.Overflow.Latency, err = d.latency.DrainLatency(func(k bpf.FlowKey, v bpf.LatencyIncrement) {
			if e, h := rs.edge(k, bpf.TableLatency, now); h != nil {
				h.addLatency(v)
			} else {
				b.Latency = append(b.Latency, LatencyIncrement{e, v})
			}
		})
		fail(bpf.TableLatency, err)
	}
	if d.drops != nil {
		b.Overflow.Drops, err = d.drops.DrainDrops(func(k bpf.FlowKey, v bpf.DropIncrement) {
			if e, h := rs.edge(k, bpf.TableDrops, now); h != nil {
				h.addDrop(v)
			} else {
				b.Drops = append(b.Drops, DropIncrement{e, v})
			}
		})
		fail(bpf.TableDrops, err)
	}
	if d.requests != nil {
		b.Overflow.Requests, err = d.requests.DrainRequests(func(k bpf.FlowKey, v bpf.RequestIncrement) {
			if e, h := rs.edge(k, bpf.TableRequests, now); h != nil {
				h.addRequest(v)
			} else {
				b.Requests = append(b.Requests, RequestIncrement{e, v})
			}
		})
		fail(bpf.TableRequests, err)
	}
	rs.finish(now, b)
	// A sixteenth of the TTL: the keys and identities of flows idle for
	// the TTL stay at most 6% longer, and a node with many flows does not
	// walk them all at every drain.
	rs.expire(now, now-int64(d.ttl), d.ttl/16)
	d.sizes[bpf.TableFlows], d.sizes[bpf.TableTCP] = len(b.Flows), len(b.TCP)
	d.sizes[bpf.TableLatency], d.sizes[bpf.TableDrops] = len(b.Latency), len(b.Drops)
	d.sizes[bpf.TableRequests] = len(b.Requests)
	d.lastEnd = now
	d.publish(b)
	d.stats.drains[trigger]++
	d.stats.duration += time.Since(began)
	return d.seq
}

// resolutionStats returns the hold's counts for table t.
func (d *Drainer) resolutionStats(t bpf.Table) resolutionStats {
	d.drainMu.Lock()
	defer d.drainMu.Unlock()
	return d.names.stats[t]
}

var (
	drainsDesc = prometheus.NewDesc("podflow_drains_total",
		"Drains of the kernel's tables, by trigger: interval (--collector.drain-interval) or scrape (each scrape drains, so that /metrics is current; concurrent scrapes share one drain).",
		[]string{"trigger"}, nil)
	drainSecondsDesc = prometheus.NewDesc("podflow_drain_duration_seconds_total",
		"Time spent draining the kernel's tables and naming their flows, all drains.",
		nil, nil)
)

func describeDrainStats(ch chan<- *prometheus.Desc) {
	ch <- drainsDesc
	ch <- drainSecondsDesc
	ch <- subscriberMergesDesc
}

func (d *Drainer) collectStats(ch chan<- prometheus.Metric) {
	d.drainMu.Lock()
	for trigger, n := range d.stats.drains {
		ch <- prometheus.MustNewConstMetric(drainsDesc, prometheus.CounterValue, float64(n), trigger)
	}
	ch <- prometheus.MustNewConstMetric(drainSecondsDesc, prometheus.CounterValue, d.stats.duration.Seconds())
	d.drainMu.Unlock()
	d.collectSubscriberStats(ch)
}
