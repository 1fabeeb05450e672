/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Bytes and packets: cgroup_skb. flows_ingress and flows_egress count every
 * packet of a local socket into the flows table, under the role its socket
 * state (else the packet) gives.
 */
#ifndef PODFLOW_FLOWS_BPF_H
#define PODFLOW_FLOWS_BPF_H

#include "state.bpf.h"
#include "packet.bpf.h"
#include "translation.bpf.h"
#include "roles.bpf.h"
#include "sockcount.bpf.h"
#include "payload.bpf.h"

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
 * than the exporter, UDP sockets); st is what count_packet looked up (NULL:
 * none yet). No bpf_sk_fullsock() on the fast path:
 * __cgroup_bpf_run_filter_skb() always sets skb->sk to the full socket, and
 * bpf_sk_storage_get() checks anyway. NULL for sockets left to
 * packet_role: raw sockets (*kernel set for each network namespace's TCP
 * control socket, which sends RSTs and TIME_WAIT ACKs for every socket of
 * it) and UDP sockets on kernels without bpf_rdonly_cast().
 */
static __always_inline struct sock_state *packet_sock_state(struct bpf_sock *sk, struct sock_state *st,
							     bool egress, bool *kernel)
{
	struct bpf_sock *full;
	const struct sock *ks;
	__u32 type, protocol;

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
 * Count one packet; sk is skb->sk, st its state (NULL: none yet). A socket
 * with an entry of its own counts there; every other packet in the flows
 * table under its key.
 */
static __always_inline int count_packet_of(struct __sk_buff *skb, bool egress, struct bpf_sock *sk,
					   struct sock_state *st)
{
	struct flow_key key = {};
	struct packet pkt = {};
	struct flow_counters *c;
	__u64 packets, bytes;
	bool created = false, kernel = false;
	__u32 zero = 0;

	if (count_in_sockets && st && (st->flags & SOCK_STATE_COUNTS)) {
		struct sock_counts *v = bpf_map_lookup_elem(&counting_sockets, &st->cookie);

		if (v) {
			if (payload_wanted(st) && inspect_segment(skb, egress, st, &v->key))
				reclassify_entry(v, st->app);
			count_in_socket(skb, v, egress);
			return 1;
		}
	}

	/*
	 * An unparsable packet (not IP) still counts, under a key with no
	 * addresses, so that the totals stay true.
	 */
	pkt.gso_segs = skb->gso_segs;
	if (parse(skb, egress, &key, &pkt)) {
		if (sk && pkt.has_l4 && (pkt.protocol == IPPROTO_TCP || pkt.protocol == IPPROTO_UDP))
			st = packet_sock_state(sk, st, egress, &kernel);
		else
			st = NULL;
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
		/* The application protocol, after the key's other parts: DNS counts under it. */
		if (st && pkt.protocol == IPPROTO_TCP) {
			if (payload_wanted(st))
				inspect_segment(skb, egress, st, &key);
			key.variant |= APP_VARIANT(st->app);
		} else if (pkt.has_l4 && pkt.protocol == IPPROTO_UDP) {
			key.variant |= APP_VARIANT(inspect_datagram(skb, &pkt, &key));
		}
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
	if (created && (key.variant & ~APP_MASK)) {
		/*
		 * A connection to a translated service, first seen this
		 * interval: announced once, whatever its protocol.
		 */
		struct flow_key conn = key;
		__u8 one = 1;

		conn.variant &= ~APP_MASK;
		bpf_map_update_elem(&new_connections, &conn, &one, BPF_ANY);
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

static __always_inline int count_packet(struct __sk_buff *skb, bool egress)
{
	/* skb->sk read once: the verifier refuses a context field read through a copied pointer. */
	struct bpf_sock *sk = skb->sk;

	return count_packet_of(skb, egress, sk, sk ? bpf_sk_storage_get(&sock_states, sk, 0, 0) : NULL);
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

#endif /* PODFLOW_FLOWS_BPF_H */
