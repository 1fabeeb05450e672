/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * RTT: tcp_rtt (tp_btf/tcp_probe) records each TCP socket's smoothed RTT
 * into the RTT histogram as the kernel updates it.
 */
#ifndef PODFLOW_RTT_BPF_H
#define PODFLOW_RTT_BPF_H

#include "state.bpf.h"
#include "roles.bpf.h"
#include "latency.bpf.h"
#include "sockcount.bpf.h"

/*
 * tcp_probe fires for every segment an established socket receives, before
 * the segment is processed. The smoothed RTT changes only when the kernel
 * takes an RTT sample, so recording it when it differs from the value last
 * recorded gives one histogram sample per RTT update: a bulk receiver,
 * which takes no samples, does not repeat its handshake RTT per segment.
 * Sockets connected before the exporter started are covered too (their
 * state is created here). Samples of a socket with an entry of its own wait
 * there until a fold or a change of bucket (add_rtt_sample): no update of
 * the latency table per sample.
 */
SEC("tp_btf/tcp_probe")
int BPF_PROG(tcp_rtt, struct sock *sk, const struct sk_buff *skb)
{
	struct flow_key key = {};
	struct sock_state *st;
	struct tcp_sock *tp;
	__u32 srtt;

	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 0;
	srtt = tp->srtt_us >> 3; /* srtt_us holds 8 times the smoothed RTT */
	if (!srtt)
		return 0;
	st = sock_state_of(sk, false);
	if (!st || st->srtt_us == srtt || !state_in_scope(st))
		return 0;
	st->srtt_us = srtt;
	/* A socket older than the exporter gets its entry here (only established ones reach tcp_probe). */
	count_socket_alone(sk, st);
	if (st->flags & SOCK_STATE_COUNTS) {
		struct sock_counts *v = bpf_map_lookup_elem(&counting_sockets, &st->cookie);

		if (v) {
			add_rtt_sample(v, srtt);
			return 0;
		}
	}
	key.cgroup_id = st->cgroup_id;
	sock_key(sk, st, st->role, &key);
	record_latency(&key, HIST_RTT, srtt);
	return 0;
}

#endif /* PODFLOW_RTT_BPF_H */
