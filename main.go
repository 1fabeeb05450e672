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

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	"k8s.io/client-go/rest"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/collector"
	"github.com/podflow/podflow_exporter/internal/cgroups"
	"github.com/podflow/podflow_exporter/internal/conntrack"
	"github.com/podflow/podflow_exporter/internal/logging"
	"github.com/podflow/podflow_exporter/kube"
)

// defaultListenAddress is podflow_exporter's port.
const defaultListenAddress = ":9810"

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// flags are every command-line setting, grouped by the package that uses them.
type flags struct {
	web         *web.FlagConfig
	metricsPath string
	cgroupRoot  string
	hostRemote  string
	log         *logging.Config
	bpf         *bpf.Config
	collector   *collector.Config
	kube        *kube.Config

	// node_exporter's --web.max-requests and --web.disable-exporter-metrics.
	maxRequests            int
	disableExporterMetrics bool
}

func newApp() (*kingpin.Application, *flags) {
	app := kingpin.New("podflow_exporter",
		"Prometheus exporter of per-pod network flows, counted in the kernel by eBPF.")
	f := &flags{web: kingpinflag.AddFlags(app, defaultListenAddress)}
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").
		Default("/metrics").StringVar(&f.metricsPath)
	app.Flag("web.max-requests", "Maximum number of parallel scrape requests. Use 0 to disable.").
		Default("40").IntVar(&f.maxRequests)
	app.Flag("web.disable-exporter-metrics", "Exclude metrics about the exporter itself (promhttp_*, process_*, go_*).").
		BoolVar(&f.disableExporterMetrics)
	app.Flag("cgroup.root",
		"cgroup v2 directory at which to observe sockets: every metric family counts the sockets of its subtree only (events without a socket, named by address, are counted whatever it is). Default: where cgroup2 is mounted (from /proc/self/mountinfo).").
		StringVar(&f.cgroupRoot)
	app.Flag("host.remote",
		"Without Kubernetes, name remote peers by their address or only by its class (loopback, private, link_local, multicast, public, unspecified). One of: [address, class]").
		Default(string(collector.RemoteByAddress)).EnumVar(&f.hostRemote, string(collector.RemoteByAddress), string(collector.RemoteByClass))
	f.log = logging.AddFlags(app)
	f.bpf = bpf.AddFlags(app)
	f.collector = collector.AddFlags(app)
	f.kube = kube.AddFlags(app)
	app.Version(version.Print("podflow_exporter"))
	app.HelpFlag.Short('h')
	return app, f
}

func run(args []string, stderr io.Writer) int {
	app, f := newApp()
	app.ErrorWriter(stderr)
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(stderr, "podflow_exporter: %v (see --help)\n", nameBadFlag(args, err))
		return 1
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

// nameBadFlag puts the flag's name in front of a value error: kingpin
// reports "time: invalid duration" without saying which flag. Each flag the
// command line set is parsed again alone; the first that fails is named.
func nameBadFlag(args []string, err error) error {
	app, _ := newApp()
	ctx, perr := app.ParseContext(args)
	if perr != nil {
		return err // a syntax error: kingpin's message names the flag
	}
	for _, el := range ctx.Elements {
		flag, ok := el.Clause.(*kingpin.FlagClause)
		if !ok || el.Value == nil {
			continue
		}
		one, _ := newApp()
		arg := "--" + flag.Model().Name + "=" + *el.Value
		if _, ferr := one.Parse([]string{arg}); ferr != nil {
			return fmt.Errorf("%s: %w", arg, ferr)
		}
	}
	return err
}

// validate checks everything that can be checked before touching the kernel,
// so that bad input leaves nothing attached.
func validate(f *flags) error {
	if err := f.collector.Validate(); err != nil {
		return err
	}
	if err := f.bpf.Validate(); err != nil {
		return err
	}
	if err := f.kube.Validate(); err != nil {
		return err
	}
	return validateWeb(f)
}

// cgroupRoot returns the --cgroup.root directory, found from the mounts
// when not given, after checking it is cgroup v2.
func cgroupRoot(flag string) (string, error) {
	root := flag
	if root == "" {
		var err error
		if root, err = cgroups.FindV2Mount(); err != nil {
			return "", fmt.Errorf("%w; mount cgroup2 or point --cgroup.root at a cgroup v2 directory", err)
		}
	}
	if err := cgroups.CheckV2(root); err != nil {
		return "", fmt.Errorf("--cgroup.root: %w", err)
	}
	return root, nil
}

func serve(f *flags, logger log.Logger) error {
	level.Info(logger).Log("msg", "starting podflow_exporter", "version", version.Info())
	level.Info(logger).Log("msg", "build context", "build_context", version.BuildContext())
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
	translator := openTranslator(f, restConfig != nil, logger)
	if translator != nil {
		defer translator.Close()
	}
	scope, err := cgroups.ScopeID(root)
	if err != nil {
		return fmt.Errorf("--cgroup.root: %w", err)
	}
	tracer, err := bpf.Load(f.bpf, bpf.Options{
		CgroupRoot:           root,
		ScopeCgroupID:        scope,
		Programs:             f.collector.Programs(),
		CountTCPEvents:       f.collector.IsEnabled("tcp"),
		RecordConnectLatency: f.collector.IsEnabled("latency"),
		EphemeralPorts:       bpf.ReadEphemeralPortRange(),
		TranslateServices:    translator != nil && translator.Err() == nil,
	})
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
	logAttached(logger, tracer.Status(), root)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := collector.Sources{Flows: tracer, TCP: tracer, Latency: tracer, Drops: tracer, Tracer: tracer}
	if f.collector.IsEnabled("drops") {
		src.DropReasons = dropReasons(logger)
	}
	if err := identities(ctx, f, root, restConfig, &src, tracer, translator, logger); err != nil {
		return err
	}
	pf, err := collector.New(f.collector, src, logger)
	if err != nil {
		return err
	}
	level.Info(logger).Log("msg", "enabled collectors", "collectors", fmt.Sprint(pf.Running()))

	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector("podflow"), pf)
	mux, err := newMux(reg, f, logger)
	if err != nil {
		return err
	}
	return serveUntilDone(signalled, listeners, mux, f, logger)
}

