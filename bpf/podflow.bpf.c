//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podflow's kernel side: count every local socket's packets per aggregated
 * flow (cgroup_skb at the cgroup v2 root) and the outcome of every TCP
 * handshake (tp_btf/inet_sock_set_state). Nothing is sent to user space per
 * packet; the exporter drains the tables when Prometheus scrapes it.
 *
 * Table rotation: each family of counters lives in one of two per-CPU hash
 * tables; an ARRAY_OF_MAPS slot says which one is active. To read, user space
 * swaps the slot and then drains the retired table. The kernel returns from
 * that map update only after an RCU grace period (maybe_wait_bpf_programs()),
 * so when user space reads, no program is still writing to the retired table
 * and nothing can be lost between reading and deleting an entry.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#include "podflow.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Not in vmlinux.h: UAPI macros. errno values are the same on every arch we build for. */
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_ICMPV6 58
#define IP_OFFSET 0x1FFF
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129
#define AF_INET 2
#define AF_INET6 10
#define EEXIST 17
#define EBUSY 16
#define E2BIG 7
#define ENETUNREACH 101
#define ECONNRESET 104
#define ETIMEDOUT 110
#define ECONNREFUSED 111
#define EHOSTUNREACH 113

/*
 * The loader copies net.ipv4.ip_local_port_range here. When no socket state
 * says which side is the client, a port inside this range is taken to be the
 * client's ephemeral port.
 */
volatile const __u16 ephemeral_port_min = 32768;
volatile const __u16 ephemeral_port_max = 60999;

/* Set to 0 by the loader when the TCP collector is disabled: roles are still tracked. */
volatile const __u8 count_tcp_events = 1;

/* Set to 0 by the loader when the latency collector is disabled. */
volatile const __u8 record_connect_latency = 1;

/*
 * Set to 1 by the loader when user space translates connections to
 * services (Kubernetes mode, --collector.translation): client flows to a
 * frontend in translated_services then keep their client port.
 */
volatile const __u8 translate_services = 0;

/*
 * The inner tables are per-CPU hashes keyed by flow; the loader creates two of
 * each with max_entries from --bpf.* flags. The template must be written
 * inline: a named struct would reach BTF only as a forward declaration.
 */
#define ROTATING_TABLE(value_type)                                                                 \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);                                          \
		__uint(max_entries, 1);                                                            \
		__type(key, __u32);                                                                \
		__array(values, struct {                                                           \
			__uint(type, BPF_MAP_TYPE_PERCPU_HASH);                                    \
			__uint(max_entries, 1);                                                    \
			__type(key, struct flow_key);                                              \
			__type(value, value_type);                                                 \
		});                                                                                \
	}

/*
 * Inner-map templates reach BTF only through pointer members, which clang
 * emits as forward declarations, and enums used only as constants not at
 * all; these unused globals make it emit the full types (needed to create
 * the inner maps, and by bpf2go -type).
 */
const struct flow_key *unused_flow_key __attribute__((unused));
const struct flow_counters *unused_flow_counters __attribute__((unused));
const struct tcp_counters *unused_tcp_counters __attribute__((unused));
const enum flow_role *unused_flow_role __attribute__((unused));
const enum tcp_event *unused_tcp_event __attribute__((unused));
const enum flow_table_id *unused_flow_table_id __attribute__((unused));
const enum update_failure *unused_update_failure __attribute__((unused));
const struct latency_bucket *unused_latency_bucket __attribute__((unused));
const struct drop_counters *unused_drop_counters __attribute__((unused));
const enum latency_histogram *unused_latency_histogram __attribute__((unused));
const struct service_key *unused_service_key __attribute__((unused));

/* Slot 0 holds the table programs write to now. */
ROTATING_TABLE(struct flow_counters) flows SEC(".maps");
ROTATING_TABLE(struct tcp_counters) tcp_events SEC(".maps");
ROTATING_TABLE(struct latency_bucket) latency SEC(".maps");
ROTATING_TABLE(struct drop_counters) drops SEC(".maps");

/*
 * What could not get a table entry is counted here instead, never dropped:
 * the sum over all drained entries plus these is the truth. Never deleted;
 * user space reads them as monotonic counters.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow_counters);
} flows_overflow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcp_counters);
} tcp_overflow SEC(".maps");

/* Histogram samples keep their bucket when they find no entry. */
struct latency_overflow {
	struct latency_bucket buckets[HIST_MAX * LAT_BUCKETS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct latency_overflow);
} latency_overflow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct drop_counters);
} drops_overflow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TABLE_MAX * FAIL_MAX);
	__type(key, __u32);
	__type(value, __u64);
} update_failures SEC(".maps");

