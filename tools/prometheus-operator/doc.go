// Package crds pins the prometheus-operator release whose published CRDs
// (ServiceMonitor, PrometheusRule) the deploy tests install into the test
// API server. Only the module's files are used; nothing here is built.
package crds
