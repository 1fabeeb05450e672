// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package live

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/collector"
	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/naming"
)

// benchEdges returns n distinct edges between 7 local workloads and n
// remote addresses, and a drain in which each of them changed.
func benchEdges(w *world, n int) []flow.Increment[bpf.FlowCounters] {
	flows := make([]flow.Increment[bpf.FlowCounters], n)
	for j := range flows {
		e := w.edge(fmt.Sprintf("client-%d.service", j%7), fmt.Sprintf("10.1.%d.%d", j/256, j%256), uint16(1000+j%100))
		flows[j] = flowInc(e, 1500, 120)
	}
	return flows
}

// benchModel is a live view as the exporter makes it by default: a
// budget of 5000 edges, a rate window of one drain interval (the world's
// drains are a second apart).
func benchModel() *Model {
	return newModel(naming.HostSchema, time.Second, 5*time.Minute, Options{MaxEdges: 5000, MaxClients: 16})
}

// benchBatch returns the next drain, holding flows (shared, read-only:
// Consume only reads a batch).
func benchBatch(w *world, flows []flow.Increment[bpf.FlowCounters]) *flow.Batch {
	b := w.batch()
	flow.Flows.In(b).Increments = flows
	return b
}

// BenchmarkStream measures what one drain costs the live view with k
// streams connected: Consume of a drain in which e edges changed, then
// the delta written to every stream over real HTTP, until each client has
// read it. The clients only look for the end of each event (they parse no
// JSON; a page's work is the browser's). ns/op is the wall time of one
// drain, cpu-ns/op the CPU time of the whole process (server, clients,
// garbage collector) per drain; wire-B/drain is what each client is sent
// per drain. clients=0 is the model alone (what every drain costs with the
// live view on and nobody watching).
//
// -count repeats each sub-benchmark in a row; to alternate them, run the
// test binary several times:
//
//	go test -c -o /tmp/live.test ./live/ && cd live &&
//	  for round in 1 2 3 4 5 6 7 8; do /tmp/live.test -test.run '^$' -test.bench 'Stream|Consume'; done | tee /tmp/stream.txt
//	go run golang.org/x/perf/cmd/benchstat@latest /tmp/stream.txt
func BenchmarkStream(b *testing.B) {
	for _, edges := range []int{100, 1000} {
		for _, clients := range []int{0, 1, 5} {
			b.Run(fmt.Sprintf("edges=%d/clients=%d", edges, clients), func(b *testing.B) { benchStream(b, edges, clients) })
		}
	}
}

func benchStream(b *testing.B, edges, clients int) {
	w := newWorld()
	m := benchModel()
	flows := benchEdges(w, edges)
	m.Consume(benchBatch(w, flows)) // makes every edge: the clients' snapshot holds them
	srv := httptest.NewServer(http.HandlerFunc(m.ServeStream))
	defer srv.Close()
	defer m.Close()

	got := make(chan struct{}, 16)
	readers := make([]*eventCounter, clients)
	for i := range readers {
		resp, err := http.Get(srv.URL + "/api/v1/flows/stream")
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("stream: %s", resp.Status)
		}
		defer resp.Body.Close()
		readers[i] = &eventCounter{got: got}
		go readers[i].run(resp.Body)
		<-got // the snapshot
	}
	base := make([]int64, clients)
	for i, r := range readers {
		base[i] = r.bytes.Load()
	}

	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		m.Consume(benchBatch(w, flows))
		for range clients {
			<-got
		}
	}
	reportCPU(b, cpu, edges)
	if clients > 0 {
		var sent int64
		for i, r := range readers {
			sent += r.bytes.Load() - base[i]
		}
		b.ReportMetric(float64(sent)/float64(clients)/float64(b.N), "wire-B/drain")
	}
}

