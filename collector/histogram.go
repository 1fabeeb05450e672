// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
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

// addBucket counts v, an increment of kernel bucket b.
func (h *hist) addBucket(b int, v *bpf.LatencyBucket) {
	if b < bpf.LatencyBuckets-1 {
		h.counts[max(b-histFirst, 0)] += v.Count
	}
	h.count += v.Count
	h.sumMicros += v.SumMicros
}

// histograms are histogram families: a cell is a hist.
type histograms struct{}

func (histograms) empty(inc *hist) bool { return inc.count == 0 }

func (histograms) add(cell, inc *hist) {
	for i := range cell.counts {
		cell.counts[i] += inc.counts[i]
	}
	cell.count += inc.count
	cell.sumMicros += inc.sumMicros
}

// write makes the buckets cumulative, in one allocation.
func (histograms) write(m *dto.Metric, h *hist, _ *float64) {
	w := &struct {
		cumulative [histBounds]uint64
		buckets    [histBounds]dto.Bucket
		pointers   [histBounds]*dto.Bucket
		sum        float64
		histogram  dto.Histogram
	}{sum: float64(h.sumMicros) / 1e6}
	var n uint64
	for i := range w.buckets {
		n += h.counts[i]
		w.cumulative[i] = n
		w.buckets[i].CumulativeCount = &w.cumulative[i]
		w.buckets[i].UpperBound = &histUpperBounds[i]
		w.pointers[i] = &w.buckets[i]
	}
	w.histogram.SampleCount = &h.count
	w.histogram.SampleSum = &w.sum
	w.histogram.Bucket = w.pointers[:]
	m.Histogram = &w.histogram
}
