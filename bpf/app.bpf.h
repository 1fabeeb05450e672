/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Application protocols, from the payload the cgroup_skb programs already
 * see: which protocol a TCP connection speaks (classified once, from its
 * first payload bytes), and HTTP/1.x requests (http.bpf.h) and DNS
 * requests (dns.bpf.h), counted in the requests table per flow and code.
 * Nothing per request reaches user space.
 */
#ifndef PODFLOW_APP_BPF_H
#define PODFLOW_APP_BPF_H

#include "state.bpf.h"
#include "packet.bpf.h"
#include "latency.bpf.h"

/* Payload bytes classification and the HTTP parser read: enough for "OPTIONS /" and the TLS record header. */
#define PEEK 16

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EV_PAYLOAD_MAX);
	__type(key, __u32);
	__type(value, __u64);
} payload_events SEC(".maps");

static __always_inline void payload_event(__u32 ev)
{
	__u64 *n = bpf_map_lookup_elem(&payload_events, &ev);

	if (n)
		__sync_fetch_and_add(n, 1);
}

static const struct request_counters zero_request_counters;

/*
 * Count one request of code (DNS_REQUEST, HTTP_REQUEST) under key's flow:
 * its client port stays, its application protocol goes (requests are of
 * one protocol anyway).
 */
static __always_inline void count_request(const struct flow_key *key, __u32 code)
{
	struct flow_key k = *key;
	struct request_counters *c;
	struct request_overflow *o;
	__u32 zero = 0;

	k.variant = (k.variant & ~(APP_MASK | 0xfffU)) | code;
	c = table_entry(&requests, &k, &zero_request_counters, TABLE_REQUESTS, NULL);
	if (c) {
		__sync_fetch_and_add(&c->requests, 1);
		return;
	}
	o = bpf_map_lookup_elem(&requests_overflow, &zero);
	if (!o)
		return;
	/* Keeps clang from computing the address before the bounds check. */
	barrier_var(o);
	barrier_var(code);
	if (code < REQUEST_CODES)
		__sync_fetch_and_add(&o->requests[code], 1);
}

/* Whether port is one of --bpf.dns-ports. */
static __always_inline bool dns_port(__u16 port)
{
	return port && (port == dns_ports[0] || port == dns_ports[1] || port == dns_ports[2] || port == dns_ports[3]);
}

/*
 * Copy up to PEEK payload bytes at off into buf; returns how many (0: none
 * or unreadable). A shorter payload is copied byte by byte: Linux 6.1's
 * verifier cannot follow a variable size's bounds to bpf_skb_load_bytes()
 * ("invalid zero-sized read").
 */
static __always_inline __u32 peek(struct __sk_buff *skb, __u32 off, __u32 len, __u8 *buf)
{
	__u32 i;

	if (len >= PEEK)
		return bpf_skb_load_bytes(skb, off, buf, PEEK) ? 0 : PEEK;
	for (i = 0; i < PEEK - 1; i++) {
		if (i >= len)
			break;
		if (bpf_skb_load_bytes(skb, off + i, &buf[i], 1))
			return 0;
	}
	return len;
}

#define IS_UPPER(c) ((c) >= 'A' && (c) <= 'Z')

/*
 * The method of an HTTP/1.x request line starting in b (n bytes), or -1:
 * a token of capitals and a space, then a request target ("/", "*", or an
 * absolute URI) (RFC 9112 3). The standard methods are recognised by
 * their first word; the rest of this shape are METHOD_OTHER.
 */
