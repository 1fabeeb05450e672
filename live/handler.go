// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package live

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Config holds the --web.live-view flags.
type Config struct {
	Enabled    bool
	MaxClients int
	// PrometheusURL is the Prometheus that scope=cluster queries.
	PrometheusURL string
}

// AddFlags registers the --web.live-view flags.
func AddFlags(app *kingpin.Application) *Config {
	c := &Config{}
	app.Flag("web.live-view",
		"Serve the live view: the page /flows, the JSON snapshot /api/v1/flows and the stream /api/v1/flows/stream (they show what /metrics does, behind the same --web.config.file) (default: enabled).").
		Default("true").BoolVar(&c.Enabled)
	app.Flag("web.live-view.max-clients",
		"Streams of /api/v1/flows/stream served at once; more are refused with 503. Each holds at most one pending delta per edge.").
		Default("16").IntVar(&c.MaxClients)
	app.Flag("web.live-view.prometheus-url",
		"URL of a Prometheus that scrapes every node's exporter and has the shipped recording rules: the live view can then show the cluster-wide map, queried by the exporter (the browser needs no access to Prometheus). Empty: this node only.").
		Default("").StringVar(&c.PrometheusURL)
	return c
}

// Validate reports flag values that cannot work.
func (c *Config) Validate() error {
	if c.MaxClients < 1 {
		return fmt.Errorf("--web.live-view.max-clients must be at least 1, got %d", c.MaxClients)
	}
	if c.PrometheusURL != "" {
		u, err := url.Parse(c.PrometheusURL)
		if err != nil {
			return fmt.Errorf("--web.live-view.prometheus-url: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--web.live-view.prometheus-url=%s: must be an http:// or https:// URL with a host", c.PrometheusURL)
		}
	}
	return nil
}

// DefaultTop is how many edges a snapshot lists unless asked otherwise.
const DefaultTop = 100

// ServeSnapshot serves GET /api/v1/flows.
func (m *Model) ServeSnapshot(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	top := DefaultTop
	if s := q.Get("top"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			http.Error(w, fmt.Sprintf("top=%s: want a number of edges, 0 for all", s), http.StatusBadRequest)
			return
		}
		top = n
	}
	var snap Snapshot
	switch q.Get("scope") {
	case "", "node":
		m.mu.Lock()
		snap = m.snapshot(top)
		m.mu.Unlock()
	case "cluster":
		if m.opts.Cluster == nil {
			http.Error(w, "scope=cluster needs --web.live-view.prometheus-url", http.StatusBadRequest)
			return
		}
		var err error
		snap, err = m.opts.Cluster.Snapshot(r.Context(), top)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		snap.LabelNames = clusterLabels
	default:
		http.Error(w, fmt.Sprintf("scope=%s: want node or cluster", q.Get("scope")), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_ = json.NewEncoder(w).Encode(snap) // an error is the client gone
}

// Routes are the API's paths, for the exporter's mux.
func (m *Model) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"/api/v1/flows":        m.ServeSnapshot,
		"/api/v1/flows/stream": m.ServeStream,
	}
}

var (
	clientsDesc = prometheus.NewDesc("podflow_live_view_clients",
		"Streams of /api/v1/flows/stream connected now.", nil, nil)
	messagesDesc = prometheus.NewDesc("podflow_live_view_messages_total",
		"Events sent to streams of /api/v1/flows/stream: snapshots and deltas.", nil, nil)
	mergesDesc = prometheus.NewDesc("podflow_live_view_merged_messages_total",
		"Deltas merged with the next for a stream that fell behind (nothing is lost: the merged delta sums them).", nil, nil)
	rejectedDesc = prometheus.NewDesc("podflow_live_view_rejected_clients_total",
		"Streams refused with 503 because --web.live-view.max-clients were open.", nil, nil)
	edgesDesc = prometheus.NewDesc("podflow_live_view_edges",
		"Edges the live view holds (the __overflow__ edge included).", nil, nil)
	overflowedDesc = prometheus.NewDesc("podflow_live_view_overflow_increments_total",
		"Increments of new edges counted in the live view's __overflow__ edge because it held --collector.max-series-per-family edges.", nil, nil)
)

// Describe implements prometheus.Collector: the live view's self-metrics.
func (m *Model) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{clientsDesc, messagesDesc, mergesDesc, rejectedDesc, edgesDesc, overflowedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Model) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	st, clients, edges := m.stats, len(m.clients), len(m.edges)
	if m.overflow != nil {
		edges++
	}
	m.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(clientsDesc, prometheus.GaugeValue, float64(clients))
	ch <- prometheus.MustNewConstMetric(messagesDesc, prometheus.CounterValue, float64(st.messages))
	ch <- prometheus.MustNewConstMetric(mergesDesc, prometheus.CounterValue, float64(st.merges))
	ch <- prometheus.MustNewConstMetric(rejectedDesc, prometheus.CounterValue, float64(st.rejected))
	ch <- prometheus.MustNewConstMetric(edgesDesc, prometheus.GaugeValue, float64(edges))
	ch <- prometheus.MustNewConstMetric(overflowedDesc, prometheus.CounterValue, float64(st.overflowed))
}
