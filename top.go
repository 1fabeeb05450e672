// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"golang.org/x/sys/unix"

	"github.com/podflow/podflow_exporter/live"
)

// topCommand names the command that shows a running exporter's flows.
const topCommand = "top"

// defaultTopURL is the exporter's base URL top reads from by default.
const defaultTopURL = "http://localhost:9810"

// topConfig is the command line of `podflow_exporter top`.
type topConfig struct {
	url      string
	once     bool
	output   string
	sort     string
	limit    int
	limitSet bool
	bytes    string

	user, passwordFile        string
	caFile, certFile, keyFile string
	insecure                  bool
}

// addTopCommand adds the top command and its flags to app.
func addTopCommand(app *kingpin.Application) *topConfig {
	c := &topConfig{}
	cmd := app.Command(topCommand, "Show a running exporter's flows as a table that updates at each drain, like top, from its live view (/api/v1/flows/stream); --once prints one snapshot and exits. Ctrl-C quits.")
	cmd.Arg("url", "The exporter's base URL; basic auth as http://user:password@host:9810.").
		Default(defaultTopURL).StringVar(&c.url)
	cmd.Flag("once", "Print one snapshot of every edge (GET /api/v1/flows?top=0) as plain text and exit, for scripts and support tickets.").
		BoolVar(&c.once)
	cmd.Flag("output", "With --once: table, or json (the snapshot as the exporter sends it, indented, every edge). One of: [table, json]").
		Default("table").EnumVar(&c.output, "table", "json")
	cmd.Flag("sort", "Order of the rows, most first: rate (bytes/s both ways over the last interval), bytes (both ways since the exporter started), failures (failed connects), packets (both ways). One of: [rate, bytes, failures, packets]").
		Default(sortRate).EnumVar(&c.sort, sortRate, sortBytes, sortFailures, sortPackets)
	cmd.Flag("limit", "Rows to show, 0 for all. Default: what fits the terminal, or 20 when standard output is not a terminal.").
		PlaceHolder("N").IsSetByUser(&c.limitSet).IntVar(&c.limit)
	cmd.Flag("bytes", "How bytes are printed: exact (integers), human (KiB, MiB...), auto (human, exact with --once). One of: [auto, exact, human]").
		Default("auto").EnumVar(&c.bytes, "auto", "exact", "human")
	cmd.Flag("basic-auth.username", "User for the exporter's basic auth (--web.config.file); or put user:password in the URL.").
		PlaceHolder("USER").StringVar(&c.user)
	cmd.Flag("basic-auth.password-file", "File holding the basic-auth password (kept out of the process list, unlike a password in the URL).").
		PlaceHolder("FILE").StringVar(&c.passwordFile)
	cmd.Flag("tls.ca-file", "CA certificates (PEM) to trust for an https:// URL, besides the system's.").
		PlaceHolder("FILE").StringVar(&c.caFile)
	cmd.Flag("tls.cert-file", "Client certificate (PEM) for an exporter that asks for one; with --tls.key-file.").
		PlaceHolder("FILE").StringVar(&c.certFile)
	cmd.Flag("tls.key-file", "Key (PEM) of --tls.cert-file.").
		PlaceHolder("FILE").StringVar(&c.keyFile)
	cmd.Flag("tls.insecure-skip-verify", "Do not check the exporter's certificate (a self-signed one, while testing).").
		BoolVar(&c.insecure)
	return c
}

// topTerminal is what top knows of its standard output.
type topTerminal struct {
	w io.Writer
	// tty: standard output is a terminal; size returns its width and
	// height.
	tty  bool
	size func() (width, height int)
}

func newTopTerminal(w io.Writer) *topTerminal {
	t := &topTerminal{w: w, size: func() (int, int) { return 0, 0 }}
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
func (c *topConfig) rows(term *topTerminal) int {
	if c.limitSet {
		return c.limit
	}
	if _, h := term.size(); term.tty && h > 0 {
		return max(h-4, 1)
	}
	return 20
}

// runTop runs `podflow_exporter top` until ctx ends (SIGINT, SIGTERM), and
// returns the exit code: 0, or 1 after an error it printed to stderr.
func runTop(ctx context.Context, cfg *topConfig, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "podflow_exporter top: %v\n", err)
		return 1
	}
	if cfg.limit < 0 {
		return fail(fmt.Errorf("--limit=%d: must be 0 (all) or more", cfg.limit))
	}
	if cfg.output != "table" && !cfg.once {
		return fail(errors.New("--output=" + cfg.output + " needs --once"))
	}
	client, err := newTopClient(cfg)
	if err != nil {
		return fail(err)
	}
	term := newTopTerminal(stdout)
	if cfg.once {
		err = topOnce(ctx, client, cfg, term)
	} else {
		err = topWatch(ctx, client, cfg, term, stderr)
	}
	if err != nil && ctx.Err() == nil {
		return fail(err)
	}
	return 0
}

// topOnce prints one snapshot.
func topOnce(ctx context.Context, client *topClient, cfg *topConfig, term *topTerminal) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	body, err := client.snapshot(ctx)
	if err != nil {
		return err
	}
	target := client.url(flowsPath, "top=0")
	if cfg.output == "json" {
		var b bytes.Buffer
		if err := json.Indent(&b, body, "", "  "); err != nil {
			return fmt.Errorf("%s: not JSON: %w", target, err)
		}
		b.WriteByte('\n')
		_, err := b.WriteTo(term.w)
		return err
	}
	var snap live.Snapshot
	if err := json.Unmarshal(body, &snap); err != nil {
		return fmt.Errorf("%s: not a snapshot of the live view: %w", target, err)
	}
	var st topState
	st.applySnapshot(&snap)
	return writeTable(term.w, &st, client.url("", ""), cfg.sort, cfg.rows(term), cfg.bytes != "human", "", 0)
}