/*
 * Service frontends whose connections user space translates to the
 * backend that served them (the node's NAT picks one per connection).
 * Filled and kept in step by user space; the loader sizes it
 * (--bpf.service-table-entries). Read-only here.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, struct service_key);
	__type(value, __u8);
} translated_services SEC(".maps");

/*
 * Connections to translated services whose flow entry a program created
 * since user space last emptied this table: user space translates them
 * within a second, while the node's connection tracking still has them
 * (a UDP entry lives 30 s after its last packet, often less than a scrape
 * interval). LRU: when user space falls behind, the oldest go, and are
 * translated at the scrape instead. The loader sizes it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__type(key, struct flow_key);
	__type(value, __u8);
} new_connections SEC(".maps");

/*
 * Per-socket state, created by tcp_state when a TCP socket starts or accepts
 * a connection. The packet path reads the role and the cgroup id from here:
 * a socket's cgroup never changes, and one lookup touches fewer cold cache
 * lines than bpf_skb_cgroup_id()'s walk from the socket to the cgroup's
 * kernfs node.
 */
struct sock_state {
	__u64 cgroup_id;
	__u64 syn_sent_ns;
	__u32 srtt_us; /* the smoothed RTT last recorded, to record each update once */
	__u8 role;
	__u8 translated; /* a client connected to a translated service frontend */
	__u8 pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_state);
} sock_states SEC(".maps");

static __always_inline void record_failure(__u32 table, long err)
{
	__u32 reason = FAIL_OTHER;
	__u32 idx;
	__u64 *n;

	if (err == -E2BIG)
		reason = FAIL_FULL;
	else if (err == -EBUSY)
		reason = FAIL_BUSY;
	else if (err == 0)
		reason = FAIL_NO_TABLE;
	idx = table * FAIL_MAX + reason;
	n = bpf_map_lookup_elem(&update_failures, &idx);
	if (n)
		__sync_fetch_and_add(n, 1);
}

/*
 * Find or create the entry for key in the active table of outer. Returns
 * NULL only when the table cannot take the key; the caller then counts into
 * the overflow slot. A concurrent insert of the same key by another CPU (or by
 * a softirq that interrupted us) makes ours fail with -EEXIST: look it up again.
 * The new entry starts at zero on every CPU and is incremented like any other,
 * so callers need a single code path. *created (when not NULL) is set when
 * this call created the entry.
 */
static __always_inline void *table_entry(void *outer, const struct flow_key *key,
					 const void *zero_value, __u32 table_id, bool *created)
{
	__u32 zero = 0;
	void *table, *entry;
	long err;

	table = bpf_map_lookup_elem(outer, &zero);
	if (!table) {
		record_failure(table_id, 0);
		return NULL;
	}
	entry = bpf_map_lookup_elem(table, key);
	if (entry)
		return entry;
	err = bpf_map_update_elem(table, key, zero_value, BPF_NOEXIST);
	if (err && err != -EEXIST) {
		record_failure(table_id, err);
		return NULL;
	}
	if (created && !err)
		*created = true;
	return bpf_map_lookup_elem(table, key);
}

/* ---- Bytes and packets: cgroup_skb ---------------------------------------- */

struct packet {
	__u32 gso_segs;
	__u16 local_port;
	__u16 remote_port;
	__u32 hdr_len; /* L3 + L4 header bytes: the part each GSO segment repeats */
	__u8 protocol;
	__u8 icmp_type;
	bool has_l4;
};

/*
 * Return a pointer to len bytes at off from the network header: into the
 * packet when they are in its linear part (the usual case, no copy), else
 * copied into buf. NULL when the packet is shorter. Callers read typed
 * fields through it: a byte-wise memcpy out of the packet costs more than
 * the whole hash update.
 */
static __always_inline void *header(struct __sk_buff *skb, __u32 off, __u32 len, void *buf)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	off &= 0xff; /* headers we read start within the first 128 bytes */
	if (data + off + len <= end)
		return data + off;
	if (bpf_skb_load_bytes(skb, off, buf, len))
		return NULL;
	return buf;
}

/* The key is zeroed first: only the ::ffff: prefix and the address remain. */
static __always_inline void v4_mapped(__u8 *dst, __be32 addr)
{
	__u32 *words = (__u32 *)dst;

	words[2] = bpf_htonl(0x0000ffff);
	words[3] = addr;
}

