// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/bpf"
)

// TracerStatus reports on the eBPF programs and their tables.
type TracerStatus interface {
	Status() []bpf.ProgramStatus
	Stats() ([]bpf.TableStats, error)
	// RoleDecisions counts, by method, how the programs decided which
	// side of a connection each socket (or socketless packet) is.
	RoleDecisions() ([bpf.NumRoleMethods]uint64, error)
	// RotationStats reports the drains' table flips and the sockets that
	// count in entries of their own.
	RotationStats() (bpf.RotationStats, error)
	// PayloadStats reports the payload the programs could not use and
	// the DNS queries awaiting a response.
	PayloadStats() (bpf.PayloadStats, error)
}

func init() {
	register("bpf", true, nil, newBPFCollector)
}

var (
	programAttachedDesc = prometheus.NewDesc("podflow_bpf_program_attached",
		"Whether an eBPF program the enabled collectors need is attached (1) or could not be (0, the log says why).",
		[]string{"program"}, nil)
	mapEntriesDesc = prometheus.NewDesc("podflow_bpf_map_entries",
		"Flows the last drain of a rotating kernel table found: the distinct flows of one drain interval (--collector.drain-interval, or less when a scrape drained in between).",
		[]string{"map"}, nil)
	mapMaxEntriesDesc = prometheus.NewDesc("podflow_bpf_map_max_entries",
		"Capacity of a rotating kernel table (--bpf.*-table-entries).",
		[]string{"map"}, nil)
	mapUpdateFailuresDesc = prometheus.NewDesc("podflow_bpf_map_update_failures_total",
		"Inserts into a kernel table that failed, by reason (full: the table was full); their traffic was counted in the __overflow__ series.",
		[]string{"map", "reason"}, nil)
	socketEntriesDesc = prometheus.NewDesc("podflow_bpf_socket_entries",
		"Established TCP sockets that count in an entry of their own, folded into the flows and latency tables at each drain, as the last drain's fold found them (a closed socket's entry until the second drain after its close deletes it).",
		nil, nil)
	socketMaxEntriesDesc = prometheus.NewDesc("podflow_bpf_socket_max_entries",
		"Capacity of the table of sockets that count in entries of their own (a quarter of --bpf.flow-table-entries).",
		nil, nil)
	socketEntryFailuresDesc = prometheus.NewDesc("podflow_bpf_socket_entry_failures_total",
		"Established TCP sockets that could not get an entry of their own, by reason (full: the table was full; other includes a failed allocation); each is tried once, and its packets count in the flows table for its whole life, one update each.",
		[]string{"reason"}, nil)
	socketFoldsDesc = prometheus.NewDesc("podflow_bpf_socket_folds_total",
		"Runs of fold_sockets, which adds what each socket counted in its entry to the flows and latency tables, once per drain.",
		nil, nil)
	socketFoldFailuresDesc = prometheus.NewDesc("podflow_bpf_socket_fold_failures_total",
		"Runs of fold_sockets that failed; the counts stay in the sockets' entries for the next one.",
		nil, nil)
	tableRotationsDesc = prometheus.NewDesc("podflow_bpf_table_rotations_total",
		"Flips of every rotating kernel table at once, one per drain.",
		nil, nil)
	rotationWaitDesc = prometheus.NewDesc("podflow_bpf_table_rotation_wait_seconds_total",
		"Time the drains waited after flipping the tables for the programs still writing to the retired ones (one RCU grace period per drain).",
		nil, nil)
	payloadEventsDesc = prometheus.NewDesc("podflow_bpf_payload_events_total",
		"Payload the eBPF programs saw and could not use, never counted as requests, by protocol and event: dns malformed (to or from a DNS port, not a DNS message), unmatched_response (a response to no tracked query: its query sent before the exporter started, expired after --bpf.dns-timeout, or not tracked), table_full (a query not tracked: --bpf.dns-table-entries awaited responses), track_failed (a query not tracked for another insert error), duplicate_query (a query with the socket, peer, id and type of one awaiting its response), tcp_segment_skipped (a TCP segment to or from a DNS port that does not start a message); http malformed (a response without an HTTP/1.x status line), pipelined (a request sent before the previous one's response).",
		[]string{"protocol", "event"}, nil)
	dnsPendingDesc = prometheus.NewDesc("podflow_bpf_dns_pending_queries",
		"DNS queries awaiting their response at the last drain.",
		nil, nil)
	dnsPendingMaxDesc = prometheus.NewDesc("podflow_bpf_dns_pending_queries_max",
		"DNS queries that can await their response at once (--bpf.dns-table-entries).",
		nil, nil)
	dnsExpiriesDesc = prometheus.NewDesc("podflow_bpf_dns_expiries_total",
		"Runs of expire_dns_queries, which counts the queries that waited past --bpf.dns-timeout as rcode=\"timeout\", once per drain.",
		nil, nil)
	dnsExpiryFailuresDesc = prometheus.NewDesc("podflow_bpf_dns_expiry_failures_total",
		"Runs of expire_dns_queries that failed; the queries wait for the next one.",
		nil, nil)
	roleDecisionsDesc = prometheus.NewDesc("podflow_bpf_role_decisions_total",
		"How the eBPF programs decided which side of a connection (the role label) a socket is: once per socket from the socket itself (tcp_connect, tcp_accept, tcp_listen, tcp_backlog, tcp_no_backlog, udp_connected, udp_kernel_port, udp_first_datagram), once per packet without a socket (tcp_syn; ports, the last resort: port numbers).",
		[]string{"method"}, nil)
)

