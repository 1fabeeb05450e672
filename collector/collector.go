// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package collector turns what the kernel counted into Prometheus metrics.
// The collectors of kernel tables subscribe to the drain pipeline (package
// flow) and keep the series behind /metrics from its named increments; the
// others report on the exporter's own parts (the eBPF programs, the
// Kubernetes cache, translation). Like node_exporter, the metrics are a set
// of named collectors, each enabled with --[no-]collector.<name>, run
// concurrently on every scrape and reported by
// podflow_scrape_collector_{duration_seconds,success}. It reads through
// small interfaces (a pipeline, a tracer's status) so it is testable
// without a kernel.
package collector

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/naming"
)

// Collector is one named source of metrics.
type Collector interface {
	// Describe sends every descriptor Update can send.
	Describe(ch chan<- *prometheus.Desc)
	// Update sends the current metrics. On error it still sends what it
	// has, so one failed read does not make every series go stale.
	Update(ch chan<- prometheus.Metric) error
}

// Sources are what collectors read from; main wires them.
type Sources struct {
	// Pipeline drains the tables the drained collectors read
	// (Config.Tables) and names their flows.
	Pipeline Pipeline
	// DropReasons names the kernel's drop reasons (bpf.DropReasons); a
	// reason it lacks is exported as UNKNOWN.
	DropReasons map[uint32]string
	Tracer      TracerStatus
	// Kube is the Kubernetes cache's status; nil in host mode.
	Kube KubeStatus
	// Translation is the status of translation; nil when it is off.
	Translation TranslationStatus
}

// Pipeline is the drain pipeline (flow.Drainer): the drained collectors
// subscribe to it, and each scrape drains it first.
type Pipeline interface {
	Subscribe(name string, s flow.Subscriber) *flow.Subscription
	Sync(trigger string) uint64
	// Tables lists the tables it drains.
	Tables() []bpf.Table
	// Schema is the label schema of its edges.
	Schema() naming.Schema
	// IdleTTL is how long an edge without increments is remembered: its
	// series are removed after as long.
	IdleTTL() time.Duration
	HoldStats(t bpf.Table) naming.HoldStats
	Stats() flow.Stats
}

type registration struct {
	defaultEnabled bool
	// programs are the eBPF programs the collector reads from.
	programs []string
	build    func(*Config, Sources) (Collector, error)
	// drained says the collector reads kernel tables, drained by the
	// pipeline: tables (the first its own, whose resolution stats it
	// reports; e.g. the dns collector's histogram is in the latency
	// table), and how to build its family from the edges' schema.
	drained bool
	tables  []bpf.Table
	family  func(*Config, naming.Schema, Sources) (drainedFamily, error)
}

// registry is filled by each collector's init and read-only afterwards.
var registry = map[string]registration{}

// flagHelp replaces the generic help of a collector's flag, for
// collectors that switch a feature on or off.
var flagHelp = map[string]string{}

func register(name string, defaultEnabled bool, programs []string, build func(*Config, Sources) (Collector, error)) {
	registry[name] = registration{defaultEnabled: defaultEnabled, programs: programs, build: build}
}

// registerDrained registers the collector of kernel tables, enabled by
// default. A table read by several collectors is drained once per drain,
// each collector taking its part of it.
func registerDrained(name string, tables []bpf.Table, programs []string, family func(*Config, naming.Schema, Sources) (drainedFamily, error)) {
	registry[name] = registration{defaultEnabled: true, programs: programs, drained: true, tables: tables, family: family}
}

// Config holds the --collector.* flags.
type Config struct {
	enabled map[string]*bool
	// MaxSeries is the series budget of each flow family; histogram
	// families count label sets (each histSeries series).
	MaxSeries int
	// deprecatedMaxSeries is --collector.flows.max-series, the old name
	// of --collector.max-series-per-family, if given.
	deprecatedMaxSeries    int
	deprecatedMaxSeriesSet bool
	maxSeriesSet           bool
	// budgetFlag is the flag that set MaxSeries, for errors; budgetConflict
	// says both names were given.
	budgetFlag     string
	budgetConflict bool
}

