#!/usr/bin/env bash
# make itrace: count, instruction by instruction, what the kernel runs for
# a direct getpid()/stat() and for the same calls as syslet atoms
# (bench/itrace.c), on the perf kernel under QEMU's gdb stub (TCG
# single-stepping; no -icount needed: every instruction is counted).
#
#   itrace.sh KERNEL_BUILD_DIR GUEST_BIN_DIR OUT
#
# OUT gets one section per call: the kernel functions in the order they
# ran, each with the number of instructions it ran.  Used for the cached
# path's breakdown in Documentation/syslet-design.txt.
set -euo pipefail
kb=$1 bin=$2 out=$3
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${ITRACE_KEEP:-}" ] || rm -rf "$tmp"' EXIT
printf '#!/bin/sh\n/opt/syslet/itrace\n' > "$tmp/job.sh"
"$top/scripts/mkinitramfs.sh" "$tmp/itrace.cpio" "$tmp/job.sh" "$bin" >/dev/null
nm -n "$kb/vmlinux" > "$tmp/syms"
port=$((20000 + RANDOM % 20000))
timeout 900 qemu-system-x86_64 -machine q35 -cpu max,la57=off -smp 1 -m 2G \
	-nographic -no-reboot -kernel "$kb/arch/x86/boot/bzImage" \
	-initrd "$tmp/itrace.cpio" -gdb tcp::$port -S \
	-append "console=ttyS0 panic=-1 loglevel=5 nokaslr" > "$tmp/console" 2>&1 &
sleep 1
ITRACE_OUT=$out ITRACE_SYMS=$tmp/syms ITRACE_PORT=$port \
	timeout 850 gdb -q -batch -nx "$kb/vmlinux" -x "$top/scripts/itrace-gdb.py" > "$tmp/gdb.log" 2>&1 ||
	{ tail -20 "$tmp/gdb.log"; exit 1; }
grep '^##' "$out"
