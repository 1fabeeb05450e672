// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/naming"
)

func init() {
	registerDrained("http", requestTables, requestPrograms, newHTTP)
}

// newHTTP exports the plaintext HTTP/1.x requests of local sockets per
// flow, client and server side, by method and status class, and their
// durations; never paths or hosts. TLS, HTTP/2 (and gRPC) and pipelined
// requests are not counted.
func newHTTP(cfg *Config, schema naming.Schema, _ Sources) (drainedFamily, error) {
	return newRequests(cfg, schema, requestFamilies{
		kind: bpf.RequestHTTP,
		labels: []label{
			variantLabel("method", 8, func(m uint8) string { return bpf.HTTPMethod(m).String() }),
			variantLabel("status_class", 0, bpf.StatusClassName),
		},
		counts: familySpec{"podflow_http_requests_total",
			"HTTP/1.x requests of local sockets by method and status class (none: the connection closed before a response), per flow, client and server side."},
		histogram: bpf.HistHTTP,
		durations: familySpec{"podflow_http_request_duration_seconds",
			"Time from an HTTP/1.x request's first segment to its response's first segment, as the local socket saw them (client: sent to received; server: received to sent), per flow."},
	})
}
