// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package flow

import (
	"fmt"
	"time"

	"github.com/alecthomas/kingpin/v2"
)

// Config holds the drain pipeline's flags. They keep the --collector.*
// names they had when the collector package drained the tables: they are
// the user's settings of what /metrics counts.
type Config struct {
	// Interval is how often the kernel's tables are drained between
	// scrapes (--collector.drain-interval).
	Interval time.Duration
	// IdleTTL is how long an edge without traffic is remembered: its
	// series and live-view edge stay that long (--collector.flows.idle-ttl).
	IdleTTL time.Duration
	// HoldUnresolved is how long the increments of a flow with a side
	// that cannot be named yet are held back before they are counted as
	// unknown (--collector.flows.hold-unresolved; see naming.Namer).
	HoldUnresolved time.Duration
	// AppProtocol keeps each flow's application protocols apart in its
	// edges (--collector.flows.app-protocol); false sums them into one.
	AppProtocol bool
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

// The defaults of --collector.flows.idle-ttl and
// --collector.flows.hold-unresolved. The API has a pod before kubelet
// creates its cgroup, and a watch delivers it within a second; 2m also
// covers a watch re-established after an API server restart and the first
// list of a large cluster, and is 8 scrapes at Prometheus' usual 15s (2 at
// 1m).
const (
	DefaultIdleTTL        = 5 * time.Minute
	DefaultHoldUnresolved = 2 * time.Minute
)

// DefaultConfig is the Config of the flags' defaults.
func DefaultConfig() Config {
	return Config{Interval: DefaultDrainInterval, IdleTTL: DefaultIdleTTL, HoldUnresolved: DefaultHoldUnresolved, AppProtocol: true}
}

// AddFlags registers the pipeline's flags on app.
func AddFlags(app *kingpin.Application) *Config {
	c := &Config{}
	app.Flag("collector.drain-interval",
		"How often the kernel's tables are drained and their flows named between scrapes (each scrape drains too, so /metrics is always current). Shorter: a livelier live view and smaller kernel tables, more CPU.").
		Default(DefaultDrainInterval.String()).DurationVar(&c.Interval)
	app.Flag("collector.flows.app-protocol",
		"Label the flow and TCP series with app_protocol, the protocol each connection speaks (none before any payload, so a TCP flow that carries payload has two series: its handshakes, and the rest). With --no-collector.flows.app-protocol each flow's protocols are summed into one series.").
		Default("true").BoolVar(&c.AppProtocol)
	app.Flag("collector.flows.idle-ttl",
		"A flow series without traffic for this long is dropped from /metrics, freeing its place in the budget.").
		Default("5m").DurationVar(&c.IdleTTL) // DefaultIdleTTL, as --help has always written it
	app.Flag("collector.flows.hold-unresolved",
		"How long the increments of a flow whose side cannot be named yet (a pod not yet in the Kubernetes cache, the cache not synced) are held back, and asked about again at each drain, before they are counted with that side unknown. 0: count them as unknown at once.").
		Default("2m").DurationVar(&c.HoldUnresolved) // DefaultHoldUnresolved
	return c
}

// Validate reports flag values that cannot work.
func (c *Config) Validate() error {
	if c.Interval < 100*time.Millisecond {
		return fmt.Errorf("--collector.drain-interval must be at least 100ms, got %s", c.Interval)
	}
	if c.IdleTTL <= 0 {
		return fmt.Errorf("--collector.flows.idle-ttl must be positive, got %s", c.IdleTTL)
	}
	if c.HoldUnresolved < 0 {
		return fmt.Errorf("--collector.flows.hold-unresolved must not be negative, got %s", c.HoldUnresolved)
	}
	return nil
}
