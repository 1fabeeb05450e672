// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cilium/ebpf"
)

// Bad input through BPF_PROG_TEST_RUN: truncated, malformed and random
// DNS messages and HTTP segments. The programs must let every packet
// through, count no request they cannot read, and say what they could
// not read in payload_events — exactly as a reference of the rules in
// dns.bpf.h and http.bpf.h, written again here, predicts.

// eventDelta returns the payload events counted since before.
func eventDelta(t *testing.T, tr *Tracer, before PayloadStats) map[string]uint64 {
	t.Helper()
	st, err := tr.PayloadStats()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for ev := range st.Events {
		if n := st.Events[ev] - before.Events[ev]; n > 0 {
			out[PayloadEvent(ev).Protocol()+"/"+PayloadEvent(ev).Name()] = n
		}
	}
	return out
}

// dnsQuery builds a DNS message: header (id, flags, qdcount 1) and one
// question of name (a list of labels) and type.
func dnsMessage(id, flags uint16, qtype uint16, labels ...string) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = append(b, 0, 1, 0, 0, 0, 0, 0, 0)
	for _, l := range labels {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, qtype)
	return binary.BigEndian.AppendUint16(b, 1)
}

// dnsVerdict is what dns_message makes of payload p: "malformed",
// "ignored" (not a standard query), "query" (tracked: each test run has a
// socket of its own) or "response" (matching no query: unmatched).
func dnsVerdict(p []byte) string {
	if len(p) < 17 {
		return "malformed"
	}
	flags := binary.BigEndian.Uint16(p[2:])
	if (flags>>11)&0xf != 0 {
		return "ignored"
	}
	if binary.BigEndian.Uint16(p[4:]) != 1 {
		return "malformed"
	}
	off, toff := 12, 0
	for range 64 {
		if off >= len(p) {
			break
		}
		l := int(p[off])
		if l == 0 {
			toff = off + 1
			break
		}
		if l&0xc0 == 0xc0 {
			toff = off + 2
			break
		}
		if l > 63 {
			break
		}
		off += l + 1
	}
	if toff == 0 || toff+2 > len(p) {
		return "malformed"
	}
	if flags&0x8000 == 0 {
		return "query"
	}
	return "response"
}

