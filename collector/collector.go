// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package collector turns what the kernel counted into Prometheus metrics.
// Like node_exporter, it is a set of named collectors, each enabled with
// --[no-]collector.<name>, run concurrently on every scrape and reported by
// podflow_scrape_collector_{duration_seconds,success}. It reads through small
// interfaces (a flow source, a resolver) so it is testable without a kernel.
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
}

// registry is filled by each collector's init and read-only afterwards.
var registry = map[string]registration{}

// flagHelp replaces the generic help of a collector's flag, for
// collectors that switch a feature on or off.
var flagHelp = map[string]string{}

// selfMetrics are the collectors that report on what the others did in the
// same scrape (entries drained, lookups made): they run after the others,
// so that a scrape shows the interval it drained, not the one before.
var selfMetrics = map[string]bool{}

func register(name string, defaultEnabled bool, programs []string, build func(*Config, Sources) (Collector, error)) {
	registry[name] = registration{defaultEnabled: defaultEnabled, programs: programs, build: build}
}

// Config holds the --collector.* flags.
type Config struct {
	enabled map[string]*bool
	// MaxSeries is the series budget of each flow family; histogram
	// families count label sets (each histSeries series).
	MaxSeries int
	// IdleTTL is how long a series without traffic stays exported.
	IdleTTL time.Duration
	// HoldUnresolved is how long the increments of a flow with a side
	// that cannot be named yet are held back before they are counted as
	// unknown (see resolutions).
	HoldUnresolved time.Duration
	// TranslationNetns is the network namespace whose connection
	// tracking holds the node's NAT; empty for the exporter's own.
	TranslationNetns string
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
	app.Flag("collector.flows.max-series",
		"Series budget of each flow family (bytes, packets, TCP events, drops); latency histogram families count label sets, each "+strconv.Itoa(histSeries)+" series. Label sets beyond it are counted in one series whose labels are all __overflow__.").
		Default("5000").IntVar(&c.MaxSeries)
	app.Flag("collector.flows.idle-ttl",
		"A flow series without traffic for this long is dropped from /metrics, freeing its place in the budget.").
		Default("5m").DurationVar(&c.IdleTTL)
	// The API has a pod before kubelet creates its cgroup, and a watch
	// delivers it within a second; 2m also covers a watch re-established
	// after an API server restart and the first list of a large cluster,
	// and is 8 scrapes at Prometheus' usual 15s (2 at 1m).
	app.Flag("collector.flows.hold-unresolved",
		"How long the increments of a flow whose side cannot be named yet (a pod not yet in the Kubernetes cache, the cache not synced) are held back, and asked about again at each scrape, before they are counted with that side unknown. 0: count them as unknown at once.").
		Default("2m").DurationVar(&c.HoldUnresolved)
	app.Flag("collector.translation.netns",
		"Network namespace (a file such as /proc/1/ns/net or /run/netns/NAME) whose connection tracking holds the node's NAT. Default: the exporter's own, which is the node's with hostNetwork. Another one needs CAP_SYS_ADMIN to enter.").
		PlaceHolder("PATH").StringVar(&c.TranslationNetns)
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

// Validate reports flag values that cannot work.
func (c *Config) Validate() error {
	if c.MaxSeries < 1 {
		return fmt.Errorf("--collector.flows.max-series must be at least 1, got %d", c.MaxSeries)
	}
	if c.IdleTTL <= 0 {
		return fmt.Errorf("--collector.flows.idle-ttl must be positive, got %s", c.IdleTTL)
	}
	if c.HoldUnresolved < 0 {
		return fmt.Errorf("--collector.flows.hold-unresolved must not be negative, got %s", c.HoldUnresolved)
	}
	// Checked in host mode too, where it is not used: a typo should not
	// wait for the move to Kubernetes to show.
	if c.TranslationNetns != "" {
		if err := checkNetns(c.TranslationNetns); err != nil {
			return fmt.Errorf("--collector.translation.netns=%s: %w", c.TranslationNetns, err)
		}
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

// Podflow is the prometheus.Collector running every enabled collector.
type Podflow struct {
	collectors map[string]Collector
	logger     log.Logger
}

// errNotApplicable is returned by a collector's build when what it reports
// on does not exist in this mode (the Kubernetes cache in host mode): it is
// left out rather than run to export nothing.
var errNotApplicable = errors.New("not applicable in this mode")

// New builds the enabled collectors, leaving out those that do not apply
// to the sources given.
func New(cfg *Config, src Sources, logger log.Logger) (*Podflow, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Podflow{collectors: map[string]Collector{}, logger: logger}
	for _, name := range cfg.Enabled() {
		c, err := registry[name].build(cfg, src)
		if errors.Is(err, errNotApplicable) {
			level.Debug(logger).Log("msg", "collector enabled but not applicable: not run", "collector", name)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("collector %s: %w", name, err)
		}
		p.collectors[name] = c
	}
	return p, nil
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
	for _, c := range p.collectors {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector. The collectors that drain the
// kernel's tables run concurrently; then those reporting on them.
func (p *Podflow) Collect(ch chan<- prometheus.Metric) {
	for _, self := range []bool{false, true} {
		var wg sync.WaitGroup
		for name, c := range p.collectors {
			if selfMetrics[name] != self {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.execute(name, c, ch)
			}()
		}
		wg.Wait()
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
