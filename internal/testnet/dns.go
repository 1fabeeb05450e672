// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package testnet

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// DNS helpers: a server answering from a fixed zone whose behaviour the
// query name chooses, and a client sending an exact plan of queries.
func init() {
	helpers["dns-serve"] = dnsServe
	helpers["dns-ask"] = dnsAsk
}

// The zone dns-serve answers from. Names are matched case-insensitively;
// the leftmost label may delay the answer, the suffix chooses the rcode:
//
//	slow-<ms>.<rest>   answer after <ms> milliseconds, then as <rest> would
//	nx.test., *.nx.test.             NXDOMAIN, no records
//	fail.test., *.fail.test.         SERVFAIL
//	refused.test., *.refused.test.   REFUSED
//	drop.test., *.drop.test.         no answer at all
//	big.test. TXT    5 TXT records of 200 bytes: a message of about 1,100
//	                 bytes (fits an EDNS size of 1,232, not 512)
//	huge.test. TXT   20 TXT records of 200 bytes: about 4,300 bytes
//	any other name   NOERROR, by qtype: A 192.0.2.1, AAAA 2001:db8::1,
//	                 PTR/CNAME/MX/SRV pointing at host.test., TXT "podflow";
//	                 other qtypes: no records (NODATA)
//
// Over UDP an answer is cut to 512 bytes, or to the query's EDNS size, with
// the TC bit set (still NOERROR); over TCP it is never cut. A query with
// EDNS gets an OPT record with the same size back.
const (
	// DNSBigTXT and DNSHugeTXT are the TXT data sizes of big.test. and
	// huge.test. in bytes.
	DNSBigTXT  = 5 * 200
	DNSHugeTXT = 20 * 200
)

// Counts are counts by two names: for DNS by rcode then qtype, for HTTP
// by method then status.
type Counts map[string]map[string]int

func (c Counts) add(first, second string) {
	if c[first] == nil {
		c[first] = map[string]int{}
	}
	c[first][second]++
}

// DNSCounts are counts by rcode name (dns.RcodeToString: "NOERROR",
// "NXDOMAIN", …; "timeout" on the client, "dropped" on the server), then by
// qtype name ("A", "AAAA", …).
type DNSCounts = Counts

// DNSServeResult is dns-serve's result: what it answered, by transport
// ("udp", "tcp"), and in total.
type DNSServeResult struct {
	Queries int                  `json:"queries"`
	Counts  DNSCounts            `json:"counts"`
	ByNet   map[string]DNSCounts `json:"by_net"`
	// Truncated counts UDP answers cut with the TC bit.
	Truncated int `json:"truncated"`
}

// dnsServe ADDR: answer DNS over UDP and TCP on ADDR from the zone above
// until SIGTERM; result: a DNSServeResult as JSON.
func dnsServe(args []string) (string, error) {
	if len(args) != 1 {
		return "", errors.New("usage: dns-serve ADDR")
	}
	pc, err := net.ListenPacket("udp", args[0])
	if err != nil {
		return "", err
	}
	l, err := net.Listen("tcp", args[0])
	if err != nil {
		return "", err
	}
	var mu sync.Mutex
	res := DNSServeResult{Counts: DNSCounts{}, ByNet: map[string]DNSCounts{"udp": {}, "tcp": {}}}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		network := w.LocalAddr().Network()
		m, delay := dnsAnswer(r, network)
		time.Sleep(delay)
		rcode := "dropped"
		if m != nil {
			rcode = dns.RcodeToString[m.Rcode]
			_ = w.WriteMsg(m)
		}
		qtype := "none"
		if len(r.Question) > 0 {
			qtype = dnsTypeName(r.Question[0].Qtype)
		}
		mu.Lock()
		defer mu.Unlock()
		res.Queries++
		res.Counts.add(rcode, qtype)
		res.ByNet[network].add(rcode, qtype)
		if m != nil && m.Truncated {
			res.Truncated++
		}
	})
	servers := []*dns.Server{
		{PacketConn: pc, Handler: handler},
		{Listener: l, Handler: handler, MaxTCPQueries: -1}, // no limit per connection
	}
	for _, s := range servers {
		go func() { _ = s.ActivateAndServe() }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ready()
	<-ctx.Done()
	for _, s := range servers {
		_ = s.Shutdown()
	}
	mu.Lock()
	defer mu.Unlock()
	out, err := json.Marshal(res)
	return string(out), err
}

