// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Capability numbers from linux/capability.h.
const (
	capNetAdmin = 12
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

var capNames = map[int]string{
	capNetAdmin: "CAP_NET_ADMIN",
	capSysAdmin: "CAP_SYS_ADMIN",
	capPerfmon:  "CAP_PERFMON",
	capBPF:      "CAP_BPF",
}

// effectiveCaps reads the effective capability set of this process.
func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no CapEff line in /proc/self/status")
}

func hasCap(set uint64, c int) bool {
	// CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON, which kernels
	// before 5.8 do not have.
	return set&(1<<c) != 0 || set&(1<<capSysAdmin) != 0
}

// CheckCapabilities fails, naming the capability, when this process cannot
// create eBPF maps at all. Per-program needs are checked at load.
func CheckCapabilities() error {
	set, err := effectiveCaps()
	if err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	if !hasCap(set, capBPF) {
		return fmt.Errorf("missing capability CAP_BPF: run as root or grant CAP_BPF (with CAP_PERFMON and CAP_NET_ADMIN, see README \"Permissions\")")
	}
	return nil
}

// programCaps lists what loading each program type needs beyond CAP_BPF:
// the kernel refuses cgroup_skb without CAP_NET_ADMIN and tracing programs
// without CAP_PERFMON (kernel/bpf/syscall.c, bpf_prog_load).
func programCaps(t ebpf.ProgramType) []int {
	switch t {
	case ebpf.CGroupSKB, ebpf.SockOps, ebpf.CGroupSockAddr, ebpf.CGroupSock, ebpf.SchedCLS:
		return []int{capBPF, capNetAdmin}
	case ebpf.Tracing, ebpf.RawTracepoint, ebpf.TracePoint, ebpf.Kprobe:
		return []int{capBPF, capPerfmon}
	default:
		return []int{capBPF}
	}
}

// missingCapsHint names the capabilities a program type needs that this
// process lacks, when the kernel refused it with EPERM: the kernel's own
// message does not say which.
func missingCapsHint(t ebpf.ProgramType, err error) string {
	if !errors.Is(err, unix.EPERM) {
		return ""
	}
	set, cerr := effectiveCaps()
	if cerr != nil {
		return ""
	}
	var missing []string
	for _, c := range programCaps(t) {
		if !hasCap(set, c) {
			missing = append(missing, capNames[c])
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return " (missing capability " + strings.Join(missing, ", ") + ")"
}
