// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package dashboards

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The four dashboards; each file's uid is its name without .json.
var wantFiles = []string{
	"podflow-cluster-overview.json", "podflow-exporter.json", "podflow-service-map.json", "podflow-workload.json",
}

// dashboard is the part of a Grafana dashboard the checks read.
type dashboard struct {
	UID           string   `json:"uid"`
	Title         string   `json:"title"`
	SchemaVersion int      `json:"schemaVersion"`
	Tags          []string `json:"tags"`
	Refresh       string   `json:"refresh"`
	Time          struct {
		From string `json:"from"`
	} `json:"time"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []dpanel `json:"panels"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Datasource *dsRef          `json:"datasource"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dpanel struct {
	ID          int    `json:"id"`
	Title       string `json:"title"`
	Type        string `json:"type"`
	Description string `json:"description"`
	Datasource  *dsRef `json:"datasource"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets         []dtarget `json:"targets"`
	Panels          []dpanel  `json:"panels"`
	Transformations []struct {
		ID      string          `json:"id"`
		Options json.RawMessage `json:"options"`
		Filter  *struct {
			ID      string `json:"id"`
			Options string `json:"options"`
		} `json:"filter"`
	} `json:"transformations"`
}

type dtarget struct {
	RefID        string `json:"refId"`
	Expr         string `json:"expr"`
	Format       string `json:"format"`
	LegendFormat string `json:"legendFormat"`
	Instant      bool   `json:"instant"`
	Datasource   *dsRef `json:"datasource"`
}

// allPanels flattens rows' nested panels.
func allPanels(ps []dpanel) []dpanel {
	var out []dpanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// loadDashboards parses every dashboard of this directory, by file name.
func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	if !slices.Equal(files, wantFiles) {
		t.Fatalf("dashboards %v, want %v", files, wantFiles)
	}
	out := map[string]dashboard{}
	for _, f := range files {
		buf, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(buf, &d); err != nil {
			t.Fatalf("%s: not valid JSON: %v", f, err)
		}
		out[f] = d
	}
	return out
}

// usesDatasource says whether ref is the ${datasource} variable.
func usesDatasource(ref *dsRef) bool {
	return ref != nil && ref.Type == "prometheus" && (ref.UID == "${datasource}" || ref.UID == "$datasource")
}

var rateRangeRE = regexp.MustCompile(`\b(?:rate|irate)\(([^()]|\([^()]*\))*?\[([^\]]*)\]`)

func TestDashboardsStructure(t *testing.T) {
	uids := map[string]string{}
	for file, d := range loadDashboards(t) {
		t.Run(file, func(t *testing.T) {
			if want := strings.TrimSuffix(file, ".json"); d.UID != want {
				t.Errorf("uid %q, want the stable %q", d.UID, want)
			}
			if other, dup := uids[d.UID]; dup {
				t.Errorf("uid %q also used by %s", d.UID, other)
			}
			uids[d.UID] = file
			if d.SchemaVersion < 38 {
				t.Errorf("schemaVersion %d, want >= 38 (Grafana 10)", d.SchemaVersion)
			}
			if !slices.Contains(d.Tags, "podflow") {
				t.Errorf("tags %v lack podflow", d.Tags)
			}
			if d.Refresh != "30s" || d.Time.From != "now-1h" {
				t.Errorf("refresh %q, time from %q; want 30s, now-1h", d.Refresh, d.Time.From)
			}
			vars := map[string]variable{}
			for _, v := range d.Templating.List {
				vars[v.Name] = v
				if v.Type == "query" && !usesDatasource(v.Datasource) {
					t.Errorf("variable %s does not query ${datasource}: %+v", v.Name, v.Datasource)
				}
			}
			if ds, ok := vars["datasource"]; !ok || ds.Type != "datasource" || string(ds.Query) != `"prometheus"` {
				t.Errorf("no datasource variable of type datasource querying prometheus: %+v", ds)
			}
			if ns, ok := vars["namespace"]; !ok || ns.Type != "query" || !strings.HasPrefix(ns.Definition, "label_values(podflow_") {
				t.Errorf("no namespace variable with label_values of a podflow metric: %+v", ns)
			}
			ids := map[int]bool{}
			for _, p := range allPanels(d.Panels) {
				if ids[p.ID] {
					t.Errorf("panel id %d used twice", p.ID)
				}
				ids[p.ID] = true
				if p.Title == "" {
					t.Errorf("panel %d has no title", p.ID)
				}
				if p.Type == "row" { // a row only groups panels: no data, unit or datasource
					continue
				}
				checkPanel(t, d, p)
			}
		})
	}
}

