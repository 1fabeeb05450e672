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
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define SOCK_RAW 3
#define SOCK_BINDPORT_LOCK 8 /* sk_userlocks: the application bound the port */
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

/*
 * bpf_rdonly_cast() (Linux 6.2) reads any kernel struct from a pointer the
 * program type cannot otherwise dereference: here the struct sock behind a
 * cgroup_skb program's bpf_sock. Weak: on older kernels the loader zeroes
 * its address and the branches that use it are dead.
 */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;
#define ksym_exists(sym) (!!(sym))
#define core_cast(ptr, type) ((type *)bpf_rdonly_cast((ptr), bpf_core_type_id_kernel(type)))

/*
 * The loader copies net.ipv4.ip_local_port_range here. When no socket state
 * says which side is the client, a port inside this range is taken to be the
 * client's ephemeral port.
 */
volatile const __u16 ephemeral_port_min = 32768;
volatile const __u16 ephemeral_port_max = 60999;

/*
 * --cgroup.root below the hierarchy's root: the id of that cgroup. The
 * cgroup_skb programs attached there see only its subtree; the tracing
 * programs see every socket and check (sock_in_scope). Zero: the whole
 * hierarchy.
 */
volatile const __u64 scope_cgroup_id = 0;

/* Deeper cgroups than this are out of a subtree scope (systemd nests ~6). */
#define MAX_SCOPE_DEPTH 32

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
const enum role_method *unused_role_method __attribute__((unused));

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
 * A TCP connection, by its client's view: the key of icmp_refusals.
 */
struct conn_key {
	__u8 local_addr[16]; /* v4-mapped for IPv4 */
	__u8 remote_addr[16];
	__u16 local_port;
	__u16 remote_port;
};

/*
 * Connects this node answered with an ICMP destination unreachable
 * (icmp_sent), until tcp_state sees them fail. An ICMP error that reaches
 * the connecting socket while its application holds it (the synchronous
 * path of a peer or a REJECT rule on the same node) is only a soft error,
 * which the application consumes with SO_ERROR before it closes the
 * socket: at the state change nothing on the socket says why it failed.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct conn_key);
	__type(value, __u8);
} icmp_refusals SEC(".maps");

/* How many roles each method decided (enum role_method); never reset. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ROLE_METHOD_MAX);
	__type(key, __u32);
	__type(value, __u64);
} role_decisions SEC(".maps");

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
 * Per-socket state of TCP and UDP sockets: created by tcp_state when a TCP
 * socket starts or accepts a connection, else by the first program that
 * meets the socket (sockets older than the exporter, UDP sockets), which
 * decides the role from the socket (socket_role). The packet path reads the
 * role and the cgroup id from here: a socket's cgroup never changes, and
 * one lookup touches fewer cold cache lines than bpf_skb_cgroup_id()'s walk
 * from the socket to the cgroup's kernfs node.
 */
struct sock_state {
	__u64 cgroup_id;
	__u64 syn_sent_ns;
	__u32 srtt_us; /* the smoothed RTT last recorded, to record each update once */
	__u8 role;
	__u8 translated; /* a client connected to a translated service frontend */
	__u8 flags;      /* SOCK_STATE_* */
	__u8 pad;
};

/* The socket received a RST: a connect refused by RST, not by ICMP. */
#define SOCK_STATE_RST_RECEIVED 1
/* The socket's cgroup is outside --cgroup.root: no program counts it. */
#define SOCK_STATE_OUT_OF_SCOPE 2

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

/* ---- Socket roles and scope ------------------------------------------------ */

