// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package dashboards

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
)

// Where the names a dashboard may use come from, relative to this package.
const (
	goldenGlob = "../collector/testdata/*.prom"
	descGlob   = "../collector/*.go"
	rulesFile  = "../deploy/rules/podflow_exporter.rules.yml"
)

// PromQL words that are not metric names: keywords, aggregation operators
// (which may be followed by "by (...)" rather than "("), and the number
// literals Inf and NaN.
var promqlWords = map[string]bool{
	"and": true, "or": true, "unless": true, "by": true, "without": true, "on": true,
	"ignoring": true, "group_left": true, "group_right": true, "bool": true, "offset": true,
	"atan2": true, "inf": true, "nan": true, "start": true, "end": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true,
	"stdvar": true, "count": true, "count_values": true, "bottomk": true, "topk": true,
	"quantile": true, "limitk": true, "limit_ratio": true,
}

// Clauses whose parenthesised list holds label names, not expressions.
var labelListWords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

var (
	stringRE = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	braceRE  = regexp.MustCompile(`\{[^{}]*\}`)
	squareRE = regexp.MustCompile(`\[[^\[\]]*\]`)
	tokenRE  = regexp.MustCompile(`[0-9][0-9A-Za-z_.]*|[A-Za-z_:][A-Za-z0-9_:]*|\(|\)|[^\s]`)
	identRE  = regexp.MustCompile(`^[A-Za-z_:]`)
)

// metricNames returns the metric names expr selects. It reads PromQL the
// way the grammar does without a full parser (prometheus/prometheus is not
// a dependency of this module): strings, label matchers and ranges are cut
// out first; then an identifier is a function or operator when "(" follows
// it or it is a keyword, a label name inside by/on/... lists, else a metric.
// Selecting by {__name__=...} is refused so that every name is visible.
func metricNames(expr string) ([]string, error) {
	if strings.Contains(expr, "__name__") {
		return nil, fmt.Errorf("selects by __name__: name the metric instead")
	}
	s := stringRE.ReplaceAllString(expr, `""`)
	s = braceRE.ReplaceAllString(s, " ")
	s = squareRE.ReplaceAllString(s, " ")
	if strings.ContainsAny(s, "{}[]") {
		return nil, fmt.Errorf("unbalanced or nested braces or brackets in %q", expr)
	}
	toks := tokenRE.FindAllString(s, -1)
	var names []string
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		if !identRE.MatchString(tok) {
			continue
		}
		next := ""
		if i+1 < len(toks) {
			next = toks[i+1]
		}
		lower := strings.ToLower(tok)
		if labelListWords[lower] && next == "(" {
			// Skip the label list up to its ")".
			for i++; i < len(toks) && toks[i] != ")"; i++ {
			}
			continue
		}
		if next == "(" || promqlWords[lower] {
			continue
		}
		names = append(names, tok)
	}
	return names, nil
}

// knownMetrics returns every name a dashboard may select: the families of
// the collectors' golden expositions (with _bucket, _sum and _count for
// histograms), the descriptors the collector package declares, what the
// client_golang collectors main.go registers expose (build info, go_*,
// process_*), up, and the recording rules' names.
func knownMetrics(t *testing.T) map[string]string {
	t.Helper()
	known := map[string]string{"up": "Prometheus"}
	goldens, err := filepath.Glob(goldenGlob)
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden expositions at %s (%v)", goldenGlob, err)
	}
	typeRE := regexp.MustCompile(`^# TYPE (\S+) (\S+)`)
	for _, f := range goldens {
		for _, line := range readLines(t, f) {
			m := typeRE.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			known[m[1]] = filepath.Base(f)
			if m[2] == "histogram" {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					known[m[1]+suffix] = filepath.Base(f)
				}
			}
		}
	}
	sources, err := filepath.Glob(descGlob)
	if err != nil {
		t.Fatal(err)
	}
	descRE := regexp.MustCompile(`prometheus\.NewDesc\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"`)
	for _, f := range sources {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		buf, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range descRE.FindAllStringSubmatch(string(buf), -1) {
			known[m[1]] = filepath.Base(f)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector("podflow"), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		known[f.GetName()] = "client_golang"
	}
	records := recordNames(t)
	for _, r := range records {
		known[r] = filepath.Base(rulesFile)
	}
	// Guard against a vacuous check: the sources above must have been read.
	for _, must := range []string{"podflow_flow_transmit_bytes_total", "podflow_tcp_rtt_seconds_bucket",
		"podflow_scrape_collector_success", "podflow_build_info", "process_cpu_seconds_total"} {
		if _, ok := known[must]; !ok {
			t.Fatalf("known metric names lack %s", must)
		}
	}
	return known
}

// recordNames returns the record: names of the rules file. The file is
// Prometheus' own YAML rule format; a record key is one line.
func recordNames(t *testing.T) []string {
	t.Helper()
	recordRE := regexp.MustCompile(`^\s*(?:-\s+)?record:\s*["']?([a-zA-Z_:][a-zA-Z0-9_:]*)["']?\s*(?:#.*)?$`)
	var names []string
	for _, line := range readLines(t, rulesFile) {
		if m := recordRE.FindStringSubmatch(line); m != nil {
			names = append(names, m[1])
		}
	}
	if len(names) == 0 {
		t.Fatalf("%s has no recording rules", rulesFile)
	}
	sort.Strings(names)
	return names
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestMetricNamesExtraction(t *testing.T) {
	for _, c := range []struct {
		expr string
		want string
	}{
		{`rate(podflow_x_total{job=~"$job", le="0.5"}[$__rate_interval])`, "podflow_x_total"},
		{`sum by (le, local_workload) (a:b:rate5m{x="y"}) / ignoring (reason) group_left c`, "a:b:rate5m c"},
		{`sum(a) without (instance) or on() vector(0)`, "a"},
		{`histogram_quantile(0.99, sum(rate(h_bucket[5m])) by (le)) * 1e3 > bool Inf`, "h_bucket"},
		{`label_replace(label_join(m, "id", " -> ", "source", "target"), "t", "$1", "id", "[^/]*/(.*)")`, "m"},
		{`topk(10, count by (ns) (x offset 5m)) and y[5m:1m]`, "x y"},
	} {
		got, err := metricNames(c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("metricNames(%s) = %q, want %q", c.expr, got, c.want)
		}
	}
	if _, err := metricNames(`{__name__=~"podflow_.*"}`); err == nil {
		t.Error("a selector by __name__ was accepted")
	}
}
