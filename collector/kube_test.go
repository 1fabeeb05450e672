// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/kube"
	"github.com/podflow/podflow_exporter/naming"
	"github.com/podflow/podflow_exporter/naming/namingtest"
)

// Golden expositions of one flow at each aggregation level, with two pod
// labels, and the Kubernetes cache's self-metrics.
func TestKubeSchemas(t *testing.T) {
	for _, agg := range []string{kube.AggregateNamespace, kube.AggregateWorkload, kube.AggregatePod} {
		t.Run(agg, func(t *testing.T) {
			src, clk := newFakeSource(), &clock{now: time.Unix(1_800_000_000, 0)}
			res := naming.NewKubeResolver(namingtest.NewKube(), namingtest.WorldCgroups(), agg, []string{"app", "team.example.com/name"}, nil)
			cfg := testConfig(100, "flows", "kube")
			p, err := New(cfg, Sources{Pipeline: testPipeline(t, cfg, pipelineConfig(), src, res, clk), Kube: res}, nopLogger())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
			reg := registerPodflow(t, p)
			src.addFlow(bpf.FlowKey{CgroupID: 1, Local: addrWeb, Remote: addrDB, ServerPort: 5432, Protocol: 6, Role: bpf.RoleClient}, bpf.FlowCounters{TxBytes: 1000, TxPackets: 10})
			assertGolden(t, reg, "kube_"+agg, "podflow_flow_transmit_bytes_total", "podflow_kube_cache_synced", "podflow_kube_cache_objects", "podflow_kube_watch_errors_total")
		})
	}
}
