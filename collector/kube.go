// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/kube"
)

// KubeStatus reports on the Kubernetes cache and resolutions.
type KubeStatus interface {
	Stats() kube.Stats
	// Resolutions returns resolution counts by outcome (kube.Outcome).
	Resolutions() (local, remote [kube.NumOutcomes]uint64)
}

func init() {
	register("kube", true, nil, newKubeCollector)
}

var (
	kubeSyncedDesc = prometheus.NewDesc("podflow_kube_cache_synced",
		"Whether the Kubernetes cache has listed every resource it watches (1); until then flows are held back (--collector.flows.hold-unresolved), then named unknown.",
		nil, nil)
	kubeObjectsDesc = prometheus.NewDesc("podflow_kube_cache_objects",
		"Objects in the Kubernetes cache, by resource.",
		[]string{"resource"}, nil)
	kubeWatchErrorsDesc = prometheus.NewDesc("podflow_kube_watch_errors_total",
		"Failed requests (lists and watches) of the Kubernetes cache to the API server, by resource; the log says why, naming the missing permission for RBAC refusals.",
		[]string{"resource"}, nil)
	kubeResolutionsDesc = prometheus.NewDesc("podflow_kube_resolutions_total",
		"Flow sides named from the Kubernetes cache, by outcome: resolved (pod, service, node, host process), world (outside the cluster), unknown (not named by this attempt: the cache not synced, a pod not in it yet, a cgroup removed unseen, no address; see podflow_resolution_*_flows_total for what became of the flows).",
		[]string{"side", "outcome"}, nil)
)

// kubeCollector exports the state of the Kubernetes cache. In host mode
// there is none, and it is not run.
type kubeCollector struct {
	status KubeStatus
}

func newKubeCollector(_ *Config, src Sources) (Collector, error) {
	if src.Kube == nil {
		return nil, errNotApplicable
	}
	return &kubeCollector{status: src.Kube}, nil
}

func (c *kubeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- kubeSyncedDesc
	ch <- kubeObjectsDesc
	ch <- kubeWatchErrorsDesc
	ch <- kubeResolutionsDesc
}

func (c *kubeCollector) Update(ch chan<- prometheus.Metric) error {
	st := c.status.Stats()
	synced := 0.0
	if st.Synced {
		synced = 1
	}
	ch <- prometheus.MustNewConstMetric(kubeSyncedDesc, prometheus.GaugeValue, synced)
	for r, n := range st.Objects {
		ch <- prometheus.MustNewConstMetric(kubeObjectsDesc, prometheus.GaugeValue, float64(n), r)
	}
	for r, n := range st.WatchErrors {
		ch <- prometheus.MustNewConstMetric(kubeWatchErrorsDesc, prometheus.CounterValue, float64(n), r)
	}
	local, remote := c.status.Resolutions()
	for o := range kube.NumOutcomes {
		outcome := kube.Outcome(o).String()
		ch <- prometheus.MustNewConstMetric(kubeResolutionsDesc, prometheus.CounterValue, float64(local[o]), "local", outcome)
		ch <- prometheus.MustNewConstMetric(kubeResolutionsDesc, prometheus.CounterValue, float64(remote[o]), "remote", outcome)
	}
	return nil
}
