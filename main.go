// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Command podflow_exporter counts the network traffic of every socket on a
// node with eBPF and exports it, named by pod, workload and service (or, on a
// host without Kubernetes, by systemd unit and container), to Prometheus.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	"k8s.io/client-go/rest"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/collector"
	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/internal/cgroups"
	"github.com/podflow/podflow_exporter/internal/logging"
	"github.com/podflow/podflow_exporter/internal/top"
	"github.com/podflow/podflow_exporter/kube"
	"github.com/podflow/podflow_exporter/live"
	"github.com/podflow/podflow_exporter/naming"
	"github.com/podflow/podflow_exporter/translation"
)

// defaultListenAddress is podflow_exporter's port.
const defaultListenAddress = ":9810"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	app, f := newApp()
	app.ErrorWriter(stderr)
	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "podflow_exporter: %v (see --help)\n", nameBadFlag(args, err))
		return 1
	}
	if cmd == checkSystemCommand {
		return checkSystem(f, stdout)
	}
	if cmd == top.Command {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return top.Run(ctx, f.top, stdout, stderr)
	}
	logger, err := logging.New(f.log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "podflow_exporter: %v\n", err)
		return 1
	}
	if err := serve(f, logger); err != nil {
		level.Error(logger).Log("msg", "podflow_exporter stopped", "err", err)
		return 1
	}
	return 0
}

func serve(f *flags, logger log.Logger) error {
	level.Info(logger).Log("msg", "starting podflow_exporter", "version", version.Info())
	level.Info(logger).Log("msg", "build context", "build_context", version.BuildContext())
	for _, w := range f.collector.Deprecated() {
		level.Warn(logger).Log("msg", w)
	}
	if err := validate(f); err != nil {
		return err
	}
	// From here on SIGINT and SIGTERM end serving, not the process: even
	// during loading, the deferred detach then runs.
	signalled, stop := handleSignals(logger)
	defer stop()
	listeners, err := listen(f.web)
	if err != nil {
		return err
	}
	defer closeListeners(listeners)
	if err := bpf.CheckCapabilities(); err != nil {
		return err
	}
	root, err := cgroupRoot(f.cgroupRoot)
	if err != nil {
		return err
	}
	// A broken kubeconfig stops the exporter before anything is attached.
	restConfig, err := f.kube.RESTConfig()
	if errors.Is(err, kube.ErrNotConfigured) {
		restConfig = nil
	} else if err != nil {
		return err
	}

	// Connection tracking is opened first: when it cannot be, the kernel
	// need not keep connections to services apart.
	var translator *translation.Translator
	if restConfig != nil && f.collector.IsEnabled("translation") {
		translator = translation.Open(f.translation, translation.Options{
			CacheEntries: int(f.bpf.FlowTableEntries),
			// A translation is needed at each drain while the connection
			// lasts: keep it as long as a series would be.
			TTL: f.flow.IdleTTL,
		}, logger)
		defer translator.Close()
	}
	scope, err := cgroups.ScopeID(root)
	if err != nil {
		return fmt.Errorf("--cgroup.root: %w", err)
	}
	tracer, err := bpf.Load(f.bpf, loadOptions(f, root, scope, translator != nil && translator.Err() == nil))
	if err != nil {
		return err
	}
	defer func() {
		if err := tracer.Close(); err != nil {
			level.Error(logger).Log("msg", "detaching eBPF programs", "err", err)
		} else {
			level.Info(logger).Log("msg", "detached every eBPF program")
		}
	}()
	logAttached(logger, tracer.Features(), root)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := collector.Sources{Tracer: tracer}
	if f.collector.IsEnabled("drops") {
		src.DropReasons = dropReasons(logger)
	}
	resolver, err := identities(ctx, f, root, restConfig, &src, tracer, translator, logger)
	if err != nil {
		return err
	}
	pipeline, err := flow.New(f.flow, flow.Options{Inputs: flow.FromTracer(tracer, f.collector.Tables()...), Resolver: resolver}, logger)
	if err != nil {
		return err
	}
	src.Pipeline = pipeline
	pf, err := collector.New(f.collector, src, logger)
	if err != nil {
		return err
	}
	defer pf.Close()
	// The drain loop ends before the tables close.
	drainLoop := make(chan struct{})
	go func() { defer close(drainLoop); pipeline.Run(ctx) }()
	defer func() { cancel(); <-drainLoop }()
	level.Info(logger).Log("msg", "enabled collectors", "collectors", fmt.Sprint(pf.Running()), "drain_interval", pipeline.Interval())

	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector("podflow"), pf)
	view, err := liveView(f, pipeline, reg)
	if err != nil {
		return err
	}
	mux, err := newMux(reg, view, f, logger)
	if err != nil {
		return err
	}
	return serveUntilDone(signalled, listeners, mux, f, view, logger)
}

// liveView returns the live view fed by the pipeline's drains, nil when
// --no-web.live-view.
func liveView(f *flags, pipeline *flow.Drainer, reg *prometheus.Registry) (*live.Model, error) {
	if !f.live.Enabled {
		return nil, nil
	}
	opts := live.Options{
		MaxEdges:   f.collector.MaxSeries,
		MaxClients: f.live.MaxClients,
	}
	if f.live.PrometheusURL != "" {
		c, err := live.NewCluster(f.live.PrometheusURL)
		if err != nil {
			return nil, err
		}
		opts.Cluster = c
	}
	view := live.New(pipeline, opts)
	reg.MustRegister(view)
	return view, nil
}

// identities returns how flows are named: from a Kubernetes cache when a
// cluster is configured (restConfig from --kube.config, or in-cluster), else
// host mode. In Kubernetes mode it sets the cache's and translation's
// status in src.
func identities(ctx context.Context, f *flags, root string, restConfig *rest.Config, src *collector.Sources,
	tracer *bpf.Tracer, translator *translation.Translator, logger log.Logger) (naming.Resolver, error) {
	cgroupIndex := cgroups.NewIndex(root)
	if restConfig == nil {
		level.Info(logger).Log("msg", "no Kubernetes cluster configured (no --kube.config, not in a pod): host mode, local side named by cgroup, remote side by address", "host_remote", f.hostRemote)
		return naming.NewHostResolver(cgroupIndex, naming.RemoteNaming(f.hostRemote)), nil
	}
	logging.RouteKlog(logger)
	restConfig.UserAgent = "podflow_exporter/" + version.Version
	cache, err := kube.NewCache(restConfig, f.kube, logger)
	if err != nil {
		return nil, err
	}
	cache.Run(ctx)
	go func() { <-ctx.Done(); cache.Stop() }()
	var tr naming.Translator
	if translator != nil {
		src.Translation = translationStats(translator.Stats)
		if translator.Err() == nil {
			tr = translator
			translator.Run(ctx, cache, tracer)
		}
	}
	resolver := naming.NewKubeResolver(cache, cgroupIndex, f.kube.Aggregation, f.kube.PodLabels, tr)
	src.Kube = resolver
	level.Info(logger).Log("msg", "Kubernetes mode: flows named from the API server's pods, services, endpoint slices and nodes",
		"api_server", restConfig.Host, "node", f.kube.NodeName, "aggregation", f.kube.Aggregation)
	return resolver, nil
}

// translationStats reports on translation for its collector.
type translationStats func() translation.Stats

func (s translationStats) TranslationStats() collector.TranslationStats {
	return collector.TranslationStats(s())
}
