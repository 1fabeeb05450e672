#!/usr/bin/env bash
# Installs the Debian packages the tests need (clang to regenerate the eBPF
# objects, bpftool, iproute2 and friends for test networks, iperf3 for the
# load benchmark, strace to see that bad input creates no eBPF object,
# systemd for systemd-socket-activate, chromium for the /flows page's browser
# test, driven by playwright-core from npm; sockperf and wrk for the latency
# and HTTP load benchmarks (make bench-latency); qemu-user-static to run the
# arm64 binary, qemu-system-arm and qemu-system-x86 to boot Debian's arm64
# and amd64 kernels with it, which scripts/install-kernels.sh fetches;
# redis-server (with redis-cli) and postgresql (with psql) as the real
# servers and clients of the application-protocol tests).
# Idempotent: installs only what is missing.
set -euo pipefail

packages=(clang llvm bpftool libbpf-dev iproute2 iptables ethtool conntrack iperf3 sockperf wrk etcd-server util-linux libcap2-bin strace systemd chromium
	qemu-user-static qemu-system-arm qemu-system-x86 redis-server postgresql postgresql-client)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "installing: ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The kernels e2e TestKernelVM boots (kept in .tools/kernels once fetched).
"$(dirname "$0")/install-kernels.sh"
