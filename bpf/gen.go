// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type flow_key -type flow_counters -type tcp_counters -type tcp_event -type update_failure -type flow_table_id -type flow_role -type latency_bucket -type drop_counters -type latency_histogram -type service_key -type role_method -type app_protocol -type dns_qtype -type http_method -type payload_event -type request_counters -type request_overflow podflow podflow.bpf.c