// TestDNSMalformedThroughTestRun sends DNS datagrams to port 53 — valid,
// cut at every length, with broken names, and random — through
// flows_egress and flows_ingress.
func TestDNSMalformedThroughTestRun(t *testing.T) {
	tr, progs := loadUnattachedWith(t, Options{EphemeralPorts: [2]uint16{32768, 60999}, TrackDNS: true},
		ProgFlowsEgress, ProgFlowsIngress)
	before, err := tr.PayloadStats()
	if err != nil {
		t.Fatal(err)
	}
	query := dnsMessage(7, 0x0100, 1, "ok", "test")
	response := dnsMessage(7, 0x8180, 1, "ok", "test")
	var payloads [][]byte
	for n := range len(query) + 1 {
		payloads = append(payloads, query[:n], response[:n])
	}
	long := make([]string, 70)
	for i := range long {
		long[i] = "a"
	}
	twoQuestions := dnsMessage(8, 0x0100, 1, "x")
	twoQuestions[5] = 2
	pointer := append(dnsMessage(9, 0x0100, 1)[:12], 0xc0, 0x0c, 0, 1, 0, 1)
	notify := dnsMessage(10, 0x2000, 6, "zone")
	payloads = append(payloads,
		dnsMessage(1, 0x0100, 28, long...),                // 70 labels
		append(dnsMessage(2, 0x0100, 1)[:12], 64, 'a', 0), // a label of 64
		append(dnsMessage(3, 0x0100, 1)[:12], 5, 'a'),     // a name past the end
		twoQuestions, pointer, notify,
		dnsMessage(11, 0x8583, 16, "nx", "test"), // an NXDOMAIN nobody asked
	)
	rng := rand.New(rand.NewPCG(14, 53))
	for range 2000 {
		p := make([]byte, rng.IntN(80))
		for i := range p {
			p[i] = byte(rng.UintN(256))
		}
		if len(p) > 5 && rng.IntN(2) == 0 {
			p[4], p[5] = 0, 1 // one question: reach the name
			p[2] &^= 0x78     // a standard query or response
		}
		payloads = append(payloads, p)
	}

	want := map[string]uint64{}
	queries := 0
	for i, p := range payloads {
		// Queries go out to the server; responses come in (the client's side).
		pkt := packet{v4a, v4b, ipProtoUDP, append(udp(40000+uint16(i%1000), 53, 0), p...), 0}
		prog := progs[ProgFlowsEgress]
		v := dnsVerdict(p)
		if v == "response" {
			pkt = packet{v4b, v4a, ipProtoUDP, append(udp(53, 40000, 0), p...), 0}
			prog = progs[ProgFlowsIngress]
		}
		binary.BigEndian.PutUint16(pkt.l4[4:], uint16(len(pkt.l4)))
		ret, err := prog.Run(&ebpf.RunOptions{Data: pkt.bytes()})
		if err != nil || ret != 1 {
			t.Fatalf("payload %x: returned %d, %v", p, ret, err)
		}
		switch v {
		case "malformed":
			want["dns/malformed"]++
		case "response":
			want["dns/unmatched_response"]++
		case "query":
			queries++
		}
	}
	if got := eventDelta(t, tr, before); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("payload events %v, want %v", got, want)
	}
	pending := 0
	var k, next [32]byte
	var prev any
	for {
		if err := tr.objs.DnsQueries.NextKey(prev, &next); err != nil {
			if !errors.Is(err, ebpf.ErrKeyNotExist) {
				t.Fatal(err)
			}
			break
		}
		pending++
		k = next
		prev = &k
	}
	if pending != queries {
		t.Errorf("%d queries wait for their response, want %d", pending, queries)
	}
	if reqs, _ := drainRequests(t, tr); len(reqs) != 0 {
		t.Errorf("requests counted from bad input: %v", reqs)
	}
}

// TestDNSTableFull: with room for 4 queries awaiting a response, one
// query sent twice on one socket (a test run's dummy socket, repeated) is
// tracked once and then a duplicate; 10 more, each on a socket of its own,
// fill the 3 places left and 7 are counted as table_full.
func TestDNSTableFull(t *testing.T) {
	cfg := defaultConfig
	cfg.DNSTableEntries = 4
	tr, err := Load(&cfg, Options{EphemeralPorts: [2]uint16{32768, 60999}, TrackDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	spec, _, err := loadSpec(Options{EphemeralPorts: [2]uint16{32768, 60999}})
	if err != nil {
		t.Fatal(err)
	}
	egress, err := tr.loadProgram(spec, ProgFlowsEgress)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { egress.Close() })
	before, err := tr.PayloadStats()
	if err != nil {
		t.Fatal(err)
	}
	query := packet{v4a, v4b, ipProtoUDP, append(udp(40000, 53, 0), dnsMessage(1, 0x0100, 1, "ok", "test")...), 0}
	binary.BigEndian.PutUint16(query.l4[4:], uint16(len(query.l4)))
	if _, err := egress.Run(&ebpf.RunOptions{Data: query.bytes(), Repeat: 2}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := egress.Run(&ebpf.RunOptions{Data: query.bytes()}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]uint64{"dns/duplicate_query": 1, "dns/table_full": 7}
	if got := eventDelta(t, tr, before); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("payload events %v, want %v", got, want)
	}
	st, err := tr.PayloadStats()
	if err != nil {
		t.Fatal(err)
	}
	if st.DNSCapacity != 4 {
		t.Errorf("capacity %d, want 4", st.DNSCapacity)
	}
}
