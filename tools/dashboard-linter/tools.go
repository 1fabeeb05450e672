//go:build tools

// Package tools pins Grafana's dashboard linter, which checks dashboards/ in
// the tests. go.sum holds the hash: the checksum database has no record of
// this pseudo-version.
package tools

import _ "github.com/grafana/dashboard-linter"
