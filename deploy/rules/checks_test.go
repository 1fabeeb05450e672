// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package rules

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

const (
	runbookPath = "../../docs/runbook.md"
	runbookURL  = "https://github.com/podflow/podflow_exporter/blob/main/docs/runbook.md#"
)

// contractRecords are the recording rules the dashboards depend on
// (/work/notes contract; names are fixed).
var contractRecords = []string{
	"namespace:podflow_flow_transmit_bytes:rate5m",
	"namespace:podflow_flow_receive_bytes:rate5m",
	"workload:podflow_flow_transmit_bytes:rate5m",
	"workload:podflow_flow_receive_bytes:rate5m",
	"edge:podflow_flow_transmit_bytes:rate5m",
	"edge:podflow_flow_receive_bytes:rate5m",
	"edge:podflow_tcp_connect_attempts:rate5m",
	"edge:podflow_tcp_connect_failures:rate5m",
	"edge:podflow_tcp_connect_failures:ratio_rate5m",
	"workload:podflow_tcp_retransmitted_segments:rate5m",
	"workload:podflow_tcp_transmitted_segments:rate5m",
	"workload:podflow_tcp_retransmits:ratio_rate5m",
	"workload:podflow_drop_packets:rate5m",
	"workload:podflow_tcp_rtt_seconds_bucket:rate5m",
	"workload:podflow_tcp_connect_duration_seconds_bucket:rate5m",
	"workload:podflow_dns_requests:rate5m",
	"workload:podflow_dns_failures:ratio_rate5m",
	"workload:podflow_dns_nxdomain:ratio_rate5m",
	"workload:podflow_dns_request_duration_seconds_bucket:rate5m",
	"edge:podflow_http_requests:rate5m",
	"edge:podflow_http_5xx:ratio_rate5m",
	"workload:podflow_http_request_duration_seconds_bucket:rate5m",
}

// contractAlerts are the alert names, by group; the end-to-end test waits
// for the first.
var contractAlerts = map[string][]string{
	"podflow.alerts": {"PodflowTCPConnectFailuresHigh", "PodflowTCPConnectTimeoutsToService",
		"PodflowTCPRetransmitRatioHigh", "PodflowPacketDrops", "PodflowDNSFailureRatioHigh", "PodflowHTTP5xxRatioHigh"},
	"podflow.exporter": {"PodflowBPFProgramNotAttached", "PodflowBPFMapFull", "PodflowBPFPayloadTableFull", "PodflowBPFSocketFoldFailing", "PodflowSeriesBudgetExceeded",
		"PodflowKubeCacheNotSynced", "PodflowCollectorFailed", "PodflowExporterDown"},
}

// runbookParts are the lead-ins every runbook section has.
var runbookParts = []string{"**Meaning.**", "**Causes.**", "**Investigate.**", "**Fix.**", "**Silence.**"}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type ruleGroups struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

func (g ruleGroups) all() []rule {
	var rs []rule
	for _, grp := range g.Groups {
		rs = append(rs, grp.Rules...)
	}
	return rs
}

type unitTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name      string `yaml:"name"`
		AlertTest []struct {
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		ExprTest []struct {
			Expr       string           `yaml:"expr"`
			ExpSamples []map[string]any `yaml:"exp_samples"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

func loadRules(t *testing.T) ruleGroups {
	t.Helper()
	b, err := os.ReadFile(ruleFileName)
	if err != nil {
		t.Fatal(err)
	}
	var g ruleGroups
	if err := yaml.Unmarshal(b, &g); err != nil {
		t.Fatalf("%s: %v", ruleFileName, err)
	}
	return g
}

func loadTestFile(t *testing.T, name string) unitTests {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var u unitTests
	if err := yaml.Unmarshal(b, &u); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return u
}

var recordName = regexp.MustCompile(`^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$`)

func TestGroupsMatchContract(t *testing.T) {
	g := loadRules(t)
	var names []string
	records := map[string]bool{}
	seen := map[string]bool{}
	for _, grp := range g.Groups {
		names = append(names, grp.Name)
		for _, r := range grp.Rules {
			name := r.Record + r.Alert
			if seen[name] {
				t.Errorf("rule %s defined twice", name)
			}
			seen[name] = true
			switch {
			case r.Record != "" && grp.Name != "podflow.records":
				t.Errorf("recording rule %s is in group %s, want podflow.records", r.Record, grp.Name)
			case r.Record != "" && !recordName.MatchString(r.Record):
				t.Errorf("recording rule %s does not follow level:metric:operations", r.Record)
			case r.Record != "":
				records[r.Record] = true
			case !slices.Contains(contractAlerts[grp.Name], r.Alert):
				t.Errorf("alert %s in group %s is not one of that group's alerts %v", r.Alert, grp.Name, contractAlerts[grp.Name])
			}
		}
	}
	if want := []string{"podflow.records", "podflow.alerts", "podflow.exporter"}; !slices.Equal(names, want) {
		t.Errorf("groups %v, want %v", names, want)
	}
	for _, r := range contractRecords {
		if !records[r] {
			t.Errorf("recording rule %s of the contract is missing", r)
		}
	}
	for _, alerts := range contractAlerts {
		for _, a := range alerts {
			if !seen[a] {
				t.Errorf("alert %s of the contract is missing", a)
			}
		}
	}
}

func TestAlertsHaveMetadataAndRunbook(t *testing.T) {
	sections := runbookSections(t)
	alerts := map[string]bool{}
	for _, r := range loadRules(t).all() {
		if r.Alert == "" {
			continue
		}
		alerts[strings.ToLower(r.Alert)] = true
		if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
			t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, s)
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", r.Alert, a)
			}
		}
		anchor := strings.ToLower(r.Alert)
		if got := r.Annotations["runbook_url"]; got != runbookURL+anchor {
			t.Errorf("%s: runbook_url %q, want %q", r.Alert, got, runbookURL+anchor)
		}
		body, ok := sections[anchor]
		if !ok {
			t.Errorf("%s: docs/runbook.md has no heading with anchor #%s", r.Alert, anchor)
			continue
		}
		for _, p := range runbookParts {
			if !strings.Contains(body, p) {
				t.Errorf("docs/runbook.md#%s lacks %s", anchor, p)
			}
		}
	}
	// A runbook section for an alert that no longer exists misleads.
	for anchor := range sections {
		if !alerts[anchor] {
			t.Errorf("docs/runbook.md#%s matches no alert", anchor)
		}
	}
}

// TestEveryRuleHasPromtoolTests requires for every alert a test case in
// which it fires and one in which it must not, and for every recording rule
// a promql_expr_test with expected samples whose expression uses it.
func TestEveryRuleHasPromtoolTests(t *testing.T) {
	firing, quiet := map[string]int{}, map[string]int{}
	var exprs []string
	for _, f := range testFiles(t) {
		for _, tc := range loadTestFile(t, f).Tests {
			for _, at := range tc.AlertTest {
				if len(at.ExpAlerts) > 0 {
					firing[at.Alertname]++
				} else {
					quiet[at.Alertname]++
				}
			}
			for _, et := range tc.ExprTest {
				if len(et.ExpSamples) > 0 {
					exprs = append(exprs, et.Expr)
				}
			}
		}
	}
	for _, r := range loadRules(t).all() {
		switch {
		case r.Alert != "":
			if firing[r.Alert] == 0 {
				t.Errorf("alert %s: no alert_rule_test in which it fires", r.Alert)
			}
			if quiet[r.Alert] == 0 {
				t.Errorf("alert %s: no alert_rule_test in which it must not fire", r.Alert)
			}
		default:
			uses := regexp.MustCompile(`(^|[^a-zA-Z0-9_:])` + regexp.QuoteMeta(r.Record) + `($|[^a-zA-Z0-9_:])`)
			if !slices.ContainsFunc(exprs, uses.MatchString) {
				t.Errorf("recording rule %s: no promql_expr_test with exp_samples uses it", r.Record)
			}
		}
	}
}

// runbookSections maps the GitHub anchor of each "## " heading of the
// runbook to the section's text.
func runbookSections(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(runbookPath)
	if err != nil {
		t.Fatalf("runbook: %v", err)
	}
	defer f.Close()
	sections := map[string]string{}
	var cur string
	var body strings.Builder
	flush := func() {
		if cur != "" {
			sections[cur] = body.String()
		}
		body.Reset()
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, "## "); ok {
			flush()
			cur = githubAnchor(h)
			if _, dup := sections[cur]; dup {
				t.Errorf("docs/runbook.md: heading %q twice", h)
			}
			continue
		}
		body.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	return sections
}

// githubAnchor is the fragment GitHub gives a Markdown heading: lower case,
// punctuation other than '-' and '_' removed, spaces turned into '-'.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}
