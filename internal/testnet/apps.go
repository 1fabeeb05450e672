// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package testnet

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Traffic of the application protocols a connection is classified by:
// HTTP over TLS and HTTP/2 with prior knowledge (helpers), and Debian's
// redis and PostgreSQL servers and clients (functions).
func init() {
	helpers["tls-serve"] = tlsServe
	helpers["tls-get"] = tlsGet
	helpers["h2c-serve"] = h2cServe
	helpers["h2c-get"] = h2cGet
}

// tlsServe ADDR: HTTP/1.1 over TLS (a self-signed ECDSA certificate made
// at start; ALPN offers only "http/1.1") with mixHandler on ADDR until
// SIGTERM; result: an HTTPServeResult as JSON.
func tlsServe(args []string) (string, error) {
	if len(args) != 1 {
		return "", errors.New("usage: tls-serve ADDR")
	}
	cert, err := selfSigned()
	if err != nil {
		return "", err
	}
	l, err := net.Listen("tcp", args[0])
	if err != nil {
		return "", err
	}
	var mu sync.Mutex
	res := &HTTPServeResult{Counts: HTTPCounts{}}
	srv := &http.Server{
		Handler:   mixHandler(&mu, res),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}},
	}
	return serveUntilTerm(srv, l, &mu, res)
}

// tlsGet URL N: GET URL (https://…) N times over one keep-alive TLS
// connection (the certificate is not verified); result: an HTTPResult as
// JSON.
func tlsGet(args []string) (string, error) {
	if len(args) != 2 {
		return "", errors.New("usage: tls-get URL N")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP1(true)
	return getN(tr, args[0], args[1])
}

// h2cServe ADDR: HTTP/2 without TLS, prior knowledge only (net/http's
// UnencryptedHTTP2), with mixHandler on ADDR until SIGTERM; result: an
// HTTPServeResult as JSON.
func h2cServe(args []string) (string, error) {
	if len(args) != 1 {
		return "", errors.New("usage: h2c-serve ADDR")
	}
	l, err := net.Listen("tcp", args[0])
	if err != nil {
		return "", err
	}
	var mu sync.Mutex
	res := &HTTPServeResult{Counts: HTTPCounts{}}
	srv := &http.Server{Handler: mixHandler(&mu, res), Protocols: new(http.Protocols)}
	srv.Protocols.SetUnencryptedHTTP2(true)
	return serveUntilTerm(srv, l, &mu, res)
}

// h2cGet URL N: GET URL (http://…) N times, one after another, as streams
// of one HTTP/2 connection with prior knowledge: the connection's first
// bytes are the preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"; result: an
// HTTPResult as JSON.
func h2cGet(args []string) (string, error) {
	if len(args) != 2 {
		return "", errors.New("usage: h2c-get URL N")
	}
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return getN(tr, args[0], args[1])
}

// getN GETs rawURL n times, sequentially, through tr, limited to one
// connection, and counts the connections tr dials.
func getN(tr *http.Transport, rawURL, n string) (string, error) {
	count, err := strconv.Atoi(n)
	if err != nil {
		return "", fmt.Errorf("N: %w", err)
	}
	res := HTTPResult{Counts: HTTPCounts{}}
	var dialer net.Dialer
	tr.MaxConnsPerHost = 1
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		res.Conns++
		return dialer.DialContext(ctx, network, addr)
	}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ready()
	for range count {
		start := time.Now()
		resp, err := client.Get(rawURL)
		if err != nil {
			return "", err
		}
		x := HTTPExchange{Method: http.MethodGet, Path: resp.Request.URL.RequestURI(), Status: strconv.Itoa(resp.StatusCode),
			Micros: time.Since(start).Microseconds(), Conn: res.Conns - 1}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return "", err
		}
		res.Proto = resp.Proto
		res.Counts.add(x.Method, x.Status)
		res.Requests = append(res.Requests, x)
	}
	tr.CloseIdleConnections()
	out, err := json.Marshal(res)
	return string(out), err
}

// selfSigned makes a certificate for tls-serve.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "podflow-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// StartRedis runs Debian's redis-server (package redis-server) in ns and
// cg (nil: the caller's cgroup) listening on addr only, without
// persistence, until the test ends. It returns once redis answers PING on
// its unix socket, so no TCP packet reaches addr before the test's own.
func StartRedis(t testing.TB, ns *Netns, cg *Cgroup, addr netip.AddrPort) {
	t.Helper()
	bin := lookDebian(t, "redis-server", "redis-server")
	cli := lookDebian(t, "redis-cli", "redis-server")
	dir := tempDir(t, "podflow-redis-", -1, -1)
	sock := filepath.Join(dir, "redis.sock")
	cmd := inNetnsAndCgroup(t, ns, cg, bin, "--port", strconv.Itoa(int(addr.Port())), "--bind", addr.Addr().String(),
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no",
		"--dir", dir, "--unixsocket", sock, "--logfile", "")
	startApp(t, "redis-server", cmd, func() bool {
		out, err := exec.Command(cli, "-s", sock, "ping").Output()
		return err == nil && strings.TrimSpace(string(out)) == "PONG"
	})
}

