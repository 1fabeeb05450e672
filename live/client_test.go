// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package live

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestStreamReader(t *testing.T) {
	in := ": keep-alive comment\n" +
		"retry: 1500\n\n" + // no data: nothing dispatched
		"event: snapshot\nid: 7\ndata: {\"seq\":7,\ndata: \"x\":1}\n\n" +
		"data:plain\r\n\r\n" + // CRLF, no space after the colon, no event name
		"event: delta\ndata: {}\n: a comment inside\nid: 8\n\n" +
		"event: delta\nid: bad\x00id\ndata: 9\n\n" + // an id with NUL is ignored
		"event: delta\ndata: cut"
	r := NewStreamReader(strings.NewReader(in))
	want := []StreamEvent{
		{Name: "snapshot", ID: "7", Data: []byte("{\"seq\":7,\n\"x\":1}")},
		{Name: "message", ID: "7", Data: []byte("plain")},
		{Name: "delta", ID: "8", Data: []byte("{}")},
		{Name: "delta", ID: "8", Data: []byte("9")},
	}
	for i, w := range want {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if got.Name != w.Name || got.ID != w.ID || string(got.Data) != string(w.Data) {
			t.Errorf("event %d = %q %q %q, want %q %q %q", i, got.Name, got.ID, got.Data, w.Name, w.ID, w.Data)
		}
	}
	if r.Retry() != 1500*time.Millisecond {
		t.Errorf("Retry = %v, want 1.5s", r.Retry())
	}
	if _, err := r.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a stream ending inside an event: %v, want io.ErrUnexpectedEOF", err)
	}
	if r.LastID() != "8" {
		t.Errorf("LastID = %q, want 8", r.LastID())
	}
	r = NewStreamReader(strings.NewReader("data: a\n\n: bye\n"))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("a stream ending between events: %v, want io.EOF", err)
	}
}

// TestStreamReaderLongLine reads a data line far longer than the buffer,
// as a snapshot of thousands of edges is.
func TestStreamReaderLongLine(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	r := NewStreamReader(strings.NewReader("event: snapshot\ndata: " + long + "\n\n"))
	ev, err := r.Next()
	if err != nil || len(ev.Data) != len(long) {
		t.Fatalf("got %d bytes, err %v; want %d", len(ev.Data), err, len(long))
	}
}
