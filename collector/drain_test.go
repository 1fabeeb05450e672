// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/kube"
	"github.com/podflow/podflow_exporter/naming"
	"github.com/podflow/podflow_exporter/naming/namingtest"
)

// TestResolvedOncePerDrain: a flow with increments in every table is named
// once per drain, not once per collector: podflow_kube_resolutions_total
// counts each side once. A connection to a translated service (never
// remembered) is asked about again at the next drain, once; a plain flow is
// remembered and not asked about again.
func TestResolvedOncePerDrain(t *testing.T) {
	tr := namingtest.TranslatorFor(map[uint16]netip.AddrPort{40000: netip.AddrPortFrom(addrDB, 8080)})
	res := naming.NewKubeResolver(namingtest.NewKube().WithService(), namingtest.WorldCgroups(), kube.AggregatePod, nil, tr)
	src, clk := newFakeSource(), &clock{now: time.Unix(1_800_000_000, 0)}
	cfg := testConfig(100, "flows", "tcp", "latency", "drops", "kube")
	p, err := New(cfg, Sources{
		Pipeline: testPipeline(t, cfg, pipelineConfig(), src, res, clk), DropReasons: testDropReasons, Kube: res,
	}, nopLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	reg := registerPodflow(t, p)
	for _, k := range []bpf.FlowKey{toVIP(40000), webTo(addrDB)} {
		src.addFlow(k, bpf.FlowCounters{TxBytes: 100, TxPackets: 1})
		src.addTCP(k, tcpEvents(map[bpf.TCPEvent]uint64{bpf.TCPConnectAttempt: 1, bpf.TCPConnectEstablished: 1}))
		src.addLatency(k, bpf.HistConnect, 7, bpf.LatencyBucket{Count: 1, SumMicros: 100})
		src.addLatency(k, bpf.HistRTT, 8, bpf.LatencyBucket{Count: 2, SumMicros: 400})
		src.addDrop(k, 2, bpf.DropCounters{Packets: 1, Bytes: 60})
	}
	resolutions := func() float64 {
		var n float64
		for _, side := range []string{"local", "remote"} {
			for _, outcome := range []string{"resolved", "world", "unknown"} {
				v, _ := gathered(t, reg, "podflow_kube_resolutions_total", map[string]string{"side": side, "outcome": outcome})
				n += v
			}
		}
		return n
	}
	if got := resolutions(); got != 4 {
		t.Errorf("first drain: %v sides resolved, want 4 (two flows, two sides, whatever their tables)", got)
	}
	if got := familySum(t, reg, "podflow_flow_transmit_bytes_total"); got != 200 {
		t.Errorf("%v bytes, want 200 (the translated connection and the plain flow)", got)
	}
	src.addFlow(toVIP(40000), bpf.FlowCounters{TxBytes: 1, TxPackets: 1})
	src.addFlow(webTo(addrDB), bpf.FlowCounters{TxBytes: 1, TxPackets: 1})
	if got := resolutions(); got != 6 {
		t.Errorf("second drain: %v sides resolved in all, want 6 (the plain flow remembered)", got)
	}
}

// countingSubscriber records what it is handed (a batch is valid only
// while Consume runs); block, while held, keeps it from consuming.
type countingSubscriber struct {
	mu      sync.Mutex
	batches []seenBatch
	bytes   uint64
	block   sync.Mutex
}

type seenBatch struct {
	first, last uint64
	start, time int64
	flows       int
}

func (s *countingSubscriber) Consume(b *flow.Batch) {
	s.block.Lock()
	defer s.block.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	flows := flow.Flows.In(b).Increments
	s.batches = append(s.batches, seenBatch{b.First, b.Last, b.Start, b.Time, len(flows)})
	for _, f := range flows {
		s.bytes += f.Value.TxBytes
	}
}

func (s *countingSubscriber) state() (int, uint64, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.batches) == 0 {
		return 0, s.bytes, 0
	}
	return len(s.batches), s.bytes, s.batches[len(s.batches)-1].last
}

