// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package dashboards

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podflow/podflow_exporter/internal/testtools"
)

func TestDashboardsLint(t *testing.T) {
	bin := testtools.Path(t, "dashboard-linter")
	for _, f := range wantFiles {
		// Run from this directory: the linter reads ./.lint next to the dashboard.
		cmd := exec.Command(bin, "lint", "--strict", f)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("dashboard-linter lint --strict %s: %v\n%s", f, err, out)
		}
	}

	// The linter in strict mode does fail: a panel without a description and
	// a query without job/instance matchers, in a directory without .lint.
	buf, err := os.ReadFile("podflow-exporter.json")
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(buf), `"description": "Exporters Prometheus scraped`, `"x": "`, 1)
	broken = strings.Replace(broken, `sum(up{job=~\"$job\", instance=~\"$instance\"})`, `sum(up)`, 1)
	if broken == string(buf) {
		t.Fatal("could not break the exporter dashboard for the negative check")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "broken.json"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "lint", "--strict", "broken.json")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "has missing title or description") ||
		!strings.Contains(string(out), "job selector not found") {
		t.Errorf("the linter accepted a broken dashboard (%v):\n%s", err, out)
	}
}

// TestLintExclusionsHaveReasons: every rule .lint excludes or downgrades,
// and every entry under it, says why.
func TestLintExclusionsHaveReasons(t *testing.T) {
	var rule string
	ruleReason := map[string]bool{}
	entries, entriesWithReason := 0, 0
	inEntry := false
	for _, line := range readLines(t, ".lint") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		switch {
		case indent == 0:
			rule = ""
		case indent == 2:
			rule = strings.TrimSuffix(trimmed, ":")
			ruleReason[rule] = false
			inEntry = false
		case indent == 4 && strings.HasPrefix(trimmed, "reason:"):
			ruleReason[rule] = len(strings.TrimSpace(strings.TrimPrefix(trimmed, "reason:"))) > 0
		case indent == 6 && strings.HasPrefix(trimmed, "- "):
			entries++
			inEntry = true
			if strings.HasPrefix(trimmed, "- reason:") {
				entriesWithReason++
			}
		case indent == 8 && inEntry && strings.HasPrefix(trimmed, "reason:") &&
			len(strings.TrimSpace(strings.TrimPrefix(trimmed, "reason:"))) > 0:
			entriesWithReason++
		}
	}
	for r, ok := range ruleReason {
		if !ok {
			t.Errorf(".lint: rule %s has no reason", r)
		}
	}
	if entries != entriesWithReason {
		t.Errorf(".lint: %d entries, %d with a reason", entries, entriesWithReason)
	}
}
