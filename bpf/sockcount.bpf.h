/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Counting per socket. An established TCP socket's flow key never changes,
 * so its packets need not build a key and find it in the flows table each:
 * the socket gets an entry of its own in counting_sockets, keyed by its
 * cookie (kept in its state), holding its flow key; the packet path adds
 * bytes and packets there, and tcp_rtt keeps its RTT samples there. At
 * each drain, just before the tables flip, user space runs fold_sockets,
 * which adds every entry's counts to the active tables, in the kernel.
 *
 * Why not in the socket's storage, with an iterator over it: the kernel
 * here refuses every map-element iterator (iter/bpf_sk_storage_map,
 * iter/bpf_map_elem: EPERM), and iter/tcp walks only the network namespace
 * it is opened in (entering each pod's needs CAP_SYS_ADMIN). A hash entry
 * keyed by 8 bytes costs one lookup more than the storage, and any kernel
 * can walk it (bpf_for_each_map_elem).
 *
 * Folding exchanges each counter with 0 (BPF_XCHG): a packet counts in
 * exactly one fold. When the socket closes, tcp_state clears its
 * SOCK_STATE_COUNTS (later packets, such as a RST sent on close, count in
 * the flows table) and marks the entry closed; a fold that finds it closed
 * marks it folded, and the next fold, after the drain's RCU grace period
 * (which every packet that still saw the flag has finished by), takes the
 * rest and deletes it.
 */
#ifndef PODFLOW_SOCKCOUNT_BPF_H
#define PODFLOW_SOCKCOUNT_BPF_H

#include "state.bpf.h"
#include "packet.bpf.h"
#include "roles.bpf.h"
#include "latency.bpf.h"

/* sock_counts.rtt_pending: bucket (5 bits) | samples (20 bits) | sum of us (39 bits). */
#define RTT_PENDING_SUM_BITS 39
#define RTT_PENDING_COUNT_BITS 20
#define RTT_PENDING_COUNT_SHIFT RTT_PENDING_SUM_BITS
#define RTT_PENDING_BUCKET_SHIFT (RTT_PENDING_SUM_BITS + RTT_PENDING_COUNT_BITS)
#define RTT_PENDING_SUM_MAX ((1ULL << RTT_PENDING_SUM_BITS) - 1)
#define RTT_PENDING_COUNT_MAX ((1ULL << RTT_PENDING_COUNT_BITS) - 1)

/* One load, not cached in a register nor merged with another: the word changes under us. */
#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

/* sock_counts.closed */
#define SOCK_OPEN 0
#define SOCK_CLOSED 1 /* tcp_state saw it close */
#define SOCK_FOLDED 2 /* a fold saw it closed: the next one deletes it */

struct sock_counts {
	/* Sent and received since the last fold. */
	struct flow_counters counted;
	/*
	 * RTT samples not yet in the latency table, all in one log2 bucket,
	 * packed into one word so that a fold takes them at once: RTT_PENDING_*.
	 */
	__u64 rtt_pending;
	__u32 closed; /* SOCK_OPEN, SOCK_CLOSED, SOCK_FOLDED */
	__u32 pad;
	struct flow_key key;
};

/*
 * The sockets that count in an entry of their own, by cookie. The loader
 * sizes it (a quarter of the flows table); when it is full, a socket counts
 * in the flows table like any other (socket_failures says how many).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, struct sock_counts);
} counting_sockets SEC(".maps");

/* Sockets that could not get an entry, by enum update_failure; never reset. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FAIL_MAX);
	__type(key, __u32);
	__type(value, __u64);
} socket_failures SEC(".maps");

const struct sock_counts *unused_sock_counts __attribute__((unused));

static const struct flow_counters zero_flow_counters;

/*
 * Give an established TCP socket with state an entry of its own (tracing
 * programs: tcp_state when it becomes established, or the first program
 * that meets an older one). Not for sockets to a translated service, whose
 * new connections count_packet announces, nor out of scope ones. Once per
 * socket: a socket that connects again after closing keeps the flows table.
 */
static __always_inline void count_socket_alone(struct sock *sk, struct sock_state *st)
{
	struct sock_counts v = {};
	__u64 cookie;
	long err;

	if (!count_in_sockets || st->cookie || st->translated || !state_in_scope(st))
		return;
	cookie = bpf_get_socket_cookie(sk);
	v.key.cgroup_id = st->cgroup_id;
	sock_key(sk, st, st->role, &v.key);
	err = bpf_map_update_elem(&counting_sockets, &cookie, &v, BPF_NOEXIST);
	/* Tried once: a full table is not tried again at each RTT sample. */
	st->cookie = cookie;
	if (err) {
		__u32 reason = err == -E2BIG ? FAIL_FULL : err == -EBUSY ? FAIL_BUSY : FAIL_OTHER;
		__u64 *n = bpf_map_lookup_elem(&socket_failures, &reason);

		if (n)
			__sync_fetch_and_add(n, 1);
		return;
	}
	st->flags |= SOCK_STATE_COUNTS;
}

/* The socket closes (tcp_state): later packets count in the flows table. */
static __always_inline void close_socket(struct sock_state *st)
{
	struct sock_counts *v;

	if (!(st->flags & SOCK_STATE_COUNTS))
		return;
	st->flags &= ~SOCK_STATE_COUNTS;
	v = bpf_map_lookup_elem(&counting_sockets, &st->cookie);
	if (v)
		WRITE_ONCE(v->closed, SOCK_CLOSED);
}

/* Add v to key's entry of the active flows table, else to the overflow slot. */
static __always_inline void add_flow_counts(const struct flow_key *key, const struct flow_counters *v)
{
	struct flow_counters *c;
	__u32 zero = 0;

	c = table_entry(&flows, key, &zero_flow_counters, TABLE_FLOWS, NULL);
	if (!c)
		c = bpf_map_lookup_elem(&flows_overflow, &zero);
	if (!c)
		return;
	__sync_fetch_and_add(&c->tx_bytes, v->tx_bytes);
	__sync_fetch_and_add(&c->tx_packets, v->tx_packets);
	__sync_fetch_and_add(&c->rx_bytes, v->rx_bytes);
	__sync_fetch_and_add(&c->rx_packets, v->rx_packets);
}

/* Take what the socket counted since the last fold; false when nothing. */
static __always_inline bool take_counts(struct flow_counters *counted, struct flow_counters *v)
{
	v->tx_bytes = __sync_lock_test_and_set(&counted->tx_bytes, 0);
	v->tx_packets = __sync_lock_test_and_set(&counted->tx_packets, 0);
	v->rx_bytes = __sync_lock_test_and_set(&counted->rx_bytes, 0);
	v->rx_packets = __sync_lock_test_and_set(&counted->rx_packets, 0);
	return v->tx_packets || v->rx_packets || v->tx_bytes || v->rx_bytes;
}

/* Record a packed word of pending RTT samples under key (a copy is changed). */
static __always_inline void record_pending_rtt(const struct flow_key *key, __u64 pending)
{
	struct flow_key k = *key;

	if (!pending)
		return;
	record_samples(&k, HIST_RTT, pending >> RTT_PENDING_BUCKET_SHIFT,
		       (pending >> RTT_PENDING_COUNT_SHIFT) & RTT_PENDING_COUNT_MAX, pending & RTT_PENDING_SUM_MAX);
}

/*
 * The L3 and L4 header bytes each segment of a TCP GSO packet repeats, as
 * parse() finds them (IPv6 extension headers are not walked there either).
 */
static __always_inline __u32 tcp_header_len(struct __sk_buff *skb)
{
	__u8 buf[1];
	__u8 *b;
	__u32 l4_off = 40;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		b = header(skb, 0, 1, buf);
		if (!b)
			return 0;
		l4_off = (*b & 0xf) * 4;
	}
	b = header(skb, l4_off + 12, 1, buf);
	if (!b)
		return 0;
	return l4_off + (*b >> 4) * 4;
}

