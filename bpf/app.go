// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"fmt"
	"structs"
)

// AppProtocol is the application protocol of a flow's packets (enum
// app_protocol, app.bpf.h): a TCP connection's, classified once from its
// first payload bytes; a UDP datagram's by port (DNS).
type AppProtocol uint8

// Application protocols.
const (
	// AppNone: no payload yet — a TCP connection's handshake, a failed
	// connect, a listener's SYN and SYN-ACK, packets without a socket —
	// and protocols other than TCP and UDP.
	AppNone     = AppProtocol(podflowAppProtocolAPP_NONE)
	AppHTTP1    = AppProtocol(podflowAppProtocolAPP_HTTP1)
	AppHTTP2    = AppProtocol(podflowAppProtocolAPP_HTTP2) // the connection preface (RFC 9113 3.4); gRPC too
	AppTLS      = AppProtocol(podflowAppProtocolAPP_TLS)   // a ClientHello record (RFC 8446 5.1)
	AppPostgres = AppProtocol(podflowAppProtocolAPP_POSTGRES)
	AppRedis    = AppProtocol(podflowAppProtocolAPP_REDIS)
	AppMySQL    = AppProtocol(podflowAppProtocolAPP_MYSQL)
	AppDNS      = AppProtocol(podflowAppProtocolAPP_DNS)
	// AppUnknown: payload not recognised, a UDP port that is not DNS, or a
	// TCP connection older than the exporter.
	AppUnknown      = AppProtocol(podflowAppProtocolAPP_UNKNOWN)
	NumAppProtocols = int(podflowAppProtocolAPP_MAX)
)

var appNames = [...]string{"none", "http1", "http2", "tls", "postgres", "redis", "mysql", "dns", "unknown"}

func (a AppProtocol) String() string {
	if int(a) < len(appNames) {
		return appNames[a]
	}
	return "unknown"
}

// appShift and appMask place the application protocol in a flow or TCP
// table key's variant (APP_VARIANT in podflow.h).
const (
	appShift = 12
	appMask  = 0xf << appShift
)

// RequestKind says which protocol a request is of.
type RequestKind uint8

// Request kinds.
const (
	RequestDNS RequestKind = iota
	RequestHTTP
)

// DNS question types kept apart (enum dns_qtype); the rest are QTypeOther.
type DNSQType uint8

// Question types.
const (
	QTypeOther = DNSQType(podflowDnsQtypeQTYPE_OTHER)
	QTypeA     = DNSQType(podflowDnsQtypeQTYPE_A)
	QTypeAAAA  = DNSQType(podflowDnsQtypeQTYPE_AAAA)
	QTypePTR   = DNSQType(podflowDnsQtypeQTYPE_PTR)
	QTypeSRV   = DNSQType(podflowDnsQtypeQTYPE_SRV)
	QTypeCNAME = DNSQType(podflowDnsQtypeQTYPE_CNAME)
	QTypeTXT   = DNSQType(podflowDnsQtypeQTYPE_TXT)
	NumQTypes  = int(podflowDnsQtypeQTYPE_MAX)
)

var qtypeNames = [...]string{"other", "A", "AAAA", "PTR", "SRV", "CNAME", "TXT"}

func (q DNSQType) String() string {
	if int(q) < len(qtypeNames) {
		return qtypeNames[q]
	}
	return "other"
}

// DNSTimeout is the RCode of a query that had no response within
// --bpf.dns-timeout (DNS_RCODE_TIMEOUT); RCODEs are 4 bits (RFC 1035 4.1.1).
const DNSTimeout = 16

// rcodeNames are the IANA DNS RCODE names of 0-11 (RFC 1035, 2136, 8490;
// the registry of RFC 6895 2.3); 12-15 are unassigned.
var rcodeNames = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI"}

// RCodeName names a response code (0-15) or DNSTimeout: "timeout", and
// "other" for the unassigned 12-15.
func RCodeName(rcode uint8) string {
	switch {
	case int(rcode) < len(rcodeNames):
		return rcodeNames[rcode]
	case rcode == DNSTimeout:
		return "timeout"
	default:
		return "other"
	}
}

