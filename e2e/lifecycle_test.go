// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bpfObjects are the ids of eBPF programs, maps and links.
type bpfObjects struct{ progs, maps, links map[int]bool }

// heldBy lists the eBPF objects process pid holds file descriptors of
// (bpftool here cannot name owning processes; /proc/pid/fdinfo can).
func heldBy(t *testing.T, pid int) bpfObjects {
	t.Helper()
	o := bpfObjects{map[int]bool{}, map[int]bool{}, map[int]bool{}}
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "fdinfo", fd.Name()))
		if err != nil {
			continue
		}
		s := bufio.NewScanner(f)
		for s.Scan() {
			k, v, ok := strings.Cut(s.Text(), ":")
			if !ok {
				continue
			}
			id, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				continue
			}
			switch k {
			case "link_id":
				o.links[id] = true
			case "prog_id":
				// A link's fdinfo names its program too; count
				// programs only from program fds.
				if !strings.HasPrefix(fdTarget(pid, fd.Name()), "anon_inode:bpf_link") {
					o.progs[id] = true
				}
			case "map_id":
				o.maps[id] = true
			}
		}
		f.Close()
	}
	return o
}

func fdTarget(pid int, fd string) string {
	s, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", fd))
	return s
}

// bpftoolList returns what bpftool lists of kind (prog, map, link).
func bpftoolList(t *testing.T, kind string) []map[string]any {
	t.Helper()
	out, err := exec.Command("bpftool", kind, "show", "--json").Output()
	if err != nil {
		t.Fatalf("bpftool %s show: %v (make test installs bpftool)", kind, err)
	}
	var list []map[string]any
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("bpftool %s show: %v", kind, err)
	}
	return list
}

func ids(list []map[string]any) map[int]bool {
	m := map[int]bool{}
	for _, o := range list {
		m[int(o["id"].(float64))] = true
	}
	return m
}

// TestSIGTERMLeavesNothingAttached runs the exporter as a user would (cgroup
// root found from the mounts), checks with bpftool that its programs are
// attached by links, sends SIGTERM, and expects exit 0 with none of its
// programs, links or maps left in the kernel.
func TestSIGTERMLeavesNothingAttached(t *testing.T) {
	before := map[string]map[int]bool{"prog": ids(bpftoolList(t, "prog")), "link": ids(bpftoolList(t, "link")), "map": ids(bpftoolList(t, "map"))}
	exp := startExporter(t)
	held := heldBy(t, exp.cmd.Process.Pid)

	// While it runs: bpftool shows its programs, each behind a link but
	// fold_sockets and expire_dns_queries.
	names := map[string]int{}
	for _, p := range bpftoolList(t, "prog") {
		if id := int(p["id"].(float64)); held.progs[id] {
			names[p["name"].(string)] = id
			if before["prog"][id] {
				t.Errorf("program %d existed before the exporter started", id)
			}
		}
	}
	for want := range allPrograms {
		if _, ok := names[want]; !ok {
			t.Errorf("bpftool shows no program %s held by the exporter (it holds %v)", want, names)
		}
	}
	linked := 0
	for _, l := range bpftoolList(t, "link") {
		if held.links[int(l["id"].(float64))] && held.progs[int(l["prog_id"].(float64))] {
			linked++
		}
	}
	// All but fold_sockets and expire_dns_queries, which the exporter runs
	// at each drain, never attaches.
	if want := len(allPrograms) - 2; linked != want {
		t.Errorf("%d of the exporter's programs are attached by its links, want %d", linked, want)
	}

	if code := exp.stop(); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0\n%s", code, exp.log)
	}
	if !strings.Contains(exp.log.String(), "detached every eBPF program") {
		t.Errorf("no detach message in the log:\n%s", exp.log)
	}
	// The kernel frees objects when their last reference goes, which can
	// lag the process's exit by a moment.
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := map[string][]int{}
		for kind, mine := range map[string]map[int]bool{"prog": held.progs, "link": held.links, "map": held.maps} {
			for id := range ids(bpftoolList(t, kind)) {
				if mine[id] {
					left[kind] = append(left[kind], id)
				}
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after exit, bpftool still lists the exporter's %v", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// run runs the binary to completion (it must exit by itself) and returns
// its exit code and output.
func run(t *testing.T, cmd *exec.Cmd) (int, string) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		t.Fatalf("%s: %v", cmd, err)
	}
	return 0, string(out)
}

