// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package dashboards holds podflow_exporter's Grafana dashboards (the JSON
// files in this directory) and lists their queries, so that tests can run
// every panel's PromQL against a real Prometheus.
package dashboards

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
)

// Query is one target of one dashboard panel.
type Query struct {
	File      string // dashboard file name, e.g. podflow-workload.json
	Dashboard string // dashboard title
	Panel     string // panel title
	RefID     string
	Expr      string // PromQL with Grafana variables; see Substitute
	Instant   bool   // an instant query (else a range query)
	Format    string // "time_series" (also when unset), "table" or "heatmap"
}

// panel is the part of a Grafana panel Queries reads; rows nest panels.
type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		RefID   string `json:"refId"`
		Expr    string `json:"expr"`
		Instant bool   `json:"instant"`
		Format  string `json:"format"`
	} `json:"targets"`
}

// Queries returns every panel target with an expression of every dashboard
// (*.json) in dir, in file and panel order.
func Queries(dir string) ([]Query, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []Query
	for _, f := range files {
		buf, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var d struct {
			Title  string  `json:"title"`
			Panels []panel `json:"panels"`
		}
		if err := json.Unmarshal(buf, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		var walk func(ps []panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				for _, t := range p.Targets {
					if t.Expr == "" {
						continue
					}
					format := t.Format
					if format == "" {
						format = "time_series"
					}
					out = append(out, Query{
						File: filepath.Base(f), Dashboard: d.Title, Panel: p.Title,
						RefID: t.RefID, Expr: t.Expr, Instant: t.Instant, Format: format,
					})
				}
				walk(p.Panels) // a collapsed row keeps its panels inside it
			}
		}
		walk(d.Panels)
	}
	return out, nil
}

// builtins are the values Substitute gives Grafana's global variables: a
// 15 s scrape interval and the last 5 minutes.
var builtins = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "15s",
	"__interval_ms":   "15000",
	"__range":         "5m",
	"__range_s":       "300",
	"__range_ms":      "300000",
}

// variableRE matches $var, ${var}, ${var:format} and [[var]]. Names start
// with a letter or underscore, so label_replace's "$1" is left alone.
var variableRE = regexp.MustCompile(`\$\{([A-Za-z_]\w*)(?::[^}]*)?\}|\$([A-Za-z_]\w*)|\[\[([A-Za-z_]\w*)(?::[^\]]*)?\]\]`)

// Substitute replaces the Grafana variables in expr as Grafana would with
// "All" selected: $__rate_interval becomes 1m, $__interval 15s, $__range 5m
// (and their _ms/_s forms), and every dashboard variable ($namespace,
// $workload, $job, $instance, ...) the regular expression .*. To pin a
// variable to a value, replace it in expr before calling Substitute.
func Substitute(expr string) string {
	return variableRE.ReplaceAllStringFunc(expr, func(m string) string {
		sub := variableRE.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		if v, ok := builtins[name]; ok {
			return v
		}
		return ".*"
	})
}
