// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package testnet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	MaybeRunHelper()
	os.Exit(m.Run())
}

func init() { helpers["first-bytes"] = firstBytes }

// firstBytes ADDR N: accept one TCP connection on ADDR and return the
// first N bytes it carries (fewer if it ends or is quiet for 2s), quoted.
func firstBytes(args []string) (string, error) {
	if len(args) != 2 {
		return "", errors.New("usage: first-bytes ADDR N")
	}
	n, _ := strconv.Atoi(args[1])
	l, err := net.Listen("tcp", args[0])
	if err != nil {
		return "", err
	}
	ready()
	c, err := l.Accept()
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, n)
	got, _ := io.ReadFull(c, buf)
	return strconv.Quote(string(buf[:got])), nil
}

// appsPair is a client and a server namespace, each with a cgroup.
type appsPair struct {
	client, server     *Netns
	clientCg, serverCg *Cgroup
	serverIP           netip.Addr
}

func newAppsPair(t *testing.T) appsPair {
	e := New(t)
	c, s := e.Netns("client"), e.Netns("server")
	_, ls := e.Veth(c, []netip.Prefix{netip.MustParsePrefix("10.214.0.1/24")}, s, []netip.Prefix{netip.MustParsePrefix("10.214.0.2/24")})
	return appsPair{client: c, server: s, clientCg: e.Root.Child("client"), serverCg: e.Root.Child("server"), serverIP: ls.Addr(false)}
}

func (p appsPair) addr(port uint16) netip.AddrPort { return netip.AddrPortFrom(p.serverIP, port) }

func TestDNSHelpers(t *testing.T) {
	p := newAppsPair(t)
	server := p.addr(53).String()
	srv := Start(t, p.server, p.serverCg, "dns-serve", server)
	plan := DNSPlan{TimeoutMS: 300, Queries: []DNSPlanQuery{
		{Name: "ok-1.test.", Type: "A", Count: 5},
		{Name: "aaaa.test.", Type: "AAAA", Count: 2},
		{Name: "1.2.0.192.in-addr.arpa.", Type: "PTR"},
		{Name: "_http._tcp.test.", Type: "SRV"},
		{Name: "alias.test.", Type: "CNAME"},
		{Name: "a.nx.test.", Count: 3},
		{Name: "b.fail.test.", Count: 2},
		{Name: "c.refused.test."},
		{Name: "d.drop.test.", Count: 2},
		{Name: "slow-40.test.", Count: 2},
		{Name: "slow-20.nx.test."},
		{Name: "big.test.", Type: "TXT", EDNS: 4096},
		{Name: "big.test.", Type: "TXT"}, // no EDNS over UDP: cut, TC
		{Name: "huge.test.", Type: "TXT", Transport: "tcp"},
		{Name: "ok-2.test.", Transport: "tcp", Count: 3},
		{Name: "e.drop.test.", Transport: "tcp"},
		{Name: "ok-3.test.", Transport: "tcp"},
	}}
	got := DNSAsk(t, p.client, p.clientCg, server, plan)
	want := DNSCounts{
		"NOERROR":  {"A": 11, "AAAA": 2, "PTR": 1, "SRV": 1, "CNAME": 1, "TXT": 3},
		"NXDOMAIN": {"A": 4},
		"SERVFAIL": {"A": 2},
		"REFUSED":  {"A": 1},
		"timeout":  {"A": 3},
	}
	if !reflect.DeepEqual(got.Counts, want) {
		t.Errorf("dns-ask counts = %v, want %v", got.Counts, want)
	}
	if got.TCPConns != 2 || got.Stale != 0 || len(got.Queries) != 29 {
		t.Errorf("dns-ask: %d TCP connections, %d stale, %d queries; want 2, 0, 29", got.TCPConns, got.Stale, len(got.Queries))
	}
	for i, a := range got.Queries {
		if a.ID != uint16(i+1) {
			t.Errorf("query %d has id %d", i, a.ID)
		}
		switch {
		case a.Rcode == "timeout" && (a.Micros < 300_000 || a.Micros > 400_000):
			t.Errorf("%s timed out after %dµs, want 300ms", a.Name, a.Micros)
		case strings.HasPrefix(a.Name, "slow-40.") && (a.Micros < 40_000 || a.Micros > 80_000):
			t.Errorf("%s answered after %dµs, want 40ms", a.Name, a.Micros)
		case a.Name == "big.test." && a.Transport == "udp" && a.Truncated != (a.Size <= 512):
			t.Errorf("big.test. over UDP: %d bytes, truncated %v", a.Size, a.Truncated)
		case a.Name == "big.test." && !a.Truncated && (a.Size < 1000 || a.Size > 1232 || a.Answers != 5):
			t.Errorf("big.test. with EDNS: %d bytes, %d records", a.Size, a.Answers)
		case a.Name == "huge.test." && (a.Truncated || a.Size < 4000 || a.Answers != 20):
			t.Errorf("huge.test. over TCP: %d bytes, %d records", a.Size, a.Answers)
		}
	}
	res := DNSServeStop(t, srv)
	wantSrv := DNSCounts{
		"NOERROR":  want["NOERROR"],
		"NXDOMAIN": want["NXDOMAIN"],
		"SERVFAIL": want["SERVFAIL"],
		"REFUSED":  want["REFUSED"],
		"dropped":  want["timeout"],
	}
	if res.Queries != 29 || res.Truncated != 1 || !reflect.DeepEqual(res.Counts, wantSrv) ||
		!reflect.DeepEqual(res.ByNet["tcp"], DNSCounts{"NOERROR": {"A": 4, "TXT": 1}, "dropped": {"A": 1}}) {
		t.Errorf("dns-serve = %+v, want 29 queries, 1 truncated, %v, 6 over TCP", res, wantSrv)
	}
}