/*
 * Two 8-byte moves: the packet is not known to be aligned, so a memcpy would
 * go 4 bytes at a time; the CPUs we run on load unaligned words at full speed
 * (and the verifier only insists on alignment where they do not).
 */
static __always_inline void copy_v6(__u8 *dst, const struct in6_addr *src)
{
	const __u64 *s = (const __u64 *)src;
	__u64 *d = (__u64 *)dst;

	d[0] = s[0];
	d[1] = s[1];
}

/* Fill addresses and protocol of key and the L4 facts of pkt from the packet. */
static __always_inline bool parse(struct __sk_buff *skb, bool egress, struct flow_key *key,
				  struct packet *pkt)
{
	union {
		struct iphdr v4;
		struct ipv6hdr v6;
		__be16 ports[2];
		__u8 bytes[16];
	} buf;
	__u32 l4_off;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = header(skb, 0, sizeof(*ip), &buf);

		if (!ip)
			return false;
		v4_mapped(egress ? key->local_addr : key->remote_addr, ip->saddr);
		v4_mapped(egress ? key->remote_addr : key->local_addr, ip->daddr);
		pkt->protocol = ip->protocol;
		l4_off = ip->ihl * 4;
		/* Only the first fragment carries the L4 header. */
		pkt->has_l4 = !(ip->frag_off & bpf_htons(IP_OFFSET));
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = header(skb, 0, sizeof(*ip6), &buf);

		if (!ip6)
			return false;
		copy_v6(egress ? key->local_addr : key->remote_addr, &ip6->saddr);
		copy_v6(egress ? key->remote_addr : key->local_addr, &ip6->daddr);
		/* Extension headers are not walked: such packets count under their next header. */
		pkt->protocol = ip6->nexthdr;
		l4_off = sizeof(*ip6);
		pkt->has_l4 = true;
	} else {
		return false;
	}
	key->protocol = pkt->protocol;
	pkt->hdr_len = l4_off;
	if (!pkt->has_l4)
		return true;

	switch (pkt->protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP: {
		__be16 *ports = header(skb, l4_off, 4, &buf);

		if (!ports) {
			pkt->has_l4 = false;
			return true;
		}
		pkt->local_port = bpf_ntohs(egress ? ports[0] : ports[1]);
		pkt->remote_port = bpf_ntohs(egress ? ports[1] : ports[0]);
		if (pkt->protocol == IPPROTO_UDP) {
			pkt->hdr_len += sizeof(struct udphdr);
		} else if (pkt->gso_segs > 1) {
			/* Only GSO packets need the TCP header length (doff, options included). */
			__u8 *doff = header(skb, l4_off + 12, 1, &buf);

			if (doff)
				pkt->hdr_len += (*doff >> 4) * 4;
		}
		break;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		__u8 *type = header(skb, l4_off, 1, &buf);

		if (type)
			pkt->icmp_type = *type;
		else
			pkt->has_l4 = false;
		break;
	}
	default:
		pkt->has_l4 = false;
	}
	return true;
}

static __always_inline bool is_ephemeral(__u16 port)
{
	return port >= ephemeral_port_min && port <= ephemeral_port_max;
}

/*
 * Which side of the conversation the local socket is, when no socket state
 * says it: an ephemeral port marks the client; otherwise the lower port is
 * the service.
 */
static __always_inline __u8 guess_role(const struct packet *pkt, bool egress)
{
	if (pkt->protocol == IPPROTO_ICMP || pkt->protocol == IPPROTO_ICMPV6) {
		bool request = pkt->icmp_type == ICMP_ECHO || pkt->icmp_type == ICMPV6_ECHO_REQUEST;
		bool reply = pkt->icmp_type == ICMP_ECHOREPLY || pkt->icmp_type == ICMPV6_ECHO_REPLY;

		if (pkt->has_l4 && (request || reply))
			return (request == egress) ? ROLE_CLIENT : ROLE_SERVER;
	}
	if (pkt->local_port == 0 && pkt->remote_port == 0)
		/* Portless: the sender is taken as the one who started it. */
		return egress ? ROLE_CLIENT : ROLE_SERVER;

	bool local_eph = is_ephemeral(pkt->local_port);
	bool remote_eph = is_ephemeral(pkt->remote_port);

	if (local_eph != remote_eph)
		return local_eph ? ROLE_CLIENT : ROLE_SERVER;
	return pkt->local_port < pkt->remote_port ? ROLE_SERVER : ROLE_CLIENT;
}

