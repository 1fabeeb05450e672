// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-kit/log/level"
)

func TestLevelsAndFormats(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&Config{Level: "warn", Format: "json"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	level.Info(l).Log("msg", "hidden")
	level.Warn(l).Log("msg", "shown", "n", 1)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line (warn and above), got %q", buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("not JSON: %v: %s", err, lines[0])
	}
	if rec["msg"] != "shown" || rec["level"] != "warn" || rec["ts"] == nil || rec["caller"] == nil {
		t.Errorf("record %v lacks msg, level, ts or caller", rec)
	}

	if _, err := New(&Config{Level: "loud", Format: "logfmt"}, &buf); err == nil {
		t.Error("New accepted level loud")
	}
	if _, err := New(&Config{Level: "info", Format: "xml"}, &buf); err == nil {
		t.Error("New accepted format xml")
	}
}

// slog records keep their level, message, attributes and groups, and obey
// the go-kit level filter.
func TestSlogBridge(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&Config{Level: "info", Format: "logfmt"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	s := Slog(l).With("component", "web").WithGroup("tls")
	s.Debug("hidden")
	s.Error("handshake failed", "peer", "10.0.0.1")
	out := buf.String()
	for _, want := range []string{`level=error`, `msg="handshake failed"`, `component=web`, `tls.peer=10.0.0.1`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s: %s", want, out)
		}
	}
	if strings.Contains(out, "hidden") {
		t.Errorf("debug record passed an info filter: %s", out)
	}
}
