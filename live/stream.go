// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package live

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server-Sent Events, not WebSocket: the stream only flows one way, SSE is
// plain HTTP (the listener's TLS and basic auth apply unchanged, proxies
// pass it), needs no library on either side, and browsers' EventSource
// reconnects by itself and sends Last-Event-ID, which is how a stream
// resumes without losing a delta.

// maxPending is how many deltas wait for a stream before they are merged
// into one: a stream that cannot keep up holds at most one delta per edge.
const maxPending = 4

// keepalive is how long a stream goes without an event before it gets a
// comment, so that proxies and clients see it alive when drains are far
// apart.
const keepalive = 15 * time.Second

// client is one stream's mailbox.
type client struct {
	mu      sync.Mutex
	pending []*message
	wake    chan struct{}
}

// push queues msg, merging the queue when the stream has fallen behind.
// It never blocks: the drain does not wait for streams.
func (c *client) push(msg *message, st *stats) {
	c.mu.Lock()
	c.pending = append(c.pending, msg)
	if len(c.pending) > maxPending {
		st.merges += uint64(len(c.pending) - 1)
		c.pending = []*message{mergeMessages(c.pending)}
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// take returns the oldest delta waiting, nil when none is. One at a
// time: the one being written is all a stalled stream holds beyond its
// (merged) queue.
func (c *client) take() *message {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		return nil
	}
	msg := c.pending[0]
	c.pending[0] = nil
	c.pending = c.pending[1:]
	return msg
}

var errTooManyClients = errors.New("too many streams")

// attach registers a stream. Its first frame is the deltas since
// lastEventID when the history still has them (none when it is current),
// else a snapshot of every edge.
func (m *Model) attach(lastEventID string) (*client, []byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.clients) >= m.opts.MaxClients {
		m.stats.rejected++
		return nil, nil, errTooManyClients
	}
	c := &client{wake: make(chan struct{}, 1)}
	m.clients[c] = struct{}{}
	if seq, ok := m.resumable(lastEventID); ok {
		if seq == m.seq {
			return c, nil, nil
		}
		if msg, ok := m.since(seq); ok {
			m.stats.messages++
			return c, msg.encode(m.boot), nil
		}
	}
	// Encoded under the lock, so that the deltas queued from now on
	// follow on from it.
	m.stats.messages++
	return c, event(m.boot, m.seq, "snapshot", m.snapshot(0)), nil
}

// resumable parses a Last-Event-ID of this run.
func (m *Model) resumable(id string) (uint64, bool) {
	boot, s, ok := strings.Cut(id, ":")
	if !ok || boot != m.boot {
		return 0, false
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil || seq > m.seq {
		return 0, false
	}
	return seq, true
}

func (m *Model) detach(c *client) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.clients, c)
}

// ServeStream serves GET /api/v1/flows/stream.
func (m *Model) ServeStream(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	c, first, err := m.attach(r.Header.Get("Last-Event-ID"))
	if err != nil {
		w.Header().Set("Retry-After", "10")
		http.Error(w, fmt.Sprintf("%d streams are open, the most --web.live-view.max-clients allows", m.opts.MaxClients), http.StatusServiceUnavailable)
		return
	}
	defer m.detach(c)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	// A stream blocked writing to a client that stopped reading must
	// still end at shutdown.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-m.done:
			rc.SetWriteDeadline(time.Now())
		case <-stop:
		}
	}()
	// idle fires when nothing was sent for keepalive.
	idle := time.NewTimer(keepalive)
	defer idle.Stop()
	send := func(frames ...[]byte) bool {
		for _, f := range frames {
			if _, err := w.Write(f); err != nil {
				return false
			}
		}
		idle.Reset(keepalive)
		return rc.Flush() == nil
	}
	if !send([]byte("retry: 2000\n\n"), first) {
		return
	}
	for {
		select {
		case <-c.wake:
			for msg := c.take(); msg != nil; msg = c.take() {
				m.sent()
				if !send(msg.encode(m.boot)) {
					return
				}
			}
		case <-idle.C:
			if !send([]byte(": keepalive\n\n")) {
				return
			}
		case <-r.Context().Done():
			return
		case <-m.done:
			return
		}
	}
}

func (m *Model) sent() {
	m.mu.Lock()
	m.stats.messages++
	m.mu.Unlock()
}