// HTTPMethod is an HTTP request's method (enum http_method); methods other
// than these are MethodOther.
type HTTPMethod uint8

// Methods.
const (
	MethodOther   = HTTPMethod(podflowHttpMethodMETHOD_OTHER)
	MethodGet     = HTTPMethod(podflowHttpMethodMETHOD_GET)
	MethodHead    = HTTPMethod(podflowHttpMethodMETHOD_HEAD)
	MethodPost    = HTTPMethod(podflowHttpMethodMETHOD_POST)
	MethodPut     = HTTPMethod(podflowHttpMethodMETHOD_PUT)
	MethodDelete  = HTTPMethod(podflowHttpMethodMETHOD_DELETE)
	MethodPatch   = HTTPMethod(podflowHttpMethodMETHOD_PATCH)
	MethodOptions = HTTPMethod(podflowHttpMethodMETHOD_OPTIONS)
	NumMethods    = int(podflowHttpMethodMETHOD_MAX)
)

var methodNames = [...]string{"other", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}

func (m HTTPMethod) String() string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return "other"
}

// StatusClassName names an HTTP status class: 1-5 are "1xx".."5xx", 0 is
// "none" (the connection closed before a response).
func StatusClassName(class uint8) string {
	if class >= 1 && class <= 5 {
		return fmt.Sprintf("%dxx", class)
	}
	return "none"
}

// Request is what a request table entry counts: for DNS the response code
// (or DNSTimeout) and question type, for HTTP the method and status class.
type Request struct {
	Kind        RequestKind
	RCode       uint8 // DNS: 0-15, or DNSTimeout
	QType       DNSQType
	Method      HTTPMethod
	StatusClass uint8 // HTTP: 1-5, 0 without response
}

// Layout of the requests table's codes (DNS_REQUEST, HTTP_REQUEST in podflow.h).
const (
	dnsQTypeSlots    = 8
	httpClassSlots   = 8
	httpRequestBase  = (DNSTimeout + 1) * dnsQTypeSlots
	numRequestCodes  = httpRequestBase + NumMethods*httpClassSlots
	requestCodeMask  = 0xff
	numPayloadEvents = int(podflowPayloadEventEV_PAYLOAD_MAX)
)

// requestOf decodes a requests table code; false for codes this object's
// programs do not write.
func requestOf(code uint32) (Request, bool) {
	if code < httpRequestBase {
		r := Request{Kind: RequestDNS, RCode: uint8(code / dnsQTypeSlots), QType: DNSQType(code % dnsQTypeSlots)}
		return r, int(r.QType) < NumQTypes
	}
	if code >= uint32(numRequestCodes) {
		return Request{}, false
	}
	code -= httpRequestBase
	r := Request{Kind: RequestHTTP, Method: HTTPMethod(code / httpClassSlots), StatusClass: uint8(code % httpClassSlots)}
	return r, r.StatusClass <= 5
}

// RequestIncrement is the requests one flow gained for one Request since
// the previous drain, summed over CPUs.
type RequestIncrement struct {
	Request
	Count uint64
}

// Variant keys the increments of one flow that sum together: one per
// Request, its code in the requests table.
func (r *RequestIncrement) Variant() uint32 { return r.Request.code() }

// Add adds the requests of o, of the same Request, to r.
func (r *RequestIncrement) Add(o *RequestIncrement) { r.Count += o.Count }

// code is the requests table's code of r, which requestOf decodes.
func (r Request) code() uint32 {
	if r.Kind == RequestHTTP {
		return uint32(httpRequestBase) + uint32(r.Method)*httpClassSlots + uint32(r.StatusClass)
	}
	return uint32(r.RCode)*dnsQTypeSlots + uint32(r.QType)
}

// requestCounters is struct request_counters.
type requestCounters struct {
	_        structs.HostLayout
	Requests uint64
}

