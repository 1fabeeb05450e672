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
	/*
	 * Zero for byte and handshake counters. Latency tables put the
	 * histogram and its bucket here (LATENCY_VARIANT), drop tables the
	 * kernel's drop reason: one entry per flow and bucket or reason keeps
	 * entries small and only the buckets a flow uses exist.
	 * In flow, TCP and latency tables (never in drop tables, whose
	 * reasons use all 32 bits) the upper half holds the client's port of
	 * a client flow to a translated service (CLIENT_PORT_VARIANT): each
	 * such connection is an entry of its own, so that user space can ask
	 * the node's connection tracking which backend served it.
	 */
	__u32 variant;
};

#define CLIENT_PORT_SHIFT 16
#define CLIENT_PORT_VARIANT(port) ((__u32)(port) << CLIENT_PORT_SHIFT)

/*
 * The application protocol of a flow's packets (flows and TCP tables:
 * APP_VARIANT, bits 12-15 of the variant). A TCP connection is classified
 * once, from its first payload bytes (app.bpf.h); UDP by port (DNS).
 */
enum app_protocol {
	APP_NONE = 0,     /* no payload yet: handshakes, failed connects, listeners; not TCP or UDP */
	APP_HTTP1,        /* a request line "METHOD target HTTP/1.x" */
	APP_HTTP2,        /* the connection preface "PRI * HTTP/2.0" (RFC 9113 3.4); gRPC too */
	APP_TLS,          /* a handshake record holding a ClientHello (RFC 8446 5.1, 4.1.2) */
	APP_POSTGRES,     /* StartupMessage, SSLRequest, GSSENCRequest or CancelRequest */
	APP_REDIS,        /* a RESP array of bulk strings: "*<n>\r\n$" */
	APP_MYSQL,        /* the server's greeting: Protocol::HandshakeV10 */
	APP_DNS,          /* to or from a DNS port (--bpf.dns-ports) */
	APP_UNKNOWN,      /* payload not recognised, or a connection older than the exporter */
	APP_MAX,
};

#define APP_SHIFT 12
#define APP_MASK (0xfU << APP_SHIFT)
#define APP_VARIANT(app) ((__u32)(app) << APP_SHIFT)

/*
 * Requests table variants (bits 0-7): one dense code per DNS rcode and
 * query type or HTTP method and status class, so that the overflow slot is
 * an array of REQUEST_CODES counters.
 */
enum dns_qtype {
	QTYPE_OTHER = 0,
	QTYPE_A,     /* 1 */
	QTYPE_AAAA,  /* 28 */
	QTYPE_PTR,   /* 12 */
	QTYPE_SRV,   /* 33 */
	QTYPE_CNAME, /* 5 */
	QTYPE_TXT,   /* 16 */
	QTYPE_MAX,
};

#define DNS_QTYPES 8
#define DNS_RCODE_TIMEOUT 16 /* RCODEs are 4 bits in the header (RFC 1035 4.1.1) */
#define DNS_REQUEST(rcode, qtype) ((rcode) * DNS_QTYPES + (qtype))

enum http_method {
	METHOD_OTHER = 0,
	METHOD_GET,
	METHOD_HEAD,
	METHOD_POST,
	METHOD_PUT,
	METHOD_DELETE,
	METHOD_PATCH,
	METHOD_OPTIONS,
	METHOD_MAX,
};

#define HTTP_CLASSES 8 /* 0: no response (closed first), 1..5: 1xx..5xx */
#define HTTP_REQUEST_BASE DNS_REQUEST(DNS_RCODE_TIMEOUT + 1, 0)
#define HTTP_REQUEST(method, class) (HTTP_REQUEST_BASE + (method) * HTTP_CLASSES + (class))
#define REQUEST_CODES HTTP_REQUEST(METHOD_MAX, 0)

/* Requests of one flow and code. */
struct request_counters {
	__u64 requests;
};

/* What the requests table could not hold, by code. */
struct request_overflow {
	__u64 requests[REQUEST_CODES];
};

/*
 * Payload events that change no flow's count but say what was not
 * understood or not tracked: index of payload_events.
 */
enum payload_event {
	EV_DNS_MALFORMED = 0,     /* to or from a DNS port, not a DNS message we can read */
	EV_DNS_UNMATCHED,         /* a response to no query we track (sent before we started, expired, untracked) */
	EV_DNS_TABLE_FULL,        /* a query not tracked: the pending-queries table was full */
	EV_DNS_TRACK_FAILED,      /* a query not tracked: any other insert error */
	EV_DNS_DUPLICATE,         /* a query again with the same socket, peer, id and type while pending */
	EV_DNS_TCP_SKIPPED,       /* a TCP segment to or from a DNS port that does not start a message */
	EV_HTTP_MALFORMED,        /* a response segment expected, "HTTP/1.x NNN" not found */
	EV_HTTP_PIPELINED,        /* a second request sent before the first one's response: not counted */
	EV_PAYLOAD_MAX,
};

