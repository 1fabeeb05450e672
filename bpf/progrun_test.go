// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// loadUnattached loads the tables and the named programs without attaching
// anything, for BPF_PROG_TEST_RUN.
func loadUnattached(t testing.TB, names ...string) (*Tracer, map[string]*ebpf.Program) {
	t.Helper()
	return loadUnattachedWith(t, Options{EphemeralPorts: [2]uint16{32768, 60999}, CountTCPEvents: true}, names...)
}

// loadUnattachedWith is loadUnattached with the given options.
func loadUnattachedWith(t testing.TB, opts Options, names ...string) (*Tracer, map[string]*ebpf.Program) {
	t.Helper()
	tr, err := Load(&defaultConfig, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	spec, _, err := loadSpec(opts)
	if err != nil {
		t.Fatal(err)
	}
	progs := map[string]*ebpf.Program{}
	for _, n := range names {
		p, err := tr.loadProgram(spec, n)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		progs[n] = p
	}
	return tr, progs
}

// packet is a synthetic frame: Ethernet, then IP, then the L4 bytes.
type packet struct {
	src, dst netip.Addr
	proto    uint8
	l4       []byte
	fragOff  uint16 // IPv4 fragment offset, in 8-byte units
}

func (p packet) bytes() []byte {
	eth := make([]byte, 14)
	var ip []byte
	if p.src.Is4() {
		binary.BigEndian.PutUint16(eth[12:], 0x0800)
		ip = make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(p.l4)))
		binary.BigEndian.PutUint16(ip[6:], p.fragOff)
		ip[8] = 64
		ip[9] = p.proto
		copy(ip[12:], p.src.AsSlice())
		copy(ip[16:], p.dst.AsSlice())
	} else {
		binary.BigEndian.PutUint16(eth[12:], 0x86DD)
		ip = make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(p.l4)))
		ip[6] = p.proto
		ip[7] = 64
		copy(ip[8:], p.src.AsSlice())
		copy(ip[24:], p.dst.AsSlice())
	}
	return append(append(eth, ip...), p.l4...)
}

func udp(sport, dport uint16, payload int) []byte {
	b := make([]byte, 8+payload)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+payload))
	return b
}

// tcp builds a TCP header with 12 bytes of options (timestamps), as Linux
// sends them: 32 header bytes, doff 8.
func tcp(sport, dport uint16, payload int) []byte {
	b := make([]byte, 32+payload)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	b[12] = 8 << 4
	b[13] = 0x10 // ACK
	return b
}

func icmpEcho(typ uint8) []byte {
	b := make([]byte, 64)
	b[0] = typ
	return b
}

// Test-run packets must fit in one page, so GSO cases use small segments:
// the byte count depends only on header length and segment count.

// skbContext returns a __sk_buff input for BPF_PROG_TEST_RUN with gso_segs
// set, laid out as the running kernel's BTF says.
func skbContext(t testing.TB, gsoSegs uint32) []byte {
	t.Helper()
	ctx, off := skbMember(t, "gso_segs")
	binary.NativeEndian.PutUint32(ctx[off:], gsoSegs)
	return ctx
}

// skbMember returns a zero __sk_buff, sized as the running kernel's BTF
// says, and the offset of its member name.
func skbMember(t testing.TB, name string) ([]byte, uint32) {
	t.Helper()
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatal(err)
	}
	var skb *btf.Struct
	if err := spec.TypeByName("__sk_buff", &skb); err != nil {
		t.Fatal(err)
	}
	for _, m := range skb.Members {
		if m.Name == name {
			return make([]byte, skb.Size), m.Offset.Bytes()
		}
	}
	t.Fatalf("__sk_buff has no %s", name)
	return nil, 0
}

var (
	v4a, v4b = netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	v6a, v6b = netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
)

