// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

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

// flags are every command-line setting, grouped by the package that uses them.
type flags struct {
	web         *web.FlagConfig
	metricsPath string
	cgroupRoot  string
	hostRemote  string
	log         *logging.Config
	bpf         *bpf.Config
	collector   *collector.Config
	flow        *flow.Config
	translation *translation.Config
	kube        *kube.Config
	top         *top.Config
	live        *live.Config

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
		Default(string(naming.RemoteByAddress)).EnumVar(&f.hostRemote, string(naming.RemoteByAddress), string(naming.RemoteByClass))
	f.log = logging.AddFlags(app)
	f.bpf = bpf.AddFlags(app)
	f.collector = collector.AddFlags(app)
	f.flow = flow.AddFlags(app)
	f.translation = translation.AddFlags(app)
	f.kube = kube.AddFlags(app)
	f.live = live.AddFlags(app)
	app.Command("serve", "Run the exporter (the default command).").Default()
	app.Command(checkSystemCommand, "Probe what this node allows the exporter (BTF, cgroup v2, capabilities, memlock, each eBPF program, connection tracking, Kubernetes), print one line per check with the fix, and exit: 1 when the exporter could not count bytes here. Takes the exporter's flags.")
	f.top = top.AddCommand(app)
	app.Version(version.Print("podflow_exporter"))
	app.HelpFlag.Short('h')
	return app, f
}

// validate checks everything that can be checked before touching the kernel,
// so that bad input leaves nothing attached.
func validate(f *flags) error {
	if err := f.collector.Validate(); err != nil {
		return err
	}
	if err := f.flow.Validate(); err != nil {
		return err
	}
	if err := f.live.Validate(); err != nil {
		return err
	}
	// Checked in host mode too, where it is not used: a typo should not
	// wait for the move to Kubernetes to show.
	if err := f.translation.Validate(); err != nil {
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
		alone := []string{arg}
		if ctx.SelectedCommand != nil {
			// A command's flags parse only after it (the app's anywhere).
			alone = []string{ctx.SelectedCommand.FullCommand(), arg}
		}
		if _, ferr := one.Parse(alone); ferr != nil {
			return fmt.Errorf("%s: %w", arg, ferr)
		}
	}
	return err
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

// loadOptions are the eBPF programs and settings the enabled collectors
// need, for serve and check-system alike. translate: connections to
// services are kept apart for translation.
func loadOptions(f *flags, root string, scope uint64, translate bool) bpf.Options {
	return bpf.Options{
		CgroupRoot:           root,
		ScopeCgroupID:        scope,
		Programs:             f.collector.Programs(),
		CountTCPEvents:       f.collector.IsEnabled("tcp"),
		RecordConnectLatency: f.collector.IsEnabled("latency"),
		EphemeralPorts:       bpf.ReadEphemeralPortRange(),
		TranslateServices:    translate,
		TrackDNS:             f.collector.IsEnabled("dns"),
		TrackHTTP:            f.collector.IsEnabled("http"),
	}
}

// logAttached says what the kernel allowed: each program attached or why
// not, and the features that depend on the kernel's version.
func logAttached(logger log.Logger, features bpf.Features, root string) {
	attached := 0
	status := features.Programs
	for _, st := range status {
		switch {
		case st.Attached && bpf.RunAtDrain(st.Name):
			attached++
			level.Info(logger).Log("msg", "loaded eBPF program, run at each drain (never attached)", "program", st.Name)
		case st.Attached:
			attached++
			level.Info(logger).Log("msg", "attached eBPF program", "program", st.Name, "cgroup_root", root)
		default:
			level.Warn(logger).Log("msg", "eBPF program not attached; its metrics stay empty", "program", st.Name, "err", st.Err)
		}
	}
	if features.Attached(bpf.ProgDrops) && !features.DropReceivingSocket {
		level.Info(logger).Log("msg", "kernel before 6.11: a dropped packet a socket received is named by its address, not by the socket's cgroup")
	}
	if attached == 0 && len(status) > 0 {
		level.Error(logger).Log("msg", "no eBPF program could be attached: only self-metrics are exported")
	}
}
