/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * TCP handshakes: tcp_state (tp_btf/inet_sock_set_state) counts connect
 * attempts, their outcome and latency, and accepted connections;
 * icmp_sent (tp_btf/icmp_send) remembers connects this node refused with
 * an ICMP error for it. Also the TCP counters' entries, which resets.bpf.h
 * counts into too.
 */
#ifndef PODFLOW_TCP_BPF_H
#define PODFLOW_TCP_BPF_H

#include "state.bpf.h"
#include "roles.bpf.h"
#include "latency.bpf.h"
#include "sockcount.bpf.h"

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
			st->app = APP_NONE;
			st->request_ns = 0;
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
		if (st)
			count_socket_alone(sk, st);
		break;
	case TCP_CLOSE:
		st = bpf_sk_storage_get(&sock_states, sk, 0, 0);
		if (oldstate == TCP_SYN_SENT)
			count_connect_outcome(sk, st, connect_failure(sk, sk->sk_err, st));
		if (st && st->request_ns && state_in_scope(st)) {
			struct flow_key key = {};

			sock_key(sk, st, st->role, &key);
			http_unanswered(st, &key);
		}
		if (st)
			close_socket(st);
		break;
	}
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

#endif /* PODFLOW_TCP_BPF_H */
