#!/usr/bin/env bash
# Check that every patch of the exported series builds (make series-build).
#
# Checks out base and then each commit of base..series in order in
# build/series/git (made by scripts/mkseries.sh) and builds bzImage out of
# tree in build/series/obj, incrementally, with the configuration of
# kbuild.sh's perf flavor (tinyconfig + configs/base.config +
# configs/perf.config, see scripts/kconfig.sh).  The configuration is
# redone whenever a Kconfig file changes, so CONFIG_SYSLET is switched on
# by the patch that adds it; fragment symbols that the tree does not
# define yet are reported, not fatal.  Stops at the first commit that does
# not build and says which; its log is kept.
#
# Each kernel that builds is then booted under QEMU (scripts/qemu-run.sh)
# with an initramfs whose job prints the release and, once the ucount
# patch is in, the syslet heads limit (scripts/guest/series-boot.sh): a patch that
# builds but does not boot stops the run too.  SERIES_BOOT=0 skips it.
#
# Slow: several steps touch widely included headers.  Runs under
# nice -n 10 with JOBS (default 2) jobs.
#
# SERIES_FROM=K (1..N) checks patches K..N only: it builds and boots the
# tree before patch K (base for K=1) as its first step, from whatever
# build/series/obj holds, then each patch from K on.  For finishing a run
# that was stopped: the patches before K must be the ones that run
# already built and booted (same kernel content), which the caller states.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${SYSLET_BUILD:-$top/build}
pristine=${SYSLET_PRISTINE:-$build/linux-source-6.12}
sdir=$build/series
repo=$sdir/git
obj=$sdir/obj
logs=$sdir/build-logs
jobs=${JOBS:-2}
boot=${SERIES_BOOT:-1}
say() { echo "series-build: $*"; }
die() { echo "series-build: $*" >&2; exit 1; }
g() { git -C "$repo" "$@"; }

mkdir -p "$sdir"
exec 9>"$sdir/.lock"
flock -n 9 || die "another mkseries.sh or series-build.sh is running ($sdir/.lock)"
g rev-parse -q --verify refs/tags/base >/dev/null && g rev-parse -q --verify refs/heads/series >/dev/null ||
	die "no series in $repo: run make series first"

. "$top/scripts/kconfig.sh"
frags=("$top/configs/base.config" "$top/configs/perf.config")

# The work tree shares unchanged files with the pristine tree (hard links);
# git checkout replaces files instead of writing into them.  Make sure.
check_pristine() {
	local f bad=0
	while read -r f; do
		g cat-file -e "base:$f" 2>/dev/null || continue
		[ "$(git hash-object --no-filters "$pristine/$f")" = "$(g rev-parse "base:$f")" ] ||
			{ echo "series-build: $pristine/$f was modified!" >&2; bad=1; }
	done < <(g diff --name-only base series)
	return $bad
}
trap 'check_pristine || exit 1' EXIT

mapfile -t commits < <(g rev-list --reverse base..series)
n=${#commits[@]}
from=${SERIES_FROM:-1}
[[ $from =~ ^[0-9]+$ ]] && [ "$from" -ge 1 ] && [ "$from" -le "$n" ] ||
	die "SERIES_FROM=$from: must be 1..$n"
mkdir -p "$obj" "$logs"
rm -f "$logs"/*.log "$logs"/*.boot.*
if [ "$boot" = 1 ]; then
	"$top/scripts/mkinitramfs.sh" "$sdir/boot.cpio" "$top/scripts/guest/series-boot.sh" >/dev/null
fi
if [ "$from" = 1 ]; then
	say "building base and $n patches in $obj (-j$jobs, nice 10)"
else
	say "building the tree before patch $from and patches $from..$n in $obj (-j$jobs, nice 10)"
fi
i=$((from - 1))
for c in "$(g rev-parse base)" "${commits[@]}"; do
	if [ $i -gt 0 ] && [ "$c" != "${commits[$((i - 1))]}" ]; then
		continue # (SERIES_FROM: skipped to the tree before patch $from)
	fi
	subject=$(g log -1 --format=%s "$c")
	if [ $i -eq 0 ]; then label="base"; else label="[$i/$n]"; fi
	log=$logs/$(printf '%02d' $i).log
	start=$SECONDS
	g checkout -q -f --detach "$c"

	# Configure when the fragments or any Kconfig file changed.
	stamp=$({ cat "${frags[@]}"; g ls-tree -r "$c" |
		awk -F'\t' '$2 ~ /(^|\/)Kconfig[^\/]*$/'; } | sha256sum | cut -d' ' -f1)
	if syslet_config_stale "$obj" "$stamp"; then
		if ! SYSLET_CONFIG_LENIENT=1 syslet_configure "$repo" "$obj" "${frags[@]}" 2> "$log.config"; then
			cat "$log.config" >&2
			die "FAILED at $label ${c:0:12} \"$subject\": configuration"
		fi
		echo "$stamp" > "$obj/.syslet-config-stamp"
		say "$label configured: tinyconfig + base + perf"
		sed 's/^/    /' "$log.config"
	fi

	if ! nice -n 10 make -C "$repo" O="$obj" -j"$jobs" bzImage > "$log" 2>&1; then
		grep -E 'error|Error' "$log" | head -40 >&2 || true
		tail -20 "$log" >&2
		die "FAILED at $label ${c:0:12} \"$subject\" (log: $log; $repo is left at that commit)"
	fi
	warn=$(grep -c 'warning:' "$log" || true)
	cc=$(grep -cE '^  CC ' "$log" || true)
	syslet=$(grep -q '^CONFIG_SYSLET=y' "$obj/.config" && echo "CONFIG_SYSLET=y" || echo "no CONFIG_SYSLET yet")
	booted=""
	if [ "$boot" = 1 ]; then
		blog=${log%.log}.boot
		# One vCPU: with two, TCG once hit an int3 Oops in
		# sched_clock_cpu() while boot patched static keys (cross-
		# modifying code), in a kernel that booted the time before.
		if ! "$top/scripts/qemu-run.sh" --smp 1 --timeout 300 "$obj/arch/x86/boot/bzImage" \
			"$sdir/boot.cpio" "$blog" >/dev/null 2>&1; then
			tail -20 "$blog.console" >&2
			die "FAILED at $label ${c:0:12} \"$subject\": built, but did not boot (log: $blog.console)"
		fi
		booted=", booted: $(tr '\n' ' ' < "$blog.out" | sed 's/SYSLET-GUEST-EXIT: [0-9]* *//; s/ *$//')"
	fi
	say "$label ok in $((SECONDS - start))s ($cc CC, $warn warnings, $syslet$booted): $subject"
	i=$((i + 1))
done
g checkout -q -f series
what="all $n patches"
[ "$from" = 1 ] || what="patches $from..$n"
if [ "$boot" = 1 ]; then
	say "$what build and boot"
else
	say "$what build"
fi
