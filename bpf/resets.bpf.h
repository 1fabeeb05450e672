/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Retransmits and resets: tcp_retransmit (tp_btf/tcp_retransmit_skb),
 * tcp_reset_sent (tp_btf/tcp_send_reset) and tcp_reset_received
 * (tp_btf/tcp_receive_reset), counted into the TCP counters.
 */
#ifndef PODFLOW_RESETS_BPF_H
#define PODFLOW_RESETS_BPF_H

#include "state.bpf.h"
#include "roles.bpf.h"
#include "tcp.bpf.h"

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

#endif /* PODFLOW_RESETS_BPF_H */