// topWatch shows the stream until ctx ends. Once connected, it reconnects
// whenever the stream drops, resuming with Last-Event-ID; an error before
// the first connection, or one that asking again cannot mend (401, 404),
// is returned.
func topWatch(ctx context.Context, client *topClient, cfg *topConfig, term *topTerminal, stderr io.Writer) error {
	var (
		st        topState
		drawn     bool
		lastID    string
		status    string
		connected bool
		delay     = time.Second
	)
	if term.tty {
		fmt.Fprint(term.w, "\x1b[?25l") // hide the cursor
		defer fmt.Fprint(term.w, "\x1b[?25h\n")
	}
	draw := func() error {
		return drawTop(term, &st, client.url("", ""), cfg, status)
	}
	// say shows a status: on the terminal in the table's status line, else
	// on stderr, keeping standard output to tables.
	say := func(s string) {
		status = s
		if !term.tty {
			fmt.Fprintf(stderr, "podflow_exporter top: %s\n", s)
		} else if drawn {
			_ = draw()
		}
	}
	for ctx.Err() == nil {
		resp, err := client.stream(ctx, lastID)
		if err != nil {
			if !connected || isFatal(err) || ctx.Err() != nil {
				return err
			}
			say(fmt.Sprintf("%s: %v; trying again in %s", time.Now().Format("15:04:05"), err, delay))
			sleepCtx(ctx, delay)
			delay = min(delay*2, 10*time.Second)
			continue
		}
		if connected {
			say(fmt.Sprintf("reconnected at %s with Last-Event-ID %s", time.Now().Format("15:04:05"), lastID))
		}
		connected = true
		body := newIdleBody(resp.Body, streamIdleTimeout)
		events := live.NewStreamReader(body)
		for {
			ev, err := events.Next()
			if err != nil {
				body.Close()
				if ctx.Err() != nil {
					return nil
				}
				switch {
				case body.idle.Load():
					err = fmt.Errorf("nothing received for %s", streamIdleTimeout)
				case errors.Is(err, io.EOF):
					err = errors.New("the exporter ended the stream")
				}
				if id := events.LastID(); id != "" {
					lastID = id
				}
				if r := events.Retry(); r > 0 {
					delay = r
				}
				say(fmt.Sprintf("stream from %s dropped at %s (%v); reconnecting in %s with Last-Event-ID %s",
					client.url(streamPath, ""), time.Now().Format("15:04:05"), err, delay, lastID))
				sleepCtx(ctx, delay)
				break
			}
			if id := events.LastID(); id != "" {
				lastID = id
			}
			redraw, note, err := applyEvent(&st, ev)
			if err != nil {
				body.Close()
				return fmt.Errorf("%s: %w", client.url(streamPath, ""), err)
			}
			if note != "" {
				status = note // shown with the table drawn next
				if !term.tty {
					fmt.Fprintf(stderr, "podflow_exporter top: %s\n", note)
				}
			}
			if redraw {
				delay = time.Second
				if err := draw(); err != nil {
					body.Close()
					return err
				}
				drawn, status = true, ""
			}
		}
	}
	return nil
}

// applyEvent sums a stream event into st; redraw says whether st changed,
// note what the user should know of it.
func applyEvent(st *topState, ev live.StreamEvent) (redraw bool, note string, err error) {
	switch ev.Name {
	case "snapshot":
		var s live.Snapshot
		if err := json.Unmarshal(ev.Data, &s); err != nil {
			return false, "", fmt.Errorf("event snapshot (id %s): %w", ev.ID, err)
		}
		if st.edges != nil {
			note = "a fresh snapshot after reconnecting: the exporter restarted, or no longer keeps the drains missed; totals start again from it"
		}
		st.applySnapshot(&s)
		return true, note, nil
	case "delta":
		var d live.Delta
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return false, "", fmt.Errorf("event delta (id %s): %w", ev.ID, err)
		}
		from := st.seq
		applied, gap := st.applyDelta(&d)
		if gap > 0 {
			note = fmt.Sprintf("drains %d to %d missing from the stream: the totals lack what they counted", from+1, from+gap)
		}
		return applied, note, nil
	}
	return false, "", nil // an event of a later version
}

// drawTop prints the table: over the last one on a terminal, else after
// it, a blank line between.
func drawTop(term *topTerminal, st *topState, url string, cfg *topConfig, status string) error {
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

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// streamIdleTimeout is how long a stream may stay silent before top takes
// it for dead (a peer gone without closing, a laptop that slept): the
// exporter sends a keep-alive comment every 15s.
var streamIdleTimeout = time.Minute

// idleBody closes a stream's body when nothing came for a while, which
// ends the read that waits on it.
type idleBody struct {
	io.ReadCloser
	timeout time.Duration
	timer   *time.Timer
	idle    atomic.Bool
}

func newIdleBody(body io.ReadCloser, timeout time.Duration) *idleBody {
	b := &idleBody{ReadCloser: body, timeout: timeout}
	b.timer = time.AfterFunc(timeout, func() { b.idle.Store(true); body.Close() })
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(b.timeout)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	return b.ReadCloser.Close()
}
