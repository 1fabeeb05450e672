// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The reference documentation: every flag has a table row in flagsDoc, every
// metric family one in metricsDoc, each row's first cell being the name in
// backticks ("| `--kube.config` | ..." and "| `podflow_series` | ...").
const (
	flagsDoc   = "docs/flags.md"
	metricsDoc = "docs/metrics.md"
)

// builtinFlags are kingpin's own flags, documented by kingpin.
var builtinFlags = map[string]bool{
	"help": true, "help-long": true, "help-man": true, "version": true,
	"completion-bash": true, "completion-script-bash": true, "completion-script-zsh": true,
}

// TestFlagReference fails for every flag of --help without a row in
// docs/flags.md.
func TestFlagReference(t *testing.T) {
	documented := documentedFlags(t)
	app, _ := newApp()
	for _, f := range app.Model().Flags {
		if f.Hidden || builtinFlags[f.Name] {
			continue
		}
		if _, ok := documented[f.Name]; !ok {
			t.Errorf("--%s is in --help but has no row in %s (a table row whose first cell is `--%s`, or `--[no-]%s` for a boolean flag)",
				f.Name, flagsDoc, f.Name, f.Name)
		}
	}
}

// TestFlagReferenceMatchesCode fails for a row of docs/flags.md naming a flag
// the exporter does not have (hidden flags, such as deprecated aliases,
// count as existing), and for a row whose default, when it is one value in
// backticks, differs from the flag's.
func TestFlagReferenceMatchesCode(t *testing.T) {
	app, _ := newApp()
	model := map[string][]string{}
	for _, f := range app.Model().Flags {
		model[f.Name] = f.Default
	}
	for name, def := range documentedFlags(t) {
		got, ok := model[name]
		if !ok {
			t.Errorf("%s documents --%s, which the exporter does not have", flagsDoc, name)
			continue
		}
		if def == "" || len(got) == 0 || got[0] == "" {
			continue
		}
		if want := strings.Join(got, ","); def != want {
			t.Errorf("%s gives --%s the default %q, the code %q", flagsDoc, name, def, want)
		}
	}
}

var (
	flagCell    = regexp.MustCompile("`--(?:\\[no-\\])?([a-z0-9][a-z0-9._-]*)`")
	defaultCell = regexp.MustCompile("^`([^`$][^`]*)`$")
)

// documentedFlags maps each flag with a row in docs/flags.md to the default
// its row gives, when that is a single value in backticks (else "").
func documentedFlags(t *testing.T) map[string]string {
	t.Helper()
	flags := map[string]string{}
	for _, cells := range tableRows(t, flagsDoc) {
		def := ""
		if len(cells) > 1 {
			if m := defaultCell.FindStringSubmatch(cells[1]); m != nil {
				def = m[1]
			}
		}
		for _, m := range flagCell.FindAllStringSubmatch(cells[0], -1) {
			if _, dup := flags[m[1]]; dup {
				t.Errorf("%s: --%s has more than one row", flagsDoc, m[1])
			}
			flags[m[1]] = def
		}
	}
	return flags
}

var metricCell = regexp.MustCompile("^`(podflow_[a-z0-9_]+)(?:\\{[^`]*\\})?`$")

// referencedMetrics returns every metric family documented in
// docs/metrics.md: the names of the table rows whose first cell is one
// podflow_ name in backticks.
func referencedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, cells := range tableRows(t, metricsDoc) {
		m := metricCell.FindStringSubmatch(cells[0])
		if m == nil {
			continue
		}
		if names[m[1]] {
			t.Errorf("%s: %s has more than one row", metricsDoc, m[1])
		}
		names[m[1]] = true
	}
	return names
}

// TestMetricReferenceParses checks that the metric reference parses, and
// that every metric name in the Go sources (a "podflow_..." string literal in
// a non-test file, as passed to prometheus.NewDesc or naming a flow family)
// is documented, and every documented name is in the sources.
func TestMetricReferenceParses(t *testing.T) {
	documented := referencedMetrics(t)
	for _, name := range []string{
		"podflow_flow_transmit_bytes_total",
		"podflow_tcp_connect_failures_total",
		"podflow_tcp_rtt_seconds",
		"podflow_scrape_collector_success",
	} {
		if !documented[name] {
			t.Errorf("%s: no row for %s (or the rows no longer parse)", metricsDoc, name)
		}
	}
	inCode := metricNamesInSources(t)
	if len(inCode) < 20 {
		t.Fatalf("found only %d metric names in the Go sources: %v", len(inCode), sortedKeys(inCode))
	}
	for _, name := range sortedKeys(inCode) {
		if !documented[name] {
			t.Errorf("%s is in %s but has no row in %s", name, inCode[name], metricsDoc)
		}
	}
	// podflow_build_info is made by client_golang's version collector from
	// the namespace "podflow".
	for _, name := range sortedKeys(documented) {
		if inCode[name] == "" && name != "podflow_build_info" {
			t.Errorf("%s documents %s, which no Go source names", metricsDoc, name)
		}
	}
}

