//go:build tools

// Package tools pins the Prometheus server and promtool that the end-to-end
// tests run. It is built by scripts/install-tools.sh, never by the exporter.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
