// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/podflow/podflow_exporter/naming"
)

// seriesKey identifies a row of a store: its edge, and variant (e.g. a
// failure or drop reason). It is small and pointer-free, so hashing it is
// cheap.
type seriesKey struct {
	naming.EdgeKey
	variant uint32
}

// cells is how a store's families accumulate: V is one series' value (a
// counter, a histogram) and what is added to it.
type cells[V any] interface {
	// empty reports whether inc adds nothing.
	empty(inc *V) bool
	add(cell, inc *V)
	// write fills m's value from cell; scratch is a float64 that lives
	// as long as m.
	write(m *dto.Metric, cell *V, scratch *float64)
}

// store accumulates the series of families that share one label schema,
// one row per label set: the cumulative state behind /metrics. Kernel
// tables yield increments (they are drained on read); store adds each to
// the row its edge is named by now, so counters only grow.
//
// Each family (column) admits at most max series; a row exists once some
// family admitted it. Increments a family cannot admit go to its
// __overflow__ series, so the sum over a family stays the truth. Rows
// without increments for the idle TTL are removed, freeing their places.
type store[V any, C cells[V]] struct {
	labelSet
	families []*family
	// overflow holds the __overflow__ series: one, or, when some labels
	// are of the variant (label.ofVariant), one per variant, which keeps
	// them; overflowIndex finds them by variant.
	overflow      []overflowSeries[V]
	overflowIndex map[uint32]int
	byVariant     bool

	index map[seriesKey]int32
	rows  []storeRow
	// values holds each row's cells, len(families) per row.
	values []V
}

type storeRow struct {
	key      seriesKey
	labels   []*dto.LabelPair // built once, shared read-only by every scrape
	admitted uint8            // bit c: family c has a series for this row
	last     int64            // unix nanoseconds of the last increment
}

// family is one metric family of a store, with its own series budget and
// the counts its self-metrics export.
type family struct {
	name string
	desc *prometheus.Desc
	max  int

	admitted int // label sets of this family now
	// overflows is how many __overflow__ series it has now.
	overflows int
	// dropped counts increments folded into overflow for lack of budget,
	// expired the series removed after the idle TTL.
	dropped, expired uint64
}

// familySpec names a family of a store.
type familySpec struct{ name, help string }

// maxFamilies is the most families one store holds (storeRow.admitted).
const maxFamilies = 8

func newStore[V any, C cells[V]](labels []label, max int, specs ...familySpec) *store[V, C] {
	if len(specs) > maxFamilies {
		panic("store: too many families")
	}
	s := &store[V, C]{labelSet: newLabelSet(labels), index: map[seriesKey]int32{}, overflowIndex: map[uint32]int{}}
	for _, f := range specs {
		s.families = append(s.families, &family{name: f.name, desc: prometheus.NewDesc(f.name, f.help, s.names(), nil), max: max})
	}
	for _, l := range labels {
		s.byVariant = s.byVariant || l.ofVariant
	}
	return s
}

// add counts incs[c] (len(families) of them) in family c of the row of
// edge e and variant, at now.
func (s *store[V, C]) add(e *naming.Edge, variant uint32, incs []V, now int64) {
	var cs C
	k := seriesKey{e.Key(), variant}
	if i, ok := s.index[k]; ok {
		r := &s.rows[i]
		vals := s.values[int(i)*len(s.families):]
		for c, fam := range s.families {
			inc := &incs[c]
			switch {
			case cs.empty(inc):
			case r.admitted&(1<<c) != 0:
				cs.add(&vals[c], inc)
				r.last = now
			case fam.admitted < fam.max:
				fam.admitted++
				r.admitted |= 1 << c
				cs.add(&vals[c], inc)
				r.last = now
			default:
				s.drop(c, variant, inc, now)
			}
		}
		return
	}
	var admitted uint8
	for c, fam := range s.families {
		if inc := &incs[c]; !cs.empty(inc) {
			if fam.admitted < fam.max {
				admitted |= 1 << c
			} else {
				s.drop(c, variant, inc, now)
			}
		}
	}
	if admitted == 0 {
		return
	}
	edge, key := *e, k // copies, so that only this rare path pays for the closure's escape
	r := storeRow{key: key, admitted: admitted, last: now,
		labels: s.pairs(func(l *label) string { return l.value(&edge, key.variant) })}
	s.index[key] = int32(len(s.rows))
	s.rows = append(s.rows, r)
	start := len(s.values)
	s.values = append(s.values, make([]V, len(s.families))...)
	for c, fam := range s.families {
		if admitted&(1<<c) != 0 {
			fam.admitted++
			cs.add(&s.values[start+c], &incs[c])
		}
	}
}