// AddFlags registers --[no-]collector.<name> for every collector and the
// series budget. The pipeline's --collector.* flags are flow.AddFlags'.
func AddFlags(app *kingpin.Application) *Config {
	c := &Config{enabled: map[string]*bool{}}
	for _, name := range sortedNames() {
		r := registry[name]
		state := "disabled"
		if r.defaultEnabled {
			state = "enabled"
		}
		help := fmt.Sprintf("Enable the %s collector (default: %s).", name, state)
		if h, ok := flagHelp[name]; ok {
			help = h
		}
		c.enabled[name] = app.Flag("collector."+name, help).
			Default(strconv.FormatBool(r.defaultEnabled)).Bool()
	}
	app.Flag("collector.max-series-per-family",
		"Series budget of each metric family of flows (bytes, packets, TCP events, drops, DNS and HTTP requests); histogram families count label sets, each "+strconv.Itoa(histSeries)+" series. Label sets beyond it are counted in one series whose labels are all __overflow__.").
		Default("5000").IsSetByUser(&c.maxSeriesSet).IntVar(&c.MaxSeries)
	app.Flag("collector.flows.max-series", "Deprecated: use --collector.max-series-per-family.").
		Hidden().IsSetByUser(&c.deprecatedMaxSeriesSet).IntVar(&c.deprecatedMaxSeries)
	return c
}

func sortedNames() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Deprecated returns a warning for each deprecated flag given, after
// applying it (unless its new name was given too, which Validate refuses).
func (c *Config) Deprecated() []string {
	if c.budgetFlag == "" {
		c.budgetFlag = "--collector.max-series-per-family"
	}
	if !c.deprecatedMaxSeriesSet {
		return nil
	}
	c.deprecatedMaxSeriesSet = false
	if c.maxSeriesSet {
		c.budgetConflict = true
		return nil
	}
	c.MaxSeries = c.deprecatedMaxSeries
	c.budgetFlag = "--collector.flows.max-series"
	return []string{"--collector.flows.max-series is deprecated: it budgets every family; use --collector.max-series-per-family"}
}

// Validate reports flag values that cannot work.
func (c *Config) Validate() error {
	c.Deprecated()
	if c.budgetConflict {
		return errors.New("--collector.flows.max-series and --collector.max-series-per-family are one setting (the first is the deprecated name of the second): give only --collector.max-series-per-family")
	}
	if c.MaxSeries < 1 {
		return fmt.Errorf("%s must be at least 1, got %d", c.budgetFlag, c.MaxSeries)
	}
	return nil
}

// Enabled lists the enabled collectors, sorted.
func (c *Config) Enabled() []string {
	var names []string
	for _, n := range sortedNames() {
		if p := c.enabled[n]; p != nil && *p {
			names = append(names, n)
		}
	}
	return names
}

// IsEnabled reports whether the named collector is enabled.
func (c *Config) IsEnabled(name string) bool {
	return slices.Contains(c.Enabled(), name)
}

// Tables lists, in table order, the kernel tables the enabled collectors
// read: the tables to drain.
func (c *Config) Tables() []bpf.Table {
	var need [bpf.NumTables]bool
	for _, n := range c.Enabled() {
		for _, t := range registry[n].tables {
			need[t] = true
		}
	}
	var ids []bpf.Table
	for t, ok := range need {
		if ok {
			ids = append(ids, bpf.Table(t))
		}
	}
	return ids
}

// Programs lists the eBPF programs the enabled collectors need.
func (c *Config) Programs() []string {
	var progs []string
	for _, n := range c.Enabled() {
		for _, p := range registry[n].programs {
			if !slices.Contains(progs, p) {
				progs = append(progs, p)
			}
		}
	}
	return progs
}

var (
	scrapeDurationDesc = prometheus.NewDesc("podflow_scrape_collector_duration_seconds",
		"podflow_exporter: Duration of a collector scrape.", []string{"collector"}, nil)
	scrapeSuccessDesc = prometheus.NewDesc("podflow_scrape_collector_success",
		"podflow_exporter: Whether a collector succeeded.", []string{"collector"}, nil)
)

