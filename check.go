// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/rlimit"
	"github.com/go-kit/log"
	"golang.org/x/sys/unix"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/internal/cgroups"
	"github.com/podflow/podflow_exporter/kube"
	"github.com/podflow/podflow_exporter/translation"
)

// checkSystemCommand names the command that probes the node.
const checkSystemCommand = "check-system"

// Verdicts of a check: fail means the exporter could not count bytes here
// (check-system then exits 1); warn that a feature is off or degraded.
const (
	verdictOK   = "ok"
	verdictWarn = "warn"
	verdictFail = "fail"
)

// checker prints one line per check.
type checker struct {
	out    io.Writer
	failed bool
}

func (c *checker) report(verdict, name, detail, fix string) {
	fmt.Fprintf(c.out, "%-4s  %-26s  %s\n", verdict, name, detail)
	if fix != "" && verdict != verdictOK {
		fmt.Fprintf(c.out, "      %-26s  fix: %s\n", "", fix)
	}
	c.failed = c.failed || verdict == verdictFail
}

// checkSystem probes what this node allows the exporter, with the same
// probes and flags it uses (the programs are loaded, attached and detached
// again), and returns the exit code: 1 when a check failed.
func checkSystem(f *flags, out io.Writer) int {
	c := &checker{out: out}
	bpfOK := checkKernel(c)
	if err := validate(f); err != nil {
		c.report(verdictFail, "flags", err.Error(), "correct the flag (see --help)")
		return 1
	}
	checkBTF(c)
	root, rootErr := cgroupRoot(f.cgroupRoot)
	if rootErr != nil {
		c.report(verdictFail, "cgroup2", rootErr.Error(), "mount cgroup v2 (systemd.unified_cgroup_hierarchy=1) or point --cgroup.root at a cgroup v2 directory")
	} else {
		c.report(verdictOK, "cgroup2", root, "")
	}
	capsOK := checkCapabilities(c)
	switch err := rlimit.RemoveMemlock(); {
	case !bpfOK:
		c.report(verdictWarn, "memlock", "not checked without the bpf() system call", "")
	case !capsOK:
		// Without CAP_BPF the probe cannot create the map it tells by.
		c.report(verdictWarn, "memlock", "not checked without the capabilities above", "")
	case err != nil:
		c.report(verdictFail, "memlock", err.Error(), "grant CAP_SYS_RESOURCE, or raise RLIMIT_MEMLOCK (kernels before 5.11 charge eBPF maps to it)")
	default:
		c.report(verdictOK, "memlock", "eBPF maps can be created (memory cgroup accounting, or RLIMIT_MEMLOCK raised)", "")
	}
	if rootErr == nil && capsOK && bpfOK {
		checkPrograms(c, f, root)
	}
	checkConntrack(c, f)
	checkKubernetes(c, f)
	if c.failed {
		fmt.Fprintln(out, "podflow_exporter could not count bytes on this node: see the lines marked fail")
		return 1
	}
	return 0
}

// checkKernel names the running kernel and fails when it has no bpf()
// system call (or an emulator such as qemu-user hides it): then nothing
// else about eBPF can be checked.
func checkKernel(c *checker) bool {
	release := "unknown release"
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		release = unix.ByteSliceToString(uts.Release[:])
	}
	if err := bpf.CheckSyscall(); err != nil {
		c.report(verdictFail, "kernel", release+": "+bpf.NoSyscallCause, bpf.NoSyscallFix)
		return false
	}
	c.report(verdictOK, "kernel", release, "")
	return true
}

func checkBTF(c *checker) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		c.report(verdictFail, "btf", err.Error(), "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (/sys/kernel/btf/vmlinux): the programs are CO-RE")
		return
	}
	_, err = spec.AnyTypeByName("sk_buff")
	if err != nil {
		c.report(verdictFail, "btf", "kernel BTF without struct sk_buff: "+err.Error(), "use a kernel built with CONFIG_DEBUG_INFO_BTF=y")
		return
	}
	c.report(verdictOK, "btf", "/sys/kernel/btf/vmlinux", "")
}

func checkCapabilities(c *checker) bool {
	have, missing, err := bpf.Capabilities()
	switch {
	case err != nil:
		c.report(verdictFail, "capabilities", err.Error(), "")
		return false
	case len(missing) > 0:
		c.report(verdictFail, "capabilities", "missing "+strings.Join(missing, ", "), "run as root or grant CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (docs/permissions.md)")
		return false
	}
	c.report(verdictOK, "capabilities", strings.Join(have, ", "), "")
	return true
}

