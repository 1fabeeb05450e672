//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark baselines, test-only. The floor is the least a per-flow packet
 * counter can do: one per-CPU hash lookup with podflow's flow key and one
 * increment; bench_test.go measures flows_egress against it. The no-op
 * programs measure what the cgroup_skb hook itself costs.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "podflow.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct flow_key);
	__type(value, struct flow_counters);
} floor_flows SEC(".maps");

static __always_inline int increment(void)
{
	struct flow_key key = {};
	struct flow_counters *c;

	c = bpf_map_lookup_elem(&floor_flows, &key);
	if (c)
		c->tx_packets++;
	return 1;
}

SEC("cgroup_skb/egress")
int floor_increment(struct __sk_buff *skb)
{
	return increment();
}

SEC("cgroup_skb/ingress")
int floor_increment_ingress(struct __sk_buff *skb)
{
	return increment();
}

SEC("cgroup_skb/egress")
int noop_egress(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup_skb/ingress")
int noop_ingress(struct __sk_buff *skb)
{
	return 1;
}

/*
 * The other RTT hook podflow could use: sockops with BPF_SOCK_OPS_RTT_CB,
 * doing what tcp_rtt does (socket storage, one sample per smoothed-RTT
 * change, a per-CPU histogram entry per flow and bucket). Benchmarked
 * against tcp_rtt (BenchmarkRTTHooks); see docs/design.md for the choice.
 */
struct sockops_state {
	__u32 srtt_us;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sockops_state);
} sockops_states SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct flow_key);
	__type(value, struct latency_bucket);
} sockops_rtt_hist SEC(".maps");

static const struct latency_bucket zero_bucket;

SEC("sockops")
int sockops_rtt(struct bpf_sock_ops *skops)
{
	struct flow_key key = {};
	struct sockops_state *st;
	struct latency_bucket *b;
	struct bpf_sock *sk;
	__u32 srtt;

	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		/* Only sockets that pass here get RTT callbacks: not those established before. */
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_RTT_CB_FLAG);
		return 1;
	case BPF_SOCK_OPS_RTT_CB:
		break;
	default:
		return 1;
	}
	sk = skops->sk;
	if (!sk)
		return 1;
	st = bpf_sk_storage_get(&sockops_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	srtt = skops->srtt_us >> 3;
	if (!st || st->srtt_us == srtt)
		return 1;
	st->srtt_us = srtt;
	((__u32 *)key.local_addr)[3] = skops->local_ip4;
	((__u32 *)key.remote_addr)[3] = skops->remote_ip4;
	key.server_port = skops->local_port;
	key.protocol = 6;
	key.variant = LATENCY_VARIANT(HIST_RTT, latency_bucket_of(srtt));
	b = bpf_map_lookup_elem(&sockops_rtt_hist, &key);
	if (!b) {
		bpf_map_update_elem(&sockops_rtt_hist, &key, &zero_bucket, BPF_NOEXIST);
		b = bpf_map_lookup_elem(&sockops_rtt_hist, &key);
		if (!b)
			return 1;
	}
	__sync_fetch_and_add(&b->count, 1);
	__sync_fetch_and_add(&b->sum_us, srtt);
	return 1;
}

/* What the tcp_probe hook costs with nothing to do: the baseline of tcp_rtt. */
SEC("tp_btf/tcp_probe")
int noop_tcp_probe(void *ctx)
{
	return 0;
}
