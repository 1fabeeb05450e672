/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Latency histograms: record_latency, for connect latency (tcp_state,
 * tcp.bpf.h) and RTT (tcp_rtt, rtt.bpf.h).
 */
#ifndef PODFLOW_LATENCY_BPF_H
#define PODFLOW_LATENCY_BPF_H

#include "state.bpf.h"

static const struct latency_bucket zero_latency_bucket;

static __always_inline void record_latency(struct flow_key *key, __u32 hist, __u64 us)
{
	struct latency_bucket *b;
	__u32 bucket = latency_bucket_of(us);
	__u32 zero = 0;

	key->variant |= LATENCY_VARIANT(hist, bucket); /* the upper half may hold the client's port */
	b = table_entry(&latency, key, &zero_latency_bucket, TABLE_LATENCY, NULL);
	if (!b) {
		__u32 idx = hist * LAT_BUCKETS + bucket;
		struct latency_overflow *o;

		if (idx >= HIST_MAX * LAT_BUCKETS)
			return;
		o = bpf_map_lookup_elem(&latency_overflow, &zero);
		if (!o)
			return;
		/* Keeps clang from computing the address before the NULL check. */
		barrier_var(o);
		b = &o->buckets[idx];
	}
	__sync_fetch_and_add(&b->count, 1);
	__sync_fetch_and_add(&b->sum_us, us);
}

#endif /* PODFLOW_LATENCY_BPF_H */