// drop folds an increment of family c into its __overflow__ series for
// lack of budget.
func (s *store[V, C]) drop(c int, variant uint32, inc *V, now int64) {
	s.families[c].dropped++
	s.addOverflow(c, variant, inc, now)
}

// expire removes rows and overflow series without increments since cutoff.
func (s *store[V, C]) expire(cutoff int64) {
	n := len(s.families)
	for i := 0; i < len(s.rows); {
		r := &s.rows[i]
		if r.last >= cutoff {
			i++
			continue
		}
		for c, fam := range s.families {
			if r.admitted&(1<<c) != 0 {
				fam.admitted--
				fam.expired++
			}
		}
		delete(s.index, r.key)
		last := len(s.rows) - 1
		if i != last {
			s.rows[i] = s.rows[last]
			s.index[s.rows[i].key] = int32(i)
			copy(s.values[i*n:(i+1)*n], s.values[last*n:])
		}
		s.rows[last] = storeRow{}
		s.rows = s.rows[:last]
		clear(s.values[last*n:])
		s.values = s.values[:last*n]
	}
	s.expireOverflow(cutoff)
}

// collect sends every series of every family.
func (s *store[V, C]) collect(ch chan<- prometheus.Metric) {
	total := 0
	for _, fam := range s.families {
		total += fam.series()
	}
	// The metrics of one scrape share one allocation, and copy their
	// values: the registry may write a metric after the next drain
	// changed the store.
	slab := make([]series[V, C], 0, total)
	send := func(desc *prometheus.Desc, labels []*dto.LabelPair, v *V) {
		slab = append(slab, series[V, C]{desc: desc, labels: labels, value: *v})
		ch <- &slab[len(slab)-1]
	}
	n := len(s.families)
	for i := range s.rows {
		r := &s.rows[i]
		for c, fam := range s.families {
			if r.admitted&(1<<c) != 0 {
				send(fam.desc, r.labels, &s.values[i*n+c])
			}
		}
	}
	for i := range s.overflow {
		o := &s.overflow[i]
		for c, fam := range s.families {
			if o.last[c] != 0 {
				send(fam.desc, o.labels, &o.values[c])
			}
		}
	}
}

// series is a prometheus.Metric over label pairs built once per series:
// prometheus.NewConstMetric would rebuild them on every scrape, which
// dominates the cost of large scrapes.
type series[V any, C cells[V]] struct {
	desc    *prometheus.Desc
	labels  []*dto.LabelPair
	value   V
	scratch float64
}

func (s *series[V, C]) Desc() *prometheus.Desc { return s.desc }

func (s *series[V, C]) Write(m *dto.Metric) error {
	var cs C
	m.Label = s.labels
	cs.write(m, &s.value, &s.scratch)
	return nil
}

// describe sends the descriptors of every family of s.
func (s *store[V, C]) describe(ch chan<- *prometheus.Desc) {
	for _, fam := range s.families {
		ch <- fam.desc
	}
}

// collectStats sends the self-metrics of every family of s.
func (s *store[V, C]) collectStats(ch chan<- prometheus.Metric) {
	for _, fam := range s.families {
		fam.collectStats(ch)
	}
}

// counters are counter families: a cell is a uint64.
type counters struct{}

func (counters) empty(inc *uint64) bool { return *inc == 0 }
func (counters) add(cell, inc *uint64)  { *cell += *inc }
func (counters) write(m *dto.Metric, v *uint64, scratch *float64) {
	*scratch = float64(*v)
	m.Counter = &dto.Counter{Value: scratch}
}

// labelSet is the label schema of a store.
type labelSet struct {
	labels []label // identity labels, then the store's own (e.g. reason)
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

var (
	seriesDesc = prometheus.NewDesc("podflow_series",
		"Series a flow family exports now, not counting its __overflow__ series; label sets for a histogram family.",
		[]string{"family"}, nil)
	seriesLimitDesc = prometheus.NewDesc("podflow_series_limit",
		"Series budget of a flow family (--collector.max-series-per-family); label sets for a histogram family.",
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

// collectStats sends the self-metrics of f.
func (f *family) collectStats(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(seriesDesc, prometheus.GaugeValue, float64(f.admitted), f.name)
	ch <- prometheus.MustNewConstMetric(seriesLimitDesc, prometheus.GaugeValue, float64(f.max), f.name)
	ch <- prometheus.MustNewConstMetric(seriesDroppedDesc, prometheus.CounterValue, float64(f.dropped), f.name)
	ch <- prometheus.MustNewConstMetric(seriesExpiredDesc, prometheus.CounterValue, float64(f.expired), f.name)
}

// series is how many metrics the family sends: its label sets and its
// __overflow__ ones.
func (f *family) series() int { return f.admitted + f.overflows }
