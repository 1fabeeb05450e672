// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/podflow/podflow_exporter/live"
)

// The edges `podflow_exporter top` shows: a snapshot with the deltas after
// it summed in, and the table they are printed as.

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

// topEdge is one edge as top keeps it: its totals since the exporter
// started, and its bytes per second over the rate window.
type topEdge struct {
	live.Edge
	sentRate, recvRate float64
	// gains are what the deltas of the rate window added, oldest first.
	gains []topGain
}

// topGain is what one delta added to an edge.
type topGain struct {
	seq        uint64
	sent, recv uint64
}

// topSpan is one delta of the rate window: its last drain and the time
// it covers.
type topSpan struct {
	seq     uint64
	seconds float64
}

// topState is the edges of a snapshot and the deltas after it.
type topState struct {
	edges map[string]*topEdge
	// seq is the last drain summed in; at is when it ended.
	seq uint64
	at  string
	// interval is what the rates are taken over: the snapshot's rate
	// window, then the deltas' of the last rateWindow seconds (spans).
	interval float64
	spans    []topSpan
	// total is how many edges the exporter has (a snapshot's TotalEdges;
	// after a delta, the edges kept).
	total int
}

// applySnapshot replaces the state with s.
func (st *topState) applySnapshot(s *live.Snapshot) {
	st.edges = make(map[string]*topEdge, len(s.Edges))
	for _, e := range s.Edges {
		te := &topEdge{Edge: e}
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
func (st *topState) applyDelta(d *live.Delta) (applied bool, gap uint64) {
	if st.edges == nil {
		st.edges = map[string]*topEdge{}
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
			te = &topEdge{Edge: live.Edge{ID: e.ID}}
			st.edges[e.ID] = te
		}
		te.Local, te.Remote, te.Labels = e.Local, e.Remote, e.Labels
		te.Total.Add(&e.Total)
		te.gains = append(te.gains, topGain{d.LastSeq, e.Total.TransmitBytes, e.Total.ReceiveBytes})
	}
	for _, id := range d.Removed {
		delete(st.edges, id)
	}
	// The window: the latest deltas that cover rateWindow, or the last.
	st.spans = append(st.spans, topSpan{d.LastSeq, d.IntervalSeconds})
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
func (st *topState) sorted(key string) []*topEdge {
	edges := slices.Collect(maps.Values(st.edges))
	bytes := func(e *topEdge) uint64 { return e.Total.TransmitBytes + e.Total.ReceiveBytes }
	slices.SortFunc(edges, func(a, b *topEdge) int {
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

// topColumns are the table's columns; the numeric ones are right-aligned.
var topColumns = []struct {
	name  string
	right bool
}{
	{"LOCAL", false}, {"REMOTE", false}, {"ROLE", false}, {"PROTO", false}, {"PORT", true},
	{"SENT/s", true}, {"RECV/s", true}, {"SENT", true}, {"RECV", true},
	{"CONNECTS", true}, {"FAILED", true}, {"RETRANS", true}, {"FAILURES", false},
}

// row is e's cells; exact prints bytes as integers, else with IEC units.
func (e *topEdge) row(exact bool) []string {
	num := strconv.FormatUint
	size := func(n float64) string {
		if exact {
			return strconv.FormatFloat(n, 'f', 0, 64)
		}
		return humanBytes(n)
	}
	local, remote := nodeName(e.Local), nodeName(e.Remote)
	if e.ID == live.OtherEdgeID {
		local, remote = "(other edges)", ""
	}
	var reasons []string
	for _, r := range slices.Sorted(maps.Keys(e.Total.ConnectFailures)) {
		reasons = append(reasons, r+"="+num(e.Total.ConnectFailures[r], 10))
	}
	return []string{
		local, remote, e.Labels["role"], e.Labels["protocol"], e.Labels["port"],
		size(e.sentRate), size(e.recvRate),
		size(float64(e.Total.TransmitBytes)), size(float64(e.Total.ReceiveBytes)),
		num(e.Total.ConnectAttempts+e.Total.AcceptedConnections, 10),
		num(failures(&e.Total), 10),
		num(e.Total.RetransmittedSegments, 10),
		strings.Join(reasons, ","),
	}
}

// nodeName is a side of an edge as the table names it: namespace/name in
// Kubernetes, else its name.
func nodeName(n live.Node) string {
	if n.Namespace != "" && n.Namespace != n.Name {
		return n.Namespace + "/" + n.Name
	}
	return n.Name
}

// humanBytes prints n bytes with IEC units: 999B, 1.0KiB, 12KiB, 1.5MiB.
func humanBytes(n float64) string {
	if n < 1024 {
		return strconv.FormatFloat(n, 'f', 0, 64) + "B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	i := -1
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if n < 10 {
		return strconv.FormatFloat(n, 'f', 1, 64) + units[i]
	}
	return strconv.FormatFloat(n, 'f', 0, 64) + units[i]
}

// header is the line above the table: where the numbers come from and
// how they are shown.
func (st *topState) header(url, sortKey string, shown int) string {
	when := "before the first drain"
	if t, err := time.Parse(time.RFC3339Nano, st.at); err == nil {
		when = fmt.Sprintf("drain %d at %s, rates over %.1fs", st.seq, t.Local().Format("2006-01-02 15:04:05"), st.interval)
	}
	return fmt.Sprintf("%s  %d edges, %d shown, by %s  %s", url, st.total, shown, sortKey, when)
}

// writeTable prints the header, then at most limit edges (all when limit
// is 0) as aligned columns, each line cut to width runes when width > 0.
func writeTable(w io.Writer, st *topState, url, sortKey string, limit int, exact bool, status string, width int) error {
	edges := st.sorted(sortKey)
	if limit > 0 && len(edges) > limit {
		edges = edges[:limit]
	}
	lines := []string{st.header(url, sortKey, len(edges))}
	if status != "" {
		lines = append(lines, status)
	}
	cells := make([][]string, 0, len(edges)+1)
	head := make([]string, len(topColumns))
	for i, c := range topColumns {
		head[i] = c.name
	}
	cells = append(cells, head)
	for _, e := range edges {
		cells = append(cells, e.row(exact))
	}
	lines = append(lines, alignColumns(cells)...)
	var b strings.Builder
	for _, l := range lines {
		if width > 0 {
			l = cut(l, width)
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// alignColumns pads cells into columns two spaces apart, numbers to the
// right; trailing blanks are trimmed.
func alignColumns(cells [][]string) []string {
	widths := make([]int, len(topColumns))
	for _, r := range cells {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	out := make([]string, 0, len(cells))
	for _, r := range cells {
		var b strings.Builder
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			if topColumns[i].right {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
		}
		out = append(out, strings.TrimRight(b.String(), " "))
	}
	return out
}

func cut(s string, width int) string {
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	return string(r[:width])
}