func checkPanel(t *testing.T, d dashboard, p dpanel) {
	t.Helper()
	if !usesDatasource(p.Datasource) {
		t.Errorf("panel %q does not use ${datasource}: %+v", p.Title, p.Datasource)
	}
	if p.Description == "" {
		t.Errorf("panel %q has no description", p.Title)
	}
	if p.FieldConfig.Defaults.Unit == "" {
		t.Errorf("panel %q has no unit (fieldConfig.defaults.unit)", p.Title)
	}
	if len(p.Targets) == 0 {
		t.Errorf("panel %q has no targets", p.Title)
	}
	refs := map[string]bool{}
	for _, tg := range p.Targets {
		if !usesDatasource(tg.Datasource) {
			t.Errorf("panel %q target %s does not use ${datasource}", p.Title, tg.RefID)
		}
		if tg.Expr == "" || tg.RefID == "" || refs[tg.RefID] {
			t.Errorf("panel %q target %q: empty expression, or empty or repeated refId", p.Title, tg.RefID)
		}
		refs[tg.RefID] = true
		if strings.Contains(tg.Expr, "datasource") {
			t.Errorf("panel %q target %s: the datasource variable belongs in datasource, not the expression", p.Title, tg.RefID)
		}
		for _, m := range rateRangeRE.FindAllStringSubmatch(tg.Expr, -1) {
			if m[2] != "$__rate_interval" {
				t.Errorf("panel %q target %s: rate over [%s], want [$__rate_interval]", p.Title, tg.RefID, m[2])
			}
		}
	}
	if p.Type == "heatmap" {
		for _, tg := range p.Targets {
			if tg.Format != "heatmap" || tg.LegendFormat != "{{le}}" || !strings.Contains(tg.Expr, "_bucket") ||
				!strings.Contains(tg.Expr, "le") {
				t.Errorf("heatmap %q target %s: want format heatmap, legend {{le}}, a _bucket series by le", p.Title, tg.RefID)
			}
		}
		if p.FieldConfig.Defaults.Unit != "s" {
			t.Errorf("heatmap %q: unit %q, want s", p.Title, p.FieldConfig.Defaults.Unit)
		}
	}
}

func TestDashboardMetricNames(t *testing.T) {
	known := knownMetrics(t)
	used := 0
	for file, d := range loadDashboards(t) {
		exprs := map[string]string{}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			// label_values(metric{...}, label): the metric is the first argument.
			m := regexp.MustCompile(`^label_values\((.*),\s*\w+\)$`).FindStringSubmatch(v.Definition)
			if m == nil {
				t.Errorf("%s: variable %s: want label_values(metric, label), got %q", file, v.Name, v.Definition)
				continue
			}
			exprs["variable "+v.Name] = m[1]
		}
		for _, p := range allPanels(d.Panels) {
			for _, tg := range p.Targets {
				exprs["panel "+p.Title+" target "+tg.RefID] = tg.Expr
			}
		}
		for where, expr := range exprs {
			names, err := metricNames(expr)
			if err != nil {
				t.Errorf("%s: %s: %v", file, where, err)
			}
			if len(names) == 0 {
				t.Errorf("%s: %s selects no metric: %q", file, where, expr)
			}
			for _, n := range names {
				used++
				if _, ok := known[n]; !ok {
					t.Errorf("%s: %s uses %s, which is neither an exporter metric nor a recording rule", file, where, n)
				}
			}
		}
	}
	t.Logf("%d metric references, all known (%d names exporter and rules provide)", used, len(known))
}

func TestQueriesAndSubstitute(t *testing.T) {
	qs, err := Queries(".")
	if err != nil {
		t.Fatal(err)
	}
	perFile := map[string]int{}
	for _, q := range qs {
		perFile[q.File]++
		if q.Dashboard == "" || q.Panel == "" || q.RefID == "" || q.Expr == "" || q.Format == "" {
			t.Errorf("incomplete query %+v", q)
		}
		if s := Substitute(q.Expr); strings.ContainsAny(s, "$") && !regexp.MustCompile(`"\$\d"`).MatchString(s) {
			t.Errorf("%s / %s: variables left after Substitute: %s", q.Dashboard, q.Panel, s)
		}
	}
	for _, f := range wantFiles {
		if perFile[f] == 0 {
			t.Errorf("Queries found nothing in %s", f)
		}
	}
	var graph []Query
	for _, q := range qs {
		if q.File == "podflow-service-map.json" && q.Panel == "Service map" {
			graph = append(graph, q)
		}
	}
	if len(graph) != 4 {
		t.Errorf("service map: %d node graph queries, want 4", len(graph))
	}
	for _, q := range graph {
		if !q.Instant || q.Format != "table" {
			t.Errorf("node graph query %s: instant %v, format %s; want an instant table", q.RefID, q.Instant, q.Format)
		}
	}

	for in, want := range map[string]string{
		`rate(x{ns=~"$namespace", w=~"${workload}"}[$__rate_interval])`: `rate(x{ns=~".*", w=~".*"}[1m])`,
		`increase(x{j=~"${job:regex}", i=~"[[instance]]"}[$__range])`:   `increase(x{j=~".*", i=~".*"}[5m])`,
		`label_replace(y[$__interval], "a", "$1", "b", "(.*)")`:         `label_replace(y[15s], "a", "$1", "b", "(.*)")`,
	} {
		if got := Substitute(in); got != want {
			t.Errorf("Substitute(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestRateIntervalCheck(t *testing.T) {
	for expr, want := range map[string]string{
		`sum(rate(x{a="b"}[5m]))`: "5m",
		`irate(x[$__rate_interval]) / rate(y{z=~"(a|b)"}[$__interval])`: "$__rate_interval $__interval",
		`increase(x[$__range]) + sum_over_time(y[1h])`:                  "",
	} {
		var got []string
		for _, m := range rateRangeRE.FindAllStringSubmatch(expr, -1) {
			got = append(got, m[2])
		}
		if strings.Join(got, " ") != want {
			t.Errorf("rate ranges of %s: %q, want %q", expr, got, want)
		}
	}
}
