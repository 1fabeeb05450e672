// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/naming"
)

func init() {
	registerDrained("dns", requestTables, requestPrograms, newDNS)
}

// newDNS exports the DNS requests (standard queries) of local sockets per
// flow, by response code and question type, and their durations; never
// the names asked for. On a client the remote side is the DNS server, named
// as any remote (by its service when it was a translated ClusterIP).
func newDNS(cfg *Config, schema naming.Schema, _ Sources) (drainedFamily, error) {
	return newRequests(cfg, schema, requestFamilies{
		kind: bpf.RequestDNS,
		labels: []label{
			variantLabel("rcode", 8, bpf.RCodeName),
			variantLabel("qtype", 0, func(q uint8) string { return bpf.DNSQType(q).String() }),
		},
		counts: familySpec{"podflow_dns_requests_total",
			"DNS requests (standard queries) of local sockets by response code (RFC 1035/6895 names; timeout: no response within --bpf.dns-timeout) and question type, per flow: on clients (role=client) the queries they sent, on servers (role=server) the queries they received, answered or timed out. An ICMP error instead of a response (no server on the port) is a timeout."},
		histogram: bpf.HistDNS,
		durations: familySpec{"podflow_dns_request_duration_seconds",
			"Time from a DNS query to its response, as the local socket saw them: on a client from query sent to response received, on a server from query received to response sent, per flow."},
	})
}
