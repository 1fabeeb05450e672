/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Latency histograms: record_latency, for connect latency (tcp_state,
 * tcp.bpf.h), and record_samples, for RTT samples a socket kept
 * (sockcount.bpf.h).
 */
#ifndef PODFLOW_LATENCY_BPF_H
#define PODFLOW_LATENCY_BPF_H

#include "state.bpf.h"

static const struct latency_bucket zero_latency_bucket;

/* Add count samples summing sum_us to bucket of histogram hist of key's flow. */
static __always_inline void record_samples(struct flow_key *key, __u32 hist, __u32 bucket, __u64 count,
					   __u64 sum_us)
{
	struct latency_bucket *b;
	__u32 zero = 0;

	if (bucket >= LAT_BUCKETS)
		return;
	/* The upper half may hold the client's port; histograms have no application protocol. */
	key->variant = (key->variant & ~(APP_MASK | 0xfff)) | LATENCY_VARIANT(hist, bucket);
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
	__sync_fetch_and_add(&b->count, count);
	__sync_fetch_and_add(&b->sum_us, sum_us);
}

static __always_inline void record_latency(struct flow_key *key, __u32 hist, __u64 us)
{
	record_samples(key, hist, latency_bucket_of(us), 1, us);
}

#endif /* PODFLOW_LATENCY_BPF_H */