/*
 * The state tcp_state recorded for a TCP socket, if any. No
 * bpf_sk_fullsock(): __cgroup_bpf_run_filter_skb() always sets skb->sk to
 * the full socket, and bpf_sk_storage_get() checks anyway.
 */
static __always_inline struct sock_state *recorded_state(struct bpf_sock *sk)
{
	return sk ? bpf_sk_storage_get(&sock_states, sk, 0, 0) : NULL;
}

/*
 * A client flow to a translated service frontend keeps the client's port
 * in the key, so that each connection is an entry of its own: the node's
 * NAT may send each to another backend. For a TCP socket, tcp_state looked
 * the frontend up when it connected; other packets look it up here.
 * The frontend is the socket's peer when the socket is connected: a DNAT
 * in the node's own network namespace (kube-proxy's OUTPUT chain) rewrites
 * the egress packets of host sockets before this hook sees them, but not
 * their socket, nor the replies, which are un-NATed before ingress.
 */
static __always_inline void service_connection(struct bpf_sock *sk, const struct sock_state *st,
					       struct flow_key *key, const struct packet *pkt)
{
	struct service_key svc = {};
	__u32 *words = (__u32 *)svc.addr;

	if (st && !st->translated)
		return;
	if (sk && sk->dst_port) {
		if (sk->family == AF_INET) {
			v4_mapped(svc.addr, sk->dst_ip4);
		} else {
			words[0] = sk->dst_ip6[0];
			words[1] = sk->dst_ip6[1];
			words[2] = sk->dst_ip6[2];
			words[3] = sk->dst_ip6[3];
		}
		svc.port = bpf_ntohs(sk->dst_port);
	} else {
		__builtin_memcpy(svc.addr, key->remote_addr, sizeof(svc.addr));
		svc.port = pkt->remote_port;
	}
	svc.protocol = pkt->protocol;
	if (!st && !bpf_map_lookup_elem(&translated_services, &svc))
		return;
	__builtin_memcpy(key->remote_addr, svc.addr, sizeof(svc.addr));
	key->server_port = svc.port;
	key->variant = CLIENT_PORT_VARIANT(pkt->local_port);
}

static const struct flow_counters zero_flow_counters;

static __always_inline int count_packet(struct __sk_buff *skb, bool egress)
{
	struct flow_key key = {};
	struct packet pkt = {};
	struct sock_state *st;
	struct flow_counters *c;
	__u64 packets, bytes;
	bool created = false;
	__u32 zero = 0;

	/*
	 * An unparsable packet (not IP) still counts, under a key with no
	 * addresses, so that the totals stay true.
	 */
	pkt.gso_segs = skb->gso_segs;
	if (parse(skb, egress, &key, &pkt)) {
		/* skb->sk read once: the verifier refuses a context field read through a copied pointer. */
		struct bpf_sock *sk = skb->sk;

		st = pkt.protocol == IPPROTO_TCP ? recorded_state(sk) : NULL;
		if (st) {
			key.role = st->role;
			key.cgroup_id = st->cgroup_id;
		} else if (pkt.protocol == IPPROTO_TCP && sk && sk->state == BPF_TCP_LISTEN) {
			/* A listener (no state of its own) sees the handshake of every connection it accepts. */
			key.role = ROLE_SERVER;
		} else {
			key.role = guess_role(&pkt, egress);
		}
		key.server_port = key.role == ROLE_CLIENT ? pkt.remote_port : pkt.local_port;
		if (translate_services && key.role == ROLE_CLIENT && pkt.has_l4 &&
		    (pkt.protocol == IPPROTO_TCP || pkt.protocol == IPPROTO_UDP))
			service_connection(sk, st, &key, &pkt);
	}
	if (!key.cgroup_id)
		key.cgroup_id = bpf_skb_cgroup_id(skb);

	/*
	 * A GSO/GRO packet stands for gso_segs wire segments, each repeating
	 * the headers: count what the wire carries, not one super-packet.
	 */
	packets = pkt.gso_segs > 1 ? pkt.gso_segs : 1;
	bytes = skb->len + (packets - 1) * pkt.hdr_len;

	c = table_entry(&flows, &key, &zero_flow_counters, TABLE_FLOWS, &created);
	if (created && key.variant) {
		/* A connection to a translated service, first seen this interval. */
		__u8 one = 1;

		bpf_map_update_elem(&new_connections, &key, &one, BPF_ANY);
	}
	if (!c)
		c = bpf_map_lookup_elem(&flows_overflow, &zero);
	if (!c)
		return 1;
	/*
	 * Atomic although per-CPU: a softirq can interrupt a process-context
	 * program on this CPU and update the same entry.
	 */
	if (egress) {
		__sync_fetch_and_add(&c->tx_bytes, bytes);
		__sync_fetch_and_add(&c->tx_packets, packets);
	} else {
		__sync_fetch_and_add(&c->rx_bytes, bytes);
		__sync_fetch_and_add(&c->rx_packets, packets);
	}
	return 1;
}