static __always_inline void count_role(__u32 method)
{
	__u64 *n;

	if (method >= ROLE_METHOD_MAX)
		return;
	n = bpf_map_lookup_elem(&role_decisions, &method);
	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline bool is_ephemeral(__u16 port)
{
	return port >= ephemeral_port_min && port <= ephemeral_port_max;
}

/*
 * The last resort, for traffic whose socket cannot be read: an ephemeral
 * port marks the client; otherwise the lower port is the service. Wrong
 * for services listening inside the ephemeral range, so every use is
 * counted (ROLE_BY_PORTS).
 */
static __always_inline __u8 role_by_ports(__u16 local_port, __u16 remote_port)
{
	bool local_eph = is_ephemeral(local_port);

	count_role(ROLE_BY_PORTS);
	if (local_eph != is_ephemeral(remote_port))
		return local_eph ? ROLE_CLIENT : ROLE_SERVER;
	return local_port < remote_port ? ROLE_SERVER : ROLE_CLIENT;
}

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

/* struct cgroup before Linux 6.2, which kept ancestors' ids, not pointers. */
struct cgroup___ids {
	__u64 ancestor_ids[1];
} __attribute__((preserve_access_index));

/* The id of cgrp's ancestor at level (cgrp itself at its own level); 0 if unreadable. */
static __always_inline __u64 ancestor_id(const struct cgroup *cgrp, __u32 level)
{
	unsigned long slot;
	__u64 id = 0;

	if (bpf_core_field_exists(cgrp->ancestors)) {
		struct cgroup *anc = NULL;

		slot = (unsigned long)cgrp + bpf_core_field_offset(struct cgroup, ancestors) + level * sizeof(anc);
		if (bpf_probe_read_kernel(&anc, sizeof(anc), (void *)slot) || !anc)
			return 0;
		return BPF_CORE_READ(anc, kn, id);
	}
	slot = (unsigned long)cgrp + bpf_core_field_offset(struct cgroup___ids, ancestor_ids) + level * sizeof(id);
	if (bpf_probe_read_kernel(&id, sizeof(id), (void *)slot))
		return 0;
	return id;
}

/*
 * Whether a socket's cgroup is --cgroup.root or below it: one of its
 * ancestors is the scope. Levels are counted from the hierarchy's root,
 * which a cgroup namespace may hide from user space: compared by id.
 */
static __always_inline bool sock_in_scope(const struct sock *sk)
{
	const struct cgroup *cgrp;
	int level;

	if (!scope_cgroup_id)
		return true;
	cgrp = BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
	if (!cgrp)
		return false;
	level = BPF_CORE_READ(cgrp, level);
	for (__u32 i = 0; i <= MAX_SCOPE_DEPTH; i++) {
		if (i > level)
			return false;
		if (ancestor_id(cgrp, i) == scope_cgroup_id)
			return true;
	}
	return false;
}

/*
 * The role of a TCP or UDP socket the exporter did not see connect or
 * accept, from the socket itself, never from its ports:
 *  - TCP: a listener is the server. A listener's children are clones of it
 *    (inet_csk_clone_lock copies the struct, sk_max_ack_backlog included),
 *    while a socket that connects never listened: a backlog marks an
 *    accepted connection. (A child of listen(fd, 0) has none: client.)
 *  - UDP: a connected socket is a client; so is one whose port the kernel
 *    chose (SOCK_BINDPORT_LOCK unset: the application bound no port).
 *    An unconnected socket on a port the application bound may serve or
 *    ask (a DNS server; a resolver's randomised query port): ROLE_UNKNOWN,
 *    for the caller to decide by its first datagram.
 * *method says how (enum role_method).
 */
static __always_inline __u8 socket_role(const struct sock *sk, __u32 *method)
{
	__u8 state = sk->__sk_common.skc_state;

	if (sk->sk_protocol == IPPROTO_TCP) {
		if (state == TCP_LISTEN) {
			*method = ROLE_BY_TCP_LISTEN;
			return ROLE_SERVER;
		}
		if (sk->sk_max_ack_backlog) {
			*method = ROLE_BY_TCP_BACKLOG;
			return ROLE_SERVER;
		}
		*method = ROLE_BY_TCP_NO_BACKLOG;
		return ROLE_CLIENT;
	}
	if (state == TCP_ESTABLISHED) {
		*method = ROLE_BY_UDP_CONNECTED;
		return ROLE_CLIENT;
	}
	if (!(BPF_CORE_READ_BITFIELD(sk, sk_userlocks) & SOCK_BINDPORT_LOCK)) {
		*method = ROLE_BY_UDP_KERNEL_PORT;
		return ROLE_CLIENT;
	}
	*method = ROLE_BY_UDP_FIRST_DATAGRAM;
	return ROLE_UNKNOWN;
}

/*
 * Fill a new socket state from its socket: role (an unconnected, bound UDP
 * socket takes it from the datagram at hand: egress, client), cgroup, scope.
 */
static __always_inline void init_sock_state(struct sock_state *st, const struct sock *sk, bool egress)
{
	__u32 method = ROLE_BY_PORTS;
	__u8 role = socket_role(sk, &method);

	if (role == ROLE_UNKNOWN)
		role = egress ? ROLE_CLIENT : ROLE_SERVER;
	st->cgroup_id = sock_cgroup_id(sk);
	st->role = role;
	if (sock_in_scope(sk))
		count_role(method);
	else
		st->flags |= SOCK_STATE_OUT_OF_SCOPE;
}

/* A socket the programs count: its state is not marked out of scope. */
static __always_inline bool state_in_scope(const struct sock_state *st)
{
	return !(st->flags & SOCK_STATE_OUT_OF_SCOPE);
}

/* ---- Bytes and packets: cgroup_skb ---------------------------------------- */

struct packet {
	__u32 gso_segs;
	__u16 local_port;
	__u16 remote_port;
	__u32 hdr_len; /* L3 + L4 header bytes: the part each GSO segment repeats */
	__u32 l4_off;
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
	pkt->l4_off = l4_off;
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

/*
 * The role of a packet whose socket has no state: ICMP echo by its type,
 * portless protocols by direction (the sender is taken as the one who
 * started it), the rest by ports.
 */
static __always_inline __u8 packet_role(const struct packet *pkt, bool egress)
{
	if (pkt->protocol == IPPROTO_ICMP || pkt->protocol == IPPROTO_ICMPV6) {
		bool request = pkt->icmp_type == ICMP_ECHO || pkt->icmp_type == ICMPV6_ECHO_REQUEST;
		bool reply = pkt->icmp_type == ICMP_ECHOREPLY || pkt->icmp_type == ICMPV6_ECHO_REPLY;

		if (pkt->has_l4 && (request || reply))
			return (request == egress) ? ROLE_CLIENT : ROLE_SERVER;
	}
	if (pkt->local_port == 0 && pkt->remote_port == 0)
		return egress ? ROLE_CLIENT : ROLE_SERVER;
	return role_by_ports(pkt->local_port, pkt->remote_port);
}

/*
 * Whether a TCP segment the kernel sends is a RST answering a segment
 * without ACK, a SYN (tcp_v4_send_reset sets ACK on its RST exactly then):
 * a connect to a closed port.
 */
static __always_inline bool sent_reset(struct __sk_buff *skb, const struct packet *pkt)
{
	__u8 buf[1];
	__u8 *flags = header(skb, pkt->l4_off + 13, 1, buf);

	return flags && (*flags & (TCP_FLAG_RST | TCP_FLAG_ACK)) == (TCP_FLAG_RST | TCP_FLAG_ACK);
}

/*
 * The state of the socket a TCP or UDP packet belongs to, created with its
 * role on its first packet when no program made it before (sockets older
 * than the exporter, UDP sockets). No bpf_sk_fullsock() on the fast path:
 * __cgroup_bpf_run_filter_skb() always sets skb->sk to the full socket, and
 * bpf_sk_storage_get() checks anyway. NULL for sockets left to
 * packet_role: raw sockets (*kernel set for each network namespace's TCP
 * control socket, which sends RSTs and TIME_WAIT ACKs for every socket of
 * it) and UDP sockets on kernels without bpf_rdonly_cast().
 */
static __always_inline struct sock_state *packet_sock_state(struct bpf_sock *sk, const struct packet *pkt,
							     bool egress, bool *kernel)
{
	struct sock_state *st;
	struct bpf_sock *full;
	const struct sock *ks;
	__u32 type, protocol;

	st = bpf_sk_storage_get(&sock_states, sk, 0, 0);
	if (st)
		return st;
	full = bpf_sk_fullsock(sk);
	if (!full)
		return NULL;
	/* Read once: clang may later address them from a copy, which the verifier refuses. */
	type = full->type;
	protocol = full->protocol;
	if (type == SOCK_STREAM && protocol == IPPROTO_TCP)
		ks = (const struct sock *)bpf_skc_to_tcp_sock(full);
	else if (type == SOCK_DGRAM && protocol == IPPROTO_UDP && ksym_exists(bpf_rdonly_cast))
		ks = core_cast(full, struct sock);
	else
		ks = NULL;
	if (!ks) {
		/*
		 * Each network namespace's TCP control socket is a raw kernel
		 * socket. (Kernel TCP and UDP sockets such as MPTCP subflows, which
		 * carry the cgroup of their user's socket, and tunnels, are counted
		 * like any other.)
		 */
		if (type == SOCK_RAW && ksym_exists(bpf_rdonly_cast))
			*kernel = BPF_CORE_READ_BITFIELD(core_cast(full, struct sock), sk_kern_sock);
		return NULL;
	}
	st = bpf_sk_storage_get(&sock_states, full, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (st && !st->role)
		init_sock_state(st, ks, egress);
	return st;
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
	/* Only a TCP socket's state knows: tcp_state looked its peer up at connect. */
	bool known = st && pkt->protocol == IPPROTO_TCP;

	if (known && !st->translated)
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
	if (!known && !bpf_map_lookup_elem(&translated_services, &svc))
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
	bool created = false, kernel = false;
	__u32 zero = 0;

	/*
	 * An unparsable packet (not IP) still counts, under a key with no
	 * addresses, so that the totals stay true.
	 */
	pkt.gso_segs = skb->gso_segs;
	if (parse(skb, egress, &key, &pkt)) {
		/* skb->sk read once: the verifier refuses a context field read through a copied pointer. */
		struct bpf_sock *sk = skb->sk;

		st = NULL;
		if (sk && pkt.has_l4 && (pkt.protocol == IPPROTO_TCP || pkt.protocol == IPPROTO_UDP))
			st = packet_sock_state(sk, &pkt, egress, &kernel);
		if (st) {
			key.role = st->role;
			key.cgroup_id = st->cgroup_id;
		} else if (kernel && pkt.protocol == IPPROTO_TCP && egress && sent_reset(skb, &pkt)) {
			/*
			 * The kernel refusing a connect no socket took, as
			 * tcp_reset_sent names it: the local side was asked, the server.
			 */
			key.role = ROLE_SERVER;
			count_role(ROLE_BY_TCP_SYN);
		} else {
			key.role = packet_role(&pkt, egress);
		}
		key.server_port = key.role == ROLE_CLIENT ? pkt.remote_port : pkt.local_port;
		if (translate_services && key.role == ROLE_CLIENT && pkt.has_l4 &&
		    (pkt.protocol == IPPROTO_TCP || pkt.protocol == IPPROTO_UDP))
			service_connection(sk, st, &key, &pkt);
	}
	/*
	 * Kernel sockets are shared by the network namespace: their cgroup is
	 * whoever created it. Named by address (cgroup 0), as without a socket.
	 */
	if (!key.cgroup_id && !kernel)
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
	 * runs after the state change); the client's key needs only the remote
	 * one. A server's port is read from inet_sport: closing releases the
	 * port (inet_put_port clears skc_num) before the queues are purged and
	 * before the state change reaches the tracepoint; inet_sport keeps it.
	 * Request and timewait sockets have no inet_sport: skc_num.
	 */
	if (role == ROLE_CLIENT)
		key->server_port = bpf_ntohs(skc->skc_dport);
	else if (full_socket(sk))
		key->server_port = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	else
		key->server_port = skc->skc_num;
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
 * The state of a TCP or UDP socket, created for sockets connected before
 * the exporter started, with the role socket_role reads from the socket
 * (egress: the direction of the packet at hand, for an unconnected UDP
 * socket). NULL for sockets that cannot have storage (not full sockets).
 */
static __always_inline struct sock_state *sock_state_of(struct sock *sk, bool egress)
{
	struct sock_state *st;

	st = bpf_sk_storage_get(&sock_states, sk, 0, 0);
	if (st || !full_socket(sk))
		return st;
	st = bpf_sk_storage_get(&sock_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (st && !st->role) {
		init_sock_state(st, sk, egress);
		st->translated = st->role == ROLE_CLIENT && sk->sk_protocol == IPPROTO_TCP && sock_to_service(sk);
	}
	return st;
}

/*
 * Whether the programs count an event of sk: its cgroup is in the scope of
 * --cgroup.root (known from its state when it has one).
 */
static __always_inline bool counted(const struct sock *sk, const struct sock_state *st)
{
	if (!scope_cgroup_id)
		return true;
	if (st)
		return state_in_scope(st);
	return full_socket(sk) && sock_in_scope(sk);
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

	if (!count_tcp_events || !counted(sk, st))
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

	if (!count_tcp_events || event >= TCP_EV_MAX || !counted(sk, st))
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

/* Whether this node answered the socket's connect with an ICMP destination unreachable. */
static __always_inline bool icmp_refused(const struct sock *sk)
{
	const struct sock_common *skc = &sk->__sk_common;
	struct conn_key key = {};

	if (skc->skc_family == AF_INET) {
		v4_mapped(key.local_addr, skc->skc_rcv_saddr);
		v4_mapped(key.remote_addr, skc->skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&key.local_addr, skc, skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&key.remote_addr, skc, skc_v6_daddr.in6_u.u6_addr8);
	}
	key.local_port = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	key.remote_port = bpf_ntohs(skc->skc_dport);
	if (!bpf_map_lookup_elem(&icmp_refusals, &key))
		return false;
	bpf_map_delete_elem(&icmp_refusals, &key);
	return true;
}

/*
 * Why a connect in SYN_SENT ended, from the error the kernel gives the
 * application. The kernel reports ECONNREFUSED both for a RST and for an
 * ICMP port unreachable (icmp_err_convert): only a RST is "refused"; the
 * socket state says whether one came (tcp_reset_received).
 */
static __always_inline __u32 connect_failure(const struct sock *sk, int err, const struct sock_state *st)
{
	switch (err) {
	case 0:
		/*
		 * No error: the application closed the socket before the kernel
		 * gave up, or after reading a soft ICMP error (icmp_refusals).
		 */
		if (icmp_refused(sk))
			return TCP_EV_FAIL_UNREACHABLE;
		return TCP_EV_FAIL_ABORTED;
	case ECONNREFUSED:
		if (st && !(st->flags & SOCK_STATE_RST_RECEIVED))
			return TCP_EV_FAIL_UNREACHABLE;
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
	if (record_connect_latency && st && st->syn_sent_ns && state_in_scope(st)) {
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
			/* A socket may connect again after a failed connect: start over. */
			st->flags = sock_in_scope(sk) ? 0 : SOCK_STATE_OUT_OF_SCOPE;
			st->role = ROLE_CLIENT;
			st->cgroup_id = sock_cgroup_id(sk);
			st->syn_sent_ns = bpf_ktime_get_ns();
			st->translated = sock_to_service(sk);
			if (state_in_scope(st))
				count_role(ROLE_BY_TCP_CONNECT);
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
			st->flags = sock_in_scope(sk) ? 0 : SOCK_STATE_OUT_OF_SCOPE;
			st->role = ROLE_SERVER;
			st->cgroup_id = sock_cgroup_id(sk);
			if (state_in_scope(st))
				count_role(ROLE_BY_TCP_ACCEPT);
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
		if (oldstate == TCP_SYN_SENT) {
			st = bpf_sk_storage_get(&sock_states, sk, 0, 0);
			count_connect_outcome(sk, st, connect_failure(sk, sk->sk_err, st));
		}
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
	st = sock_state_of(sk, false);
	if (!st || st->srtt_us == srtt || !state_in_scope(st))
		return 0;
	st->srtt_us = srtt;
	key.cgroup_id = st->cgroup_id;
	sock_key(sk, st, st->role, &key);
	record_latency(&key, HIST_RTT, srtt);
	return 0;
}

/* ---- Retransmits and resets -------------------------------------------------- */

/*
 * The socket's side, and its state in *stp when it has one (egress: the
 * direction of the packet at hand, see sock_state_of).
 */
static __always_inline __u8 role_of(struct sock *sk, struct sock_state **stp, bool egress)
{
	struct sock_state *st = sock_state_of(sk, egress);

	*stp = st;
	if (st)
		return st->role;
	return role_by_ports(sk->__sk_common.skc_num, bpf_ntohs(sk->__sk_common.skc_dport));
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
	role = role_of(sk, &st, true);
	if (!counted(sk, st))
		return 0;
	sock_key(sk, st, role, &key);
	count_tcp_key(&key, TCP_EV_RETRANSMIT, segs ? segs : 1);
	return 0;
}

/*
 * The addresses and ports of a received skb, read from its IP and TCP
 * headers in the kernel's buffer. The role: the server when a listener
 * took the segment (listener); else a segment with SYN and no ACK opened a
 * connection to the local side, the server; for any other the headers do
 * not say (role_by_ports).
 */
static __always_inline bool received_tcp_key(const struct sk_buff *skb, struct flow_key *key, bool listener)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	__be16 ports[2];
	__u8 version, flags;

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
	if (bpf_probe_read_kernel(ports, sizeof(ports), head + th) ||
	    bpf_probe_read_kernel(&flags, 1, head + th + 13))
		return false;
	key->protocol = IPPROTO_TCP;
	if (listener) {
		key->role = ROLE_SERVER;
	} else if ((flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN) {
		key->role = ROLE_SERVER;
		count_role(ROLE_BY_TCP_SYN);
	} else {
		key->role = role_by_ports(bpf_ntohs(ports[1]), bpf_ntohs(ports[0]));
	}
	key->server_port = bpf_ntohs(key->role == ROLE_CLIENT ? ports[0] : ports[1]);
	return true;
}

/*
 * A RST the kernel sends. For a segment no socket took (a closed port) sk
 * is NULL and the flow comes from the segment; for an active reset (abort)
 * skb is NULL and it comes from the socket. A listener, or a request
 * socket (a handshake in progress), answering a segment has no peer of its
 * own: the segment gives the addresses, the listener the cgroup.
 */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tcp_reset_sent, const struct sock *sk, const struct sk_buff *skb)
{
	struct flow_key key = {};
	struct sock_state *st;
	__u8 state = sk ? sk->__sk_common.skc_state : 0;
	__u8 role;

	if (sk && full_socket(sk) && !(state == TCP_LISTEN && skb)) {
		role = role_of((struct sock *)sk, &st, true);
		if (!counted(sk, st))
			return 0;
		sock_key(sk, st, role, &key);
	} else if (skb && (state == TCP_LISTEN || state == TCP_NEW_SYN_RECV)) {
		const struct sock *listener = sk;

		if (state == TCP_NEW_SYN_RECV)
			listener = BPF_CORE_READ(sk, __sk_common.skc_listener);
		if (!listener || !sock_in_scope(listener) || !received_tcp_key(skb, &key, true))
			return 0;
		key.cgroup_id = sock_cgroup_id(listener);
	} else if (skb) {
		/*
		 * No socket took the segment (a closed port), or a timewait
		 * socket did, which keeps no cgroup: named by address, whatever
		 * the scope (it has no cgroup to be outside of).
		 */
		if (!received_tcp_key(skb, &key, false))
			return 0;
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
	__u8 role = role_of(sk, &st, false);

	/* Read by connect_failure: a connect this refused was refused by RST. */
	if (st)
		st->flags |= SOCK_STATE_RST_RECEIVED;
	if (!counted(sk, st))
		return 0;
	sock_key(sk, st, role, &key);
	count_tcp_key(&key, TCP_EV_RESET_RECEIVED, 1);
	return 0;
}

/*
 * An ICMP destination unreachable this node sends (a REJECT rule, such as
 * kube-proxy's for a service without endpoints; a closed UDP port) about a
 * TCP segment: remember the connection it refuses for connect_failure.
 * skb is the offending packet. Since Linux 6.10; IPv6 has no such
 * tracepoint (icmp6_send), so a soft ICMPv6 error stays "aborted".
 */
SEC("tp_btf/icmp_send")
int BPF_PROG(icmp_sent, const struct sk_buff *skb, int type, int code)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	struct conn_key key = {};
	struct iphdr ip;
	__be16 ports[2];
	__u8 one = 1;

	if (type != 3 /* ICMP_DEST_UNREACH */)
		return 0;
	if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) || ip.version != 4 || ip.protocol != IPPROTO_TCP ||
	    (ip.frag_off & bpf_htons(IP_OFFSET)))
		return 0;
	if (bpf_probe_read_kernel(ports, sizeof(ports), head + nh + ip.ihl * 4))
		return 0;
	/* The refused segment came from the connecting socket. */
	v4_mapped(key.local_addr, ip.saddr);
	v4_mapped(key.remote_addr, ip.daddr);
	key.local_port = bpf_ntohs(ports[0]);
	key.remote_port = bpf_ntohs(ports[1]);
	bpf_map_update_elem(&icmp_refusals, &key, &one, BPF_ANY);
	return 0;
}

/* ---- Kernel drops: tp_btf/kfree_skb ------------------------------------------- */

static const struct drop_counters zero_drop_counters;

/* What the headers of a dropped packet say beyond its key's addresses. */
struct dropped {
	__u32 len; /* IP length; 0 when there is no IP header to read */
	__u16 local_port;
	__u16 remote_port;
	bool has_ports;
	bool received;
};

/*
 * Fill key's addresses and protocol from the IP header of a dropped skb:
 * received packets (skb_iif set) have the local address as destination,
 * sent ones as source.
 */
static __always_inline void dropped_packet_key(const struct sk_buff *skb, struct flow_key *key, struct dropped *d)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	bool received = BPF_CORE_READ(skb, skb_iif) != 0;
	__be16 ports[2];
	__u32 l4_off;

	d->received = received;
	if (proto == ETH_P_IP) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) || ip.version != 4)
			return;
		v4_mapped(received ? key->local_addr : key->remote_addr, ip.daddr);
		v4_mapped(received ? key->remote_addr : key->local_addr, ip.saddr);
		key->protocol = ip.protocol;
		d->len = bpf_ntohs(ip.tot_len);
		l4_off = ip.ihl * 4;
		if (ip.frag_off & bpf_htons(IP_OFFSET))
			return;
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh) || ip6.version != 6)
			return;
		copy_v6(received ? key->local_addr : key->remote_addr, &ip6.daddr);
		copy_v6(received ? key->remote_addr : key->local_addr, &ip6.saddr);
		key->protocol = ip6.nexthdr;
		d->len = bpf_ntohs(ip6.payload_len) + sizeof(ip6);
		l4_off = sizeof(ip6);
	} else {
		return;
	}
	if ((key->protocol == IPPROTO_TCP || key->protocol == IPPROTO_UDP) &&
	    !bpf_probe_read_kernel(ports, sizeof(ports), head + nh + (l4_off & 0xff))) {
		d->local_port = bpf_ntohs(received ? ports[1] : ports[0]);
		d->remote_port = bpf_ntohs(received ? ports[0] : ports[1]);
		d->has_ports = true;
	}
}

