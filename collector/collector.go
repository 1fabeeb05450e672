// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package collector turns what the kernel counted into Prometheus metrics.
// A Drainer owns the kernel's tables: it drains them on a ticker and at each
// scrape, names each drain's flows once (a Resolver) and hands the named
// increments to its subscribers — the series behind /metrics, and any live
// view. Like node_exporter, the metrics are a set of named collectors, each
// enabled with --[no-]collector.<name>, run concurrently on every scrape and
// reported by podflow_scrape_collector_{duration_seconds,success}. It reads
// through small interfaces (a flow source, a resolver) so it is testable
// without a kernel.
package collector

import (
	"context"
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
	Flows   FlowSource
	TCP     TCPSource
	Latency LatencySource
	Drops   DropSource
	// Requests is the DNS and HTTP requests table, which the dns and
	// http collectors share.
	Requests RequestSource
	// DropReasons names the kernel's drop reasons (bpf.DropReasons); a
	// reason it lacks is exported as UNKNOWN.
	DropReasons map[uint32]string
	Tracer      TracerStatus
	// Kube is the Kubernetes cache's status; nil in host mode.
	Kube KubeStatus
	// Translation is the status of translation; nil when it is off.
	Translation TranslationStatus
	Resolver    Resolver
	// Schema is the label schema the resolver fills.
	Schema Schema
}