// RequestOverflow holds, per request code, the requests that found no
// table entry (struct request_overflow). Requests lists them.
type RequestOverflow struct {
	_     structs.HostLayout
	Codes [numRequestCodes]uint64
}

// Add adds p to o.
func (o *RequestOverflow) Add(p *RequestOverflow) {
	for i := range o.Codes {
		o.Codes[i] += p.Codes[i]
	}
}

func (o *RequestOverflow) sub(p *RequestOverflow) {
	for i := range o.Codes {
		o.Codes[i] -= p.Codes[i]
	}
}

// Requests lists the overflow's non-zero codes as increments.
func (o *RequestOverflow) Requests() []RequestIncrement {
	var out []RequestIncrement
	for code, n := range o.Codes {
		if r, ok := requestOf(uint32(code)); ok && n > 0 {
			out = append(out, RequestIncrement{Request: r, Count: n})
		}
	}
	return out
}

func (c *requestCounters) Add(o *requestCounters) { c.Requests += o.Requests }
func (c *requestCounters) sub(o *requestCounters) { c.Requests -= o.Requests }

// PayloadEvent counts payload the programs saw but could not use (enum
// payload_event): never a wrong count, but requests not counted or not
// matched.
type PayloadEvent int

// Payload events.
const (
	EventDNSMalformed   = PayloadEvent(podflowPayloadEventEV_DNS_MALFORMED)
	EventDNSUnmatched   = PayloadEvent(podflowPayloadEventEV_DNS_UNMATCHED)
	EventDNSTableFull   = PayloadEvent(podflowPayloadEventEV_DNS_TABLE_FULL)
	EventDNSTrackFailed = PayloadEvent(podflowPayloadEventEV_DNS_TRACK_FAILED)
	EventDNSDuplicate   = PayloadEvent(podflowPayloadEventEV_DNS_DUPLICATE)
	EventDNSTCPSkipped  = PayloadEvent(podflowPayloadEventEV_DNS_TCP_SKIPPED)
	EventHTTPMalformed  = PayloadEvent(podflowPayloadEventEV_HTTP_MALFORMED)
	EventHTTPPipelined  = PayloadEvent(podflowPayloadEventEV_HTTP_PIPELINED)
	NumPayloadEvents    = numPayloadEvents
)

// Protocol and Name label a payload event: ("dns", "malformed")...
func (e PayloadEvent) Protocol() string {
	if e >= EventHTTPMalformed {
		return "http"
	}
	return "dns"
}

// Name is the event's label value.
func (e PayloadEvent) Name() string {
	return [...]string{"malformed", "unmatched_response", "table_full", "track_failed", "duplicate_query",
		"tcp_segment_skipped", "malformed", "pipelined"}[e]
}

// PayloadStats are the payload events since load and the queries waiting
// for a response.
type PayloadStats struct {
	Events [NumPayloadEvents]uint64
	// DNSPending is the number of queries that waited at the last drain,
	// DNSCapacity how many can.
	DNSPending, DNSCapacity uint32
	// DNSExpiries counts the runs of expire_dns_queries, DNSExpiryErrors
	// those that failed (queries then wait for the next one).
	DNSExpiries, DNSExpiryErrors uint64
}

// PayloadStats reads the payload events and the pending DNS queries.
func (t *Tracer) PayloadStats() (PayloadStats, error) {
	var st PayloadStats
	t.rotation.mu.Lock()
	st.DNSPending = t.rotation.stats.DNSPending
	st.DNSExpiries = t.rotation.stats.DNSExpiries
	st.DNSExpiryErrors = t.rotation.stats.DNSExpiryErrors
	t.rotation.mu.Unlock()
	st.DNSCapacity = t.objs.DnsQueries.MaxEntries()
	for ev := range NumPayloadEvents {
		var perCPU []uint64
		if err := t.objs.PayloadEvents.Lookup(uint32(ev), &perCPU); err != nil {
			return st, fmt.Errorf("read payload events: %w", err)
		}
		for _, v := range perCPU {
			st.Events[ev] += v
		}
	}
	return st, nil
}
