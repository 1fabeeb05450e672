// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package logging builds the exporter's one logger (go-kit/log) from the
// --log.* flags, and bridges libraries that want a *slog.Logger to it, so
// every line has the same format and level filter.
package logging

import (
	"fmt"
	"io"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// Config holds the --log.* flags.
type Config struct {
	Level  string
	Format string
}

// AddFlags registers --log.level and --log.format on app.
func AddFlags(app *kingpin.Application) *Config {
	c := &Config{}
	app.Flag("log.level", "Only log messages with the given severity or above. One of: [debug, info, warn, error]").
		Default("info").EnumVar(&c.Level, "debug", "info", "warn", "error")
	app.Flag("log.format", "Output format of log messages. One of: [logfmt, json]").
		Default("logfmt").EnumVar(&c.Format, "logfmt", "json")
	return c
}

// New returns a leveled logger writing to w.
func New(c *Config, w io.Writer) (log.Logger, error) {
	var l log.Logger
	switch c.Format {
	case "logfmt", "":
		l = log.NewLogfmtLogger(log.NewSyncWriter(w))
	case "json":
		l = log.NewJSONLogger(log.NewSyncWriter(w))
	default:
		return nil, fmt.Errorf("unknown --log.format %q", c.Format)
	}
	lvl := c.Level
	if lvl == "" {
		lvl = "info"
	}
	allow, err := level.Parse(lvl)
	if err != nil {
		return nil, fmt.Errorf("--log.level: %w", err)
	}
	l = level.NewFilter(l, level.Allow(allow))
	return log.With(l, "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller), nil
}
