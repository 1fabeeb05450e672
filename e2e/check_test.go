// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/internal/kubetest"
)

// checkSystem runs `podflow_exporter check-system` (through wrap, e.g.
// setpriv, when given) and returns its verdict per check, its output and
// its exit code.
func checkSystem(t *testing.T, wrap []string, args ...string) (map[string]string, string, int) {
	t.Helper()
	argv := append(append(wrap, binary, "check-system"), args...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	verdicts := map[string]string{}
	// Each check is a line "VERDICT  NAME  DETAIL" in columns of 4 and 26.
	for _, line := range strings.Split(string(out), "\n") {
		if len(line) < 32 {
			continue
		}
		switch v := strings.TrimSpace(line[:4]); v {
		case "ok", "warn", "fail":
			verdicts[strings.TrimSpace(line[6:32])] = v
		}
	}
	return verdicts, string(out), code
}

// TestCheckSystem: on this node (root, Linux 6.18, cgroup v2) every check
// passes and every program attaches, then is detached again; without
// CAP_BPF the exporter could not count bytes, which check-system says with
// the fix and exit code 1; a bad flag is named; a configured cluster is
// reached, an unreachable one is a warning.
func TestCheckSystem(t *testing.T) {
	before := ids(bpftoolList(t, "prog"))
	verdicts, out, code := checkSystem(t, nil)
	want := []string{"kernel", "btf", "cgroup2", "capabilities", "memlock", "conntrack", "kubernetes"}
	for p := range allPrograms {
		want = append(want, "program "+p)
	}
	for _, name := range want {
		if verdicts[name] != "ok" {
			t.Errorf("%s: %q, want ok", name, verdicts[name])
		}
	}
	if code != 0 || len(verdicts) != len(want) {
		t.Errorf("exit %d with %d checks, want 0 and %d:\n%s", code, len(verdicts), len(want), out)
	}
	// The programs were attached to be checked, then detached.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []int
		for id := range ids(bpftoolList(t, "prog")) {
			if !before[id] {
				left = append(left, id)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("programs %v left in the kernel after check-system", left)
		}
		time.Sleep(100 * time.Millisecond)
	}

	verdicts, out, code = checkSystem(t, []string{"setpriv", "--bounding-set=-bpf,-sys_admin", "--inh-caps=-all"})
	if code != 1 || verdicts["capabilities"] != "fail" || !strings.Contains(out, "missing CAP_BPF") ||
		!strings.Contains(out, "fix: run as root or grant CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN") {
		t.Errorf("without CAP_BPF: exit %d, capabilities %q, want 1, fail and the fix:\n%s", code, verdicts["capabilities"], out)
	}

	_, out, code = checkSystem(t, nil, "--collector.drain-interval=1ms")
	if code != 1 || !strings.Contains(out, "--collector.drain-interval must be at least 100ms, got 1ms") {
		t.Errorf("bad flag: exit %d:\n%s", code, out)
	}

	c := cluster(t)
	verdicts, out, _ = checkSystem(t, nil, "--kube.config="+c.Kubeconfig(kubetest.AdminUser), "--no-collector.tcp", "--no-collector.latency", "--no-collector.drops", "--no-collector.flows",
		"--no-collector.dns", "--no-collector.http")
	if verdicts["kubernetes"] != "ok" || !strings.Contains(out, "API server "+c.URL()+" answers") {
		t.Errorf("with the cluster: kubernetes %q:\n%s", verdicts["kubernetes"], out)
	}
	unreachable := filepath.Join(t.TempDir(), "kubeconfig")
	config := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n" +
		"users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
	if err := os.WriteFile(unreachable, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	verdicts, out, code = checkSystem(t, nil, "--kube.config="+unreachable, "--no-collector.tcp", "--no-collector.latency", "--no-collector.drops",
		"--no-collector.dns", "--no-collector.http")
	if verdicts["kubernetes"] != "warn" || !strings.Contains(out, "https://127.0.0.1:1") || code != 0 {
		t.Errorf("unreachable API server: kubernetes %q, exit %d, want warn and 0:\n%s", verdicts["kubernetes"], code, out)
	}
}