type registration struct {
	defaultEnabled bool
	// programs are the eBPF programs the collector reads from.
	programs []string
	build    func(*Config, Sources) (Collector, error)
	// drained says the collector reads kernel tables, drained by the
	// Drainer: tables (the first its own, whose resolution stats it
	// reports; e.g. the dns collector's histogram is in the latency
	// table), and how to build its family.
	drained bool
	tables  []bpf.Table
	family  func(*Config, Sources) (drainedFamily, error)
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
func registerDrained(name string, tables []bpf.Table, programs []string, family func(*Config, Sources) (drainedFamily, error)) {
	registry[name] = registration{defaultEnabled: true, programs: programs, drained: true, tables: tables, family: family}
}

// Config holds the --collector.* flags.
type Config struct {
	enabled map[string]*bool
	// MaxSeries is the series budget of each flow family; histogram
	// families count label sets (each histSeries series).
	MaxSeries int
	// DrainInterval is how often the kernel's tables are drained between
	// scrapes.
	DrainInterval time.Duration
	// IdleTTL is how long a series without traffic stays exported.
	IdleTTL time.Duration
	// HoldUnresolved is how long the increments of a flow with a side
	// that cannot be named yet are held back before they are counted as
	// unknown (see resolutions).
	HoldUnresolved time.Duration
	// deprecatedMaxSeries is --collector.flows.max-series, the old name
	// of --collector.max-series-per-family, if given.
	deprecatedMaxSeries    int
	deprecatedMaxSeriesSet bool
	maxSeriesSet           bool
	// budgetFlag is the flag that set MaxSeries, for errors; budgetConflict
	// says both names were given.
	budgetFlag     string
	budgetConflict bool
	// WithoutAppProtocol drops app_protocol from the flow and TCP
	// families, summing each flow's protocols into one series
	// (--no-collector.flows.app-protocol; Validate sets it).
	WithoutAppProtocol bool
	appProtocol        *bool // the flag, when AddFlags made it
}

// AddFlags registers --[no-]collector.<name> for every collector and the
// options of the flow collectors.
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
	// See DefaultDrainInterval for the measured cost behind the default.
	app.Flag("collector.drain-interval",
		"How often the kernel's tables are drained and their flows named between scrapes (each scrape drains too, so /metrics is always current). Shorter: a livelier live view and smaller kernel tables, more CPU.").
		Default(DefaultDrainInterval.String()).DurationVar(&c.DrainInterval)
	c.appProtocol = app.Flag("collector.flows.app-protocol",
		"Label the flow and TCP series with app_protocol, the protocol each connection speaks (none before any payload, so a TCP flow that carries payload has two series: its handshakes, and the rest). With --no-collector.flows.app-protocol each flow's protocols are summed into one series.").
		Default("true").Bool()
	app.Flag("collector.flows.idle-ttl",
		"A flow series without traffic for this long is dropped from /metrics, freeing its place in the budget.").
		Default("5m").DurationVar(&c.IdleTTL)
	// The API has a pod before kubelet creates its cgroup, and a watch
	// delivers it within a second; 2m also covers a watch re-established
	// after an API server restart and the first list of a large cluster,
	// and is 8 scrapes at Prometheus' usual 15s (2 at 1m).
	app.Flag("collector.flows.hold-unresolved",
		"How long the increments of a flow whose side cannot be named yet (a pod not yet in the Kubernetes cache, the cache not synced) are held back, and asked about again at each drain, before they are counted with that side unknown. 0: count them as unknown at once.").
		Default("2m").DurationVar(&c.HoldUnresolved)
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
	if c.appProtocol != nil {
		c.WithoutAppProtocol = !*c.appProtocol
	}
	if c.budgetConflict {
		return errors.New("--collector.flows.max-series and --collector.max-series-per-family are one setting (the first is the deprecated name of the second): give only --collector.max-series-per-family")
	}
	if c.MaxSeries < 1 {
		return fmt.Errorf("%s must be at least 1, got %d", c.budgetFlag, c.MaxSeries)
	}
	if c.DrainInterval < 100*time.Millisecond {
		return fmt.Errorf("--collector.drain-interval must be at least 100ms, got %s", c.DrainInterval)
	}
	if c.IdleTTL <= 0 {
		return fmt.Errorf("--collector.flows.idle-ttl must be positive, got %s", c.IdleTTL)
	}
	if c.HoldUnresolved < 0 {
		return fmt.Errorf("--collector.flows.hold-unresolved must not be negative, got %s", c.HoldUnresolved)
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

// Podflow is the prometheus.Collector running every enabled collector. It
// subscribes the drained ones to its Drainer.
type Podflow struct {
	collectors map[string]Collector
	drained    []*drainedCollector
	drain      *Drainer
	sub        *subscription
	logger     log.Logger
}

// errNotApplicable is returned by a collector's build when what it reports
// on does not exist in this mode (the Kubernetes cache in host mode): it is
// left out rather than run to export nothing.
var errNotApplicable = errors.New("not applicable in this mode")

// New builds the enabled collectors, leaving out those that do not apply
// to the sources given, and the Drainer of their tables. Close releases it.
func New(cfg *Config, src Sources, logger log.Logger) (*Podflow, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Podflow{collectors: map[string]Collector{}, logger: logger}
	drained := Sources{Resolver: src.Resolver}
	for _, name := range cfg.Enabled() {
		r := registry[name]
		var c Collector
		var err error
		if r.drained {
			var f drainedFamily
			if f, err = r.family(cfg, src); err == nil {
				dc := newDrained(name, r.tables, f, cfg)
				p.drained = append(p.drained, dc)
				c = dc
				for _, t := range r.tables {
					drained.setSource(t, src)
				}
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
	p.drain = newDrainer(drained, cfg, logger)
	for _, dc := range p.drained {
		dc.drain = p.drain
	}
	p.sub = p.drain.subscribe("metrics", p)
	return p, nil
}

// setSource copies the source of table t from src.
func (s *Sources) setSource(t bpf.Table, src Sources) {
	switch t {
	case bpf.TableFlows:
		s.Flows = src.Flows
	case bpf.TableTCP:
		s.TCP = src.TCP
	case bpf.TableLatency:
		s.Latency = src.Latency
	case bpf.TableDrops:
		s.Drops = src.Drops
	case bpf.TableRequests:
		s.Requests = src.Requests
	}
}

// Drainer returns the drainer of the kernel's tables, to subscribe to.
func (p *Podflow) Drainer() *Drainer { return p.drain }

// Run drains the kernel's tables every interval until ctx ends.
func (p *Podflow) Run(ctx context.Context, interval time.Duration) {
	p.drain.Run(ctx, interval)
}

// Close stops consuming drains.
func (p *Podflow) Close() { p.drain.unsubscribe(p.sub) }

// Consume implements Subscriber: each drain's increments go to the
// series of the drained collectors.
func (p *Podflow) Consume(b *Batch) {
	for _, c := range p.drained {
		c.consume(b)
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
	describeDrainStats(ch)
	for _, c := range p.collectors {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector. It drains the kernel's tables
// (or joins a drain running now), waits until the drain's increments are in
// the series, then runs every collector concurrently.
func (p *Podflow) Collect(ch chan<- prometheus.Metric) {
	p.sub.wait(p.drain.Sync(TriggerScrape))
	var wg sync.WaitGroup
	for name, c := range p.collectors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.execute(name, c, ch)
		}()
	}
	wg.Wait()
	p.drain.collectStats(ch)
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
