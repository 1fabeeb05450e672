// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package kubetest runs a real Kubernetes control plane for tests — etcd and
// kube-apiserver on loopback, no controller-manager, no kubelet — and
// creates the objects those would: pods with their status, services,
// endpoint slices, nodes.
package kubetest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Users the API server knows, by bearer token. Admin is in system:masters;
// Limited has no RBAC binding at all.
const (
	AdminUser   = "admin"
	LimitedUser = "limited"
)

// Cluster is etcd and a kube-apiserver on loopback.
type Cluster struct {
	dir       string
	etcd      *exec.Cmd
	apiserver *exec.Cmd
	apiArgs   []string
	apiPort   int
	log       *os.File
	// Client is an admin client.
	Client kubernetes.Interface
}

// Start runs etcd and kube-apiserver and waits until the API server is
// ready (about 10 s). The kube-apiserver binary comes from $KUBE_APISERVER
// or the repository's .tools/bin (make tools builds it); etcd from $PATH.
func Start() (*Cluster, error) {
	apiserver, err := apiserverBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "podflow-kube-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	if c.log, err = os.Create(filepath.Join(dir, "control-plane.log")); err != nil {
		return nil, err
	}
	etcdPort, peerPort, apiPort, err := freePorts()
	if err != nil {
		return nil, err
	}
	c.apiPort = apiPort
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	c.etcd = exec.Command("etcd", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default="+peerURL)
	c.etcd.Stdout, c.etcd.Stderr = c.log, c.log
	if err := c.etcd.Start(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("start etcd (make deps installs etcd-server): %w", err)
	}
	if err := c.writeSecrets(); err != nil {
		c.Stop()
		return nil, err
	}
	c.apiArgs = []string{
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(apiPort),
		"--cert-dir", filepath.Join(dir, "certs"),
		"--token-auth-file", filepath.Join(dir, "tokens.csv"),
		"--authorization-mode", "RBAC",
		"--service-account-key-file", filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(dir, "sa.key"),
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-cluster-ip-range", "10.96.0.0/16",
		// No controller-manager creates service accounts here.
		"--disable-admission-plugins", "ServiceAccount",
	}
	c.apiserver = exec.Command(apiserver)
	if err := c.StartAPIServer(); err != nil {
		c.Stop()
		return nil, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig(AdminUser))
	if err != nil {
		c.Stop()
		return nil, err
	}
	cfg.QPS, cfg.Burst = 200, 400
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func apiserverBinary() (string, error) {
	if p := os.Getenv("KUBE_APISERVER"); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for ; dir != "/"; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ".tools", "bin", "kube-apiserver")
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("kube-apiserver not found at %s: run make tools (or set KUBE_APISERVER)", p)
			}
			return p, nil
		}
	}
	return "", errors.New("no go.mod above the working directory")
}

func freePorts() (a, b, c int, err error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, 0, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports[0], ports[1], ports[2], nil
}

// writeSecrets writes the token file and the service account key pair.
func (c *Cluster) writeSecrets() error {
	tokens := fmt.Sprintf("%s,%s,1,\"system:masters\"\n%s,%s,2\n", token(AdminUser), AdminUser, token(LimitedUser), LimitedUser)
	if err := os.WriteFile(filepath.Join(c.dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
}

func token(user string) string { return "podflow-test-token-" + user }

// Token is user's bearer token.
func (c *Cluster) Token(user string) string { return token(user) }

// ServingCert is the API server's self-signed serving certificate: the CA
// a client in the cluster trusts.
func (c *Cluster) ServingCert() string { return filepath.Join(c.dir, "certs", "apiserver.crt") }

// URL is the API server's address.
func (c *Cluster) URL() string { return fmt.Sprintf("https://127.0.0.1:%d", c.apiPort) }

// Kubeconfig writes (once) and returns a kubeconfig for user.
func (c *Cluster) Kubeconfig(user string) string {
	path := filepath.Join(c.dir, user+".kubeconfig")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: %s
  user:
    token: %s
contexts:
- name: test
  context: {cluster: test, user: %s}
current-context: test
`, c.URL(), user, token(user), user)
	_ = os.WriteFile(path, []byte(cfg), 0o600)
	return path
}

// StartAPIServer starts kube-apiserver (again) and waits until it is ready.
func (c *Cluster) StartAPIServer() error {
	c.apiserver = exec.Command(c.apiserver.Path, c.apiArgs...)
	c.apiserver.Stdout, c.apiserver.Stderr = c.log, c.log
	if err := c.apiserver.Start(); err != nil {
		return fmt.Errorf("start kube-apiserver: %w", err)
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, c.URL()+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token(AdminUser))
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver not ready after 90s; see %s", c.log.Name())
}

// StopAPIServer stops kube-apiserver (etcd keeps running).
func (c *Cluster) StopAPIServer() {
	if c.apiserver != nil && c.apiserver.Process != nil {
		_ = c.apiserver.Process.Kill()
		_ = c.apiserver.Wait()
	}
}

// Stop stops everything and removes the data.
func (c *Cluster) Stop() {
	c.StopAPIServer()
	if c.etcd != nil && c.etcd.Process != nil {
		_ = c.etcd.Process.Kill()
		_ = c.etcd.Wait()
	}
	if c.log != nil {
		c.log.Close()
	}
	os.RemoveAll(c.dir)
}

// LogTail returns the end of the control plane's log, for failure messages.
func (c *Cluster) LogTail() string {
	b, _ := os.ReadFile(c.log.Name())
	lines := strings.Split(string(b), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
