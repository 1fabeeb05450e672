// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"encoding/hex"
	"testing"
)

// TestClassificationThroughTestRun gives the payload path (payloadtest.bpf.c)
// each protocol's first bytes, as its client — or for MySQL its server —
// sends them, and bytes that are none of them: the connection's
// application protocol is the one its first payload says, decided once.
// The client bytes are what the clients of TestAppProtocolDetection send
// (internal/testnet TestClientFirstBytes); MySQL's greeting follows the
// protocol's documentation (Protocol::HandshakeV10), no server being at hand.
func TestClassificationThroughTestRun(t *testing.T) {
	tr, _ := loadUnattachedWith(t, Options{EphemeralPorts: [2]uint16{32768, 60999}, TrackDNS: true, TrackHTTP: true})
	r := newSegmentRunner(t, tr)
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// A MySQL 8 greeting: length 74, sequence 0, protocol 10, "8.0.36\0", thread id...
	mysql := append(unhex("4a0000000a"), "8.0.36\x00\x08\x00\x00\x00abcdefgh\x00\xff\xff"...)
	for _, tc := range []struct {
		name       string
		port       uint32
		fromServer bool
		first      []byte
		want       AppProtocol
	}{
		{"HTTP/1.1 GET", 8080, false, []byte("GET /status/200 HTTP/1.1\r\nHost: x\r\n"), AppHTTP1},
		{"HTTP/1.1 PROPFIND", 8080, false, []byte("PROPFIND /dav HTTP/1.1\r\n"), AppHTTP1},
		{"HTTP/1.1 OPTIONS *", 8080, false, []byte("OPTIONS * HTTP/1.1\r\n"), AppHTTP1},
		{"HTTP/2 preface", 8080, false, []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x18\x04"), AppHTTP2},
		{"TLS ClientHello", 443, false, unhex("16030105c6010005c20303"), AppTLS},
		{"PostgreSQL StartupMessage", 5432, false, append(unhex("0000004f00030000"), "user\x00postgres\x00"...), AppPostgres},
		{"PostgreSQL SSLRequest", 5432, false, unhex("0000000804d2162f"), AppPostgres},
		{"Redis PING", 6379, false, []byte("*1\r\n$4\r\nPING\r\n"), AppRedis},
		{"Redis SET, 12 arguments", 6379, false, []byte("*12\r\n$3\r\nSET\r\n"), AppRedis},
		{"MySQL greeting", 3306, true, mysql, AppMySQL},
		{"DNS over TCP", 53, false, unhex("001b00010100000100000000"), AppDNS},
		{"SSH banner (server first)", 22, true, []byte("SSH-2.0-OpenSSH_9.2\r\n"), AppUnknown},
		{"TLS ServerHello first", 443, true, unhex("160303007a020000760303"), AppUnknown},
		{"lowercase method", 8080, false, []byte("get / HTTP/1.1\r\n"), AppUnknown},
		{"a request line cut", 8080, false, []byte("GET"), AppUnknown},
		{"Redis inline command", 6379, false, []byte("PING\r\n"), AppUnknown},
		{"one byte", 9000, false, []byte{0x16}, AppUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The local side is the client; the first bytes go out, or come in from the server.
			if got := r.segmentTo(tc.port, true, RoleClient, false, nil); got != AppNone {
				t.Fatalf("before any payload: %s, want none", got)
			}
			if got := r.segmentTo(tc.port, false, RoleClient, !tc.fromServer, tc.first); got != tc.want {
				t.Errorf("%s, want %s", got, tc.want)
			}
			// Decided once: what follows does not change it.
			if got := r.segmentTo(tc.port, false, RoleClient, true, []byte("GET / HTTP/1.1\r\n")); got != tc.want {
				t.Errorf("after more payload: %s, want %s", got, tc.want)
			}
			// The server's side of the same bytes says the same.
			r.segmentTo(tc.port, true, RoleServer, false, nil)
			if got := r.segmentTo(tc.port, false, RoleServer, tc.fromServer, tc.first); got != tc.want {
				t.Errorf("server side: %s, want %s", got, tc.want)
			}
		})
	}
}