// handleSignals returns a context that SIGINT or SIGTERM ends. SIGHUP, which
// asks a daemon to reload, is logged and ignored (Go's default would end the
// process): the web configuration file is read again on every request
// already, and every other setting is a flag, which needs a restart.
func handleSignals(logger log.Logger) (context.Context, func()) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for {
			select {
			case <-hup:
				level.Info(logger).Log("msg", "received SIGHUP: ignored, nothing to reload (--web.config.file is read on every request; flags need a restart)")
			case <-ctx.Done():
				return
			}
		}
	}()
	return ctx, func() { signal.Stop(hup); stop() }
}

// identities sets how flows are named: from a Kubernetes cache when a
// cluster is configured (restConfig from --kube.config, or in-cluster), else
// host mode.
func identities(ctx context.Context, f *flags, root string, restConfig *rest.Config, src *collector.Sources,
	tracer *bpf.Tracer, translator *conntrack.Translator, logger log.Logger) error {
	cgroupIndex := cgroups.NewIndex(root)
	if restConfig == nil {
		level.Info(logger).Log("msg", "no Kubernetes cluster configured (no --kube.config, not in a pod): host mode, local side named by cgroup, remote side by address", "host_remote", f.hostRemote)
		src.Resolver = collector.NewHostResolver(cgroupIndex, collector.RemoteNaming(f.hostRemote))
		src.Schema = collector.HostSchema
		return nil
	}
	logging.RouteKlog(logger)
	restConfig.UserAgent = "podflow_exporter/" + version.Version
	cache, err := kube.NewCache(restConfig, f.kube, logger)
	if err != nil {
		return err
	}
	cache.Run(ctx)
	go func() { <-ctx.Done(); cache.Stop() }()
	var tr collector.Translator
	if translator != nil {
		src.Translation = translationStatus{translator, tracer}
		if translator.Err() == nil {
			tr = translator
			go syncFrontends(ctx, cache, tracer, logger)
			go prefetch(ctx, tracer, translator, logger)
		}
	}
	resolver := collector.NewKubeResolver(cache, cgroupIndex, f.kube.Aggregation, tr)
	src.Resolver = resolver
	src.Kube = resolver
	src.Schema = collector.KubeSchema(f.kube.Aggregation, f.kube.PodLabels)
	level.Info(logger).Log("msg", "Kubernetes mode: flows named from the API server's pods, services, endpoint slices and nodes",
		"api_server", restConfig.Host, "node", f.kube.NodeName, "aggregation", f.kube.Aggregation)
	return nil
}

// dropReasons names the running kernel's drop reasons. Without names
// (no BTF, a kernel before 5.17) drops are still exported, with reason
// UNKNOWN.
func dropReasons(logger log.Logger) map[uint32]string {
	names, err := bpf.DropReasons()
	if err != nil {
		level.Warn(logger).Log("msg", "drop reasons have no names: every drop is exported with reason UNKNOWN", "err", err)
		return map[uint32]string{}
	}
	return names
}

func logAttached(logger log.Logger, status []bpf.ProgramStatus, root string) {
	attached := 0
	for _, st := range status {
		if st.Attached {
			attached++
			level.Info(logger).Log("msg", "attached eBPF program", "program", st.Name, "cgroup_root", root)
		} else {
			level.Warn(logger).Log("msg", "eBPF program not attached; its metrics stay empty", "program", st.Name, "err", st.Err)
		}
	}
	if attached == 0 && len(status) > 0 {
		level.Error(logger).Log("msg", "no eBPF program could be attached: only self-metrics are exported")
	}
}
