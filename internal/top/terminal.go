// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package top

import (
	"bytes"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// The standard output of `podflow_exporter top`: whether it is a terminal,
// how many rows fit, and the table drawn over the last one there.

// terminal is what top knows of its standard output.
type terminal struct {
	w io.Writer
	// tty: standard output is a terminal; size returns its width and
	// height.
	tty  bool
	size func() (width, height int)
}

// newTerminal finds out whether w is a terminal.
func newTerminal(w io.Writer) *terminal {
	t := &terminal{w: w, size: func() (int, int) { return 0, 0 }}
	f, ok := w.(*os.File)
	if !ok {
		return t
	}
	fd := int(f.Fd())
	if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
		return t
	}
	t.tty = true
	t.size = func() (int, int) {
		ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
		if err != nil {
			return 0, 0
		}
		return int(ws.Col), int(ws.Row)
	}
	return t
}

// rows is --limit, or the rows that fit: the terminal's height less the
// header, status and column lines and the cursor's, or 20.
func (c *Config) rows(term *terminal) int {
	if c.limitSet {
		return c.limit
	}
	if _, h := term.size(); term.tty && h > 0 {
		return max(h-4, 1)
	}
	return 20
}

// drawTable prints the table: over the last one on a terminal, else after
// it, a blank line between.
func drawTable(term *terminal, st *state, url string, cfg *Config, status string) error {
	if !term.tty {
		var b bytes.Buffer
		if err := writeTable(&b, st, url, cfg.sort, cfg.rows(term), cfg.bytes == "exact", "", 0); err != nil {
			return err
		}
		b.WriteByte('\n')
		_, err := b.WriteTo(term.w)
		return err
	}
	width, _ := term.size()
	var b bytes.Buffer
	if err := writeTable(&b, st, url, cfg.sort, cfg.rows(term), cfg.bytes == "exact", status, width); err != nil {
		return err
	}
	// Home, each line then clear to its end, then clear below: no flicker.
	out := append([]byte("\x1b[H"), bytes.ReplaceAll(b.Bytes(), []byte("\n"), []byte("\x1b[K\n"))...)
	out = append(out, "\x1b[J"...)
	_, err := term.w.Write(out)
	return err
}
