#!/usr/bin/env bash
# Fetches Debian 12's cloud kernels for arm64 and amd64 (the packages
# linux-image-cloud-ARCH, with apt-get download from Debian's mirror, as
# configured in /etc/apt) into .tools/kernels/ARCH/vmlinuz, for e2e
# TestKernelVM, which boots each under qemu-system with the exporter in an
# initramfs. apt runs with a private state directory, so the machine's own
# package lists and architectures are left as they are. Idempotent: a kernel
# already there is kept (rm -r .tools/kernels to fetch the current ones).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.tools/kernels"

arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(arm64 amd64)
for a in "${arches[@]}"; do
	[ -s "$dest/$a/vmlinuz" ] && continue
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
	touch "$work/status"
	cat > "$work/apt.conf" <<-EOF
		APT::Architecture "$a";
		APT::Architectures "$a";
		APT::Sandbox::User "root";
		Dir::State::Lists "$work/lists";
		Dir::State::status "$work/status";
		Dir::Cache "$work/cache";
	EOF
	export APT_CONFIG="$work/apt.conf"
	echo "fetching Debian's linux-image-cloud-$a for TestKernelVM..."
	apt-get update -qq
	# The metapackage depends on the versioned image package.
	pkg=$(apt-cache depends "linux-image-cloud-$a" | awk '/Depends: linux-image-/ {print $2; exit}')
	[ -n "$pkg" ] || { echo "no linux-image-cloud-$a in Debian's package lists" >&2; exit 1; }
	(cd "$work" && apt-get download -qq "$pkg")
	dpkg-deb --fsys-tarfile "$work"/"$pkg"_*.deb | tar -x -C "$work" ./boot
	mkdir -p "$dest/$a"
	cp "$work"/boot/vmlinuz-* "$dest/$a/vmlinuz"
	cp "$work"/boot/config-* "$dest/$a/config"
	echo "${pkg#linux-image-} $(dpkg-deb -f "$work"/"$pkg"_*.deb Version)" > "$dest/$a/release"
	unset APT_CONFIG
	rm -rf "$work"
	trap - EXIT
done
