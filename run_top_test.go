// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/live"
	"github.com/podflow/podflow_exporter/naming"
	"github.com/podflow/podflow_exporter/naming/namingtest"
)

// The top command as main wires it; internal/top tests the command itself
// and e2e/top_test.go the binary against a running exporter.

// runArgs runs a command line through run, as main does.
func runArgs(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return out.String(), errb.String(), code
}

// TestTopWired: run dispatches `top` with its flags, standard output and
// error, and returns its exit code; it reads the exporter's own mux.
func TestTopWired(t *testing.T) {
	app, f := newApp()
	if _, err := app.Parse(nil); err != nil { // the defaults
		t.Fatal(err)
	}
	cfg := flow.DefaultConfig()
	pipeline, err := flow.New(&cfg, flow.Options{Resolver: naming.NewHostResolver(namingtest.Cgroups{}, naming.RemoteByAddress)}, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	view := live.New(pipeline, live.Options{MaxEdges: 10, MaxClients: 1})
	defer view.Close()
	mux, err := newMux(prometheus.NewRegistry(), view, f, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	out, errs, code := runArgs("top", "--once", "--sort=bytes", srv.URL)
	want := srv.URL + "  0 edges, 0 shown, by bytes  before the first drain\n" +
		"LOCAL  REMOTE  ROLE  PROTO  PORT  SENT/s  RECV/s  SENT  RECV  CONNECTS  FAILED  RETRANS  FAILURES\n"
	if code != 0 || errs != "" || out != want {
		t.Errorf("top --once: exit %d, stderr %q, stdout\n%s\nwant\n%s", code, errs, out, want)
	}

	out, errs, code = runArgs("top", "--output=json", srv.URL)
	if code != 1 || out != "" || errs != "podflow_exporter top: --output=json needs --once\n" {
		t.Errorf("top --output=json: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// TestTopBadFlagNamed: a bad value of one of top's flags is named, after
// others that are good.
func TestTopBadFlagNamed(t *testing.T) {
	_, errs, code := runArgs("top", "--sort=bytes", "--limit=many")
	if code != 1 || !strings.Contains(errs, "--limit=many") {
		t.Errorf("exit %d: %s", code, errs)
	}
}
