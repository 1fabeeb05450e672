// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/podflow/podflow_exporter/bpf"
)

// The kernel's latency histograms have log2 buckets of microseconds
// (bpf.LatencyBuckets: bucket b holds samples of at most 2^b µs, the last
// one everything above). Exported, the buckets below 2^histFirst µs fold
// into the first one: le = 2^b µs for b = histFirst .. bpf.LatencyBuckets-2,
// then +Inf.
const (
	histFirst  = 4
	histBounds = bpf.LatencyBuckets - 1 - histFirst
	// histSeries is how many series one label set of a histogram family
	// exports: its buckets, +Inf, _sum and _count.
	histSeries = histBounds + 3
)

// histUpperBounds are the exported bucket bounds in seconds: 16e-6 .. 16.777216.
var histUpperBounds = func() (bounds [histBounds]float64) {
	for i := range bounds {
		bounds[i] = float64(uint64(1)<<(histFirst+i)) / 1e6
	}
	return bounds
}()

// hist is one histogram in exported buckets. counts are per bucket, not
// cumulative; samples above the last bound are only in count.
type hist struct {
	counts    [histBounds]uint64
	count     uint64
	sumMicros uint64
}

// add counts v, an increment of kernel bucket b.
func (h *hist) add(b int, v *bpf.LatencyBucket) {
	if b < bpf.LatencyBuckets-1 {
		h.counts[max(b-histFirst, 0)] += v.Count
	}
	h.count += v.Count
	h.sumMicros += v.SumMicros
}

// histTable is table for histogram families (family f holds the samples
// of bpf.Histogram f): one row per label set, each family with its own
// budget of label sets (one is histSeries series), an __overflow__
// histogram and the same idle expiry.
type histTable struct {
	labelSet
	families       []*histFamily
	overflowLabels []*dto.LabelPair

	index map[seriesKey]int32
	rows  []histRow
	peers peers
}

// histFamily is one histogram family of a histTable.
type histFamily struct {
	family
	overflow hist // the __overflow__ histogram
}

type histRow struct {
	key    seriesKey
	labels []*dto.LabelPair // built once, shared read-only by every scrape
	hists  [bpf.NumHistograms]*hist
	last   int64 // unix nanoseconds of the last increment
}

func newHistTable(labels []label, max int, families ...columnSpec) *histTable {
	if len(families) > bpf.NumHistograms {
		panic("histTable: more families than kernel histograms")
	}
	t := &histTable{labelSet: newLabelSet(labels), index: map[seriesKey]int32{}, peers: newPeers()}
	for _, f := range families {
		t.families = append(t.families, &histFamily{family: newFamily(f, t.labelSet, max)})
	}
	t.overflowLabels = t.pairs(func(*label) string { return overflowValue })
	return t
}

// add counts v, an increment of kernel bucket b of histogram f, in the row of k.
func (t *histTable) add(k *seriesKey, f bpf.Histogram, b int, v *bpf.LatencyBucket, now int64) {
	if v.Count == 0 {
		return
	}
	fam := t.families[f]
	i, ok := t.index[*k]
	if ok {
		if h := t.rows[i].hists[f]; h != nil {
			h.add(b, v)
			t.rows[i].last = now
			return
		}
	}
	if fam.admitted >= fam.max {
		fam.dropped++
		fam.addOverflow(b, v, now)
		return
	}
	if !ok {
		key := *k // a copy, so that only this rare path pays for the closure's escape
		i = int32(len(t.rows))
		t.index[key] = i
		t.rows = append(t.rows, histRow{key: key, labels: t.pairs(func(l *label) string { return l.value(&key, &t.peers) })})
	}
	fam.admitted++
	r := &t.rows[i]
	r.hists[f] = &hist{}
	r.hists[f].add(b, v)
	r.last = now
}

// addOverflow counts v, an increment of kernel bucket b, in the __overflow__ histogram.
func (f *histFamily) addOverflow(b int, v *bpf.LatencyBucket, now int64) {
	if v.Count == 0 {
		return
	}
	f.overflow.add(b, v)
	f.overflowLast = now
}

// expire removes rows, overflow histograms and identities without
// increments since now-ttl.
func (t *histTable) expire(now int64, ttl time.Duration) {
	cutoff := now - int64(ttl)
	for i := 0; i < len(t.rows); {
		r := &t.rows[i]
		if r.last >= cutoff {
			i++
			continue
		}
		for f, fam := range t.families {
			if r.hists[f] != nil {
				fam.admitted--
				fam.expired++
			}
		}
		t.rows = swapRemove(t.rows, t.index, i, func(r *histRow) seriesKey { return r.key })
	}
	for _, fam := range t.families {
		if fam.expireOverflow(cutoff) {
			fam.overflow = hist{}
		}
	}
	t.peers.expire(cutoff)
}

// collect sends every histogram of every family, each a copy: the
// registry may write a metric after the next scrape began.
func (t *histTable) collect(ch chan<- prometheus.Metric) {
	n := 0
	for _, fam := range t.families {
		n += fam.series()
	}
	slab := make([]histogram, 0, n)
	send := func(desc *prometheus.Desc, labels []*dto.LabelPair, h *hist) {
		slab = append(slab, histogram{desc: desc, labels: labels, hist: *h})
		ch <- &slab[len(slab)-1]
	}
	for i := range t.rows {
		r := &t.rows[i]
		for f, fam := range t.families {
			if h := r.hists[f]; h != nil {
				send(fam.desc, r.labels, h)
			}
		}
	}
	for _, fam := range t.families {
		if fam.overflowLast != 0 {
			send(fam.desc, t.overflowLabels, &fam.overflow)
		}
	}
}

func (t *histTable) describe(ch chan<- *prometheus.Desc) {
	for _, fam := range t.families {
		ch <- fam.desc
	}
}

func (t *histTable) collectStats(ch chan<- prometheus.Metric) {
	for _, fam := range t.families {
		fam.collectStats(ch)
	}
}

// histogram is a prometheus.Metric over label pairs built once per label
// set, like counter.
type histogram struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	hist   hist
}

func (h *histogram) Desc() *prometheus.Desc { return h.desc }

// Write makes the buckets cumulative, in one allocation.
func (h *histogram) Write(m *dto.Metric) error {
	w := &struct {
		cumulative [histBounds]uint64
		buckets    [histBounds]dto.Bucket
		pointers   [histBounds]*dto.Bucket
		sum        float64
		histogram  dto.Histogram
	}{sum: float64(h.hist.sumMicros) / 1e6}
	var n uint64
	for i := range w.buckets {
		n += h.hist.counts[i]
		w.cumulative[i] = n
		w.buckets[i].CumulativeCount = &w.cumulative[i]
		w.buckets[i].UpperBound = &histUpperBounds[i]
		w.pointers[i] = &w.buckets[i]
	}
	w.histogram.SampleCount = &h.hist.count
	w.histogram.SampleSum = &w.sum
	w.histogram.Bucket = w.pointers[:]
	m.Label = h.labels
	m.Histogram = &w.histogram
	return nil
}