/* Count a packet of a socket with an entry of its own. */
static __always_inline void count_in_socket(struct __sk_buff *skb, struct sock_counts *v, bool egress)
{
	__u64 packets = 1, bytes = skb->len;
	__u32 segs = skb->gso_segs;
	struct flow_counters *c = &v->counted;

	/* As count_packet: a GSO packet counts as the segments the wire carries. */
	if (segs > 1) {
		packets = segs;
		bytes += (segs - 1) * tcp_header_len(skb);
	}
	if (egress) {
		__sync_fetch_and_add(&c->tx_packets, packets);
		__sync_fetch_and_add(&c->tx_bytes, bytes);
	} else {
		__sync_fetch_and_add(&c->rx_packets, packets);
		__sync_fetch_and_add(&c->rx_bytes, bytes);
	}
}

/*
 * The socket's first payload classified it (app.bpf.h): what it counted
 * before goes to the flows table under the old protocol, the rest under
 * the new one. (A fold between our taking and our changing the key may
 * file the packets of that instant under the old one: totals stay exact.)
 */
static __always_inline void reclassify_entry(struct sock_counts *v, __u8 app)
{
	struct flow_counters c;
	struct flow_key key = v->key;

	if (take_counts(&v->counted, &c))
		add_flow_counts(&key, &c);
	WRITE_ONCE(v->key.variant, (key.variant & ~APP_MASK) | APP_VARIANT(app));
}

