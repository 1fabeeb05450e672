/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * DNS requests, on client sockets (pods asking) and server sockets (DNS
 * pods answering), over UDP and TCP to or from --bpf.dns-ports. A query
 * waits in dns_queries, keyed by socket, peer, ID and question type, until
 * its response comes (counted with its RCODE, and its duration) or
 * expire_dns_queries, run at each drain, finds it older than
 * --bpf.dns-timeout (counted as a timeout). Only the header and the
 * question's type are read (RFC 1035 4.1): a response of any size, EDNS
 * (RFC 6891) too, needs its first bytes only. Never a query name.
 */
#ifndef PODFLOW_DNS_BPF_H
#define PODFLOW_DNS_BPF_H

#include "app.bpf.h"

#define DNS_HEADER 12
#define DNS_MAX_LABELS 64 /* a name of 255 bytes has at most 127 labels; ours stop at 64 */

/* A query awaiting its response. */
struct dns_query_key {
	__u64 cookie;         /* the socket's */
	__u8 remote_addr[16]; /* a server socket's peer (v4-mapped); zero on client sockets */
	__u16 remote_port;
	__u16 id;
	__u16 qtype; /* the question's TYPE, as on the wire */
	__u16 pad;
};

struct dns_query {
	struct flow_key key; /* the flow the query was sent or received on */
	__u64 start_ns;
	__u32 qtype; /* enum dns_qtype */
	__u32 pad;
};

/*
 * Sized by the loader (--bpf.dns-table-entries). Preallocated: an insert
 * takes a free element instead of allocating one in the packet path, and
 * the memory is known at start (144 bytes an entry).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct dns_query_key);
	__type(value, struct dns_query);
} dns_queries SEC(".maps");

const struct dns_query_key *unused_dns_query_key __attribute__((unused));
const struct dns_query *unused_dns_query __attribute__((unused));

static __always_inline __u32 qtype_of(__u16 t)
{
	switch (t) {
	case 1:
		return QTYPE_A;
	case 28:
		return QTYPE_AAAA;
	case 12:
		return QTYPE_PTR;
	case 33:
		return QTYPE_SRV;
	case 5:
		return QTYPE_CNAME;
	case 16:
		return QTYPE_TXT;
	}
	return QTYPE_OTHER;
}

/*
 * The offset of the question's TYPE: after the QNAME, a sequence of labels
 * ending with an empty one or a compression pointer. 0 when the name is
 * malformed or runs past end.
 */
static __always_inline __u32 question_type_off(struct __sk_buff *skb, __u32 off, __u32 end)
{
	__u8 l;
	int i;

	for (i = 0; i < DNS_MAX_LABELS; i++) {
		if (off >= end || bpf_skb_load_bytes(skb, off, &l, 1))
			return 0;
		if (l == 0)
			return off + 1;
		if ((l & 0xc0) == 0xc0)
			return off + 2;
		if (l > 63)
			return 0;
		off += l + 1;
	}
	return 0;
}

/*
 * One DNS message at off (len bytes to the end of the payload) of a
 * socket: a query starts waiting, a response ends its query. key is the
 * flow of the packet; server: the local socket answers queries.
 */
static __always_inline void dns_message(struct __sk_buff *skb, __u32 off, __u32 len, const struct flow_key *key,
					bool server, __u16 remote_port)
{
	struct dns_query_key qk = {};
	struct dns_query *q, v = {};
	__be16 hdr[3], type;
	__u16 flags;
	__u32 toff;
	long err;

	if (len < DNS_HEADER + 5 || bpf_skb_load_bytes(skb, off, hdr, sizeof(hdr))) {
		payload_event(EV_DNS_MALFORMED);
		return;
	}
	flags = bpf_ntohs(hdr[1]);
	/* Only standard queries (OPCODE 0) have a question we can read. */
	if ((flags >> 11) & 0xf)
		return;
	toff = bpf_ntohs(hdr[2]) == 1 ? question_type_off(skb, off + DNS_HEADER, off + len) : 0;
	if (!toff || toff + 2 > off + len || bpf_skb_load_bytes(skb, toff, &type, sizeof(type))) {
		payload_event(EV_DNS_MALFORMED);
		return;
	}
	qk.cookie = bpf_get_socket_cookie(skb);
	if (server)
		__builtin_memcpy(qk.remote_addr, key->remote_addr, sizeof(qk.remote_addr));
	qk.remote_port = remote_port;
	qk.id = bpf_ntohs(hdr[0]);
	qk.qtype = bpf_ntohs(type);

	if (!(flags & 0x8000)) {
		/* QR 0: a query. */
		v.key = *key;
		v.start_ns = bpf_ktime_get_ns();
		v.qtype = qtype_of(qk.qtype);
		err = bpf_map_update_elem(&dns_queries, &qk, &v, BPF_NOEXIST);
		if (err == -EEXIST)
			payload_event(EV_DNS_DUPLICATE);
		else if (err == -E2BIG)
			payload_event(EV_DNS_TABLE_FULL);
		else if (err)
			payload_event(EV_DNS_TRACK_FAILED);
		return;
	}
	q = bpf_map_lookup_elem(&dns_queries, &qk);
	if (!q) {
		payload_event(EV_DNS_UNMATCHED);
		return;
	}
	v = *q;
	/* Whoever deletes it counts it: a response racing its expiry counts once. */
	if (bpf_map_delete_elem(&dns_queries, &qk))
		return;
	count_request(&v.key, DNS_REQUEST(flags & 0xf, v.qtype & 7));
	{
		__u64 now = bpf_ktime_get_ns();

		if (now > v.start_ns)
			record_latency(&v.key, HIST_DNS, (now - v.start_ns) / 1000);
	}
}

