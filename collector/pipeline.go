// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/naming"
)

// The self-metrics of the drain pipeline: its drains and subscribers, and
// the hold-back of flows not nameable yet, per drained collector.
var (
	drainsDesc = prometheus.NewDesc("podflow_drains_total",
		"Drains of the kernel's tables, by trigger: interval (--collector.drain-interval) or scrape (each scrape drains, so that /metrics is current; concurrent scrapes share one drain).",
		[]string{"trigger"}, nil)
	drainSecondsDesc = prometheus.NewDesc("podflow_drain_duration_seconds_total",
		"Time spent draining the kernel's tables and naming their flows, all drains.",
		nil, nil)
	subscriberMergesDesc = prometheus.NewDesc("podflow_subscriber_merged_batches_total",
		"Drains handed to a subscriber merged with the next because it fell behind (nothing is lost), by subscriber.",
		[]string{"subscriber"}, nil)

	pendingFlowsDesc = prometheus.NewDesc("podflow_resolution_pending_flows",
		"Flows whose increments are held back now, not yet exported, because a side cannot be named yet (a pod not yet in the Kubernetes cache, the cache not synced); they are asked about again at each drain.",
		[]string{"collector"}, nil)
	heldFlowsDesc = prometheus.NewDesc("podflow_resolution_held_flows_total",
		"Flows whose increments were held back because a side could not be named yet; each is later released, expired, or still pending.",
		[]string{"collector"}, nil)
	releasedFlowsDesc = prometheus.NewDesc("podflow_resolution_released_flows_total",
		"Held flows named at a later drain: their held increments were added to their series then.",
		[]string{"collector"}, nil)
	expiredFlowsDesc = prometheus.NewDesc("podflow_resolution_expired_flows_total",
		"Held flows still unnamed after --collector.flows.hold-unresolved (or not held: no hold time, or too many held): their increments were added to a series with an unknown side.",
		[]string{"collector"}, nil)
	unknownFlowsDesc = prometheus.NewDesc("podflow_resolution_unknown_flows_total",
		"Flows (one per flow and drain) with a side that can never be named, counted on a series with an unknown side at once: a packet without an address, a cgroup removed before the exporter saw it.",
		[]string{"collector"}, nil)
)

func describePipelineStats(ch chan<- *prometheus.Desc) {
	ch <- drainsDesc
	ch <- drainSecondsDesc
	ch <- subscriberMergesDesc
}

func collectPipelineStats(ch chan<- prometheus.Metric, st flow.Stats) {
	for trigger, n := range st.Drains {
		ch <- prometheus.MustNewConstMetric(drainsDesc, prometheus.CounterValue, float64(n), trigger)
	}
	ch <- prometheus.MustNewConstMetric(drainSecondsDesc, prometheus.CounterValue, st.Duration.Seconds())
	for _, s := range st.Subscribers {
		ch <- prometheus.MustNewConstMetric(subscriberMergesDesc, prometheus.CounterValue, float64(s.Merges), s.Name)
	}
}

func describeHoldStats(ch chan<- *prometheus.Desc) {
	ch <- pendingFlowsDesc
	ch <- heldFlowsDesc
	ch <- releasedFlowsDesc
	ch <- expiredFlowsDesc
	ch <- unknownFlowsDesc
}

// collectHoldStats sends the self-metrics of the hold of one collector's
// table.
func collectHoldStats(ch chan<- prometheus.Metric, collector string, st naming.HoldStats) {
	ch <- prometheus.MustNewConstMetric(pendingFlowsDesc, prometheus.GaugeValue, float64(st.Pending), collector)
	for _, c := range []struct {
		desc *prometheus.Desc
		v    uint64
	}{{heldFlowsDesc, st.Held}, {releasedFlowsDesc, st.Released}, {expiredFlowsDesc, st.Expired}, {unknownFlowsDesc, st.Unknown}} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(c.v), collector)
	}
}