/*
 * One RTT sample of a socket with an entry (tcp_rtt, under the socket's
 * lock, so never concurrent with itself; only fold_sockets may take the
 * pending word meanwhile, leaving 0). Samples wait while they share a
 * bucket; a sample of another bucket, or a full word, sends the pending
 * ones to the table first.
 */
static __always_inline void add_rtt_sample(struct sock_counts *v, __u32 us)
{
	__u32 bucket = latency_bucket_of(us);
	__u64 pending = READ_ONCE(v->rtt_pending);
	__u64 one = (1ULL << RTT_PENDING_COUNT_SHIFT) + us;
	__u64 fresh = ((__u64)bucket << RTT_PENDING_BUCKET_SHIFT) + one;
	struct flow_key key;

	if (pending && ((pending >> RTT_PENDING_BUCKET_SHIFT) != bucket ||
			((pending >> RTT_PENDING_COUNT_SHIFT) & RTT_PENDING_COUNT_MAX) == RTT_PENDING_COUNT_MAX ||
			(pending & RTT_PENDING_SUM_MAX) + us > RTT_PENDING_SUM_MAX)) {
		record_pending_rtt(&v->key, __sync_lock_test_and_set(&v->rtt_pending, 0));
		pending = 0;
	}
	if (pending && __sync_val_compare_and_swap(&v->rtt_pending, pending, pending + one) == pending)
		return;
	/* Empty, or a fold emptied it since it was read: start a word (nothing else fills it). */
	if (__sync_val_compare_and_swap(&v->rtt_pending, 0, fresh) == 0)
		return;
	key = v->key;
	record_latency(&key, HIST_RTT, us);
}

static long fold_entry(void *map, __u64 *cookie, struct sock_counts *v, void *ctx)
{
	__u32 closed = READ_ONCE(v->closed);
	struct flow_counters c;
	struct flow_key key = v->key;

	if (take_counts(&v->counted, &c))
		add_flow_counts(&key, &c);
	record_pending_rtt(&key, __sync_lock_test_and_set(&v->rtt_pending, 0));
	if (closed == SOCK_FOLDED)
		bpf_map_delete_elem(map, cookie);
	else if (closed == SOCK_CLOSED)
		v->closed = SOCK_FOLDED;
	return 0;
}

/*
 * Run by user space (BPF_PROG_TEST_RUN) at each drain, just before it
 * flips the tables: add every socket's counts to the active tables, and
 * delete the entries of sockets closed before the previous drain. Returns
 * the number of entries it found.
 */
SEC("raw_tp")
int fold_sockets(void *ctx)
{
	return bpf_for_each_map_elem(&counting_sockets, fold_entry, NULL, 0);
}

#endif /* PODFLOW_SOCKCOUNT_BPF_H */
