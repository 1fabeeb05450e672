// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package flow

import (
	"sync"
)

// Subscriber is handed every drain's increments, named.
type Subscriber interface {
	// Consume is called with the batches of every drain, in order, from
	// one goroutine per subscriber. A subscriber that falls behind is
	// handed several drains merged into one batch (each edge's increments
	// summed): it loses nothing, its backlog is bounded by its edges, and
	// the drain never waits for it. b is shared and read-only, and valid
	// only until Consume returns.
	Consume(b *Batch)
}

// Subscribe hands s every batch from the next drain on, until the
// subscription is cancelled. name labels its self-metrics.
func (d *Drainer) Subscribe(name string, s Subscriber) *Subscription {
	sub := &Subscription{name: name, s: s, d: d}
	sub.cond = sync.NewCond(&sub.mu)
	d.subsMu.Lock()
	d.subs = append(d.subs, sub)
	d.subsMu.Unlock()
	go sub.run()
	return sub
}

// Cancel ends the subscription: no batch is handed to it afterwards.
func (s *Subscription) Cancel() {
	d := s.d
	d.subsMu.Lock()
	for i, o := range d.subs {
		if o == s {
			d.subs = append(d.subs[:i:i], d.subs[i+1:]...)
		}
	}
	d.subsMu.Unlock()
	s.close()
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

// Subscription is a subscriber's mailbox: batches wait there while it
// consumes the previous ones.
type Subscription struct {
	name string
	s    Subscriber
	d    *Drainer

	mu      sync.Mutex
	cond    *sync.Cond
	pending []*Batch
	applied uint64 // Last of the last batch consumed
	merges  uint64 // batches merged because the subscriber fell behind
	closed  bool
}

func (s *Subscription) push(b *Batch) {
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

func (s *Subscription) run() {
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

// Wait returns once the subscriber consumed drain seq (Drainer.Sync's), or
// the subscription was cancelled.
func (s *Subscription) Wait(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.applied < seq && !s.closed {
		s.cond.Wait()
	}
}

func (s *Subscription) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, b := range s.pending {
		b.release()
	}
	s.pending = nil
	s.cond.Broadcast()
}

// SubscriberStats describe one subscriber for self-monitoring.
type SubscriberStats struct {
	Name string
	// Merges counts the drains handed to it merged with the next because
	// it fell behind.
	Merges uint64
}

func (d *Drainer) subscriberStats() []SubscriberStats {
	d.subsMu.Lock()
	defer d.subsMu.Unlock()
	out := make([]SubscriberStats, 0, len(d.subs))
	for _, s := range d.subs {
		s.mu.Lock()
		out = append(out, SubscriberStats{Name: s.name, Merges: s.merges})
		s.mu.Unlock()
	}
	return out
}