/* Both programs only observe: they always let the packet through. */
SEC("cgroup_skb/ingress")
int flows_ingress(struct __sk_buff *skb)
{
	return count_packet(skb, false);
}

SEC("cgroup_skb/egress")
int flows_egress(struct __sk_buff *skb)
{
	return count_packet(skb, true);
}

/* ---- TCP handshakes: tp_btf/inet_sock_set_state --------------------------- */

/*
 * Only full sockets have a cgroup: request and timewait sockets (which
 * tcp_send_reset may pass) end with struct sock_common.
 */
static __always_inline bool full_socket(const struct sock *sk)
{
	__u8 state = sk->__sk_common.skc_state;

	return state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV;
}

/* The same cgroup id bpf_skb_cgroup_id() gives the packet path. */
static __always_inline __u64 sock_cgroup_id(const struct sock *sk)
{
	return BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
}

/* Fill key from the socket; a cgroup id already in key (from socket state) is kept. */
static __always_inline void sock_flow_key(const struct sock *sk, __u8 role, struct flow_key *key)
{
	const struct sock_common *skc = &sk->__sk_common;

	if (!key->cgroup_id && full_socket(sk))
		key->cgroup_id = sock_cgroup_id(sk);
	if (skc->skc_family == AF_INET) {
		v4_mapped(key->local_addr, skc->skc_rcv_saddr);
		v4_mapped(key->remote_addr, skc->skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&key->local_addr, skc, skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&key->remote_addr, skc, skc_v6_daddr.in6_u.u6_addr8);
	}
	key->protocol = IPPROTO_TCP;
	key->role = role;
	/*
	 * At SYN_SENT the local port may not be chosen yet (inet_hash_connect
	 * runs after the state change); the client's key needs only the remote one.
	 */
	key->server_port = role == ROLE_CLIENT ? bpf_ntohs(skc->skc_dport) : skc->skc_num;
}

/* Client or server by the ports, as the packet path guesses when no state says it. */
static __always_inline __u8 guess_port_role(__u16 local_port, __u16 remote_port)
{
	bool local_eph = is_ephemeral(local_port);

	if (local_eph != is_ephemeral(remote_port))
		return local_eph ? ROLE_CLIENT : ROLE_SERVER;
	return local_port < remote_port ? ROLE_SERVER : ROLE_CLIENT;
}

/* Whether a TCP socket's peer is a service frontend the node's NAT translates. */
static __always_inline bool sock_to_service(const struct sock *sk)
{
	const struct sock_common *skc = &sk->__sk_common;
	struct service_key svc = {};

	if (!translate_services)
		return false;
	if (skc->skc_family == AF_INET)
		v4_mapped(svc.addr, skc->skc_daddr);
	else
		BPF_CORE_READ_INTO(&svc.addr, skc, skc_v6_daddr.in6_u.u6_addr8);
	svc.port = bpf_ntohs(skc->skc_dport);
	svc.protocol = IPPROTO_TCP;
	return bpf_map_lookup_elem(&translated_services, &svc) != NULL;
}

/*
 * sock_flow_key, with the client's port for a connection to a translated
 * service. The port is read from inet_sport: when a connect fails, the
 * kernel releases the port (inet_put_port clears skc_num) before the
 * state change reaches the tracepoint, but inet_sport keeps it.
 */
static __always_inline void sock_key(const struct sock *sk, const struct sock_state *st, __u8 role,
				     struct flow_key *key)
{
	sock_flow_key(sk, role, key);
	if (st && st->translated && role == ROLE_CLIENT)
		key->variant = CLIENT_PORT_VARIANT(bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport)));
}

/*
 * The state of a TCP socket, created for sockets that were connected before
 * the exporter started (their role is then guessed from the ports). NULL for
 * sockets that cannot have storage (not full sockets).
 */
