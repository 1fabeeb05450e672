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
	if set&(1<<c) != 0 {
		return true
	}
	// CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON, which kernels
	// before 5.8 do not have (bpf_capable, perfmon_capable); for nothing
	// else.
	return (c == capBPF || c == capPerfmon) && set&(1<<capSysAdmin) != 0
}

// CheckCapabilities fails when this process cannot create eBPF maps at
// all: with ErrNoSyscall when the kernel has no bpf() system call (or an
// emulator hides it), else naming the missing capability. Per-program needs
// are checked at load.
func CheckCapabilities() error {
	if err := CheckSyscall(); err != nil {
		return err
	}
	set, err := effectiveCaps()
	if err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	if !hasCap(set, capBPF) {
		return fmt.Errorf("missing capability CAP_BPF: run as root or grant CAP_BPF (with CAP_PERFMON and CAP_NET_ADMIN, see docs/permissions.md)")
	}
	return nil
}

// Capabilities returns, of the capabilities podflow's programs need
// (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN), those this process has and those
// it lacks, by name. CAP_SYS_ADMIN stands in for the first two on kernels
// before 5.8.
func Capabilities() (have, missing []string, err error) {
	set, err := effectiveCaps()
	if err != nil {
		return nil, nil, fmt.Errorf("read capabilities: %w", err)
	}
	for _, c := range []int{capBPF, capPerfmon, capNetAdmin} {
		if hasCap(set, c) {
			have = append(have, capNames[c])
		} else {
			missing = append(missing, capNames[c])
		}
	}
	return have, missing, nil
}

// programCaps lists the capabilities loading and attaching a program of
// type t needs, as found with setpriv on Linux 6.18 (e2e
// TestLeastPrivilege): tracing programs, and the raw tracepoint programs
// fold_sockets and expire_dns_queries, which are only run (BPF_PROG_TEST_RUN), need CAP_PERFMON
// to load; the
// cgroup_skb programs need CAP_PERFMON too, because the verifier allows
// their arithmetic on packet pointers only to a holder of it
// (allow_ptr_leaks: without it, "pointer arithmetic ... prohibited for
// !root"), and CAP_NET_ADMIN to attach to a cgroup. Types podflow does not
// load are left to the kernel.
func programCaps(t ebpf.ProgramType) []int {
	switch t {
	case ebpf.CGroupSKB:
		return []int{capBPF, capPerfmon, capNetAdmin}
	case ebpf.Tracing, ebpf.RawTracepoint:
		return []int{capBPF, capPerfmon}
	default:
		return []int{capBPF}
	}
}

// checkProgramCaps fails, naming the capabilities, when this process lacks
// one a program of type t needs: asking the kernel anyway gets a verifier
// line or a bare EPERM, which cilium/ebpf decorates with a misleading
// RLIMIT_MEMLOCK hint.
func checkProgramCaps(t ebpf.ProgramType) error {
	set, err := effectiveCaps()
	if err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	var missing, needed []string
	for _, c := range programCaps(t) {
		needed = append(needed, capNames[c])
		if !hasCap(set, c) {
			missing = append(missing, capNames[c])
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("missing capability %s (a %s program needs %s)", missing[0], t, strings.Join(needed, ", "))
	default:
		return fmt.Errorf("missing capabilities %s (a %s program needs %s)", strings.Join(missing, ", "), t, strings.Join(needed, ", "))
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
