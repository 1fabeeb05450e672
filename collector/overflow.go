// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	dto "github.com/prometheus/client_model/go"

	"github.com/podflow/podflow_exporter/naming"
)

// overflowSeries is one label set of __overflow__ series, one series per
// family that has one.
type overflowSeries[V any] struct {
	variant uint32
	labels  []*dto.LabelPair
	values  []V
	// last is, per family, when its series last grew (zero: no series).
	last []int64
}

// addOverflow counts inc in family c's __overflow__ series of variant
// (ignored unless labels are of the variant).
func (s *store[V, C]) addOverflow(c int, variant uint32, inc *V, now int64) {
	var cs C
	if cs.empty(inc) {
		return
	}
	if !s.byVariant {
		variant = 0
	}
	i, ok := s.overflowIndex[variant]
	if !ok {
		i = len(s.overflow)
		s.overflowIndex[variant] = i
		s.overflow = append(s.overflow, overflowSeries[V]{
			variant: variant, values: make([]V, len(s.families)), last: make([]int64, len(s.families)),
			labels: s.pairs(func(l *label) string {
				if l.ofVariant {
					return l.value(nil, variant)
				}
				return naming.OverflowValue
			}),
		})
	}
	o := &s.overflow[i]
	cs.add(&o.values[c], inc)
	if o.last[c] == 0 {
		s.families[c].overflows++
	}
	o.last[c] = now
}

// expireOverflow removes the __overflow__ series without increments since
// cutoff.
func (s *store[V, C]) expireOverflow(cutoff int64) {
	for i := 0; i < len(s.overflow); {
		o := &s.overflow[i]
		live := false
		for c, fam := range s.families {
			switch {
			case o.last[c] == 0:
			case o.last[c] < cutoff:
				o.last[c] = 0
				var zero V
				o.values[c] = zero
				fam.overflows--
				fam.expired++
			default:
				live = true
			}
		}
		if live {
			i++
			continue
		}
		delete(s.overflowIndex, o.variant)
		last := len(s.overflow) - 1
		if i != last {
			s.overflow[i] = s.overflow[last]
			s.overflowIndex[s.overflow[i].variant] = i
		}
		s.overflow = s.overflow[:last]
	}
}
