// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/podflow/podflow_exporter/"

// TestImportRules: dependencies point one way (docs/development.md#layout).
// "deps" rules hold for everything a package links (go list -deps),
// "imports" rules for what its own files import: the live view names edges
// through naming, which reads the Kubernetes cache's types, but uses
// nothing of kube itself. Test files are not checked: a benchmark may
// compare two consumers side by side.
func TestImportRules(t *testing.T) {
	for _, rule := range []struct {
		pkg, what string
		banned    []string
	}{
		{"bpf", "deps", []string{module}},
		{"kube", "deps", []string{module + "bpf", "github.com/prometheus/"}},
		{"naming", "deps", []string{module + "flow", module + "collector", module + "live", "github.com/prometheus/"}},
		{"flow", "deps", []string{module + "collector", module + "live", "github.com/prometheus/"}},
		{"collector", "deps", []string{module + "live"}},
		{"live", "deps", []string{module + "collector"}},
		{"live", "imports", []string{module + "kube", module + "collector"}},
		{"translation", "deps", []string{module + "collector", module + "live", module + "flow"}},
	} {
		args := []string{"list", "-f", `{{join .Imports "\n"}}`, "./" + rule.pkg}
		if rule.what == "deps" {
			args = []string{"list", "-deps", "./" + rule.pkg}
		}
		out, err := exec.Command("go", args...).Output()
		if err != nil {
			t.Fatalf("go %s: %v", strings.Join(args, " "), err)
		}
		for _, p := range strings.Fields(string(out)) {
			if p == module+rule.pkg {
				continue
			}
			for _, b := range rule.banned {
				if strings.HasPrefix(p, b) {
					t.Errorf("%s %s %s", rule.pkg, rule.what, p)
				}
			}
		}
	}
}
