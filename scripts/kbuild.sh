#!/usr/bin/env bash
# Build a syslet kernel incrementally.
#
#   scripts/kbuild.sh <flavor>        flavor: debug | perf
#
# 1. unpack Debian's linux-source-6.12 once into build/src
# 2. sync the overlay (include/uapi, Documentation/, the selftests) into
#    it: only files whose content changed are rewritten, so make rebuilds
#    only what depends on them; the kernel code itself is in patches/
# 3. push patches/series with quilt (fuzz 0; any failure undoes this run and
#    exits 1; build/src is a quilt tree, see README "Editing patches/ with quilt"),
#    re-applying only from the first patch that changed
# 4. tinyconfig + configs/base.config + configs/<flavor>.config, checked
# 5. build bzImage in build/<flavor>
set -euo pipefail

flavor=${1:?usage: kbuild.sh debug|perf}
top=$(cd "$(dirname "$0")/.." && pwd)
build=${SYSLET_BUILD:-$top/build}
src=$build/src
out=$build/$flavor
tarball=/usr/src/linux-source-6.12.tar.xz
jobs=${JOBS:-$(nproc)}
say() { echo "kbuild[$flavor]: $*"; }

[ -f "$top/configs/$flavor.config" ] || { echo "no configs/$flavor.config" >&2; exit 1; }

# One build at a time per build directory: build/src is shared by every
# flavor, and two makes in one output tree corrupt it.
mkdir -p "$build"
exec 9>"$build/.kbuild.lock"
if ! flock -n 9; then
	say "waiting for another kernel build in $build"
	flock 9
fi

# 1. unpack once ------------------------------------------------------------
if [ ! -f "$src/.syslet-unpacked" ]; then
	[ -f "$tarball" ] || { echo "missing $tarball: run scripts/setup.sh" >&2; exit 1; }
	say "unpacking $tarball"
	rm -rf "$src" "$build/src.tmp"
	mkdir -p "$build/src.tmp"
	tar -xf "$tarball" -C "$build/src.tmp"
	mv "$build/src.tmp/linux-source-6.12" "$src"
	rmdir "$build/src.tmp"
	touch "$src/.syslet-unpacked"
fi

# 2. overlay ------------------------------------------------------------------
"$top/scripts/sync-overlay.sh" "$top" "$src"

# 3. patches ------------------------------------------------------------------
"$top/scripts/apply-patches.sh" "$top/patches" "$src"

# 4. config -------------------------------------------------------------------
. "$top/scripts/kconfig.sh"
mkdir -p "$out"
frags=("$top/configs/base.config" "$top/configs/$flavor.config")
stamp=$(syslet_config_stamp "${frags[@]}")
if syslet_config_stale "$out" "$stamp"; then
	say "configuring (tinyconfig + base + $flavor)"
	syslet_configure "$src" "$out" "${frags[@]}" || exit 1
	echo "$stamp" > "$out/.syslet-config-stamp"
fi

# 5. build --------------------------------------------------------------------
say "building in $out with -j$jobs"
log=$out/build.log
if ! make -C "$src" O="$out" -j"$jobs" bzImage >"$log" 2>&1; then
	grep -E 'error|Error|warning:' "$log" | head -40 >&2 || true
	tail -20 "$log" >&2
	echo "kbuild: kernel build failed (full log: $log)" >&2
	exit 1
fi
# Surface compiler warnings in our files, and what was rebuilt.
grep -E '(kernel/syslet|syslet\.[ch]).*warning:' "$log" >&2 || true
objs=$(grep -cE '^  CC ' "$log" || true)
say "compiled $objs object(s)"
[ "$objs" -gt 40 ] || grep -E '^  CC ' "$log" | sed 's/^/    /' || true
base=$(make -s -C "$src" kernelversion)
release=$(cat "$out/include/config/kernel.release")
echo "$base" > "$out/syslet-base-version"
say "built $out/arch/x86/boot/bzImage (Debian linux-source-6.12, base $base, release $release)"
