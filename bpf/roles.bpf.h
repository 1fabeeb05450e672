/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Socket roles and scope: which side of its connection a socket is, how
 * that was decided (role_decisions), its cgroup and whether that is inside
 * --cgroup.root; and, for the tracing programs, a socket's state (created
 * on first sight) and flow key.
 */
#ifndef PODFLOW_ROLES_BPF_H
#define PODFLOW_ROLES_BPF_H

#include "state.bpf.h"
#include "translation.bpf.h"

/* How many roles each method decided (enum role_method); never reset. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ROLE_METHOD_MAX);
	__type(key, __u32);
	__type(value, __u64);
} role_decisions SEC(".maps");

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
	/*
	 * A TCP connection whose start we did not see: its first payload
	 * seen may be from its middle. Listeners and handshakes have none yet.
	 */
	if (sk->sk_protocol == IPPROTO_TCP) {
		__u8 state = sk->__sk_common.skc_state;

		if (state != TCP_LISTEN && state != TCP_SYN_SENT && state != TCP_SYN_RECV)
			st->app = APP_UNKNOWN;
	}
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

/* ---- A socket's state and flow key, for the tracing programs -------------- */

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

/*
 * sock_flow_key, with the client's port for a connection to a translated
 * service and the connection's application protocol. The port is read from inet_sport: when a connect fails, the
 * kernel releases the port (inet_put_port clears skc_num) before the
 * state change reaches the tracepoint, but inet_sport keeps it.
 */
static __always_inline void sock_key(const struct sock *sk, const struct sock_state *st, __u8 role,
				     struct flow_key *key)
{
	sock_flow_key(sk, role, key);
	if (st && st->translated && role == ROLE_CLIENT)
		key->variant = CLIENT_PORT_VARIANT(bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport)));
	if (st)
		key->variant |= APP_VARIANT(st->app);
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

#endif /* PODFLOW_ROLES_BPF_H */
