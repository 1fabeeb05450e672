// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// segmentRunner runs inspect_test_segment (payloadtest.bpf.c) against a
// tracer's tables: one TCP connection, segment by segment.
type segmentRunner struct {
	t    *testing.T
	prog *ebpf.Program
	ctx  []byte
	cb   uint32 // offset of __sk_buff.cb
}

func newSegmentRunner(t *testing.T, tr *Tracer) *segmentRunner {
	t.Helper()
	spec, err := loadPayloadtest()
	if err != nil {
		t.Fatal(err)
	}
	prog, err := tr.loadProgram(spec, "inspect_test_segment")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	r := &segmentRunner{t: t, prog: prog}
	r.ctx, r.cb = skbMember(t, "cb")
	return r
}

// segment sends one segment with payload p; start begins a new connection
// whose local side is role; egress: the local side sends it. It returns
// the connection's application protocol after it.
func (r *segmentRunner) segment(start bool, role Role, egress bool, p []byte) AppProtocol {
	r.t.Helper()
	return r.segmentTo(8080, start, role, egress, p)
}

// segmentTo is segment on a connection to server port port.
func (r *segmentRunner) segmentTo(port uint32, start bool, role Role, egress bool, p []byte) AppProtocol {
	r.t.Helper()
	cb := [5]uint32{0, uint32(role), 0, port, 0}
	if start {
		cb[0] = 1
	}
	if egress {
		cb[2] = 1
	}
	for i, v := range cb {
		binary.NativeEndian.PutUint32(r.ctx[r.cb+uint32(4*i):], v)
	}
	l4 := append(tcp(45000, uint16(port), 0), p...)
	out := make([]byte, len(r.ctx))
	ret, err := r.prog.Run(&ebpf.RunOptions{Data: packet{v4a, v4b, ipProtoTCP, l4, 0}.bytes(), Context: r.ctx, ContextOut: out})
	if err != nil || ret != 1 {
		r.t.Fatalf("segment %q: returned %d, %v", p, ret, err)
	}
	return AppProtocol(binary.NativeEndian.Uint32(out[r.cb+16:]))
}

// goMethodOf is http_method_of (app.bpf.h): b is the first bytes, up to 16.
func goMethodOf(b []byte) int {
	n := len(b)
	var p [16]byte
	copy(p[:], b)
	if n < 5 {
		return -1
	}
	// p is zero-padded: a prefix found is within the n bytes.
	for m, prefix := range map[int]string{1: "GET ", 2: "HEAD ", 3: "POST ", 4: "PUT ", 5: "DELETE ", 6: "PATCH ", 7: "OPTIONS "} {
		if strings.HasPrefix(string(p[:]), prefix) {
			return m
		}
	}
	sp := -1
	for i := 0; i < 15; i++ {
		if i >= n-1 {
			return -1
		}
		if p[i] == ' ' {
			sp = i
			break
		}
		if (p[i] < 'A' || p[i] > 'Z') && p[i] != '-' && p[i] != '_' {
			return -1
		}
	}
	if sp < 3 || sp >= 15 {
		return -1
	}
	if c := p[sp+1]; c == '/' || c == '*' || c == 'h' {
		return 0
	}
	return -1
}

// httpModel is http_segment's rules: what one connection's segments count.
type httpModel struct {
	awaiting bool
	method   int
	counts   map[string]int
	events   map[string]uint64
}

func (m *httpModel) segment(fromClient bool, p []byte) {
	if len(p) == 0 {
		return
	}
	b := p[:min(len(p), 16)]
	if fromClient {
		method := goMethodOf(b)
		switch {
		case method < 0:
		case m.awaiting:
			m.events["http/pipelined"]++
		default:
			m.awaiting, m.method = true, method
		}
		return
	}
	if !m.awaiting {
		return
	}
	var s [16]byte
	copy(s[:], b)
	if len(b) < 13 || string(s[:6]) != "HTTP/1" || s[8] != ' ' || s[9] < '1' || s[9] > '5' || s[12] != ' ' {
		m.events["http/malformed"]++
		return
	}
	class := s[9] - '0'
	if class == 1 && !(s[10] == '0' && s[11] == '1') {
		return
	}
	m.awaiting = false
	m.counts[HTTPMethod(m.method).String()+"/"+StatusClassName(class)]++
}