// checkPrograms loads and attaches every program the enabled collectors
// need, as the exporter would, and detaches them.
func checkPrograms(c *checker, f *flags, root string) {
	scope, err := cgroups.ScopeID(root)
	if err != nil {
		c.report(verdictFail, "cgroup2", err.Error(), "")
		return
	}
	// Translation needs a cluster, which check-system does not start.
	tracer, err := bpf.Load(f.bpf, loadOptions(f, root, scope, false))
	if err != nil {
		c.report(verdictFail, "tables", err.Error(), "lower --bpf.*-table-entries, or grant what the error names")
		return
	}
	features := tracer.Features()
	if err := tracer.Close(); err != nil {
		c.report(verdictWarn, "detach", err.Error(), "")
	}
	for _, st := range features.Programs {
		name := "program " + st.Name
		switch {
		case st.Attached && st.Name == bpf.ProgFoldSockets:
			c.report(verdictOK, name, "loaded (run at each drain): established TCP sockets count in entries of their own", "")
		case st.Attached && st.Name == bpf.ProgExpireDNSQueries:
			c.report(verdictOK, name, "loaded (run at each drain): DNS queries without a response count as timeouts", "")
		case st.Attached:
			c.report(verdictOK, name, "attached", "")
		case st.Name == bpf.ProgFoldSockets:
			c.report(verdictWarn, name, st.Err.Error(), "every packet counts in the flows table, one update each: correct, only costlier")
		case st.Name == bpf.ProgExpireDNSQueries:
			c.report(verdictWarn, name, st.Err.Error(), "no DNS query is tracked: podflow_dns_* stay empty; the other collectors work (--no-collector.dns silences this)")
		case st.Name == bpf.ProgFlowsIngress || st.Name == bpf.ProgFlowsEgress:
			c.report(verdictFail, name, st.Err.Error(), "without it no byte is counted: see docs/permissions.md and the kernel requirements in docs/development.md")
		default:
			c.report(verdictWarn, name, st.Err.Error(), "its metrics stay empty; the other collectors work (disable the collector to silence this)")
		}
	}
	if features.Attached(bpf.ProgDrops) && !features.DropReceivingSocket {
		c.report(verdictWarn, "drops named by socket", "kfree_skb without its receiving socket (Linux before 6.11): dropped packets are named by address", "")
	}
}

// checkConntrack asks the node's connection tracking once, as translation
// would.
func checkConntrack(c *checker, f *flags) {
	t := translation.Open(f.translation, translation.Options{CacheEntries: 1, TTL: time.Second}, log.NewNopLogger())
	defer t.Close()
	if err := t.Err(); err != nil {
		c.report(verdictWarn, "conntrack", err.Error(), "connections to services are named by the service, not the backend: grant CAP_NET_ADMIN (and CAP_SYS_ADMIN for --collector.translation.netns), load nf_conntrack")
		return
	}
	probe := netip.MustParseAddrPort("127.0.0.1:1")
	t.Translate(6, probe, probe)
	if n := t.Stats().Lookups["error"]; n > 0 {
		c.report(verdictWarn, "conntrack", "the connection tracking table refused a lookup", "grant CAP_NET_ADMIN; connections to services are named by the service meanwhile")
		return
	}
	c.report(verdictOK, "conntrack", "answers (service translation available in Kubernetes mode)", "")
}

func checkKubernetes(c *checker, f *flags) {
	rc, err := f.kube.RESTConfig()
	switch {
	case errors.Is(err, kube.ErrNotConfigured):
		c.report(verdictOK, "kubernetes", "not configured (no --kube.config, not in a pod): host mode", "")
		return
	case err != nil:
		c.report(verdictFail, "kubernetes", err.Error(), "correct --kube.config")
		return
	}
	v, err := kube.ServerVersion(rc, 5*time.Second)
	if err != nil {
		c.report(verdictWarn, "kubernetes", fmt.Sprintf("%s: %v", rc.Host, err), "the exporter starts anyway and names flows once the API server answers; check the address, credentials and RBAC (docs/kubernetes.md)")
		return
	}
	node := f.kube.NodeName
	if node == "" {
		node, _ = os.Hostname()
	}
	c.report(verdictOK, "kubernetes", fmt.Sprintf("API server %s answers (%s); node %s", rc.Host, v, node), "")
}
