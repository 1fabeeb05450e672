// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package rules tests podflow_exporter's Prometheus rules
// (podflow_exporter.rules.yml) with the real promtool: the rule file must
// pass `promtool check rules`, the unit tests in *.test.yml must pass
// `promtool test rules`, and every rule must be one those tests depend on.
package rules

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podflow/podflow_exporter/internal/testtools"

	yaml "go.yaml.in/yaml/v3"
)

const ruleFileName = "podflow_exporter.rules.yml"

// promtool returns the promtool make tools builds (or $PROMTOOL).
func promtool(t *testing.T) string { return testtools.Path(t, "promtool") }

// testFiles returns the promtool unit-test files next to the rules.
func testFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.test.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no *.test.yml promtool test files in deploy/rules")
	}
	return files
}

// runPromtool runs promtool in dir and returns its combined output.
func runPromtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestPromtoolCheckRules(t *testing.T) {
	out, err := runPromtool(t, ".", "check", "rules", "--lint=all", "--lint-fatal", ruleFileName)
	if err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", ruleFileName, err, out)
	}
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules %s did not report SUCCESS:\n%s", ruleFileName, out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	files := testFiles(t)
	// Every test file must test this rule file and nothing else, or its
	// passing says nothing about it.
	for _, f := range files {
		tf := loadTestFile(t, f)
		if len(tf.RuleFiles) != 1 || tf.RuleFiles[0] != ruleFileName {
			t.Errorf("%s: rule_files = %q, want [%q]", f, tf.RuleFiles, ruleFileName)
		}
	}
	out, err := runPromtool(t, ".", append([]string{"test", "rules"}, files...)...)
	if err != nil {
		t.Fatalf("promtool test rules %s: %v\n%s", strings.Join(files, " "), err, out)
	}
	if got, want := strings.Count(out, "SUCCESS"), len(files); got != want {
		t.Fatalf("promtool test rules: %d of %d files reported SUCCESS:\n%s", got, want, out)
	}
}

// TestTestsCatchBrokenRules breaks one rule at a time and requires the
// promtool tests to fail: an expression that returns nothing (alerts) or
// doubled values (recording rules), and `for: 0s` (alerts). A rule whose
// breakage no test notices is a rule without a test.
func TestTestsCatchBrokenRules(t *testing.T) {
	src, err := os.ReadFile(ruleFileName)
	if err != nil {
		t.Fatal(err)
	}
	files := testFiles(t)
	// run runs the promtool tests against rules, in a directory of its own
	// so that mutants can run in parallel.
	run := func(t *testing.T, rules []byte) (string, error) {
		dir := t.TempDir()
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, ruleFileName), rules, 0o644); err != nil {
			t.Fatal(err)
		}
		return runPromtool(t, dir, append([]string{"test", "rules"}, files...)...)
	}

	// The baseline goes through the same YAML round trip as the mutants,
	// so a mutant fails for its mutation, not for the serialisation.
	if out, err := run(t, mutate(t, src, "", nil)); err != nil {
		t.Fatalf("unmutated rules after a YAML round trip fail their tests: %v\n%s", err, out)
	}

	type mutant struct {
		rule, what string
		edit       func(r *yaml.Node)
	}
	var mutants []mutant
	for _, r := range loadRules(t).all() {
		if r.Alert != "" {
			mutants = append(mutants, mutant{r.Alert, "no result", func(n *yaml.Node) {
				setScalar(n, "expr", "("+strings.TrimSpace(r.Expr)+") unless on () vector(1)")
			}})
			if r.For != "" {
				mutants = append(mutants, mutant{r.Alert, "for 0s", func(n *yaml.Node) { setScalar(n, "for", "0s") }})
			}
			continue
		}
		mutants = append(mutants, mutant{r.Record, "values doubled", func(n *yaml.Node) {
			setScalar(n, "expr", "("+strings.TrimSpace(r.Expr)+") * 2")
		}})
	}
	for _, m := range mutants {
		t.Run(m.rule+" "+m.what, func(t *testing.T) {
			t.Parallel()
			out, err := run(t, mutate(t, src, m.rule, m.edit))
			if err == nil {
				t.Fatalf("promtool tests still pass with %s broken (%s): none depends on it", m.rule, m.what)
			}
			// A test's expectation must have failed ("got: ..."), not the parse.
			if !strings.Contains(out, "got:") {
				t.Fatalf("promtool failed without a failed expectation:\n%s", out)
			}
		})
	}
}

// mutate returns the rule file src with edit applied to the rule named name
// (record or alert); with a nil edit it only round-trips the YAML.
func mutate(t *testing.T, src []byte, name string, edit func(*yaml.Node)) []byte {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	found := edit == nil
	for _, group := range value(doc.Content[0], "groups").Content {
		for _, r := range value(group, "rules").Content {
			if n := value(r, "alert"); n == nil || n.Value != name {
				if n := value(r, "record"); n == nil || n.Value != name {
					continue
				}
			}
			edit(r)
			found = true
		}
	}
	if !found {
		t.Fatalf("rule %s not found", name)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// value returns the value node of key in mapping m, or nil.
func value(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// setScalar sets key of mapping m to a plain scalar.
func setScalar(m *yaml.Node, key, v string) {
	if n := value(m, key); n != nil {
		*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
		return
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v})
}
