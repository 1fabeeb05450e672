// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// TestMapEntriesOfTheDrainedInterval: podflow_bpf_map_entries{map="flows"}
// is what the scrape that shows it drained, not the scrape before: after
// UDP to n ports (one flow on each side per port), one scrape says 2n.
func TestMapEntriesOfTheDrainedInterval(t *testing.T) {
	env := testnet.New(t)
	a, b := env.Netns("a"), env.Netns("b")
	_, lb := env.Veth(a, []netip.Prefix{netip.MustParsePrefix("10.217.0.1/24")}, b, []netip.Prefix{netip.MustParsePrefix("10.217.0.2/24")})
	cgA, cgB := env.Root.Child("sender"), env.Root.Child("receiver")
	exp := startExporter(t, "--cgroup.root="+env.Root.Path)
	exp.scrape() // drains whatever came before

	port := 7100
	for _, n := range []int{3, 7, 2} {
		var dsts []string
		for range n {
			dsts = append(dsts, lb.Addr(false).String()+":"+strconv.Itoa(port))
			port++
		}
		dst := strings.Join(dsts, ",")
		recv := testnet.Start(t, b, cgB, "udp-recv", dst, strconv.Itoa(n), "10s")
		testnet.RunHelper(t, a, cgA, "udp-send", dst, "1", "100")
		if got := recv.Wait(); got != strconv.Itoa(n) {
			t.Fatalf("receiver got %s datagrams, want %d", got, n)
		}
		_, fams := exp.scrape()
		if got := value(t, fams, "podflow_bpf_map_entries", map[string]string{"map": "flows"}); got != float64(2*n) {
			t.Errorf("after UDP to %d ports, podflow_bpf_map_entries{map=\"flows\"} = %v, want %d", n, got, 2*n)
		}
	}
}