// notMetrics are podflow_ string literals that name no metric.
var notMetrics = map[string]bool{"podflow_exporter": true}

var metricName = regexp.MustCompile(`^podflow_[a-z0-9_]*[a-z0-9]$`)

// metricNamesInSources maps each podflow_ string literal of the module's
// non-test Go files to a file that has it.
func metricNamesInSources(t *testing.T) map[string]string {
	t.Helper()
	names := map[string]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			base := d.Name()
			if path != "." && (strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") ||
				base == "testdata" || base == "vendor") {
				return filepath.SkipDir
			}
			if path != "." {
				// Another module (tools/*) is not the exporter.
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil && metricName.MatchString(s) && !notMetrics[s] {
				if names[s] == "" {
					names[s] = path
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatalf("reading the Go sources: %v", err)
	}
	return names
}

// TestDocLinks checks that every relative link of the README and docs/
// names an existing file, and that each #anchor is a heading of its file.
func TestDocLinks(t *testing.T) {
	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"README.md", "deploy/README.md"}, files...)
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		anchors[path] = headingAnchors(string(data))
		return anchors[path]
	}
	links := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range markdownLinks(string(data)) {
			if isExternal(target) {
				continue
			}
			links++
			path, anchor, _ := strings.Cut(target, "#")
			resolved := file
			if path != "" {
				resolved = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
				if _, err := os.Stat(resolved); err != nil {
					t.Errorf("%s: link %q: %v", file, target, err)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(resolved, ".md") {
				t.Errorf("%s: link %q: an anchor into a file that is not Markdown", file, target)
				continue
			}
			if !anchorsOf(resolved)[anchor] {
				t.Errorf("%s: link %q: %s has no heading with anchor #%s", file, target, resolved, anchor)
			}
		}
	}
	if links == 0 {
		t.Fatal("no relative links found: the link parser is broken")
	}
}

var (
	linkRE       = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	codeSpanRE   = regexp.MustCompile("`+[^`]*`+")
	headingRE    = regexp.MustCompile(`^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	schemeRE     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
	fenceStartRE = regexp.MustCompile("^ {0,3}(```|~~~)")
)

func isExternal(target string) bool {
	return schemeRE.MatchString(target) || strings.HasPrefix(target, "//")
}

// proseLines returns the lines of a Markdown document outside fenced code
// blocks.
func proseLines(doc string) []string {
	var lines []string
	fence := ""
	for _, line := range strings.Split(doc, "\n") {
		if m := fenceStartRE.FindStringSubmatch(line); m != nil {
			switch {
			case fence == "":
				fence = m[1]
			case m[1] == fence:
				fence = ""
			}
			continue
		}
		if fence == "" {
			lines = append(lines, line)
		}
	}
	return lines
}

// markdownLinks returns the targets of the inline links of a Markdown
// document, outside code blocks and code spans.
func markdownLinks(doc string) []string {
	var targets []string
	for _, line := range proseLines(doc) {
		line = codeSpanRE.ReplaceAllString(line, "")
		for _, m := range linkRE.FindAllStringSubmatch(line, -1) {
			targets = append(targets, m[1])
		}
	}
	return targets
}

// headingAnchors returns the anchors GitHub gives the headings of a
// Markdown document: lower case, characters other than letters, digits,
// '_', '-' and spaces removed, spaces made '-', repeats numbered -1, -2, ...
func headingAnchors(doc string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, line := range proseLines(doc) {
		m := headingRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(m[2]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
				b.WriteRune(r)
			}
		}
		slug := b.String()
		if n := seen[slug]; n > 0 {
			anchors[slug+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors
}

// tableRows returns the cells of every table row of a Markdown document
// (header rows included, delimiter rows and code blocks left out), trimmed.
func tableRows(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v", err)
	}
	var rows [][]string
	for _, line := range proseLines(string(data)) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if strings.Trim(strings.Join(cells, ""), ":-") == "" {
			continue
		}
		rows = append(rows, cells)
	}
	return rows
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
