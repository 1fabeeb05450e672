// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package e2e tests the built podflow_exporter binary as users run it:
// flags, real traffic, /metrics over HTTP, promtool, signals.
package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/podflow/podflow_exporter/internal/testnet"
	"github.com/podflow/podflow_exporter/internal/testtools"
)

// binary is the exporter built once for all tests, in a directory anyone
// may enter (the unprivileged-user test runs it as nobody).
var binary string

func TestMain(m *testing.M) {
	testnet.MaybeRunHelper()
	dir, err := os.MkdirTemp("", "podflow-e2e-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "podflow_exporter")
	build := exec.Command("go", "build", "-o", binary, "github.com/podflow/podflow_exporter")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build podflow_exporter:", err)
		os.Exit(1)
	}
	code := m.Run()
	stopCluster()
	os.RemoveAll(dir)
	os.Exit(code)
}

// promtool returns the promtool that make test installs.
func promtool(t *testing.T) string { return testtools.Path(t, "promtool") }

// exporter is a running podflow_exporter.
type exporter struct {
	t      testing.TB
	cmd    *exec.Cmd
	url    string
	log    *testtools.LogBuffer
	exited chan struct{}
	err    error
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startExporter runs the binary with args and waits until it serves.
func startExporter(t testing.TB, args ...string) *exporter {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e := launchExporter(t, exec.Command(binary, append([]string{"--web.listen-address=" + addr}, args...)...), "http://"+addr)
	waitServing(t, e)
	return e
}

// launchExporter starts cmd — the exporter, or a wrapper (setpriv, unshare)
// that execs it — serving at url, and kills it when the test ends.
func launchExporter(t testing.TB, cmd *exec.Cmd, url string) *exporter {
	t.Helper()
	e := &exporter{t: t, cmd: cmd, url: url, log: &testtools.LogBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = e.log, e.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { e.err = cmd.Wait(); close(e.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-e.exited
		if t.Failed() {
			t.Logf("exporter log:\n%s", e.log)
		}
	})
	return e
}

// waitServing waits until e answers HTTP, failing if it exits first.
func waitServing(t testing.TB, e *exporter) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-e.exited:
			t.Fatalf("exporter exited before serving: %v\n%s", e.err, e.log)
		default:
		}
		if resp, err := http.Get(e.url + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("exporter not serving after 20s:\n%s", e.log)
}

// scrape fetches /metrics and parses it.
func (e *exporter) scrape() (string, map[string]*dto.MetricFamily) {
	e.t.Helper()
	resp, err := http.Get(e.url + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		e.t.Fatalf("parse /metrics: %v", err)
	}
	return string(body), families
}

// stop sends SIGTERM and returns the exit code.
func (e *exporter) stop() int {
	e.t.Helper()
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		e.t.Fatal(err)
	}
	select {
	case <-e.exited:
	case <-time.After(15 * time.Second):
		e.t.Fatalf("exporter still running 15s after SIGTERM:\n%s", e.log)
	}
	return e.cmd.ProcessState.ExitCode()
}

// value returns the one sample of family name whose labels include want.
// The series of one flow that differ only by app_protocol (a connection's
// handshake is "none", the rest its protocol) are one sample, their sum,
// unless want names app_protocol.
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	mf, ok := families[name]
	if !ok {
		t.Fatalf("no family %s in the scrape", name)
	}
	found := map[string]float64{}
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		var key []string
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
			if lp.GetName() != "app_protocol" {
				key = append(key, lp.GetName()+"="+lp.GetValue())
			}
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if match {
			switch {
			case m.Counter != nil:
				found[strings.Join(key, ",")] += m.Counter.GetValue()
			case m.Gauge != nil:
				found[strings.Join(key, ",")] += m.Gauge.GetValue()
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%v: %d samples match, want 1", name, want, len(found))
	}
	for _, v := range found {
		return v
	}
	return 0
}

// promtoolCheck runs promtool check metrics on an exposition.
func promtoolCheck(t *testing.T, exposition string) {
	t.Helper()
	cmd := exec.Command(promtool(t), "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
