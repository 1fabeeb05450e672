// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package kube

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Aggregation levels: how finely a pod is named.
const (
	AggregateNamespace = "namespace"
	AggregateWorkload  = "workload"
	AggregatePod       = "pod"
)

// Config holds the --kube.* flags.
type Config struct {
	Kubeconfig  string
	NodeName    string
	Aggregation string
	PodLabels   []string
	networkArgs []string
	// Networks are the named CIDRs of --kube.network, parsed by Validate.
	Networks []Network
}

// Network names addresses outside the cluster.
type Network struct {
	Name   string
	Prefix netip.Prefix
}

// AddFlags registers the --kube.* flags on app.
func AddFlags(app *kingpin.Application) *Config {
	c := &Config{}
	app.Flag("kube.config",
		"Path to a kubeconfig. Without it, in a pod the in-cluster configuration is used, elsewhere the exporter runs in host mode.").
		StringVar(&c.Kubeconfig)
	app.Flag("kube.node-name",
		"Name of the node the exporter runs on (set NODE_NAME from the downward API).").
		Default(os.Getenv("NODE_NAME")).StringVar(&c.NodeName)
	app.Flag("kube.aggregation",
		"How finely pods are named in flow labels: namespace, workload (Deployment, StatefulSet, ...) or pod.").
		Default(AggregateWorkload).EnumVar(&c.Aggregation, AggregateNamespace, AggregateWorkload, AggregatePod)
	app.Flag("kube.pod-labels",
		"Comma-separated pod label keys to copy into flow labels (local_label_<key>, remote_label_<key>; off by default: each multiplies series).").
		StringsVar(&c.PodLabels)
	app.Flag("kube.network",
		"Name addresses outside the cluster by CIDR, e.g. office=10.8.0.0/16 (repeatable; longest prefix wins). Others are \"world\".").
		StringsVar(&c.networkArgs)
	return c
}

// labelKey is what Kubernetes allows as a label key: an optional DNS prefix
// and a name of alphanumerics, '-', '_' and '.'.
var labelKey = regexp.MustCompile(`^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)

// Validate parses --kube.network and checks the other flags.
func (c *Config) Validate() error {
	switch c.Aggregation {
	case AggregateNamespace, AggregateWorkload, AggregatePod:
	default:
		return fmt.Errorf("--kube.aggregation: unknown level %q, want namespace, workload or pod", c.Aggregation)
	}
	var keys []string
	for _, arg := range c.PodLabels {
		for _, k := range strings.Split(arg, ",") {
			if k = strings.TrimSpace(k); k == "" {
				continue
			}
			if !labelKey.MatchString(k) {
				return fmt.Errorf("--kube.pod-labels: %q is not a Kubernetes label key", k)
			}
			keys = append(keys, k)
		}
	}
	c.PodLabels = keys
	seen := map[string]string{}
	for _, k := range keys {
		s := SanitizeLabelName(k)
		if other, ok := seen[s]; ok {
			return fmt.Errorf("--kube.pod-labels: %q and %q both become label %q", other, k, s)
		}
		seen[s] = k
	}
	c.Networks = nil
	for _, arg := range c.networkArgs {
		name, cidr, ok := strings.Cut(arg, "=")
		if !ok || name == "" {
			return fmt.Errorf("--kube.network %q: want NAME=CIDR", arg)
		}
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			return fmt.Errorf("--kube.network %q: %w", arg, err)
		}
		c.Networks = append(c.Networks, Network{Name: name, Prefix: p.Masked()})
	}
	// Longest prefix first: the first match is the most specific.
	sort.SliceStable(c.Networks, func(i, j int) bool { return c.Networks[i].Prefix.Bits() > c.Networks[j].Prefix.Bits() })
	return nil
}

// SanitizeLabelName turns a label key into a Prometheus label name part:
// every character outside [a-zA-Z0-9_] becomes '_'.
func SanitizeLabelName(key string) string {
	b := []byte(key)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// ErrNotConfigured means no cluster is configured: no --kube.config and not
// running in a pod. The exporter then runs in host mode.
var ErrNotConfigured = errors.New("no Kubernetes cluster configured")

// RESTConfig returns how to reach the API server: from --kube.config, or
// in-cluster when running in a pod. ErrNotConfigured when neither applies;
// any other error names the flag or file to fix.
func (c *Config) RESTConfig() (*rest.Config, error) {
	if c.Kubeconfig != "" {
		if _, err := os.Stat(c.Kubeconfig); err != nil {
			return nil, fmt.Errorf("--kube.config: %w", err)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kube.config %s: %w", c.Kubeconfig, err)
		}
		return cfg, nil
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		return nil, ErrNotConfigured
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("in-cluster configuration (or set --kube.config): %w", err)
	}
	return cfg, nil
}

// ServerVersion asks the API server restConfig names for its version,
// giving up after timeout: whether the exporter can reach it with these
// credentials.
func ServerVersion(restConfig *rest.Config, timeout time.Duration) (string, error) {
	rc := rest.CopyConfig(restConfig)
	rc.Timeout = timeout
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return "", err
	}
	v, err := client.Discovery().ServerVersion()
	if err != nil {
		return "", err
	}
	return v.GitVersion, nil
}
