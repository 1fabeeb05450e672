// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
)

// TranslationStatus reports on the translation of connections to services
// into the backends that served them.
type TranslationStatus interface {
	TranslationStats() TranslationStats
}

// TranslationStats describe translation for self-monitoring.
type TranslationStats struct {
	// Available says the node's connection tracking answers.
	Available bool
	// Lookups counts lookups in the connection tracking table by outcome
	// (translated, not_found, error).
	Lookups      map[string]uint64
	CacheEntries int
	// Frontends is the number of service frontends in the kernel's table.
	Frontends int
}

func init() {
	// No programs of its own: flows_*, tcp_state and tcp_rtt keep the
	// connections apart when the loader is told to translate.
	register("translation", true, nil, newTranslationCollector)
	flagHelp["translation"] = "Translate each connection to a service (cluster, external, load-balancer IP, node port) into the backend pod that served it, from the node's connection tracking: flows then name that pod, remote_service the service, port the backend's port. Kubernetes mode only (default: enabled)."
}

var (
	translationAvailableDesc = prometheus.NewDesc("podflow_translation_available",
		"Whether the node's connection tracking answers (1); at 0 (the log says why) connections to services are named by the service only.",
		nil, nil)
	translationLookupsDesc = prometheus.NewDesc("podflow_translation_lookups_total",
		"Connections to services looked up in the node's connection tracking (each once; answers are cached), by outcome: translated, not_found (no entry, e.g. expired before the scrape: named by the service), error.",
		[]string{"outcome"}, nil)
	translationCacheDesc = prometheus.NewDesc("podflow_translation_cache_entries",
		"Connections whose translation (or its failure) is cached.",
		nil, nil)
	translationFrontendsDesc = prometheus.NewDesc("podflow_translation_frontends",
		"Service frontends (address, port, protocol) whose connections the kernel keeps apart for translation.",
		nil, nil)
)

// translationCollector exports the health of translation. In host mode
// there is none to report on, and it is not run.
type translationCollector struct {
	status TranslationStatus
}

func newTranslationCollector(_ *Config, src Sources) (Collector, error) {
	if src.Translation == nil {
		return nil, errNotApplicable
	}
	return &translationCollector{status: src.Translation}, nil
}

func (c *translationCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- translationAvailableDesc
	ch <- translationLookupsDesc
	ch <- translationCacheDesc
	ch <- translationFrontendsDesc
}

func (c *translationCollector) Update(ch chan<- prometheus.Metric) error {
	st := c.status.TranslationStats()
	available := 0.0
	if st.Available {
		available = 1
	}
	ch <- prometheus.MustNewConstMetric(translationAvailableDesc, prometheus.GaugeValue, available)
	outcomes := make([]string, 0, len(st.Lookups))
	for o := range st.Lookups {
		outcomes = append(outcomes, o)
	}
	sort.Strings(outcomes)
	for _, o := range outcomes {
		ch <- prometheus.MustNewConstMetric(translationLookupsDesc, prometheus.CounterValue, float64(st.Lookups[o]), o)
	}
	ch <- prometheus.MustNewConstMetric(translationCacheDesc, prometheus.GaugeValue, float64(st.CacheEntries))
	ch <- prometheus.MustNewConstMetric(translationFrontendsDesc, prometheus.GaugeValue, float64(st.Frontends))
	return nil
}
