// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// family accumulates one counter family of flow series. Kernel tables yield
// increments (they are drained on read); family adds each to the series its
// key resolves to now, so its counters only grow.
//
// At most max series are kept. Increments of further label sets go to one
// series whose label values are all __overflow__, so the sum over the family
// stays the truth. Series without increments for the idle TTL are dropped,
// which frees their place in the budget.
type family struct {
	name   string
	desc   *prometheus.Desc
	labels []label // identity labels, then the family's own (e.g. reason)
	// order lists indexes of labels sorted by name: the order client_golang
	// expects label pairs in.
	order []int
	max   int

	series   map[seriesKey]*series
	overflow *series
	// dropped counts increments folded into overflow for lack of budget,
	// expired the series dropped after the idle TTL.
	dropped, expired uint64
}

type series struct {
	labels []*dto.LabelPair // built once, shared read-only by every scrape
	value  uint64
	last   time.Time
}

func newFamily(name, help string, labels []label, max int) *family {
	names := make([]string, len(labels))
	for i, l := range labels {
		names[i] = l.name
	}
	order := make([]int, len(labels))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return labels[order[a]].name < labels[order[b]].name })
	return &family{
		name:   name,
		desc:   prometheus.NewDesc(name, help, names, nil),
		labels: labels,
		order:  order,
		max:    max,
		series: map[seriesKey]*series{},
	}
}

// add counts v for the series of k.
func (f *family) add(k *seriesKey, v uint64, now time.Time) {
	if v == 0 {
		return
	}
	s, ok := f.series[*k]
	if !ok {
		if len(f.series) >= f.max {
			f.dropped++
			f.addOverflow(v, now)
			return
		}
		s = &series{labels: f.labelPairs(func(l *label) string { return l.value(k) })}
		f.series[*k] = s
	}
	s.value += v
	s.last = now
}

// addOverflow counts v for the __overflow__ series.
func (f *family) addOverflow(v uint64, now time.Time) {
	if v == 0 {
		return
	}
	if f.overflow == nil {
		f.overflow = &series{labels: f.labelPairs(func(*label) string { return overflowValue })}
	}
	f.overflow.value += v
	f.overflow.last = now
}

func (f *family) labelPairs(value func(*label) string) []*dto.LabelPair {
	pairs := make([]*dto.LabelPair, len(f.order))
	for i, idx := range f.order {
		l := &f.labels[idx]
		pairs[i] = &dto.LabelPair{Name: proto.String(l.name), Value: proto.String(value(l))}
	}
	return pairs
}

// expire drops series without increments since before now-ttl.
func (f *family) expire(now time.Time, ttl time.Duration) {
	cutoff := now.Add(-ttl)
	for k, s := range f.series {
		if s.last.Before(cutoff) {
			delete(f.series, k)
			f.expired++
		}
	}
	if f.overflow != nil && f.overflow.last.Before(cutoff) {
		f.overflow = nil
		f.expired++
	}
}

// collect sends every series of f.
func (f *family) collect(ch chan<- prometheus.Metric) {
	for _, s := range f.series {
		ch <- &counter{desc: f.desc, labels: s.labels, value: float64(s.value)}
	}
	if f.overflow != nil {
		ch <- &counter{desc: f.desc, labels: f.overflow.labels, value: float64(f.overflow.value)}
	}
}

// counter is a prometheus.Metric over label pairs built once per series:
// prometheus.NewConstMetric would rebuild them on every scrape, which
// dominates the cost of large scrapes.
type counter struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	value  float64
}

func (c *counter) Desc() *prometheus.Desc { return c.desc }

func (c *counter) Write(m *dto.Metric) error {
	m.Label = c.labels
	m.Counter = &dto.Counter{Value: &c.value}
	return nil
}

var (
	seriesDesc = prometheus.NewDesc("podflow_series",
		"Series a flow family exports now, not counting its __overflow__ series.",
		[]string{"family"}, nil)
	seriesLimitDesc = prometheus.NewDesc("podflow_series_limit",
		"Series budget of a flow family (--collector.flows.max-series).",
		[]string{"family"}, nil)
	seriesDroppedDesc = prometheus.NewDesc("podflow_series_dropped_total",
		"Increments of label sets that did not fit the series budget; they were counted in the family's __overflow__ series.",
		[]string{"family"}, nil)
	seriesExpiredDesc = prometheus.NewDesc("podflow_series_expired_total",
		"Series removed after the idle TTL (--collector.flows.idle-ttl) without traffic.",
		[]string{"family"}, nil)
)

func describeFamilyStats(ch chan<- *prometheus.Desc) {
	ch <- seriesDesc
	ch <- seriesLimitDesc
	ch <- seriesDroppedDesc
	ch <- seriesExpiredDesc
}

// collectStats sends f's self-metrics.
func (f *family) collectStats(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(seriesDesc, prometheus.GaugeValue, float64(len(f.series)), f.name)
	ch <- prometheus.MustNewConstMetric(seriesLimitDesc, prometheus.GaugeValue, float64(f.max), f.name)
	ch <- prometheus.MustNewConstMetric(seriesDroppedDesc, prometheus.CounterValue, float64(f.dropped), f.name)
	ch <- prometheus.MustNewConstMetric(seriesExpiredDesc, prometheus.CounterValue, float64(f.expired), f.name)
}
