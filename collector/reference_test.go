// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/kube"
	"github.com/podflow/podflow_exporter/naming"
	"github.com/podflow/podflow_exporter/naming/namingtest"
)

// documentedRow is a row of docs/metrics.md naming one family.
var documentedRow = regexp.MustCompile("(?m)^\\| `(podflow_[a-z0-9_]+)(?:\\{[^`]*\\})?` \\|")

// TestEveryMetricDocumented: every family the collectors can emit — what
// Describe sends with every collector enabled and every source present —
// has a row in the metric reference.
func TestEveryMetricDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range documentedRow.FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	src := newFakeSource()
	res := naming.NewKubeResolver(namingtest.NewKube(), namingtest.WorldCgroups(), kube.AggregatePod, nil, nil)
	cfg := testConfig(100, sortedNames()...)
	p, err := New(cfg, Sources{
		Pipeline: testPipeline(t, cfg, pipelineConfig(), src, res, &clock{}), DropReasons: testDropReasons, Tracer: src,
		Kube: res, Translation: fakeTranslation{},
	}, nopLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got, want := p.Running(), sortedNames(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("running %v, want every collector %v", got, want)
	}
	ch := make(chan *prometheus.Desc)
	go func() { p.Describe(ch); close(ch) }()
	n := 0
	for d := range ch {
		n++
		name := regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(d.String())[1]
		if !documented[name] {
			t.Errorf("%s is not in docs/metrics.md", name)
		}
	}
	if n < 40 {
		t.Errorf("Describe sent %d descriptors: not every collector ran", n)
	}
}
