// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

// flowFamilies are the byte and packet families: the ones --cgroup.root
// scopes, so every series of them names a cgroup below it.
var flowFamilies = []string{
	"podflow_flow_transmit_bytes_total", "podflow_flow_transmit_packets_total",
	"podflow_flow_receive_bytes_total", "podflow_flow_receive_packets_total",
}

// unknownSeries lists the series of the byte and packet families that name
// a side unknown.
func unknownSeries(fams map[string]*dto.MetricFamily) []string {
	var found []string
	for _, name := range flowFamilies {
		for _, m := range fams[name].GetMetric() {
			for _, lp := range m.GetLabel() {
				if strings.HasSuffix(lp.GetName(), "_kind") && lp.GetValue() == "unknown" {
					found = append(found, fmt.Sprintf("%s%v %v", name, m.GetLabel(), m.GetCounter().GetValue()))
					break
				}
			}
		}
	}
	return found
}

// scraper scrapes an exporter in the background, as a Prometheus server
// with a short interval would, and remembers what check (nil: none) found
// wrong.
type scraper struct {
	stopc   chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	scrapes int
	errs    []string
}

func scrapeEvery(e *exporter, every time.Duration, check func(map[string]*dto.MetricFamily) []string) *scraper {
	s := &scraper{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			problems := scrapeOnce(e.url, check)
			s.mu.Lock()
			s.scrapes++
			if len(s.errs) < 20 {
				s.errs = append(s.errs, problems...)
			}
			s.mu.Unlock()
			select {
			case <-s.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func scrapeOnce(url string, check func(map[string]*dto.MetricFamily) []string) []string {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return []string{err.Error()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return []string{fmt.Sprintf("GET /metrics: %s %v", resp.Status, err)}
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return []string{err.Error()}
	}
	if check == nil {
		return nil
	}
	return check(fams)
}

// stop ends the scrapes and returns how many there were and what went wrong.
func (s *scraper) stop() (int, []string) {
	close(s.stopc)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scrapes, s.errs
}

// TestNewCgroupsNamed starts 100 containers back to back, each a cgroup
// created just before its process, while the exporter is scraped every
// 100 ms: every cgroup's traffic is named by it, exactly, in every scrape
// (never `unknown`, even for a cgroup created right after the exporter
// last looked at the tree).
func TestNewCgroupsNamed(t *testing.T) {
	const containers, n, port = 100, 20, 7100
	env := testnet.New(t)
	a, b := env.Netns("a"), env.Netns("b")
	la, lb := env.Veth(a, []netip.Prefix{netip.MustParsePrefix("10.211.0.1/24")}, b, []netip.Prefix{netip.MustParsePrefix("10.211.0.2/24")})
	dst := netip.AddrPortFrom(lb.Addr(false), port).String()
	recv := testnet.Start(t, b, env.Root.Child("receiver"), "udp-recv", dst, strconv.Itoa(containers*n), "60s")
	exp := startExporter(t, "--cgroup.root="+env.Root.Path)
	s := scrapeEvery(exp, 100*time.Millisecond, unknownSeries)

	size := func(i int) int { return 100 + i } // each container its own datagram size
	var senders []*testnet.Proc
	for i := range containers {
		cg := env.Root.Child(fmt.Sprintf("burst-%03d", i))
		senders = append(senders, testnet.Start(t, a, cg, "udp-send", dst, strconv.Itoa(n), strconv.Itoa(size(i))))
	}
	for _, p := range senders {
		p.Wait()
	}
	if got := recv.Wait(); got != strconv.Itoa(containers*n) {
		t.Fatalf("receiver got %s datagrams, want %d", got, containers*n)
	}
	scrapes, problems := s.stop()
	t.Logf("%d scrapes while the containers started", scrapes)
	for _, p := range problems {
		t.Errorf("a scrape had a series named unknown: %s", p)
	}

	_, fams := exp.scrape()
	for _, p := range unknownSeries(fams) {
		t.Errorf("after the burst, a series named unknown: %s", p)
	}
	var wantBytes float64
	for i := range containers {
		labels := map[string]string{"local_workload": fmt.Sprintf("burst-%03d", i), "local_kind": "cgroup", "remote_workload": lb.Addr(false).String(), "role": "client", "protocol": "udp", "port": strconv.Itoa(port)}
		if got := value(t, fams, "podflow_flow_transmit_packets_total", labels); got != n {
			t.Errorf("burst-%03d: %v packets, want %d", i, got, n)
		}
		want := float64(n * (size(i) + 28))
		if got := value(t, fams, "podflow_flow_transmit_bytes_total", labels); got != want {
			t.Errorf("burst-%03d: %v bytes, want %v", i, got, want)
		}
		wantBytes += want
	}
	receiver := map[string]string{"local_workload": "receiver", "remote_workload": la.Addr(false).String(), "role": "server"}
	if got := value(t, fams, "podflow_flow_receive_bytes_total", receiver); got != wantBytes {
		t.Errorf("receiver: %v bytes, want %v", got, wantBytes)
	}
}

// TestCgroupAfterScrape creates a cgroup 50 ms after a scrape that made the
// exporter look at the tree, with traffic: the next scrape names it, with
// exact counts.
func TestCgroupAfterScrape(t *testing.T) {
	const n, size, port = 30, 150, 7200
	env := testnet.New(t)
	a, b := env.Netns("a"), env.Netns("b")
	_, lb := env.Veth(a, []netip.Prefix{netip.MustParsePrefix("10.212.0.1/24")}, b, []netip.Prefix{netip.MustParsePrefix("10.212.0.2/24")})
	dst := netip.AddrPortFrom(lb.Addr(false), port).String()
	cgB := env.Root.Child("receiver")
	exp := startExporter(t, "--cgroup.root="+env.Root.Path)
	send := func(name string) {
		t.Helper()
		recv := testnet.Start(t, b, cgB, "udp-recv", dst, strconv.Itoa(n), "10s")
		testnet.RunHelper(t, a, env.Root.Child(name), "udp-send", dst, strconv.Itoa(n), strconv.Itoa(size))
		if got := recv.Wait(); got != strconv.Itoa(n) {
			t.Fatalf("receiver got %s datagrams, want %d", got, n)
		}
	}
	named := func(fams map[string]*dto.MetricFamily, name string) {
		t.Helper()
		labels := map[string]string{"local_workload": name, "local_kind": "cgroup", "role": "client", "port": strconv.Itoa(port)}
		if got := value(t, fams, "podflow_flow_transmit_packets_total", labels); got != n {
			t.Errorf("%s: %v packets, want %d", name, got, n)
		}
		if got := value(t, fams, "podflow_flow_transmit_bytes_total", labels); got != n*(size+28) {
			t.Errorf("%s: %v bytes, want %d", name, got, n*(size+28))
		}
		if u := unknownSeries(fams); len(u) > 0 {
			t.Errorf("series named unknown: %v", u)
		}
	}

	// The first cgroup's traffic makes the exporter look at the tree.
	send("first")
	_, fams := exp.scrape()
	named(fams, "first")
	time.Sleep(50 * time.Millisecond)
	send("late")
	_, fams = exp.scrape()
	named(fams, "late")
}
