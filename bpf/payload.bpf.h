/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the packet path reads of payload: a TCP connection's first payload
 * (its application protocol), HTTP/1.x and DNS connections' segments, and
 * datagrams to or from a DNS port. A segment of a connection classified
 * as anything else costs one comparison (payload_wanted).
 */
#ifndef PODFLOW_PAYLOAD_BPF_H
#define PODFLOW_PAYLOAD_BPF_H

#include "app.bpf.h"
#include "http.bpf.h"
#include "dns.bpf.h"

/* Whether a TCP socket's segments are read: not classified yet, or HTTP/1.x or DNS. */
static __always_inline bool payload_wanted(const struct sock_state *st)
{
	return st->app == APP_NONE || (st->app == APP_HTTP1 && track_http) || (st->app == APP_DNS && track_dns);
}

/*
 * A segment of a TCP socket with state st (payload_wanted), counted under
 * key: classify the connection at its first payload, then follow its
 * requests. Returns whether this segment classified the connection.
 */
static __always_inline bool inspect_segment(struct __sk_buff *skb, bool egress, struct sock_state *st,
					    const struct flow_key *key)
{
	bool from_client = (st->role == ROLE_CLIENT) == egress;
	__u32 l4, off, len, n;
	__u8 b[PEEK] = {};
	__u8 app = st->app;
	bool classified = false;

	if (!state_in_scope(st) || !tcp_payload(skb, &l4, &off, &len))
		return false;
	n = peek(skb, off, len, b);
	if (!n)
		return false;
	if (app == APP_NONE) {
		app = classify(b, n, from_client, key->server_port);
		st->app = app;
		classified = true;
	}
	if (app == APP_HTTP1 && track_http) {
		http_segment(st, key, b, n, from_client);
	} else if (app == APP_DNS && track_dns) {
		__be32 hdr[2]; /* ports, sequence number */

		if (!bpf_skb_load_bytes(skb, l4 & 0xff, hdr, sizeof(hdr))) {
			/* Source and destination port, as scalars: no pointer arithmetic on a condition. */
			__u16 sport = bpf_ntohs((__be16)(hdr[0] & 0xffff));
			__u16 dport = bpf_ntohs((__be16)(hdr[0] >> 16));

			dns_segment(skb, st, key, bpf_ntohl(hdr[1]), off, len, from_client, egress ? dport : sport);
		}
	}
	return classified;
}

/* A datagram of a UDP socket: DNS by port. Returns the flow's application protocol. */
static __always_inline __u8 inspect_datagram(struct __sk_buff *skb, const struct packet *pkt,
					     const struct flow_key *key)
{
	if (!dns_port(key->server_port))
		return APP_UNKNOWN;
	if (track_dns)
		dns_datagram(skb, pkt, key);
	return APP_DNS;
}

#endif /* PODFLOW_PAYLOAD_BPF_H */
