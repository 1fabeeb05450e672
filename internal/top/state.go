// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package top

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/podflow/podflow_exporter/live"
)

// The edges `podflow_exporter top` shows: a snapshot with the deltas after
// it summed in, the rates over the last deltas, and the order of the rows.

// Sort orders of --sort.
const (
	sortRate     = "rate"
	sortBytes    = "bytes"
	sortFailures = "failures"
	sortPackets  = "packets"
)

// rateWindow is what top's rates are taken over, at least: the deltas of
// the last 10 seconds. Each scrape of the exporter drains too, so a delta
// may cover a tenth of a second; one delta's rate would jump about.
const rateWindow = 10.0

// edge is one edge as top keeps it: its totals since the exporter
// started, and its bytes per second over the rate window.
type edge struct {
	live.Edge
	sentRate, recvRate float64
	// gains are what the deltas of the rate window added, oldest first.
	gains []gain
}

// gain is what one delta added to an edge.
type gain struct {
	seq        uint64
	sent, recv uint64
}

// span is one delta of the rate window: its last drain and the time
// it covers.
type span struct {
	seq     uint64
	seconds float64
}

// state is the edges of a snapshot and the deltas after it.
type state struct {
	edges map[string]*edge
	// seq is the last drain summed in; at is when it ended.
	seq uint64
	at  string
	// interval is what the rates are taken over: the snapshot's rate
	// window, then the deltas' of the last rateWindow seconds (spans).
	interval float64
	spans    []span
	// total is how many edges the exporter has (a snapshot's TotalEdges;
	// after a delta, the edges kept).
	total int
}

// applySnapshot replaces the state with s.
func (st *state) applySnapshot(s *live.Snapshot) {
	st.edges = make(map[string]*edge, len(s.Edges))
	for _, e := range s.Edges {
		te := &edge{Edge: e}
		if e.Rate != nil {
			te.sentRate, te.recvRate = e.Rate.TransmitBytes, e.Rate.ReceiveBytes
		}
		st.edges[e.ID] = te
	}
	st.seq, st.at, st.interval, st.total = s.Seq, s.Time, s.RateWindowSeconds, s.TotalEdges
	st.spans = nil
}

// applyDelta sums d into the state and takes the rates over the deltas
// of the last rateWindow seconds: an edge that gained nothing in them has
// rate 0. A delta the state already holds
// (LastSeq not after seq) is ignored and false returned. gap is how many
// drains were missed before d (0 as the exporter promises: it sends a
// fresh snapshot rather than leave a gap).
func (st *state) applyDelta(d *live.Delta) (applied bool, gap uint64) {
	if st.edges == nil {
		st.edges = map[string]*edge{}
	}
	if d.LastSeq <= st.seq && st.seq > 0 {
		return false, 0
	}
	if d.FirstSeq > st.seq+1 {
		gap = d.FirstSeq - st.seq - 1
	}
	for _, e := range d.Edges {
		te, ok := st.edges[e.ID]
		if !ok {
			te = &edge{Edge: live.Edge{ID: e.ID}}
			st.edges[e.ID] = te
		}
		te.Local, te.Remote, te.Labels = e.Local, e.Remote, e.Labels
		te.Total.Add(&e.Total)
		te.gains = append(te.gains, gain{d.LastSeq, e.Total.TransmitBytes, e.Total.ReceiveBytes})
	}
	for _, id := range d.Removed {
		delete(st.edges, id)
	}
	// The window: the latest deltas that cover rateWindow, or the last.
	st.spans = append(st.spans, span{d.LastSeq, d.IntervalSeconds})
	seconds := 0.0
	for _, sp := range st.spans {
		seconds += sp.seconds
	}
	for len(st.spans) > 1 && seconds-st.spans[0].seconds >= rateWindow {
		seconds -= st.spans[0].seconds
		st.spans = st.spans[1:]
	}
	oldest := st.spans[0].seq
	for _, te := range st.edges {
		for len(te.gains) > 0 && te.gains[0].seq < oldest {
			te.gains = te.gains[1:]
		}
		var sent, recv uint64
		for _, g := range te.gains {
			sent, recv = sent+g.sent, recv+g.recv
		}
		te.sentRate, te.recvRate = 0, 0
		if seconds > 0 {
			te.sentRate, te.recvRate = float64(sent)/seconds, float64(recv)/seconds
		}
	}
	st.seq, st.at, st.interval, st.total = d.LastSeq, d.Time, seconds, len(st.edges)
	return true, gap
}

func failures(c *live.Counters) uint64 {
	var n uint64
	for _, v := range c.ConnectFailures {
		n += v
	}
	return n
}

// sorted returns the edges in the order of key, most first; ties go by
// bytes, then by ID, so that the order is stable from one redraw to the
// next. The edge summing those a snapshot left out comes last.
func (st *state) sorted(key string) []*edge {
	edges := slices.Collect(maps.Values(st.edges))
	bytes := func(e *edge) uint64 { return e.Total.TransmitBytes + e.Total.ReceiveBytes }
	slices.SortFunc(edges, func(a, b *edge) int {
		if ao, bo := a.ID == live.OtherEdgeID, b.ID == live.OtherEdgeID; ao != bo {
			if ao {
				return 1
			}
			return -1
		}
		var c int
		switch key {
		case sortRate:
			c = cmp.Compare(b.sentRate+b.recvRate, a.sentRate+a.recvRate)
		case sortFailures:
			c = cmp.Compare(failures(&b.Total), failures(&a.Total))
		case sortPackets:
			c = cmp.Compare(b.Total.TransmitPackets+b.Total.ReceivePackets, a.Total.TransmitPackets+a.Total.ReceivePackets)
		}
		if c != 0 {
			return c
		}
		if c = cmp.Compare(bytes(b), bytes(a)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return edges
}
