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