/*
 * A service frontend the node's NAT (kube-proxy) translates: a cluster,
 * external or load-balancer IP, or this node's address with a node port.
 * User space keeps the translated_services table of them in step with
 * the Kubernetes cache.
 */
struct service_key {
	__u8 addr[16]; /* v4-mapped for IPv4 */
	__u16 port;    /* host byte order */
	__u8 protocol; /* IPPROTO_TCP, IPPROTO_UDP */
	__u8 pad;
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
	TCP_EV_RETRANSMIT,      /* segments retransmitted */
	TCP_EV_RESET_SENT,      /* RSTs sent (also for segments no socket took) */
	TCP_EV_RESET_RECEIVED,  /* RSTs a socket accepted */
	TCP_EV_MAX,
};

struct tcp_counters {
	__u64 events[TCP_EV_MAX];
};

/*
 * Latency histograms: log2 buckets of microseconds. Bucket b (b < LAT_BUCKETS-1)
 * holds samples of at most 2^b us; the last one everything above.
 */
enum latency_histogram {
	HIST_RTT = 0,     /* smoothed RTT, one sample each time the kernel updates it */
	HIST_CONNECT = 1, /* SYN sent to ESTABLISHED, client side */
	HIST_DNS = 2,     /* a DNS query to its response, as the local socket saw them */
	HIST_HTTP = 3,    /* an HTTP/1.x request's first segment to its response's first */
	HIST_MAX,
};

#define LAT_BUCKETS 26 /* 2^0 .. 2^24 us (16.8 s), then +Inf */
#define LATENCY_VARIANT(hist, bucket) (((hist) << 8) | (bucket))

/* The log2 bucket of us: the smallest b with us <= 2^b, capped at the +Inf bucket. */
static inline __attribute__((always_inline)) __u32 latency_bucket_of(__u64 us)
{
	__u64 v;
	__u32 b = 0;

	if (us <= 1)
		return 0;
	/* The bit length of us-1, by halving: BPF has no count-leading-zeros. */
	v = us - 1;
	if (v >> 32) {
		b += 32;
		v >>= 32;
	}
	if (v >> 16) {
		b += 16;
		v >>= 16;
	}
	if (v >> 8) {
		b += 8;
		v >>= 8;
	}
	if (v >> 4) {
		b += 4;
		v >>= 4;
	}
	if (v >> 2) {
		b += 2;
		v >>= 2;
	}
	if (v >> 1) {
		b += 1;
		v >>= 1;
	}
	b += v; /* v is 1 here */
	return b < LAT_BUCKETS - 1 ? b : LAT_BUCKETS - 1;
}

/* One bucket of one flow's histogram: samples and their sum. */
struct latency_bucket {
	__u64 count;
	__u64 sum_us;
};

/* Packets the kernel dropped for one flow and reason (flow_key.variant). */
struct drop_counters {
	__u64 packets;
	__u64 bytes;
};

/*
 * How the client/server role of a socket was decided, once per socket; for
 * traffic without a socket, per packet. Index of role_decisions. Port
 * numbers are the last resort (ROLE_BY_PORTS): a service may listen on any
 * port, inside the ephemeral range too.
 */
enum role_method {
	ROLE_BY_TCP_CONNECT = 0,  /* seen entering SYN_SENT: client */
	ROLE_BY_TCP_ACCEPT,       /* seen as a listener's new child (SYN_RECV): server */
	ROLE_BY_TCP_LISTEN,       /* a listening socket: server */
	ROLE_BY_TCP_BACKLOG,      /* connected before we saw it, with a listener's backlog: an accepted child, server */
	ROLE_BY_TCP_NO_BACKLOG,   /* connected before we saw it, never listened: it connected, client */
	ROLE_BY_UDP_CONNECTED,    /* a connect()ed UDP socket: client */
	ROLE_BY_UDP_KERNEL_PORT,  /* the kernel chose its port (no bind to a port): client */
	ROLE_BY_UDP_FIRST_DATAGRAM, /* bound by the application, unconnected: its first datagram seen went out (client) or came in (server) */
	ROLE_BY_TCP_SYN,          /* no socket: a RST answering a SYN; the local side is the server */
	ROLE_BY_PORTS,            /* the socket could not be read: port numbers */
	ROLE_METHOD_MAX,
};

/* Tables whose inserts can fail; index of update_failures is table * FAIL_MAX + reason. */
enum flow_table_id {
	TABLE_FLOWS = 0,
	TABLE_TCP,
	TABLE_LATENCY,
	TABLE_DROPS,
	TABLE_REQUESTS,
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
