/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kernel drops: skb_drop and skb_drop_without_rx_sk (tp_btf/kfree_skb)
 * count the packets the kernel frees with a drop reason, per flow and
 * reason, into the drops table.
 */
#ifndef PODFLOW_DROPS_BPF_H
#define PODFLOW_DROPS_BPF_H

#include "state.bpf.h"
#include "roles.bpf.h"

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

#endif /* PODFLOW_DROPS_BPF_H */
