// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"testing"
)

// TestFeatures: Features says what attached and which variant. On this
// kernel (6.18: kfree_skb has its receiving socket since 6.11, icmp_send
// is a BTF tracepoint since 6.10) every program attaches as written.
// Asked for only some programs, the others are not attached.
func TestFeatures(t *testing.T) {
	nd := newNet(t, v4OnlyA, v4OnlyB)
	f := loadTracerWith(t, defaultConfig, nd.env.Root.Path, false).Features()
	if !f.DropReceivingSocket || !f.ICMPRefusals || !f.SocketEntries {
		t.Errorf("features %+v: want drops named by their receiving socket, ICMP refusals and socket entries on 6.18", f)
	}
	for _, st := range f.Programs {
		if !f.Attached(st.Name) || st.Variant != st.Name {
			t.Errorf("%s: attached %v as %q, want attached as itself", st.Name, st.Attached, st.Variant)
		}
	}
	// fold_sockets comes unasked with tcp_state, expire_dns_queries with DNS tracking.
	if len(f.Programs) != len(allPrograms)+2 || !f.Attached(ProgFoldSockets) || !f.Attached(ProgExpireDNSQueries) {
		t.Errorf("%d programs reported, want %d, %s and %s", len(f.Programs), len(allPrograms), ProgFoldSockets, ProgExpireDNSQueries)
	}

	// The variant for kernels before 6.11, loaded alone, also verifies here.
	spec, _, err := loadSpec(Options{EphemeralPorts: ReadEphemeralPortRange()})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Load(&defaultConfig, Options{CgroupRoot: nd.env.Root.Path, Programs: []string{ProgFlowsEgress}, EphemeralPorts: ReadEphemeralPortRange()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	p, err := tr.loadProgram(spec, fallbacks[ProgDrops][0])
	if err != nil {
		t.Fatalf("%s: %v", fallbacks[ProgDrops][0], err)
	}
	p.Close()
	f = tr.Features()
	if f.Attached(ProgDrops) || f.DropReceivingSocket || f.ICMPRefusals || f.SocketEntries || !f.Attached(ProgFlowsEgress) {
		t.Errorf("only %s asked for: features %+v", ProgFlowsEgress, f)
	}
}
