// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

// The chart against the real parts: the built exporter's flags and
// privileges, and the real kube-apiserver's validation and RBAC.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/podflow/podflow_exporter/internal/kubetest"
	"github.com/podflow/podflow_exporter/internal/testnet"
	"github.com/podflow/podflow_exporter/internal/testtools"
)

// helpFlags are the flag names the built exporter accepts, from --help;
// boolean ones also as no-<name>.
func helpFlags(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command(binary, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("podflow_exporter --help: %v\n%s", err, out)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--(\[no-\])?([a-z0-9][a-z0-9.-]*)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[2]] = true
		if m[1] != "" {
			flags["no-"+m[2]] = true
		}
	}
	if !flags["web.listen-address"] || !flags["no-collector.flows"] {
		t.Fatalf("could not read the flags from --help:\n%s", out)
	}
	return flags
}

// TestChartFlagsKnownToBinary: every flag each variant passes is one the
// exporter accepts.
func TestChartFlagsKnownToBinary(t *testing.T) {
	flags := helpFlags(t)
	for _, v := range chartVariants {
		t.Run(v.name, func(t *testing.T) {
			var ds appsv1.DaemonSet
			object(t, decodeManifests(t, v.render(t)), "DaemonSet", &ds)
			for _, arg := range ds.Spec.Template.Spec.Containers[0].Args {
				name, _, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
				if !strings.HasPrefix(arg, "--") || !flags[name] {
					t.Errorf("the chart passes %s, which podflow_exporter --help does not list", arg)
				}
			}
		})
	}
}

