// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/bpf"
)

// crossBuilds are the static exporters built for other targets, once per
// GOARCH (or for a package other than the exporter's), shared by the tests.
var crossBuilds struct {
	sync.Mutex
	paths map[string]string
}

// crossBuild builds pkg for linux/goarch as the release does (no cgo,
// stripped, -trimpath -tags netgo as .promu.yml) into the directory of
// binary and returns its path. The same flags as make crossbuild, which
// make test runs first, let it reuse that build's compiled packages: on a
// cold machine a build of its own would cost minutes per architecture.
func crossBuild(t *testing.T, goarch, pkg string) string {
	t.Helper()
	crossBuilds.Lock()
	defer crossBuilds.Unlock()
	key := goarch + " " + pkg
	if p, ok := crossBuilds.paths[key]; ok {
		return p
	}
	out := filepath.Join(filepath.Dir(binary), filepath.Base(pkg)+"."+goarch)
	start := time.Now()
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "netgo", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOARCH=%s go build %s: %v\n%s", goarch, pkg, err, b)
	}
	t.Logf("built %s for %s in %s", pkg, goarch, time.Since(start).Round(time.Millisecond))
	if crossBuilds.paths == nil {
		crossBuilds.paths = map[string]string{}
	}
	crossBuilds.paths[key] = out
	return out
}

// qemuUser returns Debian's qemu-aarch64 user-mode emulator; make deps
// installs qemu-user-static. Missing, it fails the test: never skipped.
func qemuUser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"qemu-aarch64-static", "qemu-aarch64"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("qemu-aarch64-static not found: make deps installs qemu-user-static")
	return ""
}

// runExit runs argv and returns its exit code and combined output.
func runExit(t *testing.T, argv ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	case err != nil:
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return 0, string(out)
}

var (
	logTimestamp = regexp.MustCompile(` ts=\S+`)
	memAvailable = regexp.MustCompile(`[0-9.]+ [KMG]iB \(MemAvailable`)
)

// errorLines are the lines of an exporter's output that report an error,
// without their timestamps and the node's available memory, which change
// from run to run: what must be the same on every architecture.
func errorLines(out string) []string {
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "level=error") || strings.HasPrefix(line, "podflow_exporter: ") {
			line = logTimestamp.ReplaceAllString(line, "")
			lines = append(lines, memAvailable.ReplaceAllString(line, "N GiB (MemAvailable"))
		}
	}
	return lines
}

// parseVerdicts reads check-system's lines "VERDICT  NAME  DETAIL" (columns
// of 4 and 26) into a verdict per check.
func parseVerdicts(out string) map[string]string {
	verdicts := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if len(line) < 32 {
			continue
		}
		switch v := strings.TrimSpace(line[:4]); v {
		case "ok", "warn", "fail":
			verdicts[strings.TrimSpace(line[6:32])] = v
		}
	}
	return verdicts
}

