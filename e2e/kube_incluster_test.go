// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/podflow/podflow_exporter/internal/kubetest"
	"github.com/podflow/podflow_exporter/internal/testnet"
)

// TestKubeInCluster runs the exporter as it runs in a pod: no --kube.config,
// KUBERNETES_SERVICE_HOST/PORT set, the service account's token and CA at
// /var/run/secrets/kubernetes.io/serviceaccount (in a private mount
// namespace, so the host is untouched). It finds the cluster and syncs.
func TestKubeInCluster(t *testing.T) {
	c := cluster(t)
	env := testnet.New(t)
	secrets := t.TempDir()
	if err := os.WriteFile(filepath.Join(secrets, "token"), []byte(c.Token(kubetest.AdminUser)), 0o600); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(c.ServingCert())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secrets, "ca.crt"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(strings.TrimPrefix(c.URL(), "https://"), ":")
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	script := `mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/kubernetes.io/serviceaccount &&
cp "$SECRETS"/* /run/secrets/kubernetes.io/serviceaccount/ && exec "$@"`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
		binary, "--web.listen-address="+addr, "--cgroup.root="+env.Root.Path)
	cmd.Env = append(os.Environ(), "SECRETS="+secrets, "KUBERNETES_SERVICE_HOST="+host, "KUBERNETES_SERVICE_PORT="+port)
	e := launchExporter(t, cmd, "http://"+addr)
	waitServing(t, e)
	waitSynced(t, e)
	if !strings.Contains(e.log.String(), "Kubernetes mode") {
		t.Errorf("not in Kubernetes mode:\n%s", e.log)
	}
}
