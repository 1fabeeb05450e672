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

// column is one counter family of a table, with its own series budget.
type column struct {
	name string
	desc *prometheus.Desc
	max  int

	admitted int // series of this family now
	// overflow counts what did not fit: the budget, or a full kernel
	// table. overflowLast is when it last grew (zero: no overflow series).
	overflow     uint64
	overflowLast int64
	// dropped counts increments folded into overflow for lack of budget,
	// expired the series removed after the idle TTL.
	dropped, expired uint64
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
	labels  []label // identity labels, then the table's own (e.g. reason)
	order   []int   // indexes of labels sorted by name, as client_golang wants pairs
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
	names := make([]string, len(labels))
	for i, l := range labels {
		names[i] = l.name
	}
	t := &table{labels: labels, index: map[seriesKey]int32{}, peers: newPeers()}
	t.order = make([]int, len(labels))
	for i := range t.order {
		t.order[i] = i
	}
	sort.Slice(t.order, func(a, b int) bool { return labels[t.order[a]].name < labels[t.order[b]].name })
	for _, c := range cols {
		t.columns = append(t.columns, &column{name: c.name, desc: prometheus.NewDesc(c.name, c.help, names, nil), max: max})
	}
	t.overflowLabels = t.labelPairs(func(*label) string { return overflowValue })
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
	r.labels = t.labelPairs(func(l *label) string { return l.value(&key, &t.peers) })
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

func (t *table) labelPairs(value func(*label) string) []*dto.LabelPair {
	pairs := make([]*dto.LabelPair, len(t.order))
	for i, idx := range t.order {
		l := &t.labels[idx]
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
		delete(t.index, r.key)
		last := len(t.rows) - 1
		if i != last {
			t.rows[i] = t.rows[last]
			t.index[t.rows[i].key] = int32(i)
		}
		t.rows[last] = row{}
		t.rows = t.rows[:last]
	}
	for _, col := range t.columns {
		if col.overflowLast != 0 && col.overflowLast < cutoff {
			col.overflow, col.overflowLast = 0, 0
			col.expired++
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
		n += col.admitted
		if col.overflowLast != 0 {
			n++
		}
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

// collectStats sends the self-metrics of every family of t.
func (t *table) collectStats(ch chan<- prometheus.Metric) {
	for _, c := range t.columns {
		ch <- prometheus.MustNewConstMetric(seriesDesc, prometheus.GaugeValue, float64(c.admitted), c.name)
		ch <- prometheus.MustNewConstMetric(seriesLimitDesc, prometheus.GaugeValue, float64(c.max), c.name)
		ch <- prometheus.MustNewConstMetric(seriesDroppedDesc, prometheus.CounterValue, float64(c.dropped), c.name)
		ch <- prometheus.MustNewConstMetric(seriesExpiredDesc, prometheus.CounterValue, float64(c.expired), c.name)
	}
}
