/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * HTTP/1.x requests, on client and server sockets alike: the first segment
 * of a request (a request line) starts it, the first segment of its
 * response (a status line) ends it, and a close in between counts it
 * without a response. One request at a time per connection, as HTTP/1.1
 * clients send them: a request sent while another awaits its response
 * (pipelining, RFC 9112 9.3.2) is not counted (EV_HTTP_PIPELINED).
 */
#ifndef PODFLOW_HTTP_BPF_H
#define PODFLOW_HTTP_BPF_H

#include "app.bpf.h"

/*
 * One payload segment of an HTTP/1.x connection: b holds its first n
 * bytes; from_client says who sent it; key is the flow it counts under.
 */
static __always_inline void http_segment(struct sock_state *st, const struct flow_key *key, const __u8 *b,
					 __u32 n, bool from_client)
{
	__u64 now, start = st->request_ns;
	int method;
	__u8 class;

	if (from_client) {
		method = http_method_of(b, n);
		if (method < 0)
			return; /* the rest of a request: its body */
		if (start) {
			payload_event(EV_HTTP_PIPELINED);
			return;
		}
		st->method = method;
		st->request_ns = bpf_ktime_get_ns();
		return;
	}
	if (!start)
		return; /* the rest of a response */
	/* "HTTP/1.x NNN " (RFC 9112 4). */
	if (n < 13 || b[0] != 'H' || b[1] != 'T' || b[2] != 'T' || b[3] != 'P' || b[4] != '/' || b[5] != '1' ||
	    b[8] != ' ' || b[9] < '1' || b[9] > '5' || b[12] != ' ') {
		/* A segment out of order, or not HTTP any more: wait for the status line. */
		payload_event(EV_HTTP_MALFORMED);
		return;
	}
	class = b[9] - '0';
	/* Interim responses (100, 102, 103) precede the final one (RFC 9110 15.2); 101 switches protocols. */
	if (class == 1 && !(b[10] == '0' && b[11] == '1'))
		return;
	now = bpf_ktime_get_ns();
	st->request_ns = 0;
	count_request(key, HTTP_REQUEST(st->method & 7, class));
	if (now > start) {
		struct flow_key k = *key;

		record_latency(&k, HIST_HTTP, (now - start) / 1000);
	}
}

/*
 * The connection closes (tcp_state): a request still awaiting its response
 * counts with status class "none" (key: the socket's flow).
 */
static __always_inline void http_unanswered(struct sock_state *st, const struct flow_key *key)
{
	if (!st->request_ns)
		return;
	st->request_ns = 0;
	count_request(key, HTTP_REQUEST(st->method & 7, 0));
}

#endif /* PODFLOW_HTTP_BPF_H */
