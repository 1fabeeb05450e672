#!/usr/bin/env bash
# Builds the Go tools the tests run (promtool and the Prometheus server,
# kube-apiserver, promu) from
# the pinned modules under tools/, into .tools/bin. A build is reused while
# its tools/<name>/go.sum is unchanged, so this is cheap after the first run
# (about 25 minutes on 2 cores for all of them).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.tools/bin"
stamps="$root/.tools/stamps"
mkdir -p "$bin" "$stamps"

# build NAME PACKAGE...: build each package of tools/NAME into .tools/bin.
build() {
	local name=$1
	shift
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
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
