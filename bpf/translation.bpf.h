/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connections to services the node's NAT translates (Kubernetes mode,
 * --collector.translation, translate_services): the frontends user space
 * fills (translated_services), the connections it is to translate at once
 * (new_connections, filled by count_packet), and the keys that keep such a
 * client's port: a packet's (service_connection) and a TCP socket's peer
 * (sock_to_service).
 */
#ifndef PODFLOW_TRANSLATION_BPF_H
#define PODFLOW_TRANSLATION_BPF_H

#include "state.bpf.h"
#include "packet.bpf.h"

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

#endif /* PODFLOW_TRANSLATION_BPF_H */
