// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"strings"
	"testing"

	"github.com/podflow/podflow_exporter/bpf"
)

// withoutBPF runs a command with every bpf() call answered ENOSYS, as by a
// kernel without CONFIG_BPF_SYSCALL: strace's fault injection (ptrace, no
// seccomp filter, no emulator).
var withoutBPF = []string{"strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=bpf", "-e", "inject=bpf:error=ENOSYS"}

// TestNoBPFSyscall: on a kernel whose bpf() answers ENOSYS, serve stops
// before anything is loaded with the one line that names the cause and what
// to do, and check-system fails its kernel check with them, checking
// neither memlock nor the programs.
func TestNoBPFSyscall(t *testing.T) {
	code, out := runExit(t, append(withoutBPF, binary, "--web.listen-address=127.0.0.1:0")...)
	checkNoSyscallStop(t, "serve without bpf()", code, out)

	code, out = runExit(t, append(withoutBPF, binary, "check-system")...)
	checkVerdicts(t, "check-system without bpf()", code, out, map[string]string{
		"kernel": "fail", "btf": "ok", "cgroup2": "ok", "capabilities": "ok",
		"memlock": "warn", "conntrack": "ok", "kubernetes": "ok",
	})
}

// checkNoSyscallStop: serve exited 1 with one error line, which names the
// missing bpf() and what to do, and says nothing of what comes after it.
func checkNoSyscallStop(t *testing.T, what string, code int, out string) {
	t.Helper()
	want := `msg="podflow_exporter stopped" err="` + bpf.ErrNoSyscall.Error() + `"`
	lines := errorLines(out)
	if code != 1 || len(lines) != 1 || !strings.HasSuffix(lines[0], want) {
		t.Errorf("%s: exit %d, want 1 and the one error line\n...%s\n%s", what, code, want, out)
	}
	if strings.Contains(out, "token") || strings.Contains(out, "MEMLOCK") {
		t.Errorf("%s says more than the cause:\n%s", what, out)
	}
}