static __always_inline struct sock_state *sock_state_of(struct sock *sk)
{
	struct sock_state *st;

	st = bpf_sk_storage_get(&sock_states, sk, 0, 0);
	if (st || !full_socket(sk))
		return st;
	st = bpf_sk_storage_get(&sock_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (st && !st->role) {
		st->role = guess_port_role(sk->__sk_common.skc_num, bpf_ntohs(sk->__sk_common.skc_dport));
		st->cgroup_id = sock_cgroup_id(sk);
		st->translated = st->role == ROLE_CLIENT && sock_to_service(sk);
	}
	return st;
}

static const struct tcp_counters zero_tcp_counters;

/* The TCP counters of key, or the overflow slot when the table cannot take it. */
static __always_inline struct tcp_counters *tcp_entry(const struct flow_key *key)
{
	struct tcp_counters *c;
	__u32 zero = 0;

	c = table_entry(&tcp_events, key, &zero_tcp_counters, TABLE_TCP, NULL);
	if (!c)
		c = bpf_map_lookup_elem(&tcp_overflow, &zero);
	return c;
}

static __always_inline void count_tcp_key(const struct flow_key *key, __u32 event, __u64 n)
{
	struct tcp_counters *c;

	if (event >= TCP_EV_MAX)
		return;
	c = tcp_entry(key);
	if (c)
		__sync_fetch_and_add(&c->events[event], n);
}

static __always_inline void count_tcp_event(const struct sock *sk, const struct sock_state *st, __u8 role,
					    __u32 event)
{
	struct flow_key key = {};

	if (!count_tcp_events)
		return;
	sock_key(sk, st, role, &key);
	count_tcp_key(&key, event, 1);
}

/*
 * The outcome of a client's connect. The client's port is chosen after
 * the socket enters SYN_SENT (inet_hash_connect), so the attempt of a
 * connection to a translated service, whose key needs that port, is
 * counted here, with its outcome, in the same entry.
 */
static __always_inline void count_connect_outcome(const struct sock *sk, const struct sock_state *st,
						  __u32 event)
{
	struct flow_key key = {};
	struct tcp_counters *c;

	if (!count_tcp_events || event >= TCP_EV_MAX)
		return;
	sock_key(sk, st, ROLE_CLIENT, &key);
	c = tcp_entry(&key);
	if (!c)
		return;
	if (st && st->translated)
		__sync_fetch_and_add(&c->events[TCP_EV_CONNECT_ATTEMPT], 1);
	__sync_fetch_and_add(&c->events[event], 1);
}

/* ---- Latency histograms ---------------------------------------------------- */

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

/* Why a connect in SYN_SENT ended, from the error the kernel gives the application. */
static __always_inline __u32 connect_failure(int err)
{
	switch (err) {
	case 0:
		/* No error: the application closed the socket before the kernel gave up. */
		return TCP_EV_FAIL_ABORTED;
	case ECONNREFUSED:
		return TCP_EV_FAIL_REFUSED;
	case ETIMEDOUT:
		return TCP_EV_FAIL_TIMEOUT;
	case EHOSTUNREACH:
	case ENETUNREACH:
		return TCP_EV_FAIL_UNREACHABLE;
	case ECONNRESET:
		return TCP_EV_FAIL_RESET;
	default:
		return TCP_EV_FAIL_OTHER;
	}
}

/* A client's handshake completed: count it and how long it took. */
static __always_inline void connect_established(struct sock *sk, struct sock_state *st)
{
	count_connect_outcome(sk, st, TCP_EV_CONNECT_ESTABLISHED);
	if (record_connect_latency && st && st->syn_sent_ns) {
		struct flow_key key = {};

		sock_key(sk, st, ROLE_CLIENT, &key);
		record_latency(&key, HIST_CONNECT, (bpf_ktime_get_ns() - st->syn_sent_ns) / 1000);
	}
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcp_state, struct sock *sk, int oldstate, int newstate)
{
	struct sock_state *st;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;

	switch (newstate) {
	case TCP_SYN_SENT:
		if (oldstate != TCP_CLOSE)
			break;
		st = bpf_sk_storage_get(&sock_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (st) {
			st->role = ROLE_CLIENT;
			st->cgroup_id = sock_cgroup_id(sk);
			st->syn_sent_ns = bpf_ktime_get_ns();
			st->translated = sock_to_service(sk);
		}
		/* A translated connect's attempt waits for its port (count_connect_outcome). */
		if (!st || !st->translated)
			count_tcp_event(sk, st, ROLE_CLIENT, TCP_EV_CONNECT_ATTEMPT);
		break;
	case TCP_SYN_RECV:
		/* A listener's new child (inet_csk_clone_lock): the server side. */
		if (oldstate != TCP_LISTEN)
			break;
		st = bpf_sk_storage_get(&sock_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (st) {
			st->role = ROLE_SERVER;
			st->cgroup_id = sock_cgroup_id(sk);
		}
		break;
	case TCP_ESTABLISHED:
		st = bpf_sk_storage_get(&sock_states, sk, 0, 0);
		if (oldstate == TCP_SYN_SENT) {
			connect_established(sk, st);
		} else if (oldstate == TCP_SYN_RECV) {
			/* Simultaneous open also passes SYN_RECV, on a client socket. */
			if (st && st->role == ROLE_CLIENT)
				connect_established(sk, st);
			else
				count_tcp_event(sk, st, ROLE_SERVER, TCP_EV_ACCEPTED);
		}
		break;
	case TCP_CLOSE:
		if (oldstate == TCP_SYN_SENT)
			count_connect_outcome(sk, bpf_sk_storage_get(&sock_states, sk, 0, 0),
					      connect_failure(sk->sk_err));
		break;
	}
	return 0;
}

/* ---- RTT: tp_btf/tcp_probe -------------------------------------------------- */

/*
 * tcp_probe fires for every segment an established socket receives, before
 * the segment is processed. The smoothed RTT changes only when the kernel
 * takes an RTT sample, so recording it when it differs from the value last
 * recorded gives one histogram sample per RTT update: a bulk receiver,
 * which takes no samples, does not repeat its handshake RTT per segment.
 * Sockets connected before the exporter started are covered too (their
 * state is created here).
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
	st = sock_state_of(sk);
	if (!st || st->srtt_us == srtt)
		return 0;
	st->srtt_us = srtt;
	key.cgroup_id = st->cgroup_id;
	sock_key(sk, st, st->role, &key);
	record_latency(&key, HIST_RTT, srtt);
	return 0;
}

/* ---- Retransmits and resets -------------------------------------------------- */

/* The socket's side, and its state in *stp when it has one. */
static __always_inline __u8 role_of(struct sock *sk, struct sock_state **stp)
{
	struct sock_state *st = sock_state_of(sk);

	*stp = st;
	if (st)
		return st->role;
	return guess_port_role(sk->__sk_common.skc_num, bpf_ntohs(sk->__sk_common.skc_dport));
}

/*
 * Every retransmitted segment the kernel handed to the device (err 0): the
 * segments of the skb, as the kernel adds them to the socket's total_retrans.
 */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcp_retransmit, struct sock *sk, struct sk_buff *skb, int err)
{
	struct flow_key key = {};
	struct sock_state *st;
	struct tcp_skb_cb *cb;
	__u16 segs;
	__u8 role;

	if (err || !sk || !skb)
		return 0;
	cb = (struct tcp_skb_cb *)skb->cb;
	segs = BPF_CORE_READ(cb, tcp_gso_segs);
	role = role_of(sk, &st);
	sock_key(sk, st, role, &key);
	count_tcp_key(&key, TCP_EV_RETRANSMIT, segs ? segs : 1);
	return 0;
}

/* The IP and TCP headers of a received skb, read from the kernel's buffer. */
static __always_inline bool received_tcp_key(const struct sk_buff *skb, struct flow_key *key)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	__be16 ports[2];
	__u8 version;

	if (bpf_probe_read_kernel(&version, 1, head + nh))
		return false;
	if (version >> 4 == 4) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return false;
		v4_mapped(key->local_addr, ip.daddr);
		v4_mapped(key->remote_addr, ip.saddr);
	} else if (version >> 4 == 6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return false;
		copy_v6(key->local_addr, &ip6.daddr);
		copy_v6(key->remote_addr, &ip6.saddr);
	} else {
		return false;
	}
	if (bpf_probe_read_kernel(ports, sizeof(ports), head + th))
		return false;
	key->protocol = IPPROTO_TCP;
	key->role = guess_port_role(bpf_ntohs(ports[1]), bpf_ntohs(ports[0]));
	key->server_port = bpf_ntohs(key->role == ROLE_CLIENT ? ports[0] : ports[1]);
	return true;
}