func TestHTTPMixHelpers(t *testing.T) {
	p := newAppsPair(t)
	srv := Start(t, p.server, p.serverCg, "http-mix-serve", p.addr(8080).String())
	plan := HTTPPlan{Requests: []HTTPPlanRequest{
		{Path: "/status/200", Count: 70},
		{Path: "/status/404", Count: 20},
		{Path: "/status/500?delay=30ms", Count: 10},
		{Method: "HEAD", Path: "/status/200"},
		{Method: "POST", Path: "/status/201", Body: 3000},
		{Method: "PUT", Path: "/status/204", Body: 10},
		{Method: "DELETE", Path: "/status/202"},
		{Method: "PATCH", Path: "/status/200", Body: 5},
		{Method: "OPTIONS", Path: "/status/200"},
		{Method: "PROPFIND", Path: "/status/207"},
		{Path: "/nowhere"},
		{Path: "/hang", CloseAfterMS: 100},
		{Path: "/status/503"},
	}}
	got := HTTPMixGet(t, p.client, p.clientCg, "http://"+p.addr(8080).String(), plan)
	want := HTTPCounts{
		"GET":    {"200": 70, "404": 21, "500": 10, "503": 1, "none": 1},
		"HEAD":   {"200": 1},
		"POST":   {"201": 1},
		"PUT":    {"204": 1},
		"DELETE": {"202": 1}, "PATCH": {"200": 1}, "OPTIONS": {"200": 1}, "PROPFIND": {"207": 1},
	}
	if !reflect.DeepEqual(got.Counts, want) || got.Conns != 2 {
		t.Errorf("http-mix-get = %v on %d connections, want %v on 2", got.Counts, got.Conns, want)
	}
	for _, x := range got.Requests {
		if strings.Contains(x.Path, "delay=30ms") && (x.Micros < 30_000 || x.Micros > 60_000) {
			t.Errorf("%s took %dµs, want 30ms", x.Path, x.Micros)
		}
	}
	if res := HTTPServeStop(t, srv); res.Requests != 110 || !reflect.DeepEqual(res.Counts, HTTPCounts(want)) {
		t.Errorf("http-mix-serve = %+v, want 110 requests, %v", res, want)
	}
}

