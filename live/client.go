// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package live

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
)

// The client side of GET /api/v1/flows/stream: a decoder of Server-Sent
// Events, as `podflow_exporter top` reads them.

// StreamEvent is one event of a Server-Sent Events stream.
type StreamEvent struct {
	// Name is the event's "event:" field ("snapshot", "delta"), or
	// "message" when it had none.
	Name string
	// ID is the last event ID when the event was dispatched: its own "id:"
	// field, or the last one before it (the stream's Last-Event-ID).
	ID string
	// Data is the event's "data:" lines joined by "\n".
	Data []byte
}

// StreamReader decodes a text/event-stream body, following the HTML
// standard's rules: lines end in "\n" or "\r\n"; a blank line dispatches
// the event; lines starting with ":" are comments (keep-alives); an event
// without data is not dispatched; an id field containing NUL is ignored.
// A bare "\r" line ending is not supported (no Go server writes one).
type StreamReader struct {
	r      *bufio.Reader
	lastID string
	retry  time.Duration
}

// NewStreamReader returns a reader of the events of r.
func NewStreamReader(r io.Reader) *StreamReader {
	return &StreamReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// LastID is the last "id:" field read, kept across events: what a client
// reconnecting sends as Last-Event-ID.
func (s *StreamReader) LastID() string { return s.lastID }

// Retry is the reconnection delay the server last asked for with a
// "retry:" field, or 0.
func (s *StreamReader) Retry() time.Duration { return s.retry }

// Next returns the next event. At the end of the stream it returns io.EOF,
// or io.ErrUnexpectedEOF when the stream ended inside an event (which is
// then dropped, as the standard says).
func (s *StreamReader) Next() (StreamEvent, error) {
	var (
		name    string
		data    bytes.Buffer
		hasData bool
	)
	for {
		line, err := s.r.ReadBytes('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && (hasData || len(line) > 0) {
				return StreamEvent{}, io.ErrUnexpectedEOF
			}
			return StreamEvent{}, err
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) == 0 {
			if !hasData {
				// No data: nothing to dispatch; the fields read so far
				// (an event name) are forgotten, an id is kept.
				name = ""
				continue
			}
			if name == "" {
				name = "message"
			}
			return StreamEvent{Name: name, ID: s.lastID, Data: data.Bytes()}, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			name = string(value)
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				s.lastID = string(value)
			}
		case "retry":
			if ms, err := strconv.ParseUint(string(value), 10, 32); err == nil {
				s.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}
