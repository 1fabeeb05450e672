// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/flow"
)

// drainedFamily is what differs between the collectors of a kernel table:
// its stores, and how a batch's increments of its table go to them.
type drainedFamily interface {
	// consume adds the increments and overflow of b (of the family's
	// table) to the stores.
	consume(b *flow.Batch)
	stores() []familyStore
}

// familyStore is a store, whatever its cells.
type familyStore interface {
	describe(ch chan<- *prometheus.Desc)
	expire(cutoff int64)
	collect(ch chan<- prometheus.Metric)
	collectStats(ch chan<- prometheus.Metric)
}

// drainedCollector is the Collector of kernel tables: it consumes every
// drain's batch into the family's stores, and sends them at each scrape
// with their self-metrics.
type drainedCollector struct {
	name string
	// tables are the tables it reads, its own first.
	tables   []bpf.Table
	family   drainedFamily
	pipeline Pipeline
	ttl      time.Duration

	mu sync.Mutex
	// err is the last drain error of its tables since the previous scrape.
	err error
}

// newDrained returns the collector r registers as name, over the tables
// src.Pipeline drains.
func newDrained(name string, r registration, cfg *Config, src Sources) (*drainedCollector, error) {
	if src.Pipeline == nil {
		return nil, errNoSource
	}
	drained := src.Pipeline.Tables()
	for _, t := range r.tables {
		if !slices.Contains(drained, t) {
			return nil, fmt.Errorf("the %s table is not drained", t)
		}
	}
	f, err := r.family(cfg, src.Pipeline.Schema(), src)
	if err != nil {
		return nil, err
	}
	return &drainedCollector{name: name, tables: r.tables, family: f, pipeline: src.Pipeline, ttl: src.Pipeline.IdleTTL()}, nil
}

// consume adds b to the stores. Series idle since before b's TTL cutoff
// are removed first: an identity the drain forgot by then (see
// identities) is in no series left when its new ID arrives.
func (c *drainedCollector) consume(b *flow.Batch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.family.stores() {
		s.expire(b.Time - int64(c.ttl))
	}
	c.family.consume(b)
	for _, t := range c.tables {
		if err := b.Errs[t]; err != nil {
			c.err = err
		}
	}
}

func (c *drainedCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, s := range c.family.stores() {
		s.describe(ch)
	}
	describeFamilyStats(ch)
	describeHoldStats(ch)
}

// Update sends the series as of the last batch consumed, and fails when
// draining a table failed since the previous scrape (the series keep
// what was counted). The resolution stats are those of its own table.
func (c *drainedCollector) Update(ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.family.stores() {
		s.collect(ch)
		s.collectStats(ch)
	}
	collectHoldStats(ch, c.name, c.pipeline.HoldStats(c.tables[0]))
	err := c.err
	c.err = nil
	return err
}