/*
 * A RST the kernel sends. For a segment no socket took (a closed port) sk
 * is NULL and the flow comes from the segment; for an active reset (abort)
 * skb is NULL and it comes from the socket.
 */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tcp_reset_sent, const struct sock *sk, const struct sk_buff *skb)
{
	struct flow_key key = {};
	struct sock_state *st;
	__u8 role;

	if (sk && full_socket(sk)) {
		role = role_of((struct sock *)sk, &st);
		sock_key(sk, st, role, &key);
	} else if (skb) {
		if (!received_tcp_key(skb, &key))
			return 0;
		if (sk) /* a request or timewait socket: the addresses are the same, the cgroup unknown */
			key.cgroup_id = 0;
	} else if (sk) {
		sock_flow_key(sk, ROLE_UNKNOWN, &key);
	} else {
		return 0;
	}
	count_tcp_key(&key, TCP_EV_RESET_SENT, 1);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(tcp_reset_received, struct sock *sk)
{
	struct flow_key key = {};
	struct sock_state *st;
	__u8 role = role_of(sk, &st);

	sock_key(sk, st, role, &key);
	count_tcp_key(&key, TCP_EV_RESET_RECEIVED, 1);
	return 0;
}

/* ---- Kernel drops: tp_btf/kfree_skb ------------------------------------------- */

static const struct drop_counters zero_drop_counters;

/*
 * Fill key from the IP header of a dropped skb: received packets (skb_iif
 * set) have the local address as destination, sent ones as source. Returns
 * the packet's IP length, 0 when there is no IP header to read.
 */
static __always_inline __u32 dropped_packet_key(const struct sk_buff *skb, struct flow_key *key)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	bool received = BPF_CORE_READ(skb, skb_iif) != 0;
	__u16 proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	__u16 local_port = 0, remote_port = 0;
	__be16 ports[2];
	__u32 len, l4_off;

	if (proto == ETH_P_IP) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) || ip.version != 4)
			return 0;
		v4_mapped(received ? key->local_addr : key->remote_addr, ip.daddr);
		v4_mapped(received ? key->remote_addr : key->local_addr, ip.saddr);
		key->protocol = ip.protocol;
		len = bpf_ntohs(ip.tot_len);
		l4_off = ip.ihl * 4;
		if (ip.frag_off & bpf_htons(IP_OFFSET))
			return len;
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh) || ip6.version != 6)
			return 0;
		copy_v6(received ? key->local_addr : key->remote_addr, &ip6.daddr);
		copy_v6(received ? key->remote_addr : key->local_addr, &ip6.saddr);
		key->protocol = ip6.nexthdr;
		len = bpf_ntohs(ip6.payload_len) + sizeof(ip6);
		l4_off = sizeof(ip6);
	} else {
		return 0;
	}
	if ((key->protocol == IPPROTO_TCP || key->protocol == IPPROTO_UDP) &&
	    !bpf_probe_read_kernel(ports, sizeof(ports), head + nh + (l4_off & 0xff))) {
		local_port = bpf_ntohs(received ? ports[1] : ports[0]);
		remote_port = bpf_ntohs(received ? ports[0] : ports[1]);
		key->role = guess_port_role(local_port, remote_port);
		key->server_port = key->role == ROLE_CLIENT ? remote_port : local_port;
	}
	return len;
}

