// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/mdlayher/vsock"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/podflow/podflow_exporter/internal/logging"
	"github.com/podflow/podflow_exporter/live"
)

// validateWeb checks the --web.* flags that exporter-toolkit does not.
func validateWeb(f *flags) error {
	if f.metricsPath == "" {
		return errors.New("--web.telemetry-path is empty: it must be a path such as /metrics")
	}
	if err := validateTelemetryPath(f.metricsPath); err != nil {
		return fmt.Errorf("--web.telemetry-path=%s: %w", f.metricsPath, err)
	}
	if f.maxRequests < 0 {
		return fmt.Errorf("--web.max-requests=%d: must be 0 (no limit) or more", f.maxRequests)
	}
	if *f.web.WebConfigFile != "" {
		if err := web.Validate(*f.web.WebConfigFile); err != nil {
			return fmt.Errorf("--web.config.file %s: %w", *f.web.WebConfigFile, err)
		}
	}
	return nil
}

// validateTelemetryPath accepts the paths net/http can route as written:
// absolute and clean, without the {wildcards} of its patterns (which would
// panic or match other paths). "/" serves metrics at every path, with no
// landing page.
func validateTelemetryPath(p string) (err error) {
	if !strings.HasPrefix(p, "/") {
		return errors.New("must start with /")
	}
	if strings.ContainsAny(p, "{} \t\r\n") {
		return errors.New("must not contain braces or white space")
	}
	if clean := path.Clean(p); p != clean && p != clean+"/" {
		return fmt.Errorf("not a clean path (%s)", clean)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("not a path net/http can serve: %v", r)
		}
	}()
	http.NewServeMux().Handle(p, http.NotFoundHandler())
	return nil
}