/* A UDP datagram to or from a DNS port (pkt parsed, key its flow). */
static __always_inline void dns_datagram(struct __sk_buff *skb, const struct packet *pkt,
					 const struct flow_key *key)
{
	__u32 off = pkt->l4_off + sizeof(struct udphdr);

	if (off >= skb->len) {
		payload_event(EV_DNS_MALFORMED);
		return;
	}
	dns_message(skb, off, skb->len - off, key, key->role == ROLE_SERVER, pkt->remote_port);
}

/*
 * A TCP segment of a DNS connection, payload at off (len bytes), starting
 * at sequence number seq. Messages are a 2-byte length and the message
 * (RFC 1035 4.2.2); st->next_message follows, per direction, where the
 * next one starts. The message starting there is parsed when this segment
 * holds it; a retransmission, or a segment after a gap, is not. Further
 * messages starting in the same segment are stepped over, not parsed
 * (EV_DNS_TCP_SKIPPED).
 */
static __always_inline void dns_segment(struct __sk_buff *skb, struct sock_state *st, const struct flow_key *key,
					__u32 seq, __u32 off, __u32 len, bool from_client, __u16 remote_port)
{
	__u8 known = from_client ? SOCK_STATE_DNS_SEQ : SOCK_STATE_DNS_SEQ << 1;
	__u32 next, at, avail, i;
	__be16 mlen;
	__u16 l;

	if (!(st->flags & known)) {
		st->flags |= known;
		next = seq;
	} else {
		next = from_client ? st->next_message[0] : st->next_message[1];
	}
	at = next - seq;
	if (at >= len)
		return; /* a retransmission, or after a gap: the segment at next comes later */
	if (at + 2 > len || bpf_skb_load_bytes(skb, off + at, &mlen, sizeof(mlen))) {
		/* The length itself is split across segments: find the next start anew. */
		st->flags &= ~known;
		payload_event(EV_DNS_TCP_SKIPPED);
		return;
	}
	l = bpf_ntohs(mlen);
	avail = len - at - 2;
	dns_message(skb, off + at + 2, avail < l ? avail : l, key, key->role == ROLE_SERVER, remote_port);
	next += 2 + l;
	for (i = 0; i < 4; i++) {
		at = next - seq;
		if (at >= len)
			break;
		if (at + 2 > len || bpf_skb_load_bytes(skb, off + at, &mlen, sizeof(mlen))) {
			st->flags &= ~known;
			break;
		}
		payload_event(EV_DNS_TCP_SKIPPED);
		next += 2 + bpf_ntohs(mlen);
	}
	if (from_client)
		st->next_message[0] = next;
	else
		st->next_message[1] = next;
}

static long expire_query(void *map, struct dns_query_key *qk, struct dns_query *q, __u64 *now)
{
	struct flow_key key;
	__u32 qtype;

	/* Signed: a query another CPU started just now may look younger than now. */
	if ((__s64)(*now - q->start_ns) < (__s64)dns_timeout_ns)
		return 0;
	key = q->key;
	qtype = q->qtype & 7;
	/* Whoever deletes it counts it: its response may be racing us. */
	if (bpf_map_delete_elem(map, qk) == 0)
		count_request(&key, DNS_REQUEST(DNS_RCODE_TIMEOUT, qtype));
	return 0;
}

/*
 * Run by user space (BPF_PROG_TEST_RUN) at each drain, before the tables
 * flip: every query older than --bpf.dns-timeout counts as a timeout of
 * its flow and stops waiting. Returns the number of queries waiting
 * before.
 */
SEC("raw_tp")
int expire_dns_queries(void *ctx)
{
	__u64 now = bpf_ktime_get_ns();

	return bpf_for_each_map_elem(&dns_queries, expire_query, &now, 0);
}

#endif /* PODFLOW_DNS_BPF_H */