// TestDrainRunsOnItsOwn: with Run, the tables are drained on the ticker
// without a scrape, and a subscriber is handed every increment; a scrape
// then shows the same total.
func TestDrainRunsOnItsOwn(t *testing.T) {
	src := newFakeSource()
	pcfg := pipelineConfig()
	pcfg.Interval = 100 * time.Millisecond
	p, reg := newTestPodflowWith(t, testConfig(100, "flows"), pcfg, src, newResolver(), &clock{now: time.Unix(1_800_000_000, 0)})
	sub := &countingSubscriber{}
	defer p.pipeline.Subscribe("test", sub).Cancel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.pipeline.(*flow.Drainer).Run(ctx)
	var want uint64
	for i := range 10 {
		src.addFlow(webTo(addrDB), bpf.FlowCounters{TxBytes: uint64(i + 1), TxPackets: 1})
		want += uint64(i + 1)
		time.Sleep(30 * time.Millisecond) // 10 of them span 3 intervals
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, got, _ := sub.state(); got == want {
			break
		}
		if time.Now().After(deadline) {
			_, got, _ := sub.state()
			t.Fatalf("subscriber got %d bytes without a scrape, want %d", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, _ := gathered(t, reg, "podflow_flow_transmit_bytes_total", nil); got != float64(want) {
		t.Errorf("/metrics shows %v bytes, want %d", got, want)
	}
	if n, _ := gathered(t, reg, "podflow_drains_total", map[string]string{"trigger": flow.TriggerInterval}); n < 2 {
		t.Errorf("%v drains on the ticker, want several", n)
	}
	// Each batch covers the time since the one before; the first, the
	// time since the tables were loaded (not since 1970).
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for i, b := range sub.batches {
		if b.time < b.start || (i == 0 && b.time-b.start > int64(time.Minute)) || (i > 0 && b.start != sub.batches[i-1].time) {
			t.Errorf("batch %d covers %d..%d (the one before ended at %d)", b.first, b.start, b.time, sub.batches[max(i-1, 0)].time)
		}
	}
}

// TestSlowSubscriber: a subscriber that does not consume does not slow the
// drain (scrapes go on) and loses nothing: the batches waiting for it are
// merged, each edge's increments summed, and it is handed them all.
func TestSlowSubscriber(t *testing.T) {
	src := newFakeSource()
	p, reg := newTestPodflow(t, testConfig(100, "flows"), src, newResolver(), &clock{now: time.Unix(1_800_000_000, 0)})
	sub := &countingSubscriber{}
	sub.block.Lock()
	defer p.pipeline.Subscribe("slow", sub).Cancel()
	const drains = 20
	for i := range drains {
		src.addFlow(webTo(addrDB), bpf.FlowCounters{TxBytes: 10, TxPackets: 1})
		src.addFlow(webTo(addrC), bpf.FlowCounters{TxBytes: 1, TxPackets: 1})
		if got := familySum(t, reg, "podflow_flow_transmit_bytes_total"); got != float64(11*(i+1)) {
			t.Fatalf("scrape %d: %v bytes, want %d", i, got, 11*(i+1))
		}
	}
	merged, _ := gathered(t, reg, "podflow_subscriber_merged_batches_total", map[string]string{"subscriber": "slow"})
	if merged == 0 {
		t.Errorf("no batch merged for a subscriber that consumed nothing")
	}
	sub.block.Unlock()
	seq := p.pipeline.Sync(flow.TriggerScrape)
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, bytes, last := sub.state()
		if last == seq {
			if bytes != 11*drains {
				t.Errorf("subscriber got %d bytes, want %d", bytes, 11*drains)
			}
			// Merged: a few batches for drains+1 drains (flow's
			// TestMergeBatches says how many exactly).
			if n > drains/2 {
				t.Errorf("subscriber handed %d batches for %d drains, want them merged", n, drains+1)
			}
			sub.mu.Lock()
			for _, b := range sub.batches {
				if b.flows > 2 {
					t.Errorf("batch of drains %d–%d has %d flow increments for 2 edges", b.first, b.last, b.flows)
				}
			}
			sub.mu.Unlock()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscriber at drain %d, want %d", last, seq)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConcurrentScrapesShareADrain: scrapes that arrive while a drain runs
// join it instead of draining again, and never race one another.
func TestConcurrentScrapesShareADrain(t *testing.T) {
	src := newSlowDrain()
	_, reg := newTestPodflow(t, testConfig(100, "flows"), src.fakeSource, newResolver(), &clock{now: time.Unix(1_800_000_000, 0)})
	src.addFlow(webTo(addrDB), bpf.FlowCounters{TxBytes: 5, TxPackets: 1})
	const scrapes = 8
	var wg sync.WaitGroup
	got := make([]float64, scrapes)
	for i := range scrapes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = gathered(t, reg, "podflow_flow_transmit_bytes_total", nil)
		}()
	}
	wg.Wait()
	for i, v := range got {
		if v != 5 {
			t.Errorf("scrape %d: %v bytes, want 5", i, v)
		}
	}
	src.flows.mu.Lock()
	drains := src.flows.drains
	src.flows.mu.Unlock()
	if drains >= scrapes {
		t.Errorf("%d concurrent scrapes drained %d times, want them to share drains", scrapes, drains)
	}
}

// TestFirstBatchStartsAtLoad: the first drain's batch counts from when the
// drainer was made (the tables were just loaded), not from 1970: a live
// view divides by its length.
func TestFirstBatchStartsAtLoad(t *testing.T) {
	src := newFakeSource()
	p, _ := newTestPodflow(t, testConfig(100, "flows"), src, newResolver(), &clock{now: time.Now()})
	sub := &countingSubscriber{}
	defer p.pipeline.Subscribe("test", sub).Cancel()
	src.addFlow(webTo(addrDB), bpf.FlowCounters{TxBytes: 1, TxPackets: 1})
	p.pipeline.Sync(flow.TriggerScrape)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if n, _, _ := sub.state(); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no batch after 5s")
		}
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if b := sub.batches[0]; b.start == 0 || b.time < b.start || b.time-b.start > int64(time.Minute) {
		t.Errorf("the first batch covers %d..%d, want the time since the drainer was made", b.start, b.time)
	}
}
