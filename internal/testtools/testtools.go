// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package testtools finds and runs the real tools the tests use (promtool,
// the Prometheus server, helm, kubectl, Grafana's dashboard linter), which
// make tools builds into the repository's .tools/bin.
package testtools

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Path returns the tool's path: $NAME (upper case, '-' as '_', e.g.
// PROMTOOL, DASHBOARD_LINTER) when set, else .tools/bin/name at the
// repository root. A missing tool fails the test: it is never skipped.
func Path(t testing.TB, name string) string {
	t.Helper()
	env := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if p := os.Getenv(env); p != "" {
		return p
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, ".tools", "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not found at %s: run make tools (scripts/install-tools.sh builds it) or set %s", name, p, env)
	}
	return p
}

// repoRoot is the nearest directory above the working directory (a test's
// package directory) that holds go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
