/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types shared between the eBPF programs and the Go loader. bpf2go turns the
 * ones named with -type in gen.go into Go structs, so any change here shows up
 * as a change of the generated podflow_bpfel.go.
 */
#ifndef PODFLOW_H
#define PODFLOW_H

/* Which side of a connection the local socket is. */
enum flow_role {
	ROLE_UNKNOWN = 0,
	ROLE_CLIENT = 1,
	ROLE_SERVER = 2,
};

/*
 * A flow aggregates every packet of one local identity (the socket's cgroup
 * and local address) with one remote address on one server port. The client's
 * ephemeral port is deliberately not part of the key: it would make one entry
 * per connection instead of one per peer and service.
 * Addresses are 16 bytes; IPv4 is stored v4-mapped (::ffff:a.b.c.d).
 */
struct flow_key {
	__u64 cgroup_id;
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 server_port; /* host byte order; 0 for protocols without ports */
	__u8 protocol;     /* IPPROTO_* */
	__u8 role;         /* enum flow_role */
	__u32 pad;         /* always zero: the whole key is hashed */
};

/* Bytes are L3 lengths (IP header included), counted per wire segment. */
struct flow_counters {
	__u64 tx_bytes;
	__u64 tx_packets;
	__u64 rx_bytes;
	__u64 rx_packets;
};

/* Outcomes of TCP handshakes, indexes into tcp_counters.events. */
enum tcp_event {
	TCP_EV_CONNECT_ATTEMPT = 0,
	TCP_EV_CONNECT_ESTABLISHED,
	TCP_EV_FAIL_REFUSED,
	TCP_EV_FAIL_TIMEOUT,
	TCP_EV_FAIL_UNREACHABLE,
	TCP_EV_FAIL_RESET,
	TCP_EV_FAIL_ABORTED,
	TCP_EV_FAIL_OTHER,
	TCP_EV_ACCEPTED,
	TCP_EV_MAX,
};

struct tcp_counters {
	__u64 events[TCP_EV_MAX];
};

/* Tables whose inserts can fail; index of update_failures is table * FAIL_MAX + reason. */
enum flow_table_id {
	TABLE_FLOWS = 0,
	TABLE_TCP,
	TABLE_MAX,
};

enum update_failure {
	FAIL_FULL = 0,  /* -E2BIG: the table holds max_entries flows */
	FAIL_BUSY,      /* -EBUSY: bucket locked by a program this CPU interrupted */
	FAIL_OTHER,     /* anything else, e.g. -ENOMEM */
	FAIL_NO_TABLE,  /* the active-table slot was empty (cannot happen once loaded) */
	FAIL_MAX,
};

#endif /* PODFLOW_H */
