// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package flow is the drain pipeline: a Drainer owns the kernel's tables,
// drains them every --collector.drain-interval and whenever a reader asks
// (Sync), names each drain's flows once (naming.Namer) and hands the named
// increments, one Batch per drain, to every Subscriber — the series behind
// /metrics (package collector) and the live view (package live). Nothing
// here knows Prometheus.
package flow

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/naming"
)

// Drain triggers, the trigger label of podflow_drains_total.
const (
	TriggerInterval = "interval"
	TriggerScrape   = "scrape"
)

// Options say what a Drainer drains and how it names it.
type Options struct {
	// Inputs are the tables to drain (FromTracer, or Table.From).
	Inputs []Input
	// Resolver names both sides of each flow; its Schema is the edges'.
	Resolver naming.Resolver
	// Now is the clock, time.Now when nil.
	Now func() time.Time
}

// Drainer owns the kernel's tables: it drains them every interval and
// whenever a reader asks (Sync), names each drain's flows once, and hands
// the named increments to every subscriber.
type Drainer struct {
	cfg    Config
	inputs []Input
	now    func() time.Time
	logger log.Logger

	// mu guards inflight: a drain running now, which a Sync joins.
	mu       sync.Mutex
	inflight *drainCall

	// drainMu serialises drains and guards what they change.
	drainMu sync.Mutex
	names   *naming.Namer
	seq     uint64
	lastEnd int64
	stats   Stats
	pool    batchPool

	subsMu sync.Mutex
	subs   []*Subscription
}

type drainCall struct {
	done chan struct{}
	seq  uint64
}

// Stats describe the drains for self-monitoring.
type Stats struct {
	// Drains counts the drains by trigger.
	Drains map[string]uint64
	// Duration is the time all drains took.
	Duration time.Duration
	// Subscribers are the subscribers' stats.
	Subscribers []SubscriberStats
}

// New returns the Drainer of opts' inputs. Its first batch counts from
// now: the tables were loaded just before.
func New(cfg *Config, opts Options, logger log.Logger) (*Drainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Resolver == nil {
		return nil, errors.New("flow: no resolver to name flows with")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Drainer{
		cfg: *cfg, inputs: opts.Inputs, now: now, logger: logger,
		lastEnd: now().UnixNano(),
		names:   naming.NewNamer(opts.Resolver, cfg.HoldUnresolved, cfg.AppProtocol),
		stats:   Stats{Drains: map[string]uint64{TriggerInterval: 0, TriggerScrape: 0}},
	}, nil
}

// Schema is the label schema of the edges of every batch.
func (d *Drainer) Schema() naming.Schema { return d.names.Schema() }

// Interval is how often the Drainer drains on its own (Run).
func (d *Drainer) Interval() time.Duration { return d.cfg.Interval }

// IdleTTL is how long an edge without increments is remembered; its
// subscribers forget it after as long.
func (d *Drainer) IdleTTL() time.Duration { return d.cfg.IdleTTL }

// Tables lists the tables drained, in drain order.
func (d *Drainer) Tables() []bpf.Table {
	ids := make([]bpf.Table, len(d.inputs))
	for i, in := range d.inputs {
		ids[i] = in.table().ID()
	}
	return ids
}

// Run drains every Interval until ctx ends.
func (d *Drainer) Run(ctx context.Context) {
	tick := time.NewTicker(d.cfg.Interval)
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
// the batch is handed to every subscriber (Subscription.Wait says when one
// consumed it). A Sync while a drain runs joins it: concurrent scrapes
// share one drain.
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
	b := d.pool.get()
	b.First, b.Last, b.Start, b.Time = d.seq, d.seq, d.lastEnd, now
	d.names.Start()
	for _, in := range d.inputs {
		if err := in.drain(b, d.names, now); err != nil {
			id := in.table().ID()
			if b.Errs == nil {
				b.Errs = map[bpf.Table]error{}
			}
			b.Errs[id] = err
			level.Debug(d.logger).Log("msg", "draining a kernel table failed", "table", id, "err", err)
		}
	}
	d.names.Finish(now, func(e *naming.Edge, h *naming.Held) {
		for _, in := range d.inputs {
			in.table().release(b, e, h)
		}
	})
	// A sixteenth of the TTL: the keys and identities of flows idle for
	// the TTL stay at most 6% longer, and a node with many flows does not
	// walk them all at every drain.
	d.names.Expire(now, now-int64(d.cfg.IdleTTL), d.cfg.IdleTTL/16)
	d.pool.drained(b)
	d.lastEnd = now
	d.publish(b)
	d.stats.Drains[trigger]++
	d.stats.Duration += time.Since(began)
	return d.seq
}

// HoldStats returns the hold's counts of table t (naming.Namer.Stats).
func (d *Drainer) HoldStats(t bpf.Table) naming.HoldStats {
	d.drainMu.Lock()
	defer d.drainMu.Unlock()
	return d.names.Stats(t)
}

// Stats returns the drains' and subscribers' counts.
func (d *Drainer) Stats() Stats {
	d.drainMu.Lock()
	st := Stats{Drains: make(map[string]uint64, len(d.stats.Drains)), Duration: d.stats.Duration}
	for k, v := range d.stats.Drains {
		st.Drains[k] = v
	}
	d.drainMu.Unlock()
	st.Subscribers = d.subscriberStats()
	return st
}
