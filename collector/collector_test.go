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
	_, reg := newTestPodflow(t, testConfig(100, "bpf", "flows"), src, newResolver(), &clock{now: time.Unix(0, 0)})
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

// TestDeprecatedMaxSeries: the old name of the budget flag still sets it,
// with a warning to log once.
func TestDeprecatedMaxSeries(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		max     int
		warning bool
	}{
		{nil, 5000, false},
		{[]string{"--collector.max-series-per-family=7"}, 7, false},
		{[]string{"--collector.flows.max-series=9"}, 9, true},
	} {
		app := kingpin.New("test", "")
		cfg := AddFlags(app)
		if _, err := app.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		warnings := cfg.Deprecated()
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if cfg.MaxSeries != tc.max || (len(warnings) == 1) != tc.warning || len(cfg.Deprecated()) != 0 {
			t.Errorf("%v: budget %d, warnings %q (then %q); want %d, warning %v", tc.args, cfg.MaxSeries, warnings, cfg.Deprecated(), tc.max, tc.warning)
		}
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		enabled  []string
		programs []string
		tables   []bpf.Table
		err      string
	}{
		{
			args:    nil,
			enabled: []string{"bpf", "dns", "drops", "flows", "http", "kube", "latency", "tcp", "translation"},
			programs: []string{bpf.ProgFlowsIngress, bpf.ProgFlowsEgress, bpf.ProgTCPState, bpf.ProgDrops, bpf.ProgTCPRTT,
				bpf.ProgRetransmit, bpf.ProgResetSent, bpf.ProgResetRecv, bpf.ProgICMPSent},
			tables: []bpf.Table{bpf.TableFlows, bpf.TableTCP, bpf.TableLatency, bpf.TableDrops, bpf.TableRequests},
		},
		{
			args:     []string{"--no-collector.flows", "--no-collector.drops", "--no-collector.dns", "--no-collector.http"},
			enabled:  []string{"bpf", "kube", "latency", "tcp", "translation"},
			programs: []string{bpf.ProgTCPRTT, bpf.ProgTCPState, bpf.ProgRetransmit, bpf.ProgResetSent, bpf.ProgResetRecv, bpf.ProgICMPSent},
			tables:   []bpf.Table{bpf.TableTCP, bpf.TableLatency},
		},
		{
			// DNS alone needs the packet programs and tcp_state.
			args:     []string{"--no-collector.flows", "--no-collector.tcp", "--no-collector.latency", "--no-collector.http"},
			enabled:  []string{"bpf", "dns", "drops", "kube", "translation"},
			programs: []string{bpf.ProgFlowsIngress, bpf.ProgFlowsEgress, bpf.ProgTCPState, bpf.ProgDrops},
			// The DNS durations are in the latency table.
			tables: []bpf.Table{bpf.TableLatency, bpf.TableDrops, bpf.TableRequests},
		},
		{
			args: []string{"--no-collector.flows", "--no-collector.tcp", "--no-collector.latency", "--no-collector.drops", "--no-collector.translation",
				"--no-collector.dns", "--no-collector.http"},
			enabled:  []string{"bpf", "kube"},
			programs: nil,
		},
		{args: []string{"--collector.max-series-per-family=0"}, err: "--collector.max-series-per-family must be at least 1"},
		{args: []string{"--collector.flows.max-series=0"}, err: "--collector.flows.max-series must be at least 1, got 0"},
		{args: []string{"--collector.flows.max-series=7", "--collector.max-series-per-family=9"}, err: "are one setting (the first is the deprecated name of the second): give only --collector.max-series-per-family"},
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
			if got := cfg.Tables(); !slices.Equal(got, tc.tables) {
				t.Errorf("Tables() = %v, want %v", got, tc.tables)
			}
		})
	}
}
