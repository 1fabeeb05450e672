//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test-only: flows_egress for a TCP socket with an entry of its own, which
 * BPF_PROG_TEST_RUN cannot give it (its socket is a dummy, never
 * established). The wrapper makes the dummy socket's state and entry once
 * and then counts exactly as flows_egress counts such a socket: one state
 * lookup (the wrapper's, which creates it the first time), the entry's
 * lookup and its adds. bench_test.go measures it against the floor.
 */
#include "podflow.bpf.c"

SEC("cgroup_skb/egress")
int flows_egress_with_entry(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	struct sock_state *st;

	if (!sk)
		return 1;
	st = bpf_sk_storage_get(&sock_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (st && !st->cookie) {
		struct sock_counts v = {};

		st->cookie = 1;
		st->flags |= SOCK_STATE_COUNTS;
		bpf_map_update_elem(&counting_sockets, &st->cookie, &v, BPF_ANY);
	}
	return count_packet_of(skb, true, sk, st);
}
