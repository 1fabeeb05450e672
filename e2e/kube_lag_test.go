// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/podflow/podflow_exporter/internal/kubetest"
)

// stallingProxy forwards TCP connections to an address; while stalled, no
// byte moves either way: the exporter's watches lag behind the API server,
// as with an overloaded API server or network.
type stallingProxy struct {
	l       net.Listener
	target  string
	mu      sync.Mutex
	cond    *sync.Cond
	stalled bool
	conns   []net.Conn
}

func startStallingProxy(t *testing.T, target string) *stallingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallingProxy{l: l, target: target}
	p.cond = sync.NewCond(&p.mu)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *stallingProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies src to dst, holding what it read while the proxy is stalled.
func (p *stallingProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.stalled {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *stallingProxy) stall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = on
	p.cond.Broadcast()
}

func (p *stallingProxy) close() {
	p.stall(false)
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// kubeconfigVia writes a kubeconfig for the admin user that reaches the
// API server through addr.
func kubeconfigVia(t *testing.T, c *kubetest.Cluster, addr string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://%s", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: %s}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, addr, c.Token(kubetest.AdminUser))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestKubePodBeforeCache: a pod's cgroup has traffic before the pod is in
// the exporter's cache (its watch stalls). The increments are held back,
// not named unknown, and appear on the pod's series, exactly, once the
// cache has the pod.
func TestKubePodBeforeCache(t *testing.T) {
	const n, size = 25, 120
	kn := newKubeNode(t, "lag")
	db := kn.pod("db-0", "StatefulSet", "db", nil)
	proxy := startStallingProxy(t, strings.TrimPrefix(kn.c.URL(), "https://"))
	exp := startExporter(t, "--cgroup.root="+kn.env.Root.Path, "--kube.node-name="+kn.name,
		"--kube.config="+kubeconfigVia(t, kn.c, proxy.l.Addr().String()))
	waitSynced(t, exp)
	pods := cachedPods(t, exp)

	proxy.stall(true)
	late := kn.pod("late-0", "StatefulSet", "late", nil) // in the API, not in the exporter's cache
	udp(t, late, db, netip.AddrPortFrom(db.net.IP, 7000).String(), n, size)
	_, fams := exp.scrape()
	if got := cachedPods(t, exp); got != pods {
		t.Fatalf("the exporter's cache has %d pods while its watch stalls, want %d", got, pods)
	}
	for _, s := range unknownSeries(fams) {
		t.Errorf("before the cache has the pod, a series named unknown: %s", s)
	}
	if got := value(t, fams, "podflow_resolution_pending_flows", map[string]string{"collector": "flows"}); got < 1 {
		t.Errorf("podflow_resolution_pending_flows{collector=flows} = %v, want the late pod's flow held", got)
	}

	proxy.stall(false)
	waitCachedPods(t, exp, pods+1)
	text, fams := exp.scrape()
	lateSide := map[string]string{"local_namespace": kn.ns, "local_workload": "late", "local_kind": "StatefulSet", "remote_workload": "db", "role": "client", "port": "7000"}
	if got := value(t, fams, "podflow_flow_transmit_packets_total", lateSide); got != n {
		t.Errorf("the late pod: %v packets, want %d", got, n)
	}
	if got := value(t, fams, "podflow_flow_transmit_bytes_total", lateSide); got != n*(size+28) {
		t.Errorf("the late pod: %v bytes, want %d", got, n*(size+28))
	}
	for _, s := range unknownSeries(fams) {
		t.Errorf("once the cache has the pod, a series named unknown: %s", s)
	}
	if got := value(t, fams, "podflow_resolution_released_flows_total", map[string]string{"collector": "flows"}); got < 1 {
		t.Errorf("podflow_resolution_released_flows_total{collector=flows} = %v, want the late pod's flow", got)
	}
	promtoolCheck(t, text)
}
