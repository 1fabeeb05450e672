// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// withoutPrograms disables every collector that loads a program: for tests
// of the web side, which then start in milliseconds.
var withoutPrograms = []string{"--no-collector.flows", "--no-collector.tcp", "--no-collector.latency", "--no-collector.drops",
	"--no-collector.dns", "--no-collector.http"}

// scrapeConcurrently runs scrapers scrapers, rounds times each, all at once,
// and counts the status codes.
func scrapeConcurrently(t *testing.T, url string, scrapers, rounds int) map[int]int {
	t.Helper()
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range scrapers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				code := 0
				if resp, err := http.Get(url + "/metrics"); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return codes
}

// TestWebConcurrentScrapes: six Prometheus servers scraping at once all get
// their metrics (the limit was 4), with the exporter's own metrics, as
// node_exporter serves them.
func TestWebConcurrentScrapes(t *testing.T) {
	e := startExporter(t)
	if codes := scrapeConcurrently(t, e.url, 6, 5); codes[http.StatusOK] != 30 {
		t.Errorf("6 scrapers × 5: status codes %v, want 30 × 200", codes)
	}
	_, fams := e.scrape()
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "promhttp_metric_handler_requests_total", "podflow_build_info"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("no %s in the scrape", name)
		}
	}
	if got := value(t, fams, "promhttp_metric_handler_requests_total", map[string]string{"code": "200"}); got < 30 {
		t.Errorf("promhttp_metric_handler_requests_total{code=200} = %v, want at least 30", got)
	}
}

// TestWebMaxRequestsAndNoExporterMetrics: --web.max-requests=1 turns
// concurrent scrapes away with 503; --web.disable-exporter-metrics leaves
// out go_*, process_* and promhttp_*, not the exporter's build info.
func TestWebMaxRequestsAndNoExporterMetrics(t *testing.T) {
	e := startExporter(t, "--web.max-requests=1", "--web.disable-exporter-metrics")
	deadline := time.Now().Add(10 * time.Second)
	for codes := map[int]int{}; codes[http.StatusServiceUnavailable] == 0; codes = scrapeConcurrently(t, e.url, 6, 3) {
		if time.Now().After(deadline) {
			t.Fatalf("with --web.max-requests=1, concurrent scrapes never got 503: %v", codes)
		}
	}
	_, fams := e.scrape()
	for name := range fams {
		for _, prefix := range []string{"go_", "process_", "promhttp_"} {
			if strings.HasPrefix(name, prefix) {
				t.Errorf("%s exported with --web.disable-exporter-metrics", name)
			}
		}
	}
	if _, ok := fams["podflow_build_info"]; !ok {
		t.Error("no podflow_build_info with --web.disable-exporter-metrics")
	}
}

// TestWebOpenMetrics: a scraper that asks for OpenMetrics gets it.
func TestWebOpenMetrics(t *testing.T) {
	e := startExporter(t, withoutPrograms...)
	req, _ := http.NewRequest(http.MethodGet, e.url+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("Content-Type %q, want application/openmetrics-text", ct)
	}
	if !strings.HasSuffix(string(body), "# EOF\n") {
		t.Errorf("exposition does not end with # EOF:\n%.300s", body)
	}
}