// TestArm64UnderQEMUUser runs the linux/arm64 exporter, built as the
// release builds it, under Debian's qemu-user: --version and --help, every
// bad flag of TestBadInput that is refused before the kernel is asked
// (same exit code and error line as the amd64 binary), and, since qemu-user
// answers bpf() with ENOSYS, serve and check-system stopping with the one
// line that names the cause.
func TestArm64UnderQEMUUser(t *testing.T) {
	qemu := qemuUser(t)
	arm64 := crossBuild(t, "arm64", "github.com/podflow/podflow_exporter")

	t.Run("version", func(t *testing.T) {
		code, out := runExit(t, qemu, arm64, "--version")
		if code != 0 || !strings.HasPrefix(out, "podflow_exporter, version ") || !strings.Contains(out, "platform:         linux/arm64\n") {
			t.Errorf("--version: exit %d, want 0, podflow_exporter's version and platform linux/arm64:\n%s", code, out)
		}
	})

	t.Run("help", func(t *testing.T) {
		code, out := runExit(t, qemu, arm64, "--help")
		wantCode, want := runExit(t, binary, "--help")
		if code != 0 || wantCode != 0 || !strings.HasPrefix(out, "usage: podflow_exporter [<flags>] <command> [<args> ...]") {
			t.Errorf("--help: exit %d (amd64 %d), want 0:\n%s", code, wantCode, out)
		}
		if out != want {
			t.Errorf("arm64 --help differs from amd64's:\n%s\nwant\n%s", out, want)
		}
	})

	// The kubeconfig and --cgroup.root are read after bpf() is found
	// missing: those cases are not here.
	t.Run("bad flags", func(t *testing.T) {
		inUse, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer inUse.Close()
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--no-such-flag"}, "unknown long flag '--no-such-flag'"},
			{[]string{"--collector.max-series-per-family=0"}, "--collector.max-series-per-family must be at least 1"},
			{[]string{"--collector.flows.max-series=0"}, "--collector.flows.max-series must be at least 1, got 0"},
			{[]string{"--collector.flows.max-series=7", "--collector.max-series-per-family=9"}, "give only --collector.max-series-per-family"},
			{[]string{"--collector.drain-interval=1ms"}, "--collector.drain-interval must be at least 100ms, got 1ms"},
			{[]string{"--collector.flows.idle-ttl=soon"}, "collector.flows.idle-ttl"},
			{[]string{"--bpf.flow-table-entries=0"}, "--bpf.flow-table-entries must be at least 1"},
			{[]string{"--log.level=verbose"}, "log.level"},
			{[]string{"--host.remote=dns"}, "host.remote"},
			{[]string{"--web.config.file=/nonexistent/web.yml"}, "--web.config.file /nonexistent/web.yml"},
			{[]string{"--kube.aggregation=cluster"}, "--kube.aggregation=cluster: enum value must be one of namespace,workload,pod"},
			{[]string{"--kube.network=office=10.8.0.0/33"}, "prefix length out of range"},
			{[]string{"--kube.network=10.8.0.0/16"}, "want NAME=CIDR"},
			{[]string{"--kube.pod-labels=app,bad key"}, "is not a Kubernetes label key"},
			{[]string{"--web.telemetry-path="}, "--web.telemetry-path is empty: it must be a path such as /metrics"},
			{[]string{"--web.telemetry-path=metrics"}, "--web.telemetry-path=metrics: must start with /"},
			{[]string{"--web.telemetry-path=/metrics/{x}"}, "--web.telemetry-path=/metrics/{x}: must not contain braces"},
			{[]string{"--web.listen-address=bogus"}, "--web.listen-address=bogus: listen tcp: address bogus: missing port in address"},
			{[]string{"--web.listen-address=" + inUse.Addr().String()}, "--web.listen-address=" + inUse.Addr().String() + ": listen tcp " + inUse.Addr().String() + ": bind: address already in use"},
			{[]string{"--web.systemd-socket"}, "--web.systemd-socket: systemd passed no listening socket"},
			{[]string{"--web.max-requests=-1"}, "--web.max-requests=-1: must be 0 (no limit) or more"},
			{[]string{"--bpf.flow-table-entries=2147483648"}, "--bpf.flow-table-entries=2147483648: more than the 134217728 entries the kernel allows a hash table"},
			{[]string{"--bpf.flow-table-entries=134217728"}, "--bpf.flow-table-entries=134217728: the eBPF tables would take"},
			{[]string{"--collector.translation.netns=/nonexistent/netns"}, "--collector.translation.netns=/nonexistent/netns: open /nonexistent/netns: no such file or directory"},
		} {
			args := append([]string{"--web.listen-address=127.0.0.1:0"}, tc.args...)
			code, out := runExit(t, append([]string{qemu, arm64}, args...)...)
			wantCode, wantOut := runExit(t, append([]string{binary}, args...)...)
			got, want := errorLines(out), errorLines(wantOut)
			if code != 1 || wantCode != 1 || len(got) != 1 || !strings.Contains(got[0], tc.want) {
				t.Errorf("%v: exit %d (amd64 %d), want 1 and one error line with %q:\n%s", tc.args, code, wantCode, tc.want, out)
			} else if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%v: arm64 says\n%s\namd64 says\n%s", tc.args, got, want)
			}
		}
	})

	t.Run("serve stops: no bpf()", func(t *testing.T) {
		code, out := runExit(t, qemu, arm64, "--web.listen-address=127.0.0.1:0")
		checkNoSyscallStop(t, "serve under qemu-user", code, out)
	})

	t.Run("check-system", func(t *testing.T) {
		code, out := runExit(t, qemu, arm64, "check-system")
		want := map[string]string{
			"kernel": "fail", "btf": "ok", "cgroup2": "ok", "capabilities": "ok",
			"memlock": "warn", "kubernetes": "ok",
			// qemu-user has no NETLINK_NETFILTER sockets.
			"conntrack": "warn",
		}
		checkVerdicts(t, "check-system under qemu-user", code, out, want)
	})
}

// checkVerdicts expects check-system to have exited 1 with exactly the
// verdicts want, the kernel line naming the missing bpf() and its fix.
func checkVerdicts(t *testing.T, what string, code int, out string, want map[string]string) {
	t.Helper()
	got := parseVerdicts(out)
	if code != 1 || len(got) != len(want) {
		t.Errorf("%s: exit %d with %d checks, want 1 and %d:\n%s", what, code, len(got), len(want), out)
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s: %s %q, want %q:\n%s", what, name, got[name], v, out)
		}
	}
	if !strings.Contains(out, ": "+bpf.NoSyscallCause+"\n") || !strings.Contains(out, "fix: "+bpf.NoSyscallFix+"\n") {
		t.Errorf("%s: the kernel line lacks the cause and fix:\n%s", what, out)
	}
	if strings.Contains(out, "token") {
		t.Errorf("%s: cilium/ebpf's error leaks through:\n%s", what, out)
	}
}