// dnsAnswer is the answer to r received over network ("udp" or "tcp") and
// the delay before sending it; nil: drop the query.
func dnsAnswer(r *dns.Msg, network string) (*dns.Msg, time.Duration) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m, 0
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	var delay time.Duration
	if first, rest, ok := strings.Cut(name, "."); ok && strings.HasPrefix(first, "slow-") {
		if ms, err := strconv.Atoi(strings.TrimPrefix(first, "slow-")); err == nil {
			delay = time.Duration(ms) * time.Millisecond
			name = rest
		}
	}
	under := func(zone string) bool { return name == zone || strings.HasSuffix(name, "."+zone) }
	switch {
	case under("drop.test."):
		return nil, delay
	case under("nx.test."):
		m.Rcode = dns.RcodeNameError
	case under("fail.test."):
		m.Rcode = dns.RcodeServerFailure
	case under("refused.test."):
		m.Rcode = dns.RcodeRefused
	default:
		m.Answer = dnsRecords(q, name)
	}
	size := dns.MaxMsgSize
	if o := r.IsEdns0(); o != nil {
		m.SetEdns0(o.UDPSize(), false)
		if network == "udp" {
			size = max(int(o.UDPSize()), dns.MinMsgSize)
		}
	} else if network == "udp" {
		size = dns.MinMsgSize
	}
	m.Truncate(size)
	return m, delay
}

// dnsRecords are the records answering q (its name lowered, without the
// slow- label, in name).
func dnsRecords(q dns.Question, name string) []dns.RR {
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: 60}
	const target = "host.test."
	switch q.Qtype {
	case dns.TypeA:
		return []dns.RR{&dns.A{Hdr: hdr, A: net.IPv4(192, 0, 2, 1)}}
	case dns.TypeAAAA:
		return []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: net.ParseIP("2001:db8::1")}}
	case dns.TypePTR:
		return []dns.RR{&dns.PTR{Hdr: hdr, Ptr: target}}
	case dns.TypeCNAME:
		return []dns.RR{&dns.CNAME{Hdr: hdr, Target: target}}
	case dns.TypeMX:
		return []dns.RR{&dns.MX{Hdr: hdr, Preference: 10, Mx: target}}
	case dns.TypeSRV:
		return []dns.RR{&dns.SRV{Hdr: hdr, Priority: 0, Weight: 0, Port: 80, Target: target}}
	case dns.TypeTXT:
		n := 0
		switch name {
		case "big.test.":
			n = DNSBigTXT / 200
		case "huge.test.":
			n = DNSHugeTXT / 200
		default:
			return []dns.RR{&dns.TXT{Hdr: hdr, Txt: []string{"podflow"}}}
		}
		rrs := make([]dns.RR, n)
		for i := range rrs {
			rrs[i] = &dns.TXT{Hdr: hdr, Txt: []string{fmt.Sprintf("%03d%s", i, strings.Repeat("x", 197))}}
		}
		return rrs
	}
	return nil
}

func dnsTypeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}

// DNSPlan is dns-ask's plan. Queries are sent in order, each after the
// answer to (or the timeout of) the one before; a query without answer is
// never retried (a retry would make the expected counts ambiguous).
type DNSPlan struct {
	// TimeoutMS is how long each query waits for its answer, in
	// milliseconds (0: 300).
	TimeoutMS int            `json:"timeout_ms,omitempty"`
	Queries   []DNSPlanQuery `json:"queries"`
}

// DNSPlanQuery is Count identical queries.
type DNSPlanQuery struct {
	Name string `json:"name"` // fully qualified, e.g. "ok-1.test."
	Type string `json:"type"` // dns.StringToType name; "": A
	// Transport is "udp" ("": udp) or "tcp".
	Transport string `json:"transport,omitempty"`
	// EDNS is the UDP payload size of an OPT record (0: no OPT record).
	EDNS      int `json:"edns,omitempty"`
	Count     int `json:"count,omitempty"`      // 0: 1
	TimeoutMS int `json:"timeout_ms,omitempty"` // 0: the plan's
}

// DNSAskResult is dns-ask's result.
type DNSAskResult struct {
	// Counts are the answers by rcode ("timeout": none) and qtype.
	Counts  DNSCounts   `json:"counts"`
	Queries []DNSAnswer `json:"queries"`
	// TCPConns is the number of TCP connections made; Stale the answers
	// discarded because they came after their query's timeout.
	TCPConns int `json:"tcp_conns"`
	Stale    int `json:"stale"`
}

