// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import "testing"

// Every table of enum flow_table_id is declared, under the name its
// self-metrics use (podflow_bpf_map_entries{map}).
func TestEveryTableDeclared(t *testing.T) {
	want := map[Table]string{TableFlows: "flows", TableTCP: "tcp_events", TableLatency: "latency", TableDrops: "drops", TableRequests: "requests"}
	if len(want) != NumTables {
		t.Fatalf("%d tables in the object, %d here: name the new one", NumTables, len(want))
	}
	for id, name := range want {
		if l := tableLayouts[id]; l == nil || l.id != id {
			t.Errorf("table %d not declared in tablelist.go", id)
		}
		if got := id.String(); got != name {
			t.Errorf("Table(%d).String() = %q, want %q", id, got, name)
		}
	}
	if got := Table(NumTables).String(); got != "unknown" {
		t.Errorf("an undeclared table is %q, want unknown", got)
	}
	// Only the drops table's variant is all its own (a drop reason).
	for _, def := range []*tableLayout{&Flows.tableLayout, &TCP.tableLayout, &Latency.tableLayout, &Requests.tableLayout} {
		if !def.clientPort {
			t.Errorf("table %s: keys carry no client port", def.name)
		}
	}
	if Drops.clientPort {
		t.Error("the drops table's keys carry a client port")
	}
}