static __always_inline int http_method_of(const __u8 *b, __u32 n)
{
	int i, sp = -1;

	if (n < 5)
		return -1;
	switch (b[0]) {
	case 'G':
		if (b[1] == 'E' && b[2] == 'T' && b[3] == ' ')
			return METHOD_GET;
		break;
	case 'H':
		if (b[1] == 'E' && b[2] == 'A' && b[3] == 'D' && b[4] == ' ')
			return METHOD_HEAD;
		break;
	case 'P':
		if (b[1] == 'O' && b[2] == 'S' && b[3] == 'T' && b[4] == ' ')
			return METHOD_POST;
		if (b[1] == 'U' && b[2] == 'T' && b[3] == ' ')
			return METHOD_PUT;
		if (n >= 6 && b[1] == 'A' && b[2] == 'T' && b[3] == 'C' && b[4] == 'H' && b[5] == ' ')
			return METHOD_PATCH;
		break;
	case 'D':
		if (n >= 7 && b[1] == 'E' && b[2] == 'L' && b[3] == 'E' && b[4] == 'T' && b[5] == 'E' && b[6] == ' ')
			return METHOD_DELETE;
		break;
	case 'O':
		if (n >= 8 && b[1] == 'P' && b[2] == 'T' && b[3] == 'I' && b[4] == 'O' && b[5] == 'N' && b[6] == 'S' &&
		    b[7] == ' ')
			return METHOD_OPTIONS;
		break;
	}
	/* Another method: capitals up to a space, then a target. */
	for (i = 0; i < PEEK - 1; i++) {
		if (i >= n - 1)
			return -1;
		if (b[i] == ' ') {
			sp = i;
			break;
		}
		if (!IS_UPPER(b[i]) && b[i] != '-' && b[i] != '_')
			return -1;
	}
	if (sp < 3 || sp >= PEEK - 1)
		return -1;
	if (b[sp + 1] == '/' || b[sp + 1] == '*' || b[sp + 1] == 'h')
		return METHOD_OTHER;
	return -1;
}

/*
 * The protocol a connection's first payload says, n bytes in b, sent by
 * the client (from_client) or by the server; server_port is the flow's.
 */
static __always_inline __u8 classify(const __u8 *b, __u32 n, bool from_client, __u16 server_port)
{
	if (dns_port(server_port))
		return APP_DNS;
	if (!from_client) {
		/*
		 * MySQL's server speaks first: a packet (3-byte little-endian
		 * length, sequence id 0) holding Protocol::HandshakeV10 (10).
		 */
		if (n >= 5 && b[3] == 0 && b[4] == 10 && (b[0] | b[1] << 8 | b[2] << 16) >= 16)
			return APP_MYSQL;
		return APP_UNKNOWN;
	}
	if (n >= 8 && b[0] == 'P' && b[1] == 'R' && b[2] == 'I' && b[3] == ' ' && b[4] == '*' && b[5] == ' ' &&
	    b[6] == 'H' && b[7] == 'T')
		return APP_HTTP2;
	if (http_method_of(b, n) >= 0)
		return APP_HTTP1;
	/* TLS record: handshake (22), version 3.x, then a ClientHello (1). */
	if (n >= 6 && b[0] == 22 && b[1] == 3 && b[2] <= 4 && b[5] == 1)
		return APP_TLS;
	/*
	 * PostgreSQL's first message has no type byte: a length, then the
	 * protocol version 3.0 (StartupMessage) or the codes 1234/5678
	 * (SSLRequest), /5680 (GSSENCRequest), /5678 - 1 (CancelRequest).
	 */
	if (n >= 8 && b[0] == 0 && b[1] == 0) {
		if (b[4] == 0 && b[5] == 3 && b[6] == 0 && b[7] == 0)
			return APP_POSTGRES;
		if (b[4] == 0x04 && b[5] == 0xd2 && b[6] == 0x16 && (b[7] == 0x2e || b[7] == 0x2f || b[7] == 0x30))
			return APP_POSTGRES;
	}
	/* Redis (RESP): an array of bulk strings, "*<count>\r\n$". */
	if (n >= 6 && b[0] == '*' && b[1] >= '0' && b[1] <= '9') {
		if (b[2] == '\r' && b[3] == '\n' && b[4] == '$')
			return APP_REDIS;
		if (b[2] >= '0' && b[2] <= '9' && b[3] == '\r' && b[4] == '\n' && b[5] == '$')
			return APP_REDIS;
	}
	return APP_UNKNOWN;
}

/*
 * Where a TCP segment's header (l4) and payload (off, len bytes) start,
 * from the network header. False without payload. (IPv6 extension headers
 * are not walked, as in parse().)
 */
static __always_inline bool tcp_payload(struct __sk_buff *skb, __u32 *l4, __u32 *off, __u32 *len)
{
	__u8 buf[1];
	__u8 *b;
	__u32 l4_off = 40, hdr;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		b = header(skb, 0, 1, buf);
		if (!b)
			return false;
		l4_off = (*b & 0xf) * 4;
	}
	b = header(skb, l4_off + 12, 1, buf);
	if (!b)
		return false;
	hdr = l4_off + (*b >> 4) * 4;
	if (hdr >= skb->len)
		return false;
	*l4 = l4_off;
	*off = hdr;
	*len = skb->len - hdr;
	return true;
}

#endif /* PODFLOW_APP_BPF_H */
