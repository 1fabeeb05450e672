// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"net/netip"
	"os"
	"testing"

	"github.com/podflow/podflow_exporter/internal/cgroups"
	"github.com/podflow/podflow_exporter/internal/testnet"
)

func TestMain(m *testing.M) {
	testnet.MaybeRunHelper()
	os.Exit(m.Run())
}

var allPrograms = []string{ProgFlowsIngress, ProgFlowsEgress, ProgTCPState, ProgTCPRTT, ProgRetransmit, ProgResetSent, ProgResetRecv, ProgICMPSent, ProgDrops}

// loadTracer loads and attaches every program at cgroup root, failing the
// test unless each one attaches.
func loadTracer(t testing.TB, cfg Config, root string) *Tracer {
	t.Helper()
	return loadTracerWith(t, cfg, root, false)
}

// loadTracerWith is loadTracer, translating connections to services or not.
// Its scope is the cgroup root, as the exporter's is with --cgroup.root
// there: the tracing programs ignore the host's other sockets.
func loadTracerWith(t testing.TB, cfg Config, root string, translate bool) *Tracer {
	t.Helper()
	scope, err := cgroups.ScopeID(root)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Load(&cfg, Options{
		ScopeCgroupID:        scope,
		CgroupRoot:           root,
		Programs:             allPrograms,
		CountTCPEvents:       true,
		RecordConnectLatency: true,
		EphemeralPorts:       ReadEphemeralPortRange(),
		TranslateServices:    translate,
		TrackDNS:             true,
		TrackHTTP:            true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	for _, st := range tr.Status() {
		if !st.Attached {
			t.Fatalf("%s not attached: %v", st.Name, st.Err)
		}
	}
	return tr
}

var defaultConfig = Config{FlowTableEntries: 4096, TCPTableEntries: 1024, LatencyTableEntries: 4096, DropTableEntries: 1024, RequestTableEntries: 1024}

// node is two network namespaces, a and b, joined by a veth pair, each
// with its own cgroup, observed by a tracer attached at their parent cgroup.
type node struct {
	env    *testnet.Env
	a, b   *testnet.Netns
	la, lb *testnet.Link
	cgA    *testnet.Cgroup
	cgB    *testnet.Cgroup
	tr     *Tracer
}

func newNode(t *testing.T, cfg Config, addrsA, addrsB []netip.Prefix) *node {
	t.Helper()
	return newNodeWith(t, cfg, addrsA, addrsB, false)
}

// newNodeWith is newNode, translating connections to services or not.
func newNodeWith(t *testing.T, cfg Config, addrsA, addrsB []netip.Prefix, translate bool) *node {
	t.Helper()
	n := newNet(t, addrsA, addrsB)
	n.tr = loadTracerWith(t, cfg, n.env.Root.Path, translate)
	return n
}

// newNet is newNode without the tracer: the test loads it (n.load) once
// what should exist before the exporter starts does.
func newNet(t *testing.T, addrsA, addrsB []netip.Prefix) *node {
	t.Helper()
	n := &node{env: testnet.New(t)}
	n.a = n.env.Netns("a")
	n.b = n.env.Netns("b")
	n.la, n.lb = n.env.Veth(n.a, addrsA, n.b, addrsB)
	n.cgA = n.env.Root.Child("pod-a")
	n.cgB = n.env.Root.Child("pod-b")
	return n
}

// load loads and attaches the tracer at the node's cgroup root.
func (n *node) load(t *testing.T, cfg Config) {
	t.Helper()
	n.tr = loadTracerWith(t, cfg, n.env.Root.Path, false)
}

var (
	dualStackA = []netip.Prefix{netip.MustParsePrefix("10.200.0.1/24"), netip.MustParsePrefix("fd00:200::1/64")}
	dualStackB = []netip.Prefix{netip.MustParsePrefix("10.200.0.2/24"), netip.MustParsePrefix("fd00:200::2/64")}
	v4OnlyA    = dualStackA[:1:1]
	v4OnlyB    = dualStackB[:1:1]
	v6OnlyA    = dualStackA[1:2:2]
	v6OnlyB    = dualStackB[1:2:2]
)

// drainSum drains a table into a map of each flow's increment, and the overflow.
func drainSum[V any](t testing.TB, tr *Tracer, table *TableDef[V, V]) (map[FlowKey]V, V) {
	t.Helper()
	flows := map[FlowKey]V{}
	overflow, err := table.Drain(tr, func(k FlowKey, v V) {
		if _, seen := flows[k]; seen {
			t.Errorf("flow %+v drained twice", k)
		}
		flows[k] = v
	})
	if err != nil {
		t.Fatal(err)
	}
	return flows, overflow
}

// drainFlows drains the flows table, each flow's application protocols
// summed (App none): what most tests check is not which protocol a flow's
// bytes were of (drainFlowsByApp).
func drainFlows(t testing.TB, tr *Tracer) (map[FlowKey]FlowCounters, FlowCounters) {
	t.Helper()
	flows, overflow := drainSum(t, tr, Flows)
	return anyApp(flows, (*FlowCounters).Add), overflow
}

// drainFlowsByApp drains the flows table, keeping apart each application protocol.
func drainFlowsByApp(t testing.TB, tr *Tracer) (map[FlowKey]FlowCounters, FlowCounters) {
	t.Helper()
	return drainSum(t, tr, Flows)
}

// drainTCP drains the TCP table, each flow's application protocols summed.
func drainTCP(t testing.TB, tr *Tracer) (map[FlowKey]TCPCounters, TCPCounters) {
	t.Helper()
	flows, overflow := drainSum(t, tr, TCP)
	return anyApp(flows, (*TCPCounters).Add), overflow
}

// anyApp sums the flows that differ only by application protocol.
func anyApp[V any](flows map[FlowKey]V, add func(*V, *V)) map[FlowKey]V {
	out := make(map[FlowKey]V, len(flows))
	for k, v := range flows {
		k.App = AppNone
		sum := out[k]
		add(&sum, &v)
		out[k] = sum
	}
	return out
}

// dropKey is a flow and a drop reason.
type dropKey struct {
	FlowKey
	Reason uint32
}

// drainDrops drains the drop table into a map of each flow's and reason's drops.
func drainDrops(t testing.TB, tr *Tracer) (map[dropKey]DropCounters, DropCounters) {
	t.Helper()
	drops := map[dropKey]DropCounters{}
	overflow, err := Drops.Drain(tr, func(k FlowKey, d DropIncrement) {
		dk := dropKey{k, d.Reason}
		if _, seen := drops[dk]; seen {
			t.Errorf("drop %+v drained twice", dk)
		}
		drops[dk] = d.DropCounters
	})
	if err != nil {
		t.Fatal(err)
	}
	return drops, overflow
}

// inCgroup keeps the flows of one cgroup.
func inCgroup[V any](flows map[FlowKey]V, id uint64) map[FlowKey]V {
	out := map[FlowKey]V{}
	for k, v := range flows {
		if k.CgroupID == id {
			out[k] = v
		}
	}
	return out
}
