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

// maxColumns is the most families one table holds.
const maxColumns = 4

// family is one metric family of a table, with its own series budget and
// the counts its self-metrics export.
type family struct {
	name string
	desc *prometheus.Desc
	max  int

	admitted int // label sets of this family now
	// overflowLast is when the __overflow__ series, which counts what did
	// not fit (the budget, or a full kernel table), last grew (zero: no
	// overflow series).
	overflowLast int64
	// dropped counts increments folded into overflow for lack of budget,
	// expired the series removed after the idle TTL.
	dropped, expired uint64
}

func newFamily(spec columnSpec, labels labelSet, max int) family {
	return family{name: spec.name, desc: prometheus.NewDesc(spec.name, spec.help, labels.names(), nil), max: max}
}

// expireOverflow reports whether the __overflow__ series has had no
// increment since cutoff, and if so removes it.
func (f *family) expireOverflow(cutoff int64) bool {
	if f.overflowLast == 0 || f.overflowLast >= cutoff {
		return false
	}
	f.overflowLast = 0
	f.expired++
	return true
}

// column is one counter family of a table.
type column struct {
	family
	overflow uint64 // the value of the __overflow__ series
}

// table accumulates the series of families that share one label schema,
// one row per label set. Kernel tables yield increments (they are drained
// on read); table adds each to the row its key resolves to now, so counters
// only grow.
//
// Each family (column) admits at most max series; a row exists once some
// family admitted it. Increments a family cannot admit go to its
// __overflow__ series, so the sum over a family stays the truth. Rows
// without increments for the idle TTL are removed, freeing their places.
type table struct {
	labelSet
	columns []*column
	// overflowLabels are the label pairs of every __overflow__ series.
	overflowLabels []*dto.LabelPair

	index map[seriesKey]int32
	rows  []row
	peers peers
}

type row struct {
	key      seriesKey
	labels   []*dto.LabelPair // built once, shared read-only by every scrape
	values   [maxColumns]uint64
	admitted uint8 // bit c: family c has a series for this row
	last     int64 // unix nanoseconds of the last increment
}

// columnSpec names a family of a table.
type columnSpec struct{ name, help string }

func newTable(labels []label, max int, cols ...columnSpec) *table {
	t := &table{labelSet: newLabelSet(labels), index: map[seriesKey]int32{}, peers: newPeers()}
	for _, c := range cols {
		t.columns = append(t.columns, &column{family: newFamily(c, t.labelSet, max)})
	}
	t.overflowLabels = t.pairs(func(*label) string { return overflowValue })
	return t
}

// key builds the series key of an identity pair and connection facts,
// interning the identities.
func (t *table) key(local, remote Peer, facts seriesKey, now int64) seriesKey {
	facts.local = t.peers.id(local, now)
	facts.remote = t.peers.id(remote, now)
	return facts
}

// add counts vals[c] for family c of the row of k.
func (t *table) add(k *seriesKey, vals *[maxColumns]uint64, now int64) {
	if i, ok := t.index[*k]; ok {
		r := &t.rows[i]
		for c, col := range t.columns {
			v := vals[c]
			switch {
			case v == 0:
			case r.admitted&(1<<c) != 0:
				r.values[c] += v
				r.last = now
			case col.admitted < col.max:
				col.admitted++
				r.admitted |= 1 << c
				r.values[c] = v
				r.last = now
			default:
				col.drop(v, now)
			}
		}
		return
	}
	var admitted uint8
	for c, col := range t.columns {
		if vals[c] != 0 && col.admitted < col.max {
			admitted |= 1 << c
		}
	}
	for c, col := range t.columns {
		if vals[c] != 0 && admitted&(1<<c) == 0 {
			col.drop(vals[c], now)
		}
	}
	if admitted == 0 {
		return
	}
	r := row{key: *k, admitted: admitted, last: now}
	for c, col := range t.columns {
		if admitted&(1<<c) != 0 {
			col.admitted++
			r.values[c] = vals[c]
		}
	}
	key := *k // a copy, so that only this rare path pays for the closure's escape
	r.labels = t.pairs(func(l *label) string { return l.value(&key, &t.peers) })
	t.index[*k] = int32(len(t.rows))
	t.rows = append(t.rows, r)
}

// drop folds an increment into the family's __overflow__ series for lack of budget.
func (c *column) drop(v uint64, now int64) {
	c.dropped++
	c.addOverflow(v, now)
}

// addOverflow counts v in the __overflow__ series.
func (c *column) addOverflow(v uint64, now int64) {
	if v == 0 {
		return
	}
	c.overflow += v
	c.overflowLast = now
}