// DNSAnswer is one query's outcome.
type DNSAnswer struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Transport string `json:"transport"`
	ID        uint16 `json:"id"`
	Rcode     string `json:"rcode"` // "timeout": no answer
	// Micros is the time from sending the query to reading its answer
	// (to the timeout when none came), in microseconds.
	Micros    int64 `json:"us"`
	Size      int   `json:"size"` // the answer's DNS message bytes (no TCP length prefix)
	Truncated bool  `json:"truncated"`
	Answers   int   `json:"answers"` // records in the answer section
}

// dnsAsk SERVER PLAN-JSON: send the DNSPlan's queries to SERVER (host:port)
// with IDs 1, 2, … in plan order: every UDP query from one connected UDP
// socket, every TCP query on one TCP connection, which is replaced by a new
// one only after a TCP query timed out; result: a DNSAskResult as JSON.
func dnsAsk(args []string) (string, error) {
	if len(args) != 2 {
		return "", errors.New("usage: dns-ask SERVER PLAN-JSON")
	}
	var plan DNSPlan
	if err := json.Unmarshal([]byte(args[1]), &plan); err != nil {
		return "", fmt.Errorf("plan: %w", err)
	}
	udp, err := net.Dial("udp", args[0])
	if err != nil {
		return "", err
	}
	conns := map[string]*dns.Conn{"udp": {Conn: udp, UDPSize: dns.MaxMsgSize}}
	res := DNSAskResult{Counts: DNSCounts{}}
	ready()
	id := uint16(0)
	for _, pq := range plan.Queries {
		qtype := dns.TypeA
		if pq.Type != "" {
			var ok bool
			if qtype, ok = dns.StringToType[strings.ToUpper(pq.Type)]; !ok {
				return "", fmt.Errorf("query %s: unknown type %q", pq.Name, pq.Type)
			}
		}
		transport := cmp.Or(pq.Transport, "udp")
		if transport != "udp" && transport != "tcp" {
			return "", fmt.Errorf("query %s: transport %q: want udp or tcp", pq.Name, transport)
		}
		timeout := time.Duration(cmp.Or(pq.TimeoutMS, plan.TimeoutMS, 300)) * time.Millisecond
		for range cmp.Or(pq.Count, 1) {
			id++
			m := new(dns.Msg)
			m.SetQuestion(pq.Name, qtype)
			m.Id = id
			if pq.EDNS > 0 {
				m.SetEdns0(uint16(pq.EDNS), false)
			}
			co := conns[transport]
			if co == nil {
				c, err := net.Dial("tcp", args[0])
				if err != nil {
					return "", err
				}
				co = &dns.Conn{Conn: c}
				conns[transport] = co
				res.TCPConns++
			}
			a := DNSAnswer{Name: pq.Name, Type: dnsTypeName(qtype), Transport: transport, ID: id, Rcode: "timeout"}
			start := time.Now()
			_ = co.SetDeadline(start.Add(timeout))
			if err := co.WriteMsg(m); err != nil {
				return "", fmt.Errorf("query %d: %w", id, err)
			}
			for {
				wire, err := co.ReadMsgHeader(nil)
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
				r := new(dns.Msg)
				if err == nil {
					err = r.Unpack(wire)
				}
				if err != nil {
					return "", fmt.Errorf("answer %d: %w", id, err)
				}
				if r.Id != id {
					res.Stale++
					continue
				}
				a.Rcode, a.Size, a.Truncated, a.Answers = dns.RcodeToString[r.Rcode], len(wire), r.Truncated, len(r.Answer)
				break
			}
			a.Micros = time.Since(start).Microseconds()
			if a.Rcode == "timeout" && transport == "tcp" {
				co.Close() // the stream's state is unknown: a new connection for the next query
				delete(conns, transport)
			}
			res.Counts.add(a.Rcode, a.Type)
			res.Queries = append(res.Queries, a)
		}
	}
	for _, co := range conns {
		co.Close()
	}
	out, err := json.Marshal(res)
	return string(out), err
}

// DNSAsk runs dns-ask in ns and cg against server (host:port) and returns
// its result.
func DNSAsk(t testing.TB, ns *Netns, cg *Cgroup, server string, plan DNSPlan) DNSAskResult {
	t.Helper()
	return decoded[DNSAskResult](t, RunHelper(t, ns, cg, "dns-ask", server, mustJSON(t, plan)))
}

// DNSServeStop stops a dns-serve helper and returns its result.
func DNSServeStop(t testing.TB, p *Proc) DNSServeResult {
	t.Helper()
	return decoded[DNSServeResult](t, p.Stop())
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// decoded returns a helper's JSON result s as a T.
func decoded[T any](t testing.TB, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("helper result %q: %v", s, err)
	}
	return v
}