// bpfCollector exports the exporter's own kernel-side health.
type bpfCollector struct {
	tracer TracerStatus
}

func newBPFCollector(_ *Config, src Sources) (Collector, error) {
	if src.Tracer == nil {
		return nil, errNoSource
	}
	return &bpfCollector{tracer: src.Tracer}, nil
}

func (c *bpfCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- programAttachedDesc
	ch <- mapEntriesDesc
	ch <- mapMaxEntriesDesc
	ch <- mapUpdateFailuresDesc
	ch <- roleDecisionsDesc
	ch <- socketEntriesDesc
	ch <- socketMaxEntriesDesc
	ch <- socketEntryFailuresDesc
	ch <- socketFoldsDesc
	ch <- socketFoldFailuresDesc
	ch <- tableRotationsDesc
	ch <- rotationWaitDesc
	ch <- payloadEventsDesc
	ch <- dnsPendingDesc
	ch <- dnsPendingMaxDesc
	ch <- dnsExpiriesDesc
	ch <- dnsExpiryFailuresDesc
}

func (c *bpfCollector) Update(ch chan<- prometheus.Metric) error {
	for _, st := range c.tracer.Status() {
		v := 0.0
		if st.Attached {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(programAttachedDesc, prometheus.GaugeValue, v, st.Name)
	}
	stats, err := c.tracer.Stats()
	if err != nil {
		return err
	}
	for _, t := range stats {
		name := t.Table.String()
		ch <- prometheus.MustNewConstMetric(mapEntriesDesc, prometheus.GaugeValue, float64(t.LastDrained), name)
		ch <- prometheus.MustNewConstMetric(mapMaxEntriesDesc, prometheus.GaugeValue, float64(t.Capacity), name)
		for reason, n := range t.Failures {
			ch <- prometheus.MustNewConstMetric(mapUpdateFailuresDesc, prometheus.CounterValue, float64(n), name, bpf.UpdateFailure(reason).String())
		}
	}
	roles, err := c.tracer.RoleDecisions()
	if err != nil {
		return err
	}
	for m, n := range roles {
		ch <- prometheus.MustNewConstMetric(roleDecisionsDesc, prometheus.CounterValue, float64(n), bpf.RoleMethod(m).String())
	}
	rot, err := c.tracer.RotationStats()
	if err != nil {
		return err
	}
	ch <- prometheus.MustNewConstMetric(socketEntriesDesc, prometheus.GaugeValue, float64(rot.SocketEntries))
	ch <- prometheus.MustNewConstMetric(socketMaxEntriesDesc, prometheus.GaugeValue, float64(rot.SocketCapacity))
	for reason, n := range rot.SocketFailures {
		if bpf.UpdateFailure(reason) == bpf.FailNoTable {
			continue // the socket table is no rotating table
		}
		ch <- prometheus.MustNewConstMetric(socketEntryFailuresDesc, prometheus.CounterValue, float64(n), bpf.UpdateFailure(reason).String())
	}
	ch <- prometheus.MustNewConstMetric(socketFoldsDesc, prometheus.CounterValue, float64(rot.Folds))
	ch <- prometheus.MustNewConstMetric(socketFoldFailuresDesc, prometheus.CounterValue, float64(rot.FoldErrors))
	ch <- prometheus.MustNewConstMetric(tableRotationsDesc, prometheus.CounterValue, float64(rot.Rotations))
	ch <- prometheus.MustNewConstMetric(rotationWaitDesc, prometheus.CounterValue, rot.WaitTime.Seconds())
	return c.updatePayload(ch)
}

// updatePayload sends the payload events and the DNS queries' table.
func (c *bpfCollector) updatePayload(ch chan<- prometheus.Metric) error {
	st, err := c.tracer.PayloadStats()
	if err != nil {
		return err
	}
	for ev, n := range st.Events {
		e := bpf.PayloadEvent(ev)
		ch <- prometheus.MustNewConstMetric(payloadEventsDesc, prometheus.CounterValue, float64(n), e.Protocol(), e.Name())
	}
	ch <- prometheus.MustNewConstMetric(dnsPendingDesc, prometheus.GaugeValue, float64(st.DNSPending))
	ch <- prometheus.MustNewConstMetric(dnsPendingMaxDesc, prometheus.GaugeValue, float64(st.DNSCapacity))
	ch <- prometheus.MustNewConstMetric(dnsExpiriesDesc, prometheus.CounterValue, float64(st.DNSExpiries))
	ch <- prometheus.MustNewConstMetric(dnsExpiryFailuresDesc, prometheus.CounterValue, float64(st.DNSExpiryErrors))
	return nil
}
