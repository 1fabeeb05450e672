// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package top

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/podflow/podflow_exporter/live"
)

// The table `podflow_exporter top` prints of the state's edges: a header
// line, then aligned columns.

// columns are the table's columns; the numeric ones are right-aligned.
var columns = []struct {
	name  string
	right bool
}{
	{"LOCAL", false}, {"REMOTE", false}, {"ROLE", false}, {"PROTO", false}, {"PORT", true},
	{"SENT/s", true}, {"RECV/s", true}, {"SENT", true}, {"RECV", true},
	{"CONNECTS", true}, {"FAILED", true}, {"RETRANS", true}, {"FAILURES", false},
}

// row is e's cells; exact prints bytes as integers, else with IEC units.
func (e *edge) row(exact bool) []string {
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
func (st *state) header(url, sortKey string, shown int) string {
	when := "before the first drain"
	if t, err := time.Parse(time.RFC3339Nano, st.at); err == nil {
		when = fmt.Sprintf("drain %d at %s, rates over %.1fs", st.seq, t.Local().Format("2006-01-02 15:04:05"), st.interval)
	}
	return fmt.Sprintf("%s  %d edges, %d shown, by %s  %s", url, st.total, shown, sortKey, when)
}

// writeTable prints the header, then at most limit edges (all when limit
// is 0) as aligned columns, each line cut to width runes when width > 0.
func writeTable(w io.Writer, st *state, url, sortKey string, limit int, exact bool, status string, width int) error {
	edges := st.sorted(sortKey)
	if limit > 0 && len(edges) > limit {
		edges = edges[:limit]
	}
	lines := []string{st.header(url, sortKey, len(edges))}
	if status != "" {
		lines = append(lines, status)
	}
	cells := make([][]string, 0, len(edges)+1)
	head := make([]string, len(columns))
	for i, c := range columns {
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
	widths := make([]int, len(columns))
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
			if columns[i].right {
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
