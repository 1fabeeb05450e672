// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// The estimate of a rotating table's memory is what the kernel charges for
// it: each inner table template, created at a few sizes, has exactly the
// memlock bpftool would show.
func TestTableMemoryIsWhatTheKernelCharges(t *testing.T) {
	spec, err := loadPodflow()
	if err != nil {
		t.Fatal(err)
	}
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	for _, tbl := range (&Config{}).tableSizes() {
		for _, entries := range []uint32{1, 1000, 4096} {
			ms := spec.Maps[tbl.outer].InnerMap.Copy()
			ms.MaxEntries = entries
			m, err := ebpf.NewMap(ms)
			if err != nil {
				t.Fatal(err)
			}
			info, err := m.Info()
			m.Close()
			if err != nil {
				t.Fatal(err)
			}
			got, ok := info.Memlock()
			if !ok {
				t.Fatal("the kernel does not report the map's memlock: the estimate cannot be checked")
			}
			if want := percpuHashBytes(ms.KeySize, ms.ValueSize, entries, cpus); got != want {
				t.Errorf("%s with %d entries: kernel charges %d bytes, estimate %d", tbl.outer, entries, got, want)
			}
		}
	}
}

// Sizes the kernel refuses, or the node cannot hold, are reported with the
// flag, before any table exists.
func TestValidateTableSizes(t *testing.T) {
	ok := Config{FlowTableEntries: 65536, TCPTableEntries: 16384, LatencyTableEntries: 32768, DropTableEntries: 4096, RequestTableEntries: 16384}
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		cfg  func(*Config)
		want string
	}{
		{func(c *Config) { c.DropTableEntries = 0 }, "--bpf.drop-table-entries must be at least 1"},
		{func(c *Config) { c.FlowTableEntries = 1 << 31 }, "--bpf.flow-table-entries=2147483648: more than the 134217728 entries"},
		{func(c *Config) { c.ServiceTableEntries = MaxTableEntries + 1 }, "--bpf.service-table-entries=134217729: more than"},
	} {
		c := ok
		tc.cfg(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want %q", err, tc.want)
		}
	}

	need, err := ok.tableMemory(2)
	if err != nil {
		t.Fatal(err)
	}
	err = checkMemory(ok.tableSizes(), need, 2, 10<<20)
	if err == nil || !strings.HasPrefix(err.Error(), "--bpf.flow-table-entries=65536: the eBPF tables would take ") ||
		!strings.Contains(err.Error(), "2 possible CPUs), more than the node has available, 10.0 MiB") {
		t.Errorf("10 MiB available: %v", err)
	}
}
