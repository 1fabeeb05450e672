// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package top

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/podflow/podflow_exporter/live"
)

// The live mode of `podflow_exporter top`: the stream followed, each event
// summed into the state and the table drawn again, reconnecting when the
// stream drops or falls silent.

// watch shows the stream until ctx ends. Once connected, it reconnects
// whenever the stream drops, resuming with Last-Event-ID; an error before
// the first connection, or one that asking again cannot mend (401, 404),
// is returned.
func watch(ctx context.Context, c *client, cfg *Config, term *terminal, stderr io.Writer) error {
	var (
		st        state
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
		return drawTable(term, &st, c.url("", ""), cfg, status)
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
		resp, err := c.stream(ctx, lastID)
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
					c.url(streamPath, ""), time.Now().Format("15:04:05"), err, delay, lastID))
				sleepCtx(ctx, delay)
				break
			}
			if id := events.LastID(); id != "" {
				lastID = id
			}
			redraw, note, err := applyEvent(&st, ev)
			if err != nil {
				body.Close()
				return fmt.Errorf("%s: %w", c.url(streamPath, ""), err)
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
func applyEvent(st *state, ev live.StreamEvent) (redraw bool, note string, err error) {
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
