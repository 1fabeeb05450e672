//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test-only: the payload path of a TCP socket (inspect_segment), which
 * BPF_PROG_TEST_RUN cannot reach through flows_egress: its socket is a
 * dummy with no TCP state, and a new one at each run. Here one
 * connection's state lives in an array, so that a test can send it a
 * sequence of segments. The context's cb[] says what each run is: cb[0]
 * non-zero starts a new connection whose local side is cb[1] (enum
 * flow_role); cb[2] non-zero: the segment is sent (egress); cb[3]: the
 * server port. Requests count in the tracer's tables under a flow key of
 * cgroup 1; cb[4] returns the connection's application protocol.
 */
#include "podflow.bpf.c"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sock_state);
} test_connection SEC(".maps");

SEC("cgroup_skb/egress")
int inspect_test_segment(struct __sk_buff *skb)
{
	struct flow_key key = {};
	struct sock_state *st;
	__u32 zero = 0;

	st = bpf_map_lookup_elem(&test_connection, &zero);
	if (!st)
		return 1;
	if (skb->cb[0]) {
		__builtin_memset(st, 0, sizeof(*st));
		st->role = skb->cb[1];
	}
	key.cgroup_id = 1;
	key.protocol = IPPROTO_TCP;
	key.role = st->role;
	key.server_port = skb->cb[3];
	if (payload_wanted(st))
		inspect_segment(skb, skb->cb[2] != 0, st, &key);
	/* Out: the connection's application protocol (BPF_PROG_TEST_RUN returns the context). */
	skb->cb[4] = st->app;
	return 1;
}