func TestTLSAndH2CHelpers(t *testing.T) {
	p := newAppsPair(t)
	for _, c := range []struct{ serve, get, scheme, proto string }{
		{"tls-serve", "tls-get", "https", "HTTP/1.1"},
		{"h2c-serve", "h2c-get", "http", "HTTP/2.0"},
	} {
		srv := Start(t, p.server, p.serverCg, c.serve, p.addr(8443).String())
		got := decoded[HTTPResult](t, RunHelper(t, p.client, p.clientCg, c.get, c.scheme+"://"+p.addr(8443).String()+"/status/404", "7"))
		if !reflect.DeepEqual(got.Counts, HTTPCounts{"GET": {"404": 7}}) || got.Conns != 1 || got.Proto != c.proto {
			t.Errorf("%s = %+v, want 7 × 404 on one %s connection", c.get, got, c.proto)
		}
		if res := HTTPServeStop(t, srv); res.Requests != 7 {
			t.Errorf("%s = %+v, want 7 requests", c.serve, res)
		}
	}
}

func TestRedisAndPostgres(t *testing.T) {
	p := newAppsPair(t)
	redis, pg := p.addr(6379), p.addr(5432)
	StartRedis(t, p.server, p.serverCg, redis)
	StartPostgres(t, p.server, p.serverCg, pg)
	if got := RedisCLI(t, p.client, p.clientCg, redis, "SET", "k", "podflow"); got != "OK" {
		t.Errorf("redis SET = %q", got)
	}
	if got := RedisCLI(t, p.client, p.clientCg, redis, "GET", "k"); got != "podflow" {
		t.Errorf("redis GET = %q", got)
	}
	if got := Psql(t, p.client, p.clientCg, pg, "SELECT 40 + 2"); got != "42" {
		t.Errorf("psql = %q", got)
	}
}

// TestClientFirstBytes pins what each client sends first on its TCP
// connection: the bytes the kernel's protocol detection sees.
func TestClientFirstBytes(t *testing.T) {
	p := newAppsPair(t)
	addr := p.addr(9000)
	for _, c := range []struct {
		name, want string
		run        func()
	}{
		{"http-mix-get", "GET /status/200 HTTP/1.1\r\nHost: ", func() {
			Start(t, p.client, p.clientCg, "http-mix-get", "http://"+addr.String(), `{"requests":[{"path":"/status/200"}]}`)
		}},
		{"h2c-get", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", func() {
			Start(t, p.client, p.clientCg, "h2c-get", "http://"+addr.String()+"/", "1")
		}},
		{"tls-get", "\x16\x03\x01", func() { Start(t, p.client, p.clientCg, "tls-get", "https://"+addr.String()+"/", "1") }},
		{"dns-ask tcp", "\x00\x1b\x00\x01\x01\x00\x00\x01", func() {
			Start(t, p.client, p.clientCg, "dns-ask", addr.String(), `{"queries":[{"name":"ok-1.test.","transport":"tcp"}]}`)
		}},
		{"redis-cli", "*1\r\n$4\r\nPING\r\n", func() {
			cmd := inNetnsAndCgroup(t, p.client, p.clientCg, lookDebian(t, "redis-cli", "redis-server"),
				"-h", addr.Addr().String(), "-p", "9000", "PING")
			_ = cmd.Start()
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		}},
		{"psql", "\x00\x03\x00\x00user\x00postgres\x00", func() {
			cmd := inNetnsAndCgroup(t, p.client, p.clientCg, postgresBin(t)+"/psql", "-XAt", "-h", addr.Addr().String(),
				"-p", "9000", "-U", "postgres", "-d", "postgres", "-c", "SELECT 1")
			cmd.Env = append(os.Environ(), "PGSSLMODE=disable", "PGGSSENCMODE=disable")
			_ = cmd.Start()
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		}},
	} {
		srv := Start(t, p.server, p.serverCg, "first-bytes", addr.String(), "64")
		c.run()
		got, err := strconv.Unquote(srv.Wait())
		if c.name == "psql" && len(got) >= 4 {
			got = got[4:] // after the message length
		}
		if err != nil || !strings.HasPrefix(got, c.want) {
			t.Errorf("%s sends first %q, want %q…", c.name, got, c.want)
		}
		fmt.Printf("%s: %q\n", c.name, got)
	}
}
