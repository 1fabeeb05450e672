/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Reading a packet at the cgroup_skb hooks: the facts of its headers
 * (struct packet) and its flow key's addresses and protocol (parse).
 */
#ifndef PODFLOW_PACKET_BPF_H
#define PODFLOW_PACKET_BPF_H

#include "state.bpf.h"

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

#endif /* PODFLOW_PACKET_BPF_H */