// TestBadInput expects each bad flag, file or environment to end the
// exporter with exit code 1, one error naming what is wrong, no panic, and
// nothing attached; for bad flags, strace shows that not one eBPF map,
// program, link or BTF object was created.
func TestBadInput(t *testing.T) {
	inUse, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inUse.Close()
	garbled := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(garbled, []byte("tls_server_config: [unclosed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	garbledKube := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(garbledKube, []byte("apiVersion: v1\nclusters: {this is: [not a kubeconfig\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cmd  func(ctx context.Context, args ...string) *exec.Cmd
		args []string
		want string
	}{
		{name: "unknown flag", args: []string{"--no-such-flag"}, want: "unknown long flag '--no-such-flag'"},
		{name: "series budget zero", args: []string{"--collector.max-series-per-family=0"}, want: "--collector.max-series-per-family must be at least 1"},
		{name: "series budget zero, deprecated name", args: []string{"--collector.flows.max-series=0"}, want: "--collector.flows.max-series must be at least 1, got 0"},
		{name: "series budget under both names", args: []string{"--collector.flows.max-series=7", "--collector.max-series-per-family=9"}, want: "give only --collector.max-series-per-family"},
		{name: "drain interval too short", args: []string{"--collector.drain-interval=1ms"}, want: "--collector.drain-interval must be at least 100ms, got 1ms"},
		{name: "idle TTL not a duration", args: []string{"--collector.flows.idle-ttl=soon"}, want: "collector.flows.idle-ttl"},
		{name: "empty flow table", args: []string{"--bpf.flow-table-entries=0"}, want: "--bpf.flow-table-entries must be at least 1"},
		{name: "empty DNS table", args: []string{"--bpf.dns-table-entries=0"}, want: "--bpf.dns-table-entries must be at least 1"},
		{name: "no DNS timeout", args: []string{"--bpf.dns-timeout=0s"}, want: "--bpf.dns-timeout=0s: must be positive"},
		{name: "too many DNS ports", args: []string{"--bpf.dns-ports=53", "--bpf.dns-ports=54", "--bpf.dns-ports=55", "--bpf.dns-ports=56", "--bpf.dns-ports=57"}, want: "--bpf.dns-ports: 5 ports given, at most 4"},
		{name: "unknown log level", args: []string{"--log.level=verbose"}, want: "log.level"},
		{name: "unknown host naming", args: []string{"--host.remote=dns"}, want: "host.remote"},
		{name: "missing web config", args: []string{"--web.config.file=/nonexistent/web.yml"}, want: "--web.config.file /nonexistent/web.yml"},
		{name: "garbled web config", args: []string{"--web.config.file=" + garbled}, want: "--web.config.file " + garbled},
		{name: "cgroup root not cgroup2", args: []string{"--cgroup.root=/tmp"}, want: "--cgroup.root: /tmp is not a cgroup v2 filesystem"},
		{name: "missing kubeconfig", args: []string{"--kube.config=/nonexistent/kubeconfig"}, want: "--kube.config: stat /nonexistent/kubeconfig: no such file or directory"},
		{name: "garbled kubeconfig", args: []string{"--kube.config=" + garbledKube}, want: "--kube.config " + garbledKube},
		{name: "unknown aggregation", args: []string{"--kube.aggregation=cluster"}, want: "--kube.aggregation=cluster: enum value must be one of namespace,workload,pod"},
		{name: "malformed network CIDR", args: []string{"--kube.network=office=10.8.0.0/33"}, want: "prefix length out of range"},
		{name: "network without a name", args: []string{"--kube.network=10.8.0.0/16"}, want: "want NAME=CIDR"},
		{name: "invalid pod label key", args: []string{"--kube.pod-labels=app,bad key"}, want: "is not a Kubernetes label key"},
		{name: "empty telemetry path", args: []string{"--web.telemetry-path="}, want: "--web.telemetry-path is empty: it must be a path such as /metrics"},
		{name: "relative telemetry path", args: []string{"--web.telemetry-path=metrics"}, want: "--web.telemetry-path=metrics: must start with /"},
		{name: "telemetry path with a wildcard", args: []string{"--web.telemetry-path=/metrics/{x}"}, want: "--web.telemetry-path=/metrics/{x}: must not contain braces"},
		{name: "listen address without port", args: []string{"--web.listen-address=bogus"}, want: "--web.listen-address=bogus: listen tcp: address bogus: missing port in address"},
		{name: "port in use", args: []string{"--web.listen-address=" + inUse.Addr().String()}, want: "--web.listen-address=" + inUse.Addr().String() + ": listen tcp " + inUse.Addr().String() + ": bind: address already in use"},
		{name: "vsock address without a port number", args: []string{"--web.listen-address=vsock://:metrics"}, want: "--web.listen-address=vsock://:metrics: parse "},
		{name: "systemd socket without systemd", args: []string{"--web.systemd-socket"}, want: "--web.systemd-socket: systemd passed no listening socket"},
		{name: "negative max requests", args: []string{"--web.max-requests=-1"}, want: "--web.max-requests=-1: must be 0 (no limit) or more"},
		{name: "flow table beyond the kernel's limit", args: []string{"--bpf.flow-table-entries=2147483648"}, want: "--bpf.flow-table-entries=2147483648: more than the 134217728 entries the kernel allows a hash table"},
		// 2^27 flows take two tables of 120 bytes per entry plus 32 per
		// entry and CPU: 46 GiB on 2 CPUs, 542 GiB on 64.
		{name: "flow table beyond the node's memory", args: []string{"--bpf.flow-table-entries=134217728"}, want: "--bpf.flow-table-entries=134217728: the eBPF tables would take"},
		{name: "missing translation netns in host mode", args: []string{"--collector.translation.netns=/nonexistent/netns"}, want: "--collector.translation.netns=/nonexistent/netns: open /nonexistent/netns: no such file or directory"},
		{
			name: "no cgroup v2 mounted",
			cmd: func(ctx context.Context, args ...string) *exec.Cmd {
				// A private mount namespace without the cgroup2 mount.
				script := `for m in $(awk '$3 == "cgroup2" {print $2}' /proc/self/mounts); do umount "$m"; done; exec "$0" "$@"`
				return exec.CommandContext(ctx, "unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, binary}, args...)...)
			},
			want: "no cgroup v2 filesystem is mounted",
		},
		{
			name: "not root",
			cmd: func(ctx context.Context, args ...string) *exec.Cmd {
				c := exec.CommandContext(ctx, binary, args...)
				c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
				return c
			},
			want: "missing capability CAP_BPF",
		},
		{
			name: "root without CAP_BPF",
			cmd: func(ctx context.Context, args ...string) *exec.Cmd {
				return exec.CommandContext(ctx, "setpriv", append([]string{"--bounding-set=-bpf,-sys_admin", "--inh-caps=-all", binary}, args...)...)
			},
			want: "missing capability CAP_BPF",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			args := append([]string{"--web.listen-address=127.0.0.1:0"}, tc.args...)
			trace := filepath.Join(t.TempDir(), "strace")
			cmd := exec.CommandContext(ctx, "strace", append([]string{"-f", "-qq", "-e", "trace=bpf", "-o", trace, binary}, args...)...)
			if tc.cmd != nil {
				cmd, trace = tc.cmd(ctx, args...), ""
			}
			// An exporter that accepts the input runs until the deadline:
			// then end it with its wrappers (strace, setpriv, unshare).
			if cmd.SysProcAttr == nil {
				cmd.SysProcAttr = &syscall.SysProcAttr{}
			}
			cmd.SysProcAttr.Setpgid = true
			cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
			cmd.WaitDelay = 5 * time.Second
			code, out := run(t, cmd)
			if code != 1 {
				t.Errorf("exit code %d, want 1\n%s", code, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
			for _, bad := range []string{"panic", "goroutine ", "attached eBPF program"} {
				if strings.Contains(out, bad) {
					t.Errorf("output contains %q:\n%s", bad, out)
				}
			}
			errLines := 0
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, "level=error") || strings.HasPrefix(line, "podflow_exporter: ") {
					errLines++
				}
			}
			if errLines != 1 {
				t.Errorf("%d error lines, want 1:\n%s", errLines, out)
			}
			if trace != "" {
				if created := bpfObjectsCreated(t, trace); len(created) > 0 {
					t.Errorf("eBPF objects created before the error:\n%s", strings.Join(created, "\n"))
				}
			}
		})
	}
}

// bpfObjectsCreated returns the bpf() calls of an strace log that create a
// program, link, BTF object or named map. cilium/ebpf's rlimit package
// probes, when the process starts, with an unnamed one-entry array it
// closes at once; the exporter names every map it creates.
func bpfObjectsCreated(t *testing.T, trace string) []string {
	t.Helper()
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatalf("strace (make deps installs it): %v", err)
	}
	var created []string
	for _, line := range strings.Split(string(b), "\n") {
		for _, cmd := range []string{"BPF_PROG_LOAD", "BPF_LINK_CREATE", "BPF_PROG_ATTACH", "BPF_BTF_LOAD"} {
			if strings.Contains(line, "bpf("+cmd) {
				created = append(created, line)
			}
		}
		if strings.Contains(line, "bpf(BPF_MAP_CREATE") && !strings.Contains(line, `map_name=""`) {
			created = append(created, line)
		}
	}
	return created
}

// allPrograms are the programs the exporter attaches with its default
// collectors: the cgroup_skb pair needs CAP_NET_ADMIN and CAP_PERFMON, the
// tp_btf ones and fold_sockets and expire_dns_queries (only run)
// CAP_PERFMON.
var allPrograms = map[string]float64{
	"flows_ingress": 1, "flows_egress": 1, "tcp_state": 1, "tcp_rtt": 1,
	"tcp_retransmit": 1, "tcp_reset_sent": 1, "tcp_reset_received": 1, "icmp_sent": 1, "skb_drop": 1,
	"fold_sockets": 1, "expire_dns_queries": 1,
}

// TestLeastPrivilege runs the exporter limited to the capabilities the
// docs/permissions.md documents: CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN attach everything,
// as root or as an unprivileged user holding them (the systemd unit's way);
// without CAP_NET_ADMIN the cgroup programs are refused while the rest keeps
// working; without CAP_PERFMON every program is refused (the cgroup ones
// too: the verifier allows their packet pointer arithmetic only with it).
// The log names the missing capability, not the verifier's words or
// cilium/ebpf's RLIMIT_MEMLOCK hint.
func TestLeastPrivilege(t *testing.T) {
	all := allPrograms
	tracingOnly := maps.Clone(allPrograms)
	tracingOnly["flows_ingress"], tracingOnly["flows_egress"] = 0, 0
	none := maps.Clone(allPrograms)
	for p := range none {
		none[p] = 0
	}
	for _, tc := range []struct {
		name     string
		setpriv  []string
		attached map[string]float64
		logs     string
	}{
		{"root with CAP_BPF CAP_PERFMON CAP_NET_ADMIN", []string{"--bounding-set=-all,+bpf,+perfmon,+net_admin", "--inh-caps=-all"}, all, ""},
		{"nobody with ambient CAP_BPF CAP_PERFMON CAP_NET_ADMIN", []string{"--reuid=65534", "--regid=65534", "--clear-groups",
			"--inh-caps=-all,+bpf,+perfmon,+net_admin", "--ambient-caps=-all,+bpf,+perfmon,+net_admin"}, all, ""},
		{"root without CAP_NET_ADMIN", []string{"--bounding-set=-all,+bpf,+perfmon", "--inh-caps=-all"},
			tracingOnly,
			`program=flows_ingress err="missing capability CAP_NET_ADMIN`},
		{"root without CAP_PERFMON", []string{"--bounding-set=-all,+bpf,+net_admin", "--inh-caps=-all"},
			none,
			`program=flows_ingress err="missing capability CAP_PERFMON`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
			cmd := exec.Command("setpriv", append(tc.setpriv, binary, "--web.listen-address="+addr)...)
			e := launchExporter(t, cmd, "http://"+addr)
			waitServing(t, e)
			_, fams := e.scrape()
			for prog, want := range tc.attached {
				if got := value(t, fams, "podflow_bpf_program_attached", map[string]string{"program": prog}); got != want {
					t.Errorf("podflow_bpf_program_attached{program=%q} = %v, want %v", prog, got, want)
				}
			}
			if !strings.Contains(e.log.String(), tc.logs) {
				t.Errorf("log lacks %q:\n%s", tc.logs, e.log)
			}
			for _, misleading := range []string{"prohibited for !root", "MEMLOCK"} {
				if strings.Contains(e.log.String(), misleading) {
					t.Errorf("log says %q:\n%s", misleading, e.log)
				}
			}
			if code := e.stop(); code != 0 {
				t.Errorf("exit code %d after SIGTERM", code)
			}
		})
	}
}
