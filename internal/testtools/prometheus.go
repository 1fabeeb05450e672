// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package testtools

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Prometheus is a real Prometheus server that scrapes one target and
// evaluates its rule files every second.
type Prometheus struct {
	url string
	log *LogBuffer
}

// LogBuffer collects a process's output; safe for concurrent writes.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// StartPrometheus runs Prometheus scraping target (host:port) as job
// podflow-exporter, the job name the ServiceMonitor gives, with ruleFiles;
// it is stopped when the test ends.
func StartPrometheus(t testing.TB, target string, ruleFiles ...string) *Prometheus {
	t.Helper()
	dir := t.TempDir()
	var rules []string
	for _, f := range ruleFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, fmt.Sprintf("  - %q", abs))
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
%s
scrape_configs:
  - job_name: podflow-exporter
    static_configs:
      - targets: [%q]
`, strings.Join(rules, "\n"), target)
	configFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := &Prometheus{url: "http://" + addr, log: &LogBuffer{}}
	cmd := exec.Command(Path(t, "prometheus"),
		"--config.file="+configFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("prometheus log (tail):\n%s", tail(p.log.String(), 40))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(p.url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", p.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30s:\n%s", p.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// api GETs an /api/v1 path and decodes the data field into out.
func (p *Prometheus) api(path string, params url.Values, out any) error {
	resp, err := http.Get(p.url + "/api/v1/" + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var envelope struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		return fmt.Errorf("%s: %s: %w", path, body, err)
	}
	if envelope.Status != "success" {
		return fmt.Errorf("%s: %s", path, envelope.Error)
	}
	return json.Unmarshal(envelope.Data, out)
}

// Sample is one element of an instant vector.
type Sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // unix time, value as a string
}

// Float is the sample's value.
func (s Sample) Float() (float64, error) {
	return strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
}

// Query evaluates an instant query now and returns its vector.
func (p *Prometheus) Query(expr string) ([]Sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.api("query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	switch data.ResultType {
	case "vector":
		var v []Sample
		err := json.Unmarshal(data.Result, &v)
		return v, err
	case "scalar":
		return []Sample{{}}, nil
	default:
		return nil, fmt.Errorf("result type %s, want an instant vector", data.ResultType)
	}
}

// Alert is an alert as /api/v1/alerts lists it.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
	Value       string            `json:"value"`
}

// Alerts lists the pending and firing alerts.
func (p *Prometheus) Alerts() ([]Alert, error) {
	var data struct {
		Alerts []Alert `json:"alerts"`
	}
	err := p.api("alerts", nil, &data)
	return data.Alerts, err
}

// Rule is a loaded rule as /api/v1/rules lists it.
type Rule struct {
	Name      string `json:"name"`
	Query     string `json:"query"`
	Type      string `json:"type"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
}

// Rules lists every loaded rule, of every group.
func (p *Prometheus) Rules() ([]Rule, error) {
	var data struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []Rule `json:"rules"`
		} `json:"groups"`
	}
	if err := p.api("rules", nil, &data); err != nil {
		return nil, err
	}
	var all []Rule
	for _, g := range data.Groups {
		all = append(all, g.Rules...)
	}
	return all, nil
}

// TargetHealth returns the health of the scrape targets ("up", "down",
// "unknown") and their last errors.
func (p *Prometheus) TargetHealth() (health, lastError string, err error) {
	var data struct {
		ActiveTargets []struct {
			Health    string `json:"health"`
			LastError string `json:"lastError"`
		} `json:"activeTargets"`
	}
	if err := p.api("targets", nil, &data); err != nil {
		return "", "", err
	}
	if len(data.ActiveTargets) != 1 {
		return "", "", fmt.Errorf("%d active targets, want 1", len(data.ActiveTargets))
	}
	return data.ActiveTargets[0].Health, data.ActiveTargets[0].LastError, nil
}

// URL is the Prometheus server's base URL (http://127.0.0.1:PORT).
func (p *Prometheus) URL() string { return p.url }