// TestProgramRun runs the cgroup_skb programs on synthetic packets and
// checks the one flow each must produce: addresses oriented by direction,
// the server port and role, and the bytes and packets of the wire.
func TestProgramRun(t *testing.T) {
	tr, progs := loadUnattached(t, ProgFlowsEgress, ProgFlowsIngress)
	for _, tc := range []struct {
		name    string
		prog    string
		pkt     packet
		gsoSegs uint32
		key     FlowKey // CgroupID is not compared
		want    FlowCounters
	}{
		{
			name: "IPv4 UDP to a service, egress",
			prog: ProgFlowsEgress, pkt: packet{v4a, v4b, ipProtoUDP, udp(40000, 53, 100), 0},
			key:  FlowKey{Local: v4a, Remote: v4b, ServerPort: 53, Protocol: ipProtoUDP, Role: RoleClient, App: AppDNS},
			want: FlowCounters{TxBytes: 128, TxPackets: 1},
		},
		{
			name: "IPv4 UDP to a service, ingress at the service",
			prog: ProgFlowsIngress, pkt: packet{v4a, v4b, ipProtoUDP, udp(40000, 53, 100), 0},
			key:  FlowKey{Local: v4b, Remote: v4a, ServerPort: 53, Protocol: ipProtoUDP, Role: RoleServer, App: AppDNS},
			want: FlowCounters{RxBytes: 128, RxPackets: 1},
		},
		{
			name: "IPv6 UDP reply from a service, egress",
			prog: ProgFlowsEgress, pkt: packet{v6b, v6a, ipProtoUDP, udp(53, 40000, 10), 0},
			key:  FlowKey{Local: v6b, Remote: v6a, ServerPort: 53, Protocol: ipProtoUDP, Role: RoleServer, App: AppDNS},
			want: FlowCounters{TxBytes: 58, TxPackets: 1},
		},
		{
			name: "no ephemeral port: the lower one is the service",
			prog: ProgFlowsEgress, pkt: packet{v4a, v4b, ipProtoUDP, udp(9000, 8125, 0), 0},
			key:  FlowKey{Local: v4a, Remote: v4b, ServerPort: 8125, Protocol: ipProtoUDP, Role: RoleClient, App: AppUnknown},
			want: FlowCounters{TxBytes: 28, TxPackets: 1},
		},
		{
			name: "IPv4 TCP GSO packet of 4 segments counts 4 wire packets",
			prog: ProgFlowsEgress, pkt: packet{v4a, v4b, ipProtoTCP, tcp(45000, 443, 4*500), 0}, gsoSegs: 4,
			key:  FlowKey{Local: v4a, Remote: v4b, ServerPort: 443, Protocol: ipProtoTCP, Role: RoleClient},
			want: FlowCounters{TxBytes: 4 * (20 + 32 + 500), TxPackets: 4},
		},
		{
			name: "IPv6 TCP GRO packet of 3 segments counts 3 wire packets",
			prog: ProgFlowsIngress, pkt: packet{v6b, v6a, ipProtoTCP, tcp(443, 45000, 3*600), 0}, gsoSegs: 3,
			key:  FlowKey{Local: v6a, Remote: v6b, ServerPort: 443, Protocol: ipProtoTCP, Role: RoleClient},
			want: FlowCounters{RxBytes: 3 * (40 + 32 + 600), RxPackets: 3},
		},
		{
			name: "ICMP echo request: the sender is the client",
			prog: ProgFlowsEgress, pkt: packet{v4a, v4b, 1, icmpEcho(8), 0},
			key:  FlowKey{Local: v4a, Remote: v4b, Protocol: 1, Role: RoleClient},
			want: FlowCounters{TxBytes: 84, TxPackets: 1},
		},
		{
			name: "ICMPv6 echo reply: the sender is the server",
			prog: ProgFlowsEgress, pkt: packet{v6b, v6a, 58, icmpEcho(129), 0},
			key:  FlowKey{Local: v6b, Remote: v6a, Protocol: 58, Role: RoleServer},
			want: FlowCounters{TxBytes: 104, TxPackets: 1},
		},
		{
			name: "IPv4 non-first fragment has no ports",
			prog: ProgFlowsEgress, pkt: packet{v4a, v4b, ipProtoUDP, make([]byte, 400), 185},
			key:  FlowKey{Local: v4a, Remote: v4b, Protocol: ipProtoUDP, Role: RoleClient},
			want: FlowCounters{TxBytes: 420, TxPackets: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := &ebpf.RunOptions{Data: tc.pkt.bytes()}
			if tc.gsoSegs > 0 {
				opts.Context = skbContext(t, tc.gsoSegs)
			}
			ret, err := progs[tc.prog].Run(opts)
			if err != nil {
				t.Fatal(err)
			}
			if ret != 1 {
				t.Errorf("program returned %d: it must let every packet through", ret)
			}
			flows, overflow := drainFlowsByApp(t, tr)
			if len(flows) != 1 {
				t.Fatalf("got %d flows, want 1: %+v", len(flows), flows)
			}
			for k, v := range flows {
				k.CgroupID = 0
				if k != tc.key {
					t.Errorf("key\n got %+v\nwant %+v", k, tc.key)
				}
				if v != tc.want {
					t.Errorf("counters\n got %+v\nwant %+v", v, tc.want)
				}
			}
			if overflow != (FlowCounters{}) {
				t.Errorf("overflow %+v", overflow)
			}
		})
	}
}
