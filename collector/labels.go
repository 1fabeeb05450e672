// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"github.com/podflow/podflow_exporter/naming"
)

// label is one label of a store's schema and how to read it from a
// series' edge and variant.
type label struct {
	name  string
	value func(e *naming.Edge, variant uint32) string
	// ofVariant says value reads the variant only (e is nil then): the
	// __overflow__ series keep such labels, one series per variant, since
	// the kernel's overflow knows them (e.g. a DNS response code).
	ofVariant bool
}

// identityLabels lists the labels every flow family carries, in schema
// order (naming.EdgeLabels), so that the live view names an edge as
// /metrics does.
func identityLabels(s naming.Schema) []label {
	var ls []label
	for _, l := range s.EdgeLabels() {
		ls = append(ls, label{name: l.Name, value: func(e *naming.Edge, _ uint32) string { return l.Value(e) }})
	}
	return ls
}

// appLabel is the application protocol of the flows and TCP families'
// series (bpf.AppProtocol: none, http1, http2, tls, postgres, redis, mysql,
// dns, unknown).
var appLabel = label{name: "app_protocol", value: func(e *naming.Edge, _ uint32) string { return e.App.String() }}

// withApp adds appLabel to labels when the schema keeps protocols apart
// (--collector.flows.app-protocol).
func withApp(labels []label, s naming.Schema) []label {
	if !s.AppProtocol {
		return labels
	}
	return append(labels, appLabel)
}
