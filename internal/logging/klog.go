// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package logging

import (
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// RouteKlog sends client-go's logs (klog) to logger, in its format and
// under its level filter: klog's verbosity-0 messages as info, verbose ones
// as debug, errors as errors.
func RouteKlog(logger log.Logger) {
	klog.SetLogger(logr.New(&kitSink{logger: log.With(logger, "component", "client-go")}))
}

// kitSink is a logr.LogSink writing to a go-kit logger.
type kitSink struct {
	logger log.Logger
	name   string
}

func (s *kitSink) Init(logr.RuntimeInfo) {}

func (s *kitSink) Enabled(int) bool { return true }

func (s *kitSink) Info(v int, msg string, kv ...any) {
	l := level.Info(s.logger)
	if v > 0 {
		l = level.Debug(s.logger)
	}
	l.Log(append([]any{"msg", s.prefix(msg)}, kv...)...)
}

func (s *kitSink) Error(err error, msg string, kv ...any) {
	level.Error(s.logger).Log(append([]any{"msg", s.prefix(msg), "err", err}, kv...)...)
}

func (s *kitSink) WithValues(kv ...any) logr.LogSink {
	return &kitSink{logger: log.With(s.logger, kv...), name: s.name}
}

func (s *kitSink) WithName(name string) logr.LogSink {
	if s.name != "" {
		name = s.name + "/" + name
	}
	return &kitSink{logger: s.logger, name: name}
}

func (s *kitSink) prefix(msg string) string {
	if s.name == "" {
		return msg
	}
	return s.name + ": " + msg
}