// labelSet is the label schema of a table.
type labelSet struct {
	labels []label // identity labels, then the table's own (e.g. reason)
	order  []int   // indexes of labels sorted by name, as client_golang wants pairs
}

func newLabelSet(labels []label) labelSet {
	s := labelSet{labels: labels, order: make([]int, len(labels))}
	for i := range s.order {
		s.order[i] = i
	}
	sort.Slice(s.order, func(a, b int) bool { return labels[s.order[a]].name < labels[s.order[b]].name })
	return s
}

func (s *labelSet) names() []string {
	names := make([]string, len(s.labels))
	for i, l := range s.labels {
		names[i] = l.name
	}
	return names
}

// pairs builds the label pairs of one series, sorted by name.
func (s *labelSet) pairs(value func(*label) string) []*dto.LabelPair {
	pairs := make([]*dto.LabelPair, len(s.order))
	for i, idx := range s.order {
		l := &s.labels[idx]
		pairs[i] = &dto.LabelPair{Name: proto.String(l.name), Value: proto.String(value(l))}
	}
	return pairs
}

// expire removes rows, overflow series and identities without increments
// since now-ttl.
func (t *table) expire(now int64, ttl time.Duration) {
	cutoff := now - int64(ttl)
	for i := 0; i < len(t.rows); {
		r := &t.rows[i]
		if r.last >= cutoff {
			i++
			continue
		}
		for c, col := range t.columns {
			if r.admitted&(1<<c) != 0 {
				col.admitted--
				col.expired++
			}
		}
		t.rows = swapRemove(t.rows, t.index, i, func(r *row) seriesKey { return r.key })
	}
	for _, col := range t.columns {
		if col.expireOverflow(cutoff) {
			col.overflow = 0
		}
	}
	// Rows are gone first: an identity unused since the cutoff is in no
	// row left (each use of a row uses its identities).
	t.peers.expire(cutoff)
}

// collect sends every series of every family. The metrics of one scrape
// share one allocation.
func (t *table) collect(ch chan<- prometheus.Metric) {
	n := 0
	for _, col := range t.columns {
		n += col.series()
	}
	slab := make([]counter, 0, n)
	send := func(desc *prometheus.Desc, labels []*dto.LabelPair, v uint64) {
		slab = append(slab, counter{desc: desc, labels: labels, value: float64(v)})
		ch <- &slab[len(slab)-1]
	}
	for i := range t.rows {
		r := &t.rows[i]
		for c, col := range t.columns {
			if r.admitted&(1<<c) != 0 {
				send(col.desc, r.labels, r.values[c])
			}
		}
	}
	for _, col := range t.columns {
		if col.overflowLast != 0 {
			send(col.desc, t.overflowLabels, col.overflow)
		}
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

// describe sends the descriptors of every family of t.
func (t *table) describe(ch chan<- *prometheus.Desc) {
	for _, col := range t.columns {
		ch <- col.desc
	}
}

var (
	seriesDesc = prometheus.NewDesc("podflow_series",
		"Series a flow family exports now, not counting its __overflow__ series; label sets for a histogram family.",
		[]string{"family"}, nil)
	seriesLimitDesc = prometheus.NewDesc("podflow_series_limit",
		"Series budget of a flow family (--collector.flows.max-series); label sets for a histogram family.",
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

// collectStats sends the self-metrics of every family of t.
func (t *table) collectStats(ch chan<- prometheus.Metric) {
	for _, c := range t.columns {
		c.collectStats(ch)
	}
}

// collectStats sends the self-metrics of f.
func (f *family) collectStats(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(seriesDesc, prometheus.GaugeValue, float64(f.admitted), f.name)
	ch <- prometheus.MustNewConstMetric(seriesLimitDesc, prometheus.GaugeValue, float64(f.max), f.name)
	ch <- prometheus.MustNewConstMetric(seriesDroppedDesc, prometheus.CounterValue, float64(f.dropped), f.name)
	ch <- prometheus.MustNewConstMetric(seriesExpiredDesc, prometheus.CounterValue, float64(f.expired), f.name)
}

// series is how many metrics the family sends: its label sets and, if
// present, its __overflow__ one.
func (f *family) series() int {
	if f.overflowLast != 0 {
		return f.admitted + 1
	}
	return f.admitted
}

// swapRemove deletes rows[i] from rows and from index (which maps keys to
// positions), moving the last row into its place.
func swapRemove[R any](rows []R, index map[seriesKey]int32, i int, key func(*R) seriesKey) []R {
	delete(index, key(&rows[i]))
	last := len(rows) - 1
	if i != last {
		rows[i] = rows[last]
		index[key(&rows[i])] = int32(i)
	}
	var zero R
	rows[last] = zero
	return rows[:last]
}