/*
 * Packets the kernel frees with a drop reason. consume_skb() (normal
 * frees) has its own tracepoint; kfree_skb() without a reason
 * (NOT_SPECIFIED) is skipped too: many paths use it for packets that were
 * not dropped. Only three arguments are read, so the program loads on
 * kernels from before the receiving-socket argument was added.
 */
SEC("tp_btf/kfree_skb")
int BPF_PROG(skb_drop, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	struct flow_key key = {};
	struct drop_counters *c;
	struct sock *sk;
	__u32 len, zero = 0;

	if (reason <= bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED))
		return 0;

	len = dropped_packet_key(skb, &key);
	if (!len)
		len = BPF_CORE_READ(skb, len);
	sk = skb->sk; /* a pointer the verifier knows, unlike a probe-read one */
	if (sk && full_socket(sk) && sk->sk_protocol == IPPROTO_TCP) {
		/* The socket knows its side and its cgroup better than the header guess. */
		__u8 proto = key.protocol;
		struct sock_state *st;

		/* Drop tables use the whole variant for the reason: no client port (sock_flow_key). */
		__builtin_memset(&key, 0, sizeof(key));
		sock_flow_key(sk, role_of(sk, &st), &key);
		key.protocol = proto ? proto : IPPROTO_TCP;
	} else if (sk && full_socket(sk)) {
		key.cgroup_id = sock_cgroup_id(sk);
	}
	key.variant = reason;

	c = table_entry(&drops, &key, &zero_drop_counters, TABLE_DROPS, NULL);
	if (!c)
		c = bpf_map_lookup_elem(&drops_overflow, &zero);
	if (!c)
		return 0;
	__sync_fetch_and_add(&c->packets, 1);
	__sync_fetch_and_add(&c->bytes, len);
	return 0;
}
