//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podflow's kernel side: count every local socket's packets per aggregated
 * flow (cgroup_skb at the cgroup v2 root) and the outcome of every TCP
 * handshake (tp_btf/inet_sock_set_state). Nothing is sent to user space per
 * packet; the exporter drains the tables when Prometheus scrapes it.
 *
 * Table rotation: each family of counters lives in one of two per-CPU hash
 * tables, slots 0 and 1 of an ARRAY_OF_MAPS; active_slot says which one
 * programs write to. To read, user space folds the sockets' own counts
 * (fold_sockets), flips active_slot for every family at once, and waits for
 * one RCU grace period (an update of an ARRAY_OF_MAPS returns only after
 * one: maybe_wait_bpf_programs()): then no program is still writing to the
 * retired tables and nothing can be lost between reading and deleting an
 * entry.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#include "podflow.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * The parts, one job to a header, in the order each needs the ones before.
 * They compile as this one object: programs share maps and inline helpers.
 */
#include "state.bpf.h"       /* maps, settings and helpers every part shares */
#include "packet.bpf.h"      /* reading a packet at the cgroup_skb hooks */
#include "translation.bpf.h" /* connections to translated services */
#include "roles.bpf.h"       /* socket roles, scope, state and keys */
#include "latency.bpf.h"     /* latency histograms */
#include "sockcount.bpf.h"   /* counting in socket storage, fold_sockets */
#include "payload.bpf.h"     /* application protocols, HTTP and DNS requests, expire_dns_queries */
#include "flows.bpf.h"       /* flows_ingress, flows_egress */
#include "tcp.bpf.h"         /* tcp_state, icmp_sent */
#include "rtt.bpf.h"         /* tcp_rtt */
#include "resets.bpf.h"      /* tcp_retransmit, tcp_reset_sent, tcp_reset_received */
#include "drops.bpf.h"       /* skb_drop, skb_drop_without_rx_sk */
