#!/usr/bin/env bash
# Install everything the project needs on a Debian 12 machine, skipping
# packages that are already present.  Safe to run repeatedly.
set -euo pipefail

pkgs=(
	build-essential gcc g++ clang make flex bison bc cpio kmod rsync
	libelf-dev libssl-dev dwarves python3 perl xz-utils
	qemu-system-x86 busybox-static
	linux-source-6.12
	liburing-dev libaio-dev strace fio gnuplot-nox gdb
	libgtest-dev cmake pkg-config clang-format
	groff-base mandoc man-db quilt sparse
)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "setup: all packages present"
	exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