// TestHTTPSegmentsThroughTestRun feeds HTTP/1.x connections, client and
// server side, segments cut at every length and random ones through the
// payload path, and compares the requests and payload events with the
// rules' reference.
func TestHTTPSegmentsThroughTestRun(t *testing.T) {
	tr, _ := loadUnattachedWith(t, Options{EphemeralPorts: [2]uint16{32768, 60999}, TrackHTTP: true})
	r := newSegmentRunner(t, tr)
	before, err := tr.PayloadStats()
	if err != nil {
		t.Fatal(err)
	}
	model := &httpModel{counts: map[string]int{}, events: map[string]uint64{}}
	// conn sends one connection's segments to the program and the model;
	// the first must be a request (it classifies the connection).
	conn := func(role Role, segs ...[]byte) {
		fromClient := true
		for i, s := range segs {
			egress := fromClient == (role == RoleClient)
			r.segment(i == 0, role, egress, s)
			model.segment(fromClient, s)
			fromClient = !fromClient
		}
		model.awaiting = false
	}
	req := []byte("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

	// Known answers first.
	conn(RoleClient, req, resp)
	conn(RoleServer, []byte("POST /x HTTP/1.1\r\n"), []byte("HTTP/1.0 503 Service Unavailable\r\n"))
	conn(RoleClient, []byte("PROPFIND / HTTP/1.1\r\n"), []byte("HTTP/1.1 207 Multi-Status\r\n"))
	conn(RoleClient, req, []byte("HTTP/1.1 100 Continue\r\n"), nil, []byte("HTTP/1.1 404 Not Found\r\n"))
	conn(RoleClient, req, []byte("HTTP/1.1 101 Switching Protocols\r\n"))
	if fmt.Sprint(model.counts) != "map[GET/1xx:1 GET/2xx:1 GET/4xx:1 POST/5xx:1 other/2xx:1]" {
		t.Fatalf("the reference is wrong: %v", model.counts)
	}
	// A status line cut at every length, then whole.
	for n := 1; n <= len(resp); n++ {
		conn(RoleClient, req, resp[:n], nil, resp)
	}
	// A request line cut at every length: a connection whose first
	// payload is not a request is not HTTP, and counts nothing.
	for n := 1; n <= 16; n++ {
		r.segment(true, RoleClient, true, req[:n])
		r.segment(false, RoleClient, false, resp)
		if goMethodOf(req[:n]) >= 0 {
			model.counts["GET/2xx"]++
		}
	}
	// Pipelined: the second request is not counted.
	conn(RoleClient, req, nil, req, resp, nil, resp)

	// Random connections: requests, responses, cut ones, and noise.
	rng := rand.New(rand.NewPCG(14, 80))
	methods := []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "M-SEARCH", "get", "GE T"}
	piece := func() []byte {
		var p []byte
		switch rng.IntN(5) {
		case 0:
			p = []byte(methods[rng.IntN(len(methods))] + " /" + strconv.Itoa(rng.IntN(1000)) + " HTTP/1.1\r\n")
		case 1:
			p = []byte("HTTP/1." + strconv.Itoa(rng.IntN(2)) + " " + strconv.Itoa(100+rng.IntN(520)) + " X\r\n")
		case 2:
			p = []byte("HTTP/" + string(rune('0'+rng.IntN(3))) + "." + string(rune(' '+rng.IntN(90))) + " 2" + string(rune(' '+rng.IntN(90))) + "0 OK")
		default:
			p = make([]byte, rng.IntN(40))
			for i := range p {
				p[i] = byte(rng.UintN(256))
			}
		}
		if rng.IntN(3) == 0 {
			p = p[:rng.IntN(len(p)+1)]
		}
		return p
	}
	for range 1500 {
		segs := [][]byte{[]byte(methods[rng.IntN(8)] + " / HTTP/1.1\r\n")}
		for range 1 + rng.IntN(7) {
			segs = append(segs, piece())
		}
		conn(Role(1+rng.IntN(2)), segs...)
	}

	reqs, overflow := drainRequests(t, tr)
	if len(overflow.Requests()) != 0 {
		t.Errorf("overflow %v", overflow.Requests())
	}
	got := map[string]int{}
	for k, n := range reqs {
		if k.Kind != RequestHTTP || k.CgroupID != 1 {
			t.Errorf("%d requests under %+v", n, k)
		}
		got[k.Method.String()+"/"+StatusClassName(k.StatusClass)] += int(n)
	}
	if fmt.Sprint(got) != fmt.Sprint(model.counts) {
		t.Errorf("requests\n got %v\nwant %v", got, model.counts)
	}
	if ev := eventDelta(t, tr, before); fmt.Sprint(ev) != fmt.Sprint(model.events) {
		t.Errorf("payload events %v, want %v", ev, model.events)
	}
}
