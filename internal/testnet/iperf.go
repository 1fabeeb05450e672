// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package testnet

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
)

// inNetnsAndCgroup is a command run in ns (and, unless nil, born in cg).
func inNetnsAndCgroup(t testing.TB, ns *Netns, cg *Cgroup, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name}, args...)...)
	if cg != nil {
		dir, err := os.Open(cg.Path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dir.Close() })
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	}
	return cmd
}

// StartIperfServer runs an iperf3 server in ns and cg (cg may be nil),
// bound to addr, until the test ends.
func StartIperfServer(t testing.TB, ns *Netns, cg *Cgroup, addr string) {
	t.Helper()
	startServer(t, "iperf3", inNetnsAndCgroup(t, ns, cg, "iperf3", "--server", "--bind", addr))
}

// Iperf streams TCP from ns and cg (cg may be nil) to the server at addr
// for the given seconds and returns the bits per second received.
func Iperf(t testing.TB, ns *Netns, cg *Cgroup, addr string, seconds int) float64 {
	t.Helper()
	out, err := inNetnsAndCgroup(t, ns, cg, "iperf3", "--client", addr, "--time", strconv.Itoa(seconds), "--json").Output()
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err != nil || json.Unmarshal(out, &res) != nil || res.End.SumReceived.BitsPerSecond == 0 {
		t.Fatalf("iperf3: %v\n%s", err, out)
	}
	return res.End.SumReceived.BitsPerSecond
}