// listen binds every --web.listen-address, or takes the sockets systemd
// passed with --web.systemd-socket, as exporter-toolkit's ListenAndServe
// would, but before anything is loaded into the kernel: an address that
// cannot be served then stops the exporter with nothing attached, and the
// message names the flag.
func listen(f *web.FlagConfig) ([]net.Listener, error) {
	if *f.WebSystemdSocket {
		ls, err := activation.Listeners()
		if err != nil {
			return nil, fmt.Errorf("--web.systemd-socket: %w", err)
		}
		var out []net.Listener
		for _, l := range ls {
			if l != nil { // a socket that is not a stream listener
				out = append(out, l)
			}
		}
		if len(out) == 0 {
			return nil, errors.New("--web.systemd-socket: systemd passed no listening socket (LISTEN_FDS unset or not for this process)")
		}
		return out, nil
	}
	if len(*f.WebListenAddresses) == 0 {
		return nil, errors.New("--web.listen-address: no address to listen on")
	}
	var out []net.Listener
	for _, addr := range *f.WebListenAddresses {
		l, err := listenOne(addr)
		if err != nil {
			closeListeners(out)
			return nil, fmt.Errorf("--web.listen-address=%s: %w", addr, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// listenOne listens on a TCP address, or on vsock://:PORT.
func listenOne(addr string) (net.Listener, error) {
	if !strings.HasPrefix(addr, "vsock://") {
		return net.Listen("tcp", addr)
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, err
	}
	_, p, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(p, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("vsock port: %w", err)
	}
	return vsock.Listen(uint32(port), nil)
}

func closeListeners(ls []net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}

// newMux serves the metrics of reg at --web.telemetry-path, the live view
// (when view is not nil) and the landing page at /.
func newMux(reg *prometheus.Registry, view *live.Model, f *flags, logger log.Logger) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	links := []web.LandingLinks{{Address: f.metricsPath, Text: "Metrics"}}
	if view != nil {
		for p, h := range view.Routes() {
			if p == f.metricsPath {
				return nil, fmt.Errorf("--web.telemetry-path=%s is the live view's: choose another path, or --no-web.live-view", p)
			}
			mux.Handle(p, h)
		}
		page := live.PageHandler()
		mux.Handle("/flows", page)
		mux.Handle("/flows/", page)
		links = append(links,
			web.LandingLinks{Address: "/flows", Text: "Live view", Description: "who talks to whom on this node, as it happens"},
			web.LandingLinks{Address: "/api/v1/flows", Text: "Flows API", Description: "JSON snapshot; /api/v1/flows/stream streams deltas"})
	}
	mux.Handle(f.metricsPath, metricsHandler(reg, f, logger))
	if f.metricsPath == "/" {
		return mux, nil
	}
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "podflow_exporter",
		Description: "Per-pod network flows, counted by eBPF",
		Version:     version.Info(),
		Links:       links,
	})
	if err != nil {
		return nil, err
	}
	mux.Handle("/", landing)
	return mux, nil
}

// metricsHandler is node_exporter's: the exporter's own go_*, process_* and
// promhttp_* metrics come from a registry of their own, left out with
// --web.disable-exporter-metrics; --web.max-requests bounds concurrent
// scrapes; OpenMetrics is served to scrapers that ask for it.
func metricsHandler(reg *prometheus.Registry, f *flags, logger log.Logger) http.Handler {
	opts := promhttp.HandlerOpts{
		ErrorLog:            promhttpErrorLog{logger},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: f.maxRequests,
		EnableOpenMetrics:   true,
	}
	var h http.Handler
	if f.disableExporterMetrics {
		h = promhttp.HandlerFor(reg, opts)
	} else {
		own := prometheus.NewRegistry()
		own.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		opts.Registry = own
		h = promhttp.InstrumentMetricHandler(own, promhttp.HandlerFor(prometheus.Gatherers{own, reg}, opts))
	}
	return quietOnDisconnect(h, logger)
}

// quietOnDisconnect logs once when a scraper goes away before its metrics
// are sent. promhttp, told to carry on after errors so that one bad family
// does not cost the scrape, would log the failed write of every family
// left (gzip keeps returning the first error): the writer it is given
// reports success after the first failure and discards the rest.
func quietOnDisconnect(h http.Handler, logger log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dw := &disconnectWriter{ResponseWriter: w}
		h.ServeHTTP(dw, r)
		if dw.err != nil {
			level.Warn(logger).Log("msg", "scraper went away before its metrics were sent", "remote", r.RemoteAddr, "err", dw.err)
		}
	})
}

type disconnectWriter struct {
	http.ResponseWriter
	err error
}

func (d *disconnectWriter) Write(b []byte) (int, error) {
	if d.err == nil {
		_, d.err = d.ResponseWriter.Write(b)
	}
	return len(b), nil
}

// Unwrap gives http.ResponseController the connection's writer.
func (d *disconnectWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// promhttpErrorLog adapts the logger to promhttp's error log.
type promhttpErrorLog struct{ logger log.Logger }

func (l promhttpErrorLog) Println(v ...any) {
	level.Error(l.logger).Log("msg", "serving metrics", "err", fmt.Sprint(v...))
}

// serveUntilDone serves handler on listeners until ctx ends (SIGINT,
// SIGTERM), then stops serving and returns.
func serveUntilDone(ctx context.Context, listeners []net.Listener, handler http.Handler, f *flags, view *live.Model, logger log.Logger) error {
	server := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		// net/http's own messages (TLS handshake errors, panics) would
		// otherwise go to stderr in Go's log format.
		ErrorLog: slog.NewLogLogger(logging.Slog(log.With(logger, "component", "http")).Handler(), slog.LevelError),
	}
	if view != nil {
		// Streams never end by themselves: Shutdown would wait for them.
		server.RegisterOnShutdown(view.Close)
	}
	served := make(chan error, 1)
	go func() { served <- web.ServeMultiple(listeners, server, f.web, logging.Slog(logger)) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	level.Info(logger).Log("msg", "received signal, shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := server.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