// TestWebScraperGoneLogsOnce: a scraper that resets the connection while
// the exporter gathers costs one log line, not one per metric family (with
// an uncompressed exposition each family is a write that fails).
func TestWebScraperGoneLogsOnce(t *testing.T) {
	e := startExporter(t)
	host := strings.TrimPrefix(e.url, "http://")
	const attempts = 10
	for range attempts {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("GET /metrics HTTP/1.1\r\nHost: podflow\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		// A scrape gathers for 10 ms or more (each table swap waits for
		// an RCU grace period): reset the connection before the answer.
		time.Sleep(2 * time.Millisecond)
		_ = c.(*net.TCPConn).SetLinger(0)
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	waitServing(t, e)
	log := e.log.String()
	gone := strings.Count(log, "scraper went away")
	if n := strings.Count(log, "error encoding and sending metric family"); n > 0 {
		t.Errorf("%d lines of promhttp's per-family write errors for %d cut scrapes", n, attempts)
	}
	if gone == 0 || gone > attempts {
		t.Errorf("%d \"scraper went away\" lines for %d cut scrapes, want 1 to %d:\n%s", gone, attempts, attempts, log)
	}
}

// TestWebServerErrorsInProjectLog: net/http's own messages, here a TLS
// handshake a scraper without the CA gave up, are JSON lines of the
// exporter's logger with --log.format=json, like every other line.
func TestWebServerErrorsInProjectLog(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	config := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(config, []byte("tls_server_config:\n  cert_file: "+cert+"\n  key_file: "+key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	args := append([]string{"--web.listen-address=" + addr, "--web.config.file=" + config, "--log.format=json"}, withoutPrograms...)
	e := launchExporter(t, exec.Command(binary, args...), "https://"+addr)
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := insecure.Get(e.url + "/"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no TLS answer:\n%s", e.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Verifying the self-signed certificate fails: the client aborts
	// the handshake, and the server logs why.
	if _, err := tls.Dial("tcp", addr, &tls.Config{}); err == nil {
		t.Fatal("the TLS client accepted a self-signed certificate")
	}
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(e.log.String(), "TLS handshake error") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	found := false
	s := bufio.NewScanner(strings.NewReader(e.log.String()))
	for s.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(s.Bytes(), &rec); err != nil {
			t.Errorf("not a JSON line: %s", s.Text())
			continue
		}
		if msg, _ := rec["msg"].(string); strings.Contains(msg, "TLS handshake error") {
			found = true
			if rec["level"] != "error" || rec["component"] != "http" {
				t.Errorf("handshake error logged as %v, want level error, component http", rec)
			}
		}
	}
	if !found {
		t.Errorf("no JSON line of the TLS handshake error:\n%s", e.log)
	}
}

// TestWebSystemdSocket: with --web.systemd-socket the exporter serves on
// the socket systemd (here systemd-socket-activate) passes.
func TestWebSystemdSocket(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Fatalf("systemd-socket-activate (make deps installs systemd): %v", err)
	}
	args := append([]string{"--listen=" + addr, binary, "--web.systemd-socket"}, withoutPrograms...)
	e := launchExporter(t, exec.Command(activate, args...), "http://"+addr)
	waitServing(t, e)
	if _, fams := e.scrape(); fams["podflow_build_info"] == nil {
		t.Error("no podflow_build_info on the socket-activated listener")
	}
	if !strings.Contains(e.log.String(), "address="+addr) {
		t.Errorf("log does not name the socket's address %s:\n%s", addr, e.log)
	}
}

// TestSIGHUPIsIgnored: SIGHUP is logged and the exporter keeps serving (Go's
// default would have ended it); SIGTERM still stops it cleanly.
func TestSIGHUPIsIgnored(t *testing.T) {
	e := startExporter(t, withoutPrograms...)
	if err := e.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.log.String(), "received SIGHUP") {
		select {
		case <-e.exited:
			t.Fatalf("exporter exited on SIGHUP: %v\n%s", e.err, e.log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP not logged:\n%s", e.log)
		}
	}
	e.scrape()
	if code := e.stop(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
}

// TestHostModeCollectors: without Kubernetes the kube and translation
// collectors have nothing to report: they are neither listed as enabled
// nor run.
func TestHostModeCollectors(t *testing.T) {
	e := startExporter(t, withoutPrograms...)
	var enabled string
	for _, line := range strings.Split(e.log.String(), "\n") {
		if strings.Contains(line, `msg="enabled collectors"`) {
			enabled = line
		}
	}
	if !strings.Contains(enabled, "collectors=[bpf]") {
		t.Errorf("enabled collectors line %q, want only bpf", enabled)
	}
	_, fams := e.scrape()
	for _, m := range fams["podflow_scrape_collector_success"].GetMetric() {
		if c := m.GetLabel()[0].GetValue(); c != "bpf" {
			t.Errorf("collector %s ran in host mode", c)
		}
	}
}

// TestVersionOfEveryBuild: the binary of a plain go build, like the one of
// make build, reports the VERSION file in --version, podflow_build_info and
// the landing page; make build also the git revision, as promu does.
func TestVersionOfEveryBuild(t *testing.T) {
	v, err := os.ReadFile("../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(string(v))
	out, err := exec.Command(binary, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "podflow_exporter, version "+want+" ") {
		t.Errorf("go build: --version: %v\n%s", err, out)
	}
	e := startExporter(t, withoutPrograms...)
	_, fams := e.scrape()
	if got := fams["podflow_build_info"].GetMetric()[0].GetLabel(); !hasLabel(got, "version", want) {
		t.Errorf("podflow_build_info labels %v, want version %s", got, want)
	}
	resp, err := http.Get(e.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "version="+want) {
		t.Errorf("landing page lacks version=%s", want)
	}

	rev, err := exec.Command("git", "-C", "..", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	made := filepath.Join(t.TempDir(), "podflow_exporter")
	if out, err := exec.Command("make", "-C", "..", "build", "BIN="+made).CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	out, err = exec.Command(made, "--version").CombinedOutput()
	wantLine := fmt.Sprintf("podflow_exporter, version %s (branch: ", want)
	if err != nil || !strings.HasPrefix(string(out), wantLine) || !strings.Contains(string(out), "revision: "+strings.TrimSpace(string(rev))+")") ||
		strings.Contains(string(out), "build date:       \n") {
		t.Errorf("make build: --version: %v, want version %s, revision %s and a build date:\n%s", err, want, rev, out)
	}
}

func hasLabel(labels []*dto.LabelPair, name, value string) bool {
	for _, l := range labels {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// TestDeprecatedBudgetFlag: --collector.flows.max-series, the old name of
// --collector.max-series-per-family, still sets the budget of every family,
// and says so once in the log, not at every scrape.
func TestDeprecatedBudgetFlag(t *testing.T) {
	e := startExporter(t, "--no-collector.tcp", "--no-collector.latency", "--collector.flows.max-series=123")
	for range 3 {
		e.scrape()
	}
	_, families := e.scrape()
	limits := 0
	for _, m := range families["podflow_series_limit"].GetMetric() {
		limits++
		if v := m.GetGauge().GetValue(); v != 123 {
			t.Errorf("podflow_series_limit%v = %v, want 123", m.GetLabel(), v)
		}
	}
	if limits != 12 {
		t.Errorf("%d families with a budget, want 12 (flows: 4, drops: 2, socket discards: 2, dns: 2, http: 2)", limits)
	}
	if n := strings.Count(e.log.String(), "--collector.flows.max-series is deprecated"); n != 1 {
		t.Errorf("deprecation logged %d times, want once:\n%s", n, e.log)
	}
}