/*
 * Count one dropped packet under its flow and reason. The socket (the
 * skb's owner, else the socket it was being delivered to) names the local
 * side and gives the role, as for its traffic; without one the packet is
 * named by address, its role by ports.
 */
static __always_inline int count_drop(struct sk_buff *skb, enum skb_drop_reason reason, struct sock *rx_sk)
{
	struct flow_key key = {};
	struct dropped d = {};
	struct drop_counters *c;
	struct sock_state *st;
	struct sock *sk;
	__u32 zero = 0;
	__u16 proto;

	if (reason <= bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED))
		return 0;

	dropped_packet_key(skb, &key, &d);
	if (!d.len)
		d.len = BPF_CORE_READ(skb, len);
	sk = skb->sk; /* a pointer the verifier knows, unlike a probe-read one */
	if (!sk)
		sk = rx_sk;
	if (sk && !full_socket(sk))
		sk = NULL; /* a request or timewait socket keeps no cgroup */
	proto = sk ? sk->sk_protocol : 0;
	if (proto == IPPROTO_TCP && sk->sk_type == SOCK_STREAM) {
		/* The socket's addresses: a purged send queue may hold skbs with no IP header yet. */
		__u8 pkt_proto = key.protocol;
		__u8 role = role_of(sk, &st, !d.received);

		if (!counted(sk, st))
			return 0;
		/* Drop tables use the whole variant for the reason: no client port (sock_flow_key). */
		__builtin_memset(&key, 0, sizeof(key));
		sock_flow_key(sk, role, &key);
		key.protocol = pkt_proto ? pkt_proto : IPPROTO_TCP;
	} else if (proto == IPPROTO_UDP && sk->sk_type == SOCK_DGRAM && d.has_ports) {
		key.role = role_of(sk, &st, !d.received);
		if (!counted(sk, st))
			return 0;
		key.cgroup_id = st ? st->cgroup_id : sock_cgroup_id(sk);
		key.server_port = key.role == ROLE_CLIENT ? d.remote_port : d.local_port;
	} else {
		/* Without a socket: named by address, whatever the scope. */
		if (sk) {
			if (scope_cgroup_id && !sock_in_scope(sk))
				return 0;
			key.cgroup_id = sock_cgroup_id(sk);
		}
		if (d.has_ports) {
			key.role = role_by_ports(d.local_port, d.remote_port);
			key.server_port = key.role == ROLE_CLIENT ? d.remote_port : d.local_port;
		}
	}
	key.variant = reason;

	c = table_entry(&drops, &key, &zero_drop_counters, TABLE_DROPS, NULL);
	if (!c)
		c = bpf_map_lookup_elem(&drops_overflow, &zero);
	if (!c)
		return 0;
	__sync_fetch_and_add(&c->packets, 1);
	__sync_fetch_and_add(&c->bytes, d.len);
	return 0;
}

/*
 * Packets the kernel frees with a drop reason. consume_skb() (normal
 * frees) has its own tracepoint; kfree_skb() without a reason
 * (NOT_SPECIFIED) is skipped too: many paths use it for packets that were
 * not dropped. Since Linux 6.11 the tracepoint also passes the socket a
 * received packet was being delivered to (rx_sk: a full receive buffer,
 * a socket filter); before that, the loader falls back to
 * skb_drop_without_rx_sk.
 */
SEC("tp_btf/kfree_skb")
int BPF_PROG(skb_drop, struct sk_buff *skb, void *location, enum skb_drop_reason reason, struct sock *rx_sk)
{
	return count_drop(skb, reason, rx_sk);
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(skb_drop_without_rx_sk, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	return count_drop(skb, reason, NULL);
}
