// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package top is the `podflow_exporter top` command: it reads a running
// exporter's live view (GET /api/v1/flows, the Server-Sent Events stream of
// /api/v1/flows/stream) and prints its edges as a table, redrawn at each
// drain on a terminal, or once with --once. The wire types and the stream's
// decoder are the live package's; main only adds the command and runs it.
package top

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/podflow/podflow_exporter/live"
)

// Command names the command that shows a running exporter's flows.
const Command = "top"

// defaultURL is the exporter's base URL top reads from by default.
const defaultURL = "http://localhost:9810"

// Config is the command line of `podflow_exporter top`.
type Config struct {
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

// AddCommand adds the top command and its flags to app.
func AddCommand(app *kingpin.Application) *Config {
	c := &Config{}
	cmd := app.Command(Command, "Show a running exporter's flows as a table that updates at each drain, like top, from its live view (/api/v1/flows/stream); --once prints one snapshot and exits. Ctrl-C quits.")
	cmd.Arg("url", "The exporter's base URL; basic auth as http://user:password@host:9810.").
		Default(defaultURL).StringVar(&c.url)
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

// Run runs `podflow_exporter top` until ctx ends (SIGINT, SIGTERM), and
// returns the exit code: 0, or 1 after an error it printed to stderr.
func Run(ctx context.Context, cfg *Config, stdout, stderr io.Writer) int {
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
	c, err := newClient(cfg)
	if err != nil {
		return fail(err)
	}
	term := newTerminal(stdout)
	if cfg.once {
		err = printOnce(ctx, c, cfg, term)
	} else {
		err = watch(ctx, c, cfg, term, stderr)
	}
	if err != nil && ctx.Err() == nil {
		return fail(err)
	}
	return 0
}

// printOnce prints one snapshot.
func printOnce(ctx context.Context, c *client, cfg *Config, term *terminal) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	body, err := c.snapshot(ctx)
	if err != nil {
		return err
	}
	target := c.url(flowsPath, "top=0")
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
	var st state
	st.applySnapshot(&snap)
	return writeTable(term.w, &st, c.url("", ""), cfg.sort, cfg.rows(term), cfg.bytes != "human", "", 0)
}
