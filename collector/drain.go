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

// Subscriber is handed every drain's increments, named.
type Subscriber interface {
	// Consume is called with the batches of every drain, in order, from
	// one goroutine per subscriber. A subscriber that falls behind is
	// handed several drains merged into one batch: it loses nothing and
	// never slows the drain down. b is shared: read-only.
	Consume(b *Batch)
}

// Drainer owns the kernel's tables: it drains them every interval and
// whenever a scrape asks (Sync), names each drain's flows once, and hands
// the named increments to every subscriber.
type Drainer struct {
	flows   FlowSource
	tcp     TCPSource
	latency LatencySource
	drops   DropSource
	ttl     time.Duration
	now     func() time.Time
	logger  log.Logger

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

// DefaultDrainInterval is --collector.drain-interval's default.
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
		flows: src.Flows, tcp: src.TCP, latency: src.Latency, drops: src.Drops,
		ttl: cfg.IdleTTL, now: time.Now, logger: logger,
		names: newResolutions(src.Resolver, cfg.HoldUnresolved),
		stats: drainStats{drains: map[string]uint64{TriggerInterval: 0, TriggerScrape: 0}},
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
	rs.finish(now, b)
	rs.expire(now - int64(d.ttl))
	d.sizes[bpf.TableFlows], d.sizes[bpf.TableTCP] = len(b.Flows), len(b.TCP)
	d.sizes[bpf.TableLatency], d.sizes[bpf.TableDrops] = len(b.Latency), len(b.Drops)
	d.lastEnd = now
	d.publish(b)
	d.stats.drains[trigger]++
	d.stats.duration += time.Since(began)
	return d.seq
}

// newBatch returns an empty batch, reusing one every subscriber is done
// with when there is one (a drain of many flows would otherwise allocate
// and collect its size each time), else sized like the previous drain:
// most flows of a drain were in it.
func (d *Drainer) newBatch() *Batch {
	d.freeMu.Lock()
	if n := len(d.free); n > 0 {
		b := d.free[n-1]
		d.free = d.free[:n-1]
		d.freeMu.Unlock()
		*b = Batch{Flows: b.Flows[:0], TCP: b.TCP[:0], Latency: b.Latency[:0], Drops: b.Drops[:0], recycle: d.recycleBatch}
		return b
	}
	d.freeMu.Unlock()
	return &Batch{
		Flows:   make([]FlowIncrement, 0, d.sizes[bpf.TableFlows]),
		TCP:     make([]TCPIncrement, 0, d.sizes[bpf.TableTCP]),
		Latency: make([]LatencyIncrement, 0, d.sizes[bpf.TableLatency]),
		Drops:   make([]DropIncrement, 0, d.sizes[bpf.TableDrops]),
		recycle: d.recycleBatch,
	}
}

// maxFree bounds the batches kept for reuse.
const maxFree = 2

func (d *Drainer) recycleBatch(b *Batch) {
	d.freeMu.Lock()
	defer d.freeMu.Unlock()
	if len(d.free) < maxFree {
		d.free = append(d.free, b)
	}
}

// resolutionStats returns the hold's counts for table t.
func (d *Drainer) resolutionStats(t bpf.Table) resolutionStats {
	d.drainMu.Lock()
	defer d.drainMu.Unlock()
	return d.names.stats[t]
}

// Subscribe hands s every batch from the next drain on, until the
// returned function is called.
func (d *Drainer) Subscribe(name string, s Subscriber) (cancel func()) {
	sub := d.subscribe(name, s)
	return func() { d.unsubscribe(sub) }
}

func (d *Drainer) unsubscribe(sub *subscription) {
	d.subsMu.Lock()
	for i, o := range d.subs {
		if o == sub {
			d.subs = append(d.subs[:i:i], d.subs[i+1:]...)
		}
	}
	d.subsMu.Unlock()
	sub.close()
}

func (d *Drainer) subscribe(name string, s Subscriber) *subscription {
	sub := &subscription{name: name, s: s}
	sub.cond = sync.NewCond(&sub.mu)
	d.subsMu.Lock()
	d.subs = append(d.subs, sub)
	d.subsMu.Unlock()
	go sub.run()
	return sub
}

func (d *Drainer) publish(b *Batch) {
	d.subsMu.Lock()
	defer d.subsMu.Unlock()
	b.refs.Store(int32(len(d.subs)) + 1)
	for _, s := range d.subs {
		s.push(b)
	}
	b.release() // the drain's own reference
}

// maxPending is how many batches wait for a subscriber before they are
// merged into one.
const maxPending = 4

// subscription is a subscriber's mailbox: batches wait there while it
// consumes the previous ones.
type subscription struct {
	name string
	s    Subscriber

	mu      sync.Mutex
	cond    *sync.Cond
	pending []*Batch
	applied uint64 // Last of the last batch consumed
	merges  uint64 // batches merged because the subscriber fell behind
	closed  bool
}

func (s *subscription) push(b *Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		b.release()
		return
	}
	s.pending = append(s.pending, b)
	if len(s.pending) > maxPending {
		s.merges += uint64(len(s.pending) - 1)
		merged := mergeBatches(s.pending)
		merged.refs.Store(1)
		for _, p := range s.pending {
			p.release()
		}
		s.pending = []*Batch{merged}
	}
	s.cond.Broadcast()
}

func (s *subscription) run() {
	for {
		s.mu.Lock()
		for len(s.pending) == 0 && !s.closed {
			s.cond.Wait()
		}
		if s.closed {
			s.mu.Unlock()
			return
		}
		b := s.pending[0]
		s.pending = s.pending[1:]
		s.mu.Unlock()

		s.s.Consume(b)
		last := b.Last
		b.release()

		s.mu.Lock()
		s.applied = last
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}

// wait returns once the subscriber consumed drain seq (or was closed).
func (s *subscription) wait(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.applied < seq && !s.closed {
		s.cond.Wait()
	}
}

func (s *subscription) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, b := range s.pending {
		b.release()
	}
	s.pending = nil
	s.cond.Broadcast()
}

var (
	drainsDesc = prometheus.NewDesc("podflow_drains_total",
		"Drains of the kernel's tables, by trigger: interval (--collector.drain-interval) or scrape (each scrape drains, so that /metrics is current; concurrent scrapes share one drain).",
		[]string{"trigger"}, nil)
	drainSecondsDesc = prometheus.NewDesc("podflow_drain_duration_seconds_total",
		"Time spent draining the kernel's tables and naming their flows, all drains.",
		nil, nil)
	subscriberMergesDesc = prometheus.NewDesc("podflow_subscriber_merged_batches_total",
		"Drains handed to a subscriber merged with the next because it fell behind (nothing is lost), by subscriber.",
		[]string{"subscriber"}, nil)
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
	d.subsMu.Lock()
	defer d.subsMu.Unlock()
	for _, s := range d.subs {
		s.mu.Lock()
		ch <- prometheus.MustNewConstMetric(subscriberMergesDesc, prometheus.CounterValue, float64(s.merges), s.name)
		s.mu.Unlock()
	}
}
