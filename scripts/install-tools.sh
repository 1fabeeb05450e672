#!/usr/bin/env bash
# Builds the Go tools the tests run (promtool and the Prometheus server,
# kube-apiserver and kubectl, promu, helm, Grafana's dashboard linter) from
# the pinned modules under tools/, into .tools/bin, and unpacks the
# prometheus-operator CRDs (ServiceMonitor, PrometheusRule) the deploy tests
# install, into .tools/crds. A build is reused while its tools/<name>/go.sum
# is unchanged, so this is cheap after the first run (about 35 minutes on 2
# cores for all of them). With arguments, only the named tools (make
# release needs only promu: ./scripts/install-tools.sh promu).
set -euo pipefail
only=" $* "

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.tools/bin"
stamps="$root/.tools/stamps"
mkdir -p "$bin" "$stamps"

# build NAME PACKAGE...: build each package of tools/NAME into .tools/bin.
build() {
	local name=$1
	shift
	if [ "$only" != "  " ] && [[ "$only" != *" $name "* ]]; then
		return 0
	fi
	local dir="$root/tools/$name"
	local sum
	sum=$(cat "$dir/go.mod" "$dir/go.sum" | sha256sum | cut -d' ' -f1)
	if [ -f "$stamps/$name" ] && [ "$(cat "$stamps/$name")" = "$sum" ]; then
		return 0
	fi
	echo "building $name tools (cached afterwards)..."
	for pkg in "$@"; do
		(cd "$dir" && go build -o "$bin/$(basename "$pkg")" "$pkg")
	done
	echo "$sum" > "$stamps/$name"
}

build prometheus github.com/prometheus/prometheus/cmd/promtool github.com/prometheus/prometheus/cmd/prometheus
build promu github.com/prometheus/promu
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
build helm helm.sh/helm/v3/cmd/helm
build dashboard-linter github.com/grafana/dashboard-linter

# The CRDs come from the pinned prometheus-operator module's published files.
crds="$root/.tools/crds"
if [ "$only" = "  " ] && [ ! -f "$crds/monitoring.coreos.com_prometheusrules.yaml" ]; then
	dir=$(cd "$root/tools/prometheus-operator" && go mod download -json github.com/prometheus-operator/prometheus-operator |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	mkdir -p "$crds"
	for kind in servicemonitors prometheusrules; do
		cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$kind.yaml" "$crds/"
	done
fi