// RedisCLI runs Debian's redis-cli in ns and cg against the redis at addr
// with args (one command, e.g. "SET", "k", "v") and returns its output,
// trimmed. Its connection's first bytes are the command as a RESP array
// ("*3\r\n$3\r\nSET\r\n…").
func RedisCLI(t testing.TB, ns *Netns, cg *Cgroup, addr netip.AddrPort, args ...string) string {
	t.Helper()
	cli := lookDebian(t, "redis-cli", "redis-server")
	cmd := inNetnsAndCgroup(t, ns, cg, append([]string{cli, "-h", addr.Addr().String(), "-p", strconv.Itoa(int(addr.Port()))}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// StartPostgres runs Debian's PostgreSQL (package postgresql; the newest
// /usr/lib/postgresql/*/bin) in ns and cg (nil: the caller's cgroup) as
// user postgres, with a fresh cluster (trust authentication for every
// address, superuser and database "postgres") listening on addr only,
// until the test ends. It returns once the server accepts connections on
// its unix socket, so no TCP packet reaches addr before the test's own.
func StartPostgres(t testing.TB, ns *Netns, cg *Cgroup, addr netip.AddrPort) {
	t.Helper()
	bin := postgresBin(t)
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("user postgres (Debian's package postgresql creates it; scripts/install-deps.sh): %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := tempDir(t, "podflow-pg-", uid, gid)
	data := filepath.Join(dir, "data")
	// PostgreSQL refuses to run as root: setpriv drops to postgres and
	// execs, so the process ip starts (and the test kills) is the server.
	asPostgres := []string{"setpriv", "--reuid=" + u.Uid, "--regid=" + u.Gid, "--init-groups", "--"}
	initdb := exec.Command(asPostgres[0], append(asPostgres[1:], filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")...)
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	hba, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = io.WriteString(hba, "host all all 0.0.0.0/0 trust\nhost all all ::/0 trust\n")
		err = errors.Join(err, hba.Close())
	}
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(int(addr.Port()))
	cmd := inNetnsAndCgroup(t, ns, cg, append(asPostgres, filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses="+addr.Addr().String(), "-c", "port="+port,
		"-c", "unix_socket_directories="+dir, "-c", "fsync=off", "-c", "synchronous_commit=off")...)
	cmd.Dir = dir
	startApp(t, "postgres", cmd, func() bool {
		return exec.Command(filepath.Join(bin, "pg_isready"), "-q", "-h", dir, "-p", port, "-U", "postgres").Run() == nil
	})
}

// Psql runs Debian's psql in ns and cg: sql over TCP to the PostgreSQL at
// addr as user postgres, database postgres, unaligned tuples only (-XAt),
// and returns the output, trimmed. PGSSLMODE and PGGSSENCMODE are
// "disable", so the connection's first bytes are the StartupMessage
// (int32 length, then protocol 3.0: 00 03 00 00), never an SSLRequest
// (04 d2 16 2f) or GSSENCRequest.
func Psql(t testing.TB, ns *Netns, cg *Cgroup, addr netip.AddrPort, sql string) string {
	t.Helper()
	cmd := inNetnsAndCgroup(t, ns, cg, filepath.Join(postgresBin(t), "psql"), "-XAt", "-v", "ON_ERROR_STOP=1",
		"-h", addr.Addr().String(), "-p", strconv.Itoa(int(addr.Port())), "-U", "postgres", "-d", "postgres", "-c", sql)
	cmd.Env = append(os.Environ(), "PGSSLMODE=disable", "PGGSSENCMODE=disable", "PGCONNECT_TIMEOUT=5")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

// postgresBin is the newest /usr/lib/postgresql/<version>/bin.
func postgresBin(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return va - vb
	})
	for _, d := range slices.Backward(dirs) {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "psql")); err == nil {
				return d
			}
		}
	}
	t.Fatal("no /usr/lib/postgresql/*/bin with postgres and psql: install Debian's postgresql and postgresql-client (scripts/install-deps.sh)")
	return ""
}

// lookDebian finds binary name, or fails the test naming the package.
func lookDebian(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s: install Debian's %s (scripts/install-deps.sh): %v", name, pkg, err)
	}
	return p
}

// tempDir is a new directory under the system's temporary directory (not
// t.TempDir: its parents are closed to other users, and unix socket paths
// must stay short), owned by uid:gid (-1: unchanged), removed at the end.
func tempDir(t testing.TB, prefix string, uid, gid int) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err == nil {
		err = os.Chown(dir, uid, gid)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// startApp starts cmd, stops it (SIGQUIT, then SIGKILL after 5s) when the
// test ends, and waits up to 20s until isReady reports true.
func startApp(t testing.TB, what string, cmd *exec.Cmd, isReady func() bool) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("%s exited: %v\n%s", what, err, &out)
		default:
		}
		if isReady() {
			return
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			exited <- <-exited
			t.Fatalf("%s not ready after 20s\n%s", what, &out)
		}
	}
}
