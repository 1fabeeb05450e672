//go:build tools

// Package tools pins helm, which renders and lints deploy/helm/podflow-exporter
// in the tests.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