// kubectl runs kubectl against the test cluster as admin.
func kubectl(t *testing.T, c *kubetest.Cluster, args ...string) string {
	t.Helper()
	return mustRun(t, testtools.Path(t, "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig(kubetest.AdminUser)}, args...)...)
}

// TestDeployDryRunServer has the real kube-apiserver, with the
// prometheus-operator CRDs installed, validate every object of every variant
// and of the plain manifests (schemas, unknown fields, the CRDs' rules).
func TestDeployDryRunServer(t *testing.T) {
	c := cluster(t)
	crds, err := filepath.Glob("../.tools/crds/monitoring.coreos.com_*.yaml")
	if err != nil || len(crds) != 2 {
		t.Fatalf("prometheus-operator CRDs not found in .tools/crds (%v): run make tools", crds)
	}
	for _, crd := range crds {
		kubectl(t, c, "apply", "--server-side", "-f", crd)
	}
	kubectl(t, c, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com")
	kubectl(t, c, "apply", "-f", "../deploy/kubernetes/namespace.yaml")

	dryRun := func(t *testing.T, text string) (string, error) {
		path := filepath.Join(t.TempDir(), "objects.yaml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(testtools.Path(t, "kubectl"), "--kubeconfig", c.Kubeconfig(kubetest.AdminUser),
			"apply", "--dry-run=server", "-f", path).CombinedOutput()
		return string(out), err
	}
	accepted := func(t *testing.T, text string) {
		out, err := dryRun(t, text)
		if err != nil {
			t.Fatalf("the API server rejects the objects: %v\n%s", err, out)
		}
		for _, m := range decodeManifests(t, text) {
			if !strings.Contains(out, "/"+m.Name+" ") {
				t.Errorf("%s %s not in the dry run's answer:\n%s", m.Kind, m.Name, out)
			}
		}
	}
	for _, v := range chartVariants {
		t.Run(v.name, func(t *testing.T) { accepted(t, v.render(t)) })
	}
	t.Run("plain manifests", func(t *testing.T) { accepted(t, string(mustRead(t, manifests))) })
	// helm install's own server-side dry run, which also renders NOTES.txt.
	t.Run("helm install", func(t *testing.T) {
		for _, v := range chartVariants {
			out := mustRun(t, testtools.Path(t, "helm"), v.helmArgs("install", v.release, chartDir, "--namespace", "podflow",
				"--dry-run=server", "--kubeconfig", c.Kubeconfig(kubetest.AdminUser))...)
			if _, notes, _ := strings.Cut(out, "\nNOTES:\n"); !strings.Contains(notes, "pod-security.kubernetes.io/enforce=privileged") {
				t.Errorf("%s: no NOTES naming the namespace's Pod Security label:\n%s", v.name, out)
			}
		}
	})
	// The same server refuses what its schemas do not allow.
	t.Run("refused", func(t *testing.T) {
		text := chartVariants[0].render(t)
		for _, change := range [][3]string{ // pattern, replacement, what the refusal names
			{`(?m)^(\s+)readOnlyRootFilesystem: true$`, "${0}\n${1}readOnlyRootFS: true", "readOnlyRootFS"}, // unknown field
			{`(?m)^(\s+)for: \w+$`, "${1}for: ten minutes", "ten minutes"},                                  // PrometheusRule schema
			{`(?m)^(\s+)interval: 30s$`, "${0}\n${1}scrapeEvery: 30s", "scrapeEvery"},                       // ServiceMonitor schema
		} {
			re := regexp.MustCompile(change[0])
			loc := re.FindStringSubmatchIndex(text)
			if loc == nil {
				t.Fatalf("the default render has no %s", change[0])
			}
			bad := text[:loc[0]] + string(re.ExpandString(nil, change[1], text, loc)) + text[loc[1]:]
			if out, err := dryRun(t, bad); err == nil || !strings.Contains(out, change[2]) {
				t.Errorf("the API server did not refuse %s: %v\n%s", change[2], err, out)
			}
		}
	})
}

// TestDeployRunsLikeThePod installs the chart's service account and RBAC
// into the real API server and runs the exporter as the DaemonSet's pod
// would: its arguments and environment, that account's token, root with only
// the added capabilities and no_new_privs, the cgroup tree mounted read-only.
// Every program attaches, the cache syncs with no watch error, and the
// account can do nothing more than list and watch.
func TestDeployRunsLikeThePod(t *testing.T) {
	c := cluster(t)
	v := chartVariants[0]
	objs := decodeManifests(t, v.render(t))
	var rbac []string
	for _, m := range objs {
		if m.Kind == "ServiceAccount" || m.Kind == "ClusterRole" || m.Kind == "ClusterRoleBinding" {
			rbac = append(rbac, string(m.raw))
		}
	}
	path := filepath.Join(t.TempDir(), "rbac.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(rbac, "\n---\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl(t, c, "apply", "-f", "../deploy/kubernetes/namespace.yaml")
	kubectl(t, c, "apply", "-f", path)
	t.Cleanup(func() {
		_ = exec.Command(testtools.Path(t, "kubectl"), "--kubeconfig", c.Kubeconfig(kubetest.AdminUser), "delete", "-f", path).Run()
	})

	var ds appsv1.DaemonSet
	object(t, objs, "DaemonSet", &ds)
	account := "system:serviceaccount:podflow:" + ds.Spec.Template.Spec.ServiceAccountName
	for _, check := range []struct{ verb, resource, want string }{
		{"list", "pods", "yes"}, {"watch", "endpointslices.discovery.k8s.io", "yes"}, {"watch", "nodes", "yes"},
		{"get", "pods", "no"}, {"list", "secrets", "no"}, {"create", "pods", "no"},
	} {
		out, _ := exec.Command(testtools.Path(t, "kubectl"), "--kubeconfig", c.Kubeconfig(kubetest.AdminUser),
			"auth", "can-i", check.verb, check.resource, "--all-namespaces", "--as", account).Output()
		if got := strings.TrimSpace(string(out)); got != check.want {
			t.Errorf("can %s %s %s: %q, want %q", account, check.verb, check.resource, got, check.want)
		}
	}

	token := strings.TrimSpace(kubectl(t, c, "create", "token", ds.Spec.Template.Spec.ServiceAccountName, "-n", "podflow"))
	kubeconfig := filepath.Join(t.TempDir(), "sa.kubeconfig")
	admin := string(mustRead(t, c.Kubeconfig(kubetest.AdminUser)))
	if err := os.WriteFile(kubeconfig, []byte(strings.Replace(admin, c.Token(kubetest.AdminUser), token, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testnet.New(t)
	c0 := ds.Spec.Template.Spec.Containers[0]
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	// The test's own address and cgroup tree instead of the node's.
	args := []string{"--web.listen-address=" + addr, "--cgroup.root=" + env.Root.Path, "--kube.config=" + kubeconfig}
	for _, arg := range c0.Args {
		if !strings.HasPrefix(arg, "--web.listen-address=") && !strings.HasPrefix(arg, "--cgroup.root=") {
			args = append(args, arg)
		}
	}
	bounding := "-all"
	for _, c := range c0.SecurityContext.Capabilities.Add {
		bounding += ",+" + strings.ToLower(string(c))
	}
	procEnv := append(os.Environ(), "CGROUP="+env.Root.Path, "NODE_NAME=node-from-downward-api")
	for _, e := range c0.Env {
		if e.ValueFrom == nil {
			procEnv = append(procEnv, e.Name+"="+e.Value)
		}
	}
	script := `mount --bind "$CGROUP" "$CGROUP" && mount -o remount,bind,ro "$CGROUP" &&
exec setpriv --no-new-privs --bounding-set="$BOUNDING" --inh-caps=-all "$@"`
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh", binary}, args...)...)
	cmd.Env = append(procEnv, "BOUNDING="+bounding)
	e := launchExporter(t, cmd, "http://"+addr)
	waitServing(t, e)
	waitSynced(t, e)
	_, fams := e.scrape()
	for _, m := range fams["podflow_kube_watch_errors_total"].GetMetric() {
		if m.GetCounter().GetValue() != 0 {
			t.Errorf("watch errors with the chart's RBAC: %v\n%s", m, e.log)
		}
	}
	for _, m := range fams["podflow_bpf_program_attached"].GetMetric() {
		if m.GetGauge().GetValue() != 1 {
			t.Errorf("not attached with the pod's privileges: %v\n%s", m, e.log)
		}
	}
	// The Go runtime took the chart's GOMEMLIMIT.
	if limit := strconv.FormatFloat(value(t, fams, "go_gc_gomemlimit_bytes", nil), 'f', -1, 64); limit != chartVariants[0].goMemLimit {
		t.Errorf("go_gc_gomemlimit_bytes %s, want GOMEMLIMIT %s", limit, chartVariants[0].goMemLimit)
	}
	if !strings.Contains(e.log.String(), "node=node-from-downward-api") {
		t.Errorf("NODE_NAME not used as the node's name:\n%s", e.log)
	}
}
