// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package translation

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/internal/testnet"
	"github.com/podflow/podflow_exporter/kube"
)

func TestMain(m *testing.M) {
	testnet.MaybeRunHelper()
	os.Exit(m.Run())
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// netns is a new network namespace whose connection tracking table is
// empty; its path is under /run/netns.
func netns(t *testing.T) (*testnet.Netns, string) {
	t.Helper()
	ns := testnet.New(t).Netns("ct")
	return ns, "/run/netns/" + ns.Name
}

// open opens a Translator on path that must be available, and runs it
// until the test ends, with prefetching every 10ms.
func open(t *testing.T, path string, fe Frontends, k Kernel) (*Translator, *recorder, func()) {
	t.Helper()
	logs := &recorder{}
	tr := Open(&Config{Netns: path}, Options{CacheEntries: 100, TTL: time.Minute}, logs)
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	tr.every = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	tr.Run(ctx, fe, k)
	stop := func() { cancel(); tr.loops.Wait() }
	t.Cleanup(stop)
	return tr, logs, stop
}

func TestOpen(t *testing.T) {
	_, path := netns(t)
	logs := &recorder{}
	tr := Open(&Config{Netns: path}, Options{CacheEntries: 10, TTL: time.Minute}, logs)
	defer tr.Close()
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{{"level": "info", "msg": "translating connections to services into their backends from connection tracking", "netns": path}}
	if !slices.EqualFunc(logs.entries, want, maps.Equal) {
		t.Errorf("logged %v, want %v", logs.entries, want)
	}
	st := tr.Stats()
	if !st.Available || st.Frontends != 0 || st.CacheEntries != 0 ||
		len(st.Lookups) != 3 || st.Lookups["translated"] != 0 || st.Lookups["not_found"] != 0 || st.Lookups["error"] != 0 {
		t.Errorf("stats %+v", st)
	}
	// The exporter's own namespace is named "own", available or not.
	logs = &recorder{}
	Open(&Config{}, Options{}, logs).Close()
	if len(logs.entries) != 1 || logs.entries[0]["netns"] != "own" {
		t.Errorf("own namespace: logged %v", logs.entries)
	}
}

// TestUnavailable: a namespace that cannot be entered (here: not a network
// namespace, which Validate would have refused) is logged once, translates
// nothing, and Run leaves the kernel alone.
func TestUnavailable(t *testing.T) {
	logs := &recorder{}
	tr := Open(&Config{Netns: "/proc/self/ns/mnt"}, Options{CacheEntries: 10, TTL: time.Minute}, logs)
	if tr.Err() == nil {
		t.Fatal("no error for a mount namespace")
	}
	if len(logs.entries) != 1 || logs.entries[0]["level"] != "warn" || logs.entries[0]["netns"] != "/proc/self/ns/mnt" ||
		logs.entries[0]["msg"] != "connection tracking unavailable: connections to services are named by the service, not by the backend that served them (see --collector.translation)" ||
		logs.entries[0]["err"] != tr.Err().Error() {
		t.Errorf("logged %v", logs.entries)
	}
	fe, k := newFakeFrontends(), newFakeKernel()
	k.drains = []drain{{keys: []bpf.FlowKey{{Local: netip.MustParseAddr("10.40.0.2"), ClientPort: 40000, Remote: netip.MustParseAddr("10.96.0.10"), ServerPort: 53, Protocol: 17}}}}
	ctx, cancel := context.WithCancel(context.Background())
	tr.every = time.Millisecond
	tr.Run(ctx, fe, k)
	fe.set([]kube.Frontend{{Addr: ap("10.96.0.10:53"), Protocol: kube.ProtocolUDP}})
	time.Sleep(50 * time.Millisecond)
	cancel()
	tr.loops.Wait()
	if len(k.calls) != 0 || len(k.drains) != 1 {
		t.Errorf("Run used the kernel without connection tracking: %d SetServices, %d drains", len(k.calls), 1-len(k.drains))
	}
	if _, ok := tr.Translate(17, ap("10.40.0.2:40000"), ap("10.96.0.10:53")); ok {
		t.Error("translated without connection tracking")
	}
	st := tr.Stats()
	if st.Available || st.Frontends != 0 || len(st.Lookups) != 3 {
		t.Errorf("stats %+v", st)
	}
	if err := tr.Close(); err != nil {
		t.Error(err)
	}
}

// TestSyncFrontends: each change of the frontends sets exactly them in the
// kernel's table; an error is logged when it first occurs and when it
// changes, not while it repeats.
func TestSyncFrontends(t *testing.T) {
	_, path := netns(t)
	a := kube.Frontend{Addr: ap("10.96.0.10:53"), Protocol: kube.ProtocolUDP}
	b := kube.Frontend{Addr: ap("10.96.0.10:53"), Protocol: kube.ProtocolTCP}
	c := kube.Frontend{Addr: ap("[fd00:96::1]:443"), Protocol: kube.ProtocolTCP}
	d := kube.Frontend{Addr: ap("192.168.1.5:30080"), Protocol: kube.ProtocolSCTP}
	full1 := errors.New("translated-services table full (--bpf.service-table-entries=2): 1 frontends left out")
	full2 := errors.New("translated-services table full (--bpf.service-table-entries=2): 2 frontends left out")
	steps := []struct {
		frontends []kube.Frontend
		err       error
	}{
		{[]kube.Frontend{a, b}, nil},
		{[]kube.Frontend{a, b, c}, full1}, // logged
		{[]kube.Frontend{c, b, a}, full1}, // the same: not logged
		{[]kube.Frontend{a}, nil},
		{[]kube.Frontend{a, b, c}, full1}, // again after success: logged
		{[]kube.Frontend{a, b, c, d}, full2},
		{[]kube.Frontend{}, nil},
	}
	fe, k := newFakeFrontends(), newFakeKernel()
	for _, s := range steps {
		k.setErrs = append(k.setErrs, s.err)
	}
	tr, logs, stop := open(t, path, fe, k)
	for i, s := range steps {
		fe.set(s.frontends)
		var got []bpf.ServiceFrontend
		select {
		case got = <-k.calls:
		case <-time.After(5 * time.Second):
			t.Fatalf("step %d: no SetServices", i)
		}
		want := make([]bpf.ServiceFrontend, len(s.frontends))
		for j, f := range s.frontends {
			want[j] = bpf.ServiceFrontend{Addr: f.Addr, Protocol: f.Protocol}
		}
		if !slices.Equal(got, want) {
			t.Errorf("step %d: SetServices(%v), want %v", i, got, want)
		}
		if n := tr.Stats().Frontends; n != len(s.frontends) {
			t.Errorf("step %d: Stats().Frontends = %d, want %d", i, n, len(s.frontends))
		}
	}
	stop()
	if n := len(k.calls); n != 0 {
		t.Errorf("%d SetServices calls more than changes", n)
	}
	var errs []string
	for _, e := range logs.at("warn") {
		if e["msg"] != "service frontends not all in the kernel's table: their connections are named by the service" {
			t.Errorf("unexpected warning %v", e)
		}
		errs = append(errs, e["err"])
	}
	if want := []string{full1.Error(), full1.Error(), full2.Error()}; !slices.Equal(errs, want) {
		t.Errorf("warned of %q, want %q", errs, want)
	}
}

// conntrackEntry adds to ns's connection tracking table the entry of a UDP
// connection from client to service that the NAT sent to backend.
func conntrackEntry(ns *testnet.Netns, client, service, backend netip.AddrPort) {
	ns.Run("conntrack", "-I", "-p", "udp", "-t", "120",
		"-s", client.Addr().String(), "-d", service.Addr().String(),
		"--sport", strconv.Itoa(int(client.Port())), "--dport", strconv.Itoa(int(service.Port())),
		"-r", backend.Addr().String(), "-q", client.Addr().String(),
		"--reply-port-src", strconv.Itoa(int(backend.Port())), "--reply-port-dst", strconv.Itoa(int(client.Port())))
}

// TestPrefetch: each connection the kernel saw start is translated from a
// real connection tracking table at once, and keeps its translation after
// its entry is gone; one without an entry is neither counted nor
// remembered. A failure to read them is logged once until reading works.
func TestPrefetch(t *testing.T) {
	ns, path := netns(t)
	client, vip, backend := ap("10.40.0.2:40000"), ap("10.96.0.10:53"), ap("10.40.0.3:5353")
	conntrackEntry(ns, client, vip, backend)
	key := func(client netip.AddrPort) bpf.FlowKey {
		return bpf.FlowKey{Local: client.Addr(), ClientPort: client.Port(), Remote: vip.Addr(), ServerPort: vip.Port(), Protocol: kube.ProtocolUDP}
	}
	broken, other := errors.New("drain new connections: bad"), errors.New("drain new connections: worse")
	fe, k := newFakeFrontends(), newFakeKernel()
	k.drains = []drain{
		{keys: []bpf.FlowKey{key(client), key(ap("10.40.0.2:40001"))}},
		{err: broken}, // logged
		{err: broken},
		{err: other}, // still failing: not logged
		{},
		{err: other}, // failing again: logged
	}
	tr, logs, stop := open(t, path, fe, k)
	select {
	case <-k.drained:
	case <-time.After(5 * time.Second):
		t.Fatal("connections not drained")
	}
	stop()
	if got := tr.Stats().Lookups; got["translated"] != 1 || got["not_found"] != 0 || got["error"] != 0 {
		t.Errorf("lookups after prefetching %v, want 1 translated", got)
	}
	ns.Run("conntrack", "-D", "-p", "udp", "-s", client.Addr().String(), "--sport", strconv.Itoa(int(client.Port())))
	if got, ok := tr.Translate(kube.ProtocolUDP, client, vip); !ok || got != backend {
		t.Errorf("after the entry is gone: %v, %v; want %v", got, ok, backend)
	}
	if got := tr.Stats().Lookups; got["translated"] != 1 || got["not_found"] != 0 {
		t.Errorf("lookups at the scrape %v, want the prefetched answer", got)
	}
	var errs []string
	for _, e := range logs.at("warn") {
		if e["msg"] != "reading new connections to services failed: they are translated at the scrape" {
			t.Errorf("unexpected warning %v", e)
		}
		errs = append(errs, e["err"])
	}
	if want := []string{broken.Error(), other.Error()}; !slices.Equal(errs, want) {
		t.Errorf("warned of %q, want %q", errs, want)
	}
}
