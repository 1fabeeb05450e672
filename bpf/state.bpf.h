/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Shared by every part of podflow.bpf.c: UAPI constants, bpf_rdonly_cast(),
 * the settings the loader writes (volatile const), the rotating tables and
 * the slots that count what they cannot take, per-socket state
 * (sock_states), and the helpers that find a table entry and write
 * addresses into keys. How the tables rotate: podflow.bpf.c.
 */
#ifndef PODFLOW_STATE_BPF_H
#define PODFLOW_STATE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#include "podflow.h"

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
 * Set to 1 by the loader when fold_sockets loaded and tcp_state attached:
 * established TCP sockets then count their bytes and packets in an entry
 * of their own, which fold_sockets adds to the flows table at each drain
 * (sockcount.bpf.h). Without both nothing could fold them.
 */
volatile const __u8 count_in_sockets = 0;

/*
 * Ports whose UDP datagrams and TCP connections are parsed as DNS
 * (--bpf.dns-ports; 0: unused slot), and how long a query waits for its
 * response before it counts as a timeout (--bpf.dns-timeout).
 */
#define DNS_PORTS 4
volatile const __u16 dns_ports[DNS_PORTS] = {53};
volatile const __u64 dns_timeout_ns = 5000000000ULL;

/*
 * Set to 0 by the loader when the dns or http collector is disabled: their
 * payload is then not read (application protocols still are classified).
 */
volatile const __u8 track_dns = 1;
volatile const __u8 track_http = 1;

/*
 * The inner tables are per-CPU hashes keyed by flow; the loader creates two of
 * each with max_entries from --bpf.* flags and puts them in slots 0 and 1.
 * The template must be written inline: a named struct would reach BTF only
 * as a forward declaration.
 */
#define ROTATING_TABLE(value_type)                                                                 \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);                                          \
		__uint(max_entries, 2);                                                            \
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
const enum app_protocol *unused_app_protocol __attribute__((unused));
const enum dns_qtype *unused_dns_qtype __attribute__((unused));
const enum http_method *unused_http_method __attribute__((unused));
const enum payload_event *unused_payload_event __attribute__((unused));
const struct request_counters *unused_request_counters __attribute__((unused));
const struct request_overflow *unused_request_overflow __attribute__((unused));

/*
 * Which slot of every rotating table programs write to now: user space
 * flips all four families at once with this one word, then waits for one
 * RCU grace period before it reads the retired tables (tables.go).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} active_slot SEC(".maps");

ROTATING_TABLE(struct flow_counters) flows SEC(".maps");
ROTATING_TABLE(struct tcp_counters) tcp_events SEC(".maps");
ROTATING_TABLE(struct latency_bucket) latency SEC(".maps");
ROTATING_TABLE(struct drop_counters) drops SEC(".maps");
ROTATING_TABLE(struct request_counters) requests SEC(".maps");

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
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct request_overflow);
} requests_overflow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TABLE_MAX * FAIL_MAX);
	__type(key, __u32);
	__type(value, __u64);
} update_failures SEC(".maps");

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
	__u8 app;        /* enum app_protocol of a TCP socket (app.bpf.h) */
	/*
	 * With SOCK_STATE_COUNTS: the socket's cookie, its key in
	 * counting_sockets (sockcount.bpf.h).
	 */
	__u64 cookie;
	/* HTTP/1.x: when the request awaiting its response was seen; 0: none. */
	__u64 request_ns;
	/*
	 * DNS over TCP: the sequence number where the next message starts,
	 * from the client ([0]) and from the server ([1]); valid with
	 * SOCK_STATE_DNS_SEQ << direction.
	 */
	__u32 next_message[2];
	__u8 method; /* enum http_method of the request awaiting its response */
	__u8 pad[7];
};

/* The socket received a RST: a connect refused by RST, not by ICMP. */
#define SOCK_STATE_RST_RECEIVED 1
/* The socket's cgroup is outside --cgroup.root: no program counts it. */
#define SOCK_STATE_OUT_OF_SCOPE 2
/*
 * An established TCP socket whose key never changes (not to a translated
 * service): its packets count in its counting_sockets entry.
 */
#define SOCK_STATE_COUNTS 4
/* next_message[0] (and << 1: [1]) is known. */
#define SOCK_STATE_DNS_SEQ 8

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
	__u32 *slot;
	void *table, *entry;
	long err;

	slot = bpf_map_lookup_elem(&active_slot, &zero);
	if (!slot) {
		record_failure(table_id, 0);
		return NULL;
	}
	table = bpf_map_lookup_elem(outer, slot);
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

#endif /* PODFLOW_STATE_BPF_H */
