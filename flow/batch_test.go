// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package flow

import (
	"errors"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/naming"
)

// Merged batches sum each edge's increments per variant (a request kind, a
// drop reason, a histogram bucket), keep edges of other application
// protocols apart, sum the overflows and keep every table's error.
func TestMergeBatches(t *testing.T) {
	web, db := &naming.Identity{ID: 1, Peer: naming.Peer{Workload: "web"}}, &naming.Identity{ID: 2, Peer: naming.Peer{Workload: "db"}}
	e := naming.NewEdge(web, db, bpf.RoleClient, 6, 80, bpf.AppHTTP1)
	tls := naming.NewEdge(web, db, bpf.RoleClient, 6, 80, bpf.AppTLS)
	get := bpf.Request{Kind: bpf.RequestHTTP, Method: bpf.MethodGet, StatusClass: 2}
	post := bpf.Request{Kind: bpf.RequestHTTP, Method: bpf.MethodPost, StatusClass: 2}
	nx := bpf.Request{Kind: bpf.RequestDNS, RCode: 3, QType: 1}

	a := NewBatch(1, 1, 10, 20)
	add(Requests.In(a), e, bpf.RequestIncrement{Request: get, Count: 1})
	add(Flows.In(a), e, bpf.FlowCounters{TxBytes: 10, TxPackets: 1})
	add(Drops.In(a), e, bpf.DropIncrement{Reason: 2, DropCounters: bpf.DropCounters{Packets: 1, Bytes: 60}})
	Flows.In(a).Overflow = bpf.FlowCounters{RxBytes: 7}
	a.Errs = map[bpf.Table]error{bpf.TableTCP: errors.New("tcp failed")}

	b := NewBatch(2, 2, 20, 30)
	add(Requests.In(b), e, bpf.RequestIncrement{Request: get, Count: 2})
	add(Requests.In(b), e, bpf.RequestIncrement{Request: post, Count: 5})
	add(Requests.In(b), e, bpf.RequestIncrement{Request: nx, Count: 1})
	add(Flows.In(b), e, bpf.FlowCounters{TxBytes: 5, TxPackets: 1})
	add(Flows.In(b), tls, bpf.FlowCounters{TxBytes: 3, TxPackets: 1})
	add(Drops.In(b), e, bpf.DropIncrement{Reason: 2, DropCounters: bpf.DropCounters{Packets: 2, Bytes: 120}})
	add(Drops.In(b), e, bpf.DropIncrement{Reason: 3, DropCounters: bpf.DropCounters{Packets: 1, Bytes: 60}})
	Flows.In(b).Overflow = bpf.FlowCounters{RxBytes: 1}
	b.Errs = map[bpf.Table]error{bpf.TableFlows: errors.New("flows failed")}

	m := mergeBatches([]*Batch{a, b})
	if m.First != 1 || m.Last != 2 || m.Start != 10 || m.Time != 30 {
		t.Errorf("merged drains %d-%d over %d..%d, want 1-2 over 10..30", m.First, m.Last, m.Start, m.Time)
	}
	reqs := Requests.In(m).Increments
	if len(reqs) != 3 || reqs[0].Value.Request != get || reqs[0].Value.Count != 3 || reqs[1].Value.Count != 5 || reqs[2].Value.Request != nx {
		t.Errorf("merged requests %+v, want GET 3, POST 5, NXDOMAIN 1", reqs)
	}
	fl := Flows.In(m)
	if len(fl.Increments) != 2 || fl.Increments[0].Value.TxBytes != 15 || fl.Increments[1].Value.TxBytes != 3 || fl.Overflow.RxBytes != 8 {
		t.Errorf("merged flows %+v, want http1 15 bytes and tls 3 apart, overflow 8", fl)
	}
	drops := Drops.In(m).Increments
	if len(drops) != 2 || drops[0].Value.Packets != 3 || drops[0].Value.Bytes != 180 || drops[1].Value.Reason != 3 {
		t.Errorf("merged drops %+v, want reason 2 (3 packets) and 3 apart", drops)
	}
	if len(m.Errs) != 2 || m.Errs[bpf.TableTCP] == nil || m.Errs[bpf.TableFlows] == nil {
		t.Errorf("merged errors %v, want both tables'", m.Errs)
	}
}

func add[I, O any](p *Part[I, O], e naming.Edge, v I) {
	p.Increments = append(p.Increments, Increment[I]{e, v})
}

// A subscriber that does not consume is handed, once it does, what every
// drain found, in at most maxPending+1 batches (plus one it may have taken
// before it stopped), each edge once per batch; the drains did not wait.
func TestSlowSubscriberMerged(t *testing.T) {
	flows := &queue[bpf.FlowCounters, bpf.FlowCounters]{}
	cfg := DefaultConfig()
	d, err := New(&cfg, Options{Inputs: []Input{Flows.From(flows)}, Resolver: &resolver{}}, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	block := make(chan struct{})
	rec := &recorder{}
	sub := d.Subscribe("slow", blocked{rec, block})
	defer sub.Cancel()
	const drains = 20
	began := time.Now()
	for range drains {
		flows.add(webKey, bpf.FlowCounters{TxBytes: 10, TxPackets: 1})
		flows.add(bpf.FlowKey{CgroupID: 1, Remote: remote.Next(), ServerPort: 80, Protocol: 6, Role: bpf.RoleClient}, bpf.FlowCounters{TxBytes: 1, TxPackets: 1})
		d.Sync(TriggerScrape)
	}
	if waited := time.Since(began); waited > 5*time.Second {
		t.Errorf("%d drains took %s with a stuck subscriber", drains, waited)
	}
	close(block)
	fl, _ := rec.snapshot(sub, drains)
	if len(fl) > maxPending+2 {
		t.Errorf("handed %d batches for %d drains, want at most %d", len(fl), drains, maxPending+2)
	}
	var bytes uint64
	for i, batch := range fl {
		if len(batch) > 2 {
			t.Errorf("batch %d has %d increments for 2 edges", i, len(batch))
		}
		for _, inc := range batch {
			bytes += inc.Value.TxBytes
		}
	}
	if bytes != 11*drains {
		t.Errorf("subscriber got %d bytes, want %d", bytes, 11*drains)
	}
	if st := d.Stats(); len(st.Subscribers) != 1 || st.Subscribers[0].Merges == 0 || st.Drains[TriggerScrape] != drains {
		t.Errorf("stats %+v, want merges for subscriber slow and %d drains", st, drains)
	}
}

// blocked consumes only once block is closed.
type blocked struct {
	s     Subscriber
	block chan struct{}
}

func (b blocked) Consume(batch *Batch) {
	<-b.block
	b.s.Consume(batch)
}
