// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package logging

import (
	"context"
	"log/slog"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// Slog returns a *slog.Logger whose records go to logger, for libraries
// (exporter-toolkit) that take one. The go-kit level filter decides what is
// printed.
func Slog(logger log.Logger) *slog.Logger {
	return slog.New(&kitHandler{logger: logger})
}

type kitHandler struct {
	logger log.Logger
	attrs  []any  // key-value pairs from WithAttrs
	group  string // prefix from WithGroup, "a.b."
}

func (h *kitHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *kitHandler) Handle(_ context.Context, r slog.Record) error {
	kv := make([]any, 0, 2+len(h.attrs)+2*r.NumAttrs())
	kv = append(kv, "msg", r.Message)
	kv = append(kv, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		kv = appendAttr(kv, h.group, a)
		return true
	})
	var l log.Logger
	switch {
	case r.Level >= slog.LevelError:
		l = level.Error(h.logger)
	case r.Level >= slog.LevelWarn:
		l = level.Warn(h.logger)
	case r.Level >= slog.LevelInfo:
		l = level.Info(h.logger)
	default:
		l = level.Debug(h.logger)
	}
	return l.Log(kv...)
}

func appendAttr(kv []any, prefix string, a slog.Attr) []any {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			kv = appendAttr(kv, prefix+a.Key+".", g)
		}
		return kv
	}
	return append(kv, prefix+a.Key, v.Any())
}

func (h *kitHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]any(nil), h.attrs...)
	for _, a := range attrs {
		n.attrs = appendAttr(n.attrs, h.group, a)
	}
	return &n
}

func (h *kitHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.group = h.group + name + "."
	return &n
}