// cpuTime returns the CPU time this process has used, all its threads:
// the garbage collector's and the clients' work runs on the other core,
// which wall time per op does not show.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports wall time per edge, and the CPU time used since
// before per drain and per edge.
func reportCPU(b *testing.B, before time.Duration, edges int) {
	cpu := float64((cpuTime() - before).Nanoseconds()) / float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(edges), "ns/edge")
	b.ReportMetric(cpu, "cpu-ns/op")
	b.ReportMetric(cpu/float64(edges), "cpu-ns/edge")
}

// eventCounter reads a stream, counting its bytes and telling got at the
// end of every event that has an ID (a snapshot or a delta; not the retry
// line or a keepalive). It looks only for line ends.
type eventCounter struct {
	got   chan<- struct{}
	bytes atomic.Int64
}

func (c *eventCounter) run(body io.Reader) {
	r := bufio.NewReaderSize(body, 64<<10)
	lineStart, hasID := true, false
	for {
		line, err := r.ReadSlice('\n')
		c.bytes.Add(int64(len(line)))
		if lineStart {
			switch {
			case len(line) == 1 && line[0] == '\n': // the end of an event
				if hasID {
					c.got <- struct{}{}
				}
				hasID = false
			case bytes.HasPrefix(line, []byte("id: ")):
				hasID = true
			}
		}
		switch {
		case err == nil:
			lineStart = true
		case errors.Is(err, bufio.ErrBufferFull): // the rest of a long data line follows
			lineStart = false
		default:
			return
		}
	}
}

// BenchmarkConsume compares what one drain in which e edges changed costs
// the live view's model (no stream connected) with what it costs the
// series behind /metrics, handed the same batch (the flows collector; both
// in steady state: every edge and series exists). Run it alternately as
// BenchmarkStream.
func BenchmarkConsume(b *testing.B) {
	for _, edges := range []int{100, 1000, 10_000} {
		for _, sub := range []string{"metrics", "live"} {
			b.Run(fmt.Sprintf("edges=%d/subscriber=%s", edges, sub), func(b *testing.B) {
				w := newWorld()
				flows := benchEdges(w, edges)
				var s flow.Subscriber
				if sub == "live" {
					m := benchModel()
					defer m.Close()
					s = m
				} else {
					s = metricsSubscriber(b)
				}
				s.Consume(benchBatch(w, flows)) // makes every edge or series
				b.ReportAllocs()
				cpu := cpuTime()
				for b.Loop() {
					s.Consume(benchBatch(w, flows))
				}
				reportCPU(b, cpu, edges)
			})
		}
	}
}

// metricsSubscriber returns the subscriber behind /metrics with only the
// flows collector, at the default budget: what collector.New subscribes to
// its pipeline.
func metricsSubscriber(b *testing.B) flow.Subscriber {
	app := kingpin.New("bench", "")
	cfg := collector.AddFlags(app)
	if _, err := app.Parse([]string{"--no-collector.tcp", "--no-collector.latency", "--no-collector.drops", "--no-collector.bpf",
		"--no-collector.dns", "--no-collector.http"}); err != nil {
		b.Fatal(err)
	}
	p := &capturingPipeline{}
	pf, err := collector.New(cfg, collector.Sources{Pipeline: p}, log.NewNopLogger())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pf.Close)
	return p.sub
}

// capturingPipeline is a pipeline that never drains: it keeps what
// subscribes to it, to be handed batches directly.
type capturingPipeline struct{ sub flow.Subscriber }

func (p *capturingPipeline) Subscribe(_ string, s flow.Subscriber) *flow.Subscription {
	p.sub = s
	return nil
}

func (p *capturingPipeline) Sync(string) uint64                   { return 0 }
func (p *capturingPipeline) Tables() []bpf.Table                  { return []bpf.Table{bpf.TableFlows} }
func (p *capturingPipeline) Schema() naming.Schema                { return naming.HostSchema }
func (p *capturingPipeline) IdleTTL() time.Duration               { return 5 * time.Minute }
func (p *capturingPipeline) HoldStats(bpf.Table) naming.HoldStats { return naming.HoldStats{} }
func (p *capturingPipeline) Stats() flow.Stats                    { return flow.Stats{} }