// Podflow is the prometheus.Collector running every enabled collector. At
// each scrape it drains the pipeline and waits until its series consumed
// the drain.
type Podflow struct {
	collectors map[string]Collector
	pipeline   Pipeline
	// sub is the subscription of the series of the drained collectors.
	sub    *flow.Subscription
	logger log.Logger
}

// errNotApplicable is returned by a collector's build when what it reports
// on does not exist in this mode (the Kubernetes cache in host mode): it is
// left out rather than run to export nothing.
var errNotApplicable = errors.New("not applicable in this mode")

// New builds the enabled collectors, leaving out those that do not apply
// to the sources given, and subscribes the drained ones to the pipeline.
// Close unsubscribes them.
func New(cfg *Config, src Sources, logger log.Logger) (*Podflow, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Podflow{collectors: map[string]Collector{}, pipeline: src.Pipeline, logger: logger}
	var drained seriesStores
	for _, name := range cfg.Enabled() {
		r := registry[name]
		var c Collector
		var err error
		if r.drained {
			var dc *drainedCollector
			if dc, err = newDrained(name, r, cfg, src); err == nil {
				drained = append(drained, dc)
				c = dc
			}
		} else {
			c, err = r.build(cfg, src)
		}
		if errors.Is(err, errNotApplicable) {
			level.Debug(logger).Log("msg", "collector enabled but not applicable: not run", "collector", name)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("collector %s: %w", name, err)
		}
		p.collectors[name] = c
	}
	if src.Pipeline != nil {
		p.sub = src.Pipeline.Subscribe("metrics", drained)
	}
	return p, nil
}

// seriesStores are the drained collectors: together, a subscriber of the
// pipeline.
type seriesStores []*drainedCollector

// Consume implements flow.Subscriber: each drain's increments go to the
// series of the drained collectors.
func (s seriesStores) Consume(b *flow.Batch) {
	for _, c := range s {
		c.consume(b)
	}
}

// Close stops consuming drains.
func (p *Podflow) Close() {
	if p.sub != nil {
		p.sub.Cancel()
	}
}

// Running lists, sorted, the collectors that run on each scrape.
func (p *Podflow) Running() []string {
	names := make([]string, 0, len(p.collectors))
	for n := range p.collectors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Describe implements prometheus.Collector.
func (p *Podflow) Describe(ch chan<- *prometheus.Desc) {
	ch <- scrapeDurationDesc
	ch <- scrapeSuccessDesc
	if p.pipeline != nil {
		describePipelineStats(ch)
	}
	for _, c := range p.collectors {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector. It drains the kernel's tables
// (or joins a drain running now), waits until the drain's increments are in
// the series, then runs every collector concurrently.
func (p *Podflow) Collect(ch chan<- prometheus.Metric) {
	if p.pipeline != nil {
		p.sub.Wait(p.pipeline.Sync(flow.TriggerScrape))
	}
	var wg sync.WaitGroup
	for name, c := range p.collectors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.execute(name, c, ch)
		}()
	}
	wg.Wait()
	if p.pipeline != nil {
		collectPipelineStats(ch, p.pipeline.Stats())
	}
}

func (p *Podflow) execute(name string, c Collector, ch chan<- prometheus.Metric) {
	start := time.Now()
	err := c.Update(ch)
	duration := time.Since(start)
	success := 1.0
	if err != nil {
		success = 0
		level.Error(p.logger).Log("msg", "collector failed", "collector", name, "duration_seconds", duration.Seconds(), "err", err)
	} else {
		level.Debug(p.logger).Log("msg", "collector succeeded", "collector", name, "duration_seconds", duration.Seconds())
	}
	ch <- prometheus.MustNewConstMetric(scrapeDurationDesc, prometheus.GaugeValue, duration.Seconds(), name)
	ch <- prometheus.MustNewConstMetric(scrapeSuccessDesc, prometheus.GaugeValue, success, name)
}

// errNoSource is returned by a collector built without the source it reads.
var errNoSource = errors.New("no source to read from")
