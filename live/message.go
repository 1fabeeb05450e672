// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package live

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"
)

// message is the delta of one drain (or of several, merged) as streams
// send it. It is read-only once made: every stream shares it, and its
// encoding is made once.
type message struct {
	first, last uint64
	start, time int64
	edges       []delta
	removed     []string

	once  sync.Once
	frame []byte
}

// delta is what one edge gained.
type delta struct {
	e *edge
	d counts
}

// mergeMessages returns one message holding what ms hold, in order, each
// edge's gains summed: its size is bounded by the edges, not the drains.
// Edge IDs are never reused, so an edge removed in one message and a later
// gain cannot be confused.
func mergeMessages(ms []*message) *message {
	out := &message{first: ms[0].first, last: ms[len(ms)-1].last, start: ms[0].start, time: ms[len(ms)-1].time}
	at := map[*edge]int{}
	for _, m := range ms {
		for _, d := range m.edges {
			if i, ok := at[d.e]; ok {
				out.edges[i].d.add(&d.d)
				continue
			}
			at[d.e] = len(out.edges)
			out.edges = append(out.edges, d)
		}
		out.removed = append(out.removed, m.removed...)
	}
	return out
}

// wire returns m as the API shows it, without its edges (encode writes
// them).
func (m *message) wire() Delta {
	return Delta{
		FirstSeq:        m.first,
		LastSeq:         m.last,
		Time:            formatTime(m.time),
		IntervalSeconds: time.Duration(m.time - m.start).Seconds(),
		Removed:         m.removed,
	}
}

// encode returns m's Server-Sent Events frame, made once: the JSON of
// m.wire(), each edge's description copied from its head.
func (m *message) encode(boot string) []byte {
	m.once.Do(func() {
		var b bytes.Buffer
		b.Grow(64 + len(m.edges)*512)
		b.WriteString("id: " + eventID(boot, m.last) + "\nevent: delta\ndata: ")
		d := m.wire()
		fmt.Fprintf(&b, `{"first_seq":%d,"last_seq":%d,"time":`, d.FirstSeq, d.LastSeq)
		b.Write(jsonValue(d.Time))
		b.WriteString(`,"interval_seconds":`)
		b.Write(jsonValue(d.IntervalSeconds))
		b.WriteString(`,"edges":[`)
		for i := range m.edges {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(m.edges[i].e.head)
			b.Write(jsonValue(m.edges[i].d.wire()))
			b.WriteByte('}')
		}
		b.WriteByte(']')
		if len(d.Removed) > 0 {
			b.WriteString(`,"removed":`)
			b.Write(jsonValue(d.Removed))
		}
		b.WriteString("}\n\n")
		m.frame = b.Bytes()
	})
	return m.frame
}

// jsonValue is v's JSON; the wire types always marshal.
func jsonValue(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}

// event returns one Server-Sent Events frame. JSON has no raw newlines,
// so the data is one line.
func event(boot string, seq uint64, name string, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil { // the wire types always marshal
		panic(err)
	}
	var b bytes.Buffer
	b.Grow(len(data) + 64)
	b.WriteString("id: ")
	b.WriteString(eventID(boot, seq))
	b.WriteString("\nevent: ")
	b.WriteString(name)
	b.WriteString("\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	return b.Bytes()
}

// eventID is "<boot>:<seq>": the run and the last drain an event holds.
func eventID(boot string, seq uint64) string {
	return boot + ":" + strconv.FormatUint(seq, 10)
}

func formatTime(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// remember keeps msg for streams that resume (Last-Event-ID), dropping the
// oldest deltas beyond 64 drains or MaxEdges edges in all, so the history
// costs at most about what one full view does.
func (m *Model) remember(msg *message) {
	m.history = append(m.history, msg)
	m.historyLen += len(msg.edges) + len(msg.removed)
	for len(m.history) > 1 && (len(m.history) > maxHistory || m.historyLen > m.opts.MaxEdges) {
		m.historyLen -= len(m.history[0].edges) + len(m.history[0].removed)
		m.history[0] = nil
		m.history = m.history[1:]
	}
}

const maxHistory = 64

// since returns the deltas after drain seq merged into one, ok false
// when the history no longer reaches back to it.
func (m *Model) since(seq uint64) (*message, bool) {
	i := sort.Search(len(m.history), func(i int) bool { return m.history[i].first > seq })
	if i == len(m.history) || m.history[i].first != seq+1 {
		return nil, false
	}
	return mergeMessages(m.history[i:]), true
}

// snapshot returns the view's edges: the top n by bytes (all when n is
// 0), then one __other__ edge summing the rest.
func (m *Model) snapshot(n int) Snapshot {
	all := make([]*edge, 0, len(m.edges)+1)
	m.each(func(e *edge) { all = append(all, e) })
	sort.Slice(all, func(i, j int) bool {
		bi, bj := all[i].total.bytes(), all[j].total.bytes()
		if bi != bj {
			return bi > bj
		}
		return all[i].desc.ID < all[j].desc.ID
	})
	s := Snapshot{
		Scope:             "node",
		Seq:               m.seq,
		Time:              formatTime(m.time),
		RateWindowSeconds: m.window.Seconds(),
		LabelNames:        m.labelNames,
		TotalEdges:        len(all),
		ClusterAvailable:  m.opts.Cluster != nil,
		Edges:             make([]Edge, 0, min(len(all), n+1)),
	}
	var rest counts
	var restRate Rates
	for i, e := range all {
		if n > 0 && i >= n {
			rest.add(&e.total)
			restRate.add(&e.rate)
			continue
		}
		w := e.desc
		w.Total = e.total.wire()
		r := e.rate
		w.Rate = &r
		s.Edges = append(s.Edges, w)
	}
	if n > 0 && len(all) > n {
		other := Node{ID: OtherEdgeID, Name: OtherEdgeID, Kind: OtherEdgeID}
		labels := make(map[string]string, len(m.labelNames))
		for _, l := range m.labelNames {
			labels[l] = OtherEdgeID
		}
		s.Edges = append(s.Edges, Edge{ID: OtherEdgeID, Local: other, Remote: other, Labels: labels, Total: rest.wire(), Rate: &restRate})
	}
	return s
}
