// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podflow/podflow_exporter/bpf"
)

// One failing collector is reported by podflow_scrape_collector_success and
// does not stop the others.
func TestFailingCollectorDoesNotFailScrape(t *testing.T) {
	src := &fakeSource{statsErr: errors.New("read update failures: boom")}
	src.addFlow(webTo(addrDB), bpf.FlowCounters{TxBytes: 1, TxPackets: 1})
	_, reg := newTestPodflow(t, testConfig(100, "bpf", "flows"), src, newResolver(), HostSchema, &clock{now: time.Unix(0, 0)})
	want := `
# HELP podflow_scrape_collector_success podflow_exporter: Whether a collector succeeded.
# TYPE podflow_scrape_collector_success gauge
podflow_scrape_collector_success{collector="bpf"} 0
podflow_scrape_collector_success{collector="flows"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "podflow_scrape_collector_success"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "podflow_flow_transmit_bytes_total"); err != nil || n != 1 {
		t.Errorf("flows series = %d, %v; want 1", n, err)
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		enabled  []string
		programs []string
		err      string
	}{
		{
			args:    nil,
			enabled: []string{"bpf", "drops", "flows", "kube", "latency", "tcp", "translation"},
			programs: []string{bpf.ProgDrops, bpf.ProgFlowsIngress, bpf.ProgFlowsEgress, bpf.ProgTCPState, bpf.ProgTCPRTT,
				bpf.ProgRetransmit, bpf.ProgResetSent, bpf.ProgResetRecv, bpf.ProgICMPSent},
		},
		{
			args:     []string{"--no-collector.flows", "--no-collector.drops"},
			enabled:  []string{"bpf", "kube", "latency", "tcp", "translation"},
			programs: []string{bpf.ProgTCPRTT, bpf.ProgTCPState, bpf.ProgRetransmit, bpf.ProgResetSent, bpf.ProgResetRecv, bpf.ProgICMPSent},
		},
		{
			args:     []string{"--no-collector.flows", "--no-collector.tcp", "--no-collector.latency"},
			enabled:  []string{"bpf", "drops", "kube", "translation"},
			programs: []string{bpf.ProgDrops},
		},
		{
			args:     []string{"--no-collector.flows", "--no-collector.tcp", "--no-collector.latency", "--no-collector.drops", "--no-collector.translation"},
			enabled:  []string{"bpf", "kube"},
			programs: nil,
		},
		{args: []string{"--collector.flows.max-series=0"}, err: "max-series must be at least 1"},
		{args: []string{"--collector.flows.idle-ttl=-1s"}, err: "idle-ttl must be positive"},
		{args: []string{"--collector.translation.netns=/nonexistent"}, err: "--collector.translation.netns=/nonexistent: open /nonexistent: no such file or directory"},
		{args: []string{"--collector.translation.netns=/proc/self/ns/mnt"}, err: "/proc/self/ns/mnt: not a network namespace"},
		{args: []string{"--collector.translation.netns=/proc/self/status"}, err: "/proc/self/status: not a network namespace"},
		{
			args:    []string{"--collector.translation.netns=/proc/self/ns/net"},
			enabled: []string{"bpf", "drops", "flows", "kube", "latency", "tcp", "translation"},
			programs: []string{bpf.ProgDrops, bpf.ProgFlowsIngress, bpf.ProgFlowsEgress, bpf.ProgTCPState, bpf.ProgTCPRTT,
				bpf.ProgRetransmit, bpf.ProgResetSent, bpf.ProgResetRecv, bpf.ProgICMPSent},
		},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			app := kingpin.New("test", "")
			cfg := AddFlags(app)
			if _, err := app.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := cfg.Validate()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Validate() = %v, want error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Enabled(); !slices.Equal(got, tc.enabled) {
				t.Errorf("Enabled() = %v, want %v", got, tc.enabled)
			}
			if got := cfg.Programs(); !slices.Equal(got, tc.programs) {
				t.Errorf("Programs() = %v, want %v", got, tc.programs)
			}
		})
	}
}
