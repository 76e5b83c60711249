#!/usr/bin/env bash
# Boot a kernel with an initramfs under QEMU/TCG and bring the guest's
# result back as our exit status.
#
#   qemu-run.sh [--icount] [--timeout SECS] [--smp N] [--drive SPEC]... KERNEL INITRD LOGPREFIX
#
# --smp N: guest CPUs (default 2; --icount implies 1).
# --drive SPEC adds a QEMU "-drive SPEC" (a virtio disk for the guest).
#
# Writes LOGPREFIX.console (everything the kernel and guest printed) and
# LOGPREFIX.out (the guest job's own output, from the second serial port).
# Exit status: the guest job's, or 124 on timeout, 125 if the guest died
# without reporting.
#
# watchdog_thresh=60: a TCG vCPU is a host thread, and on a loaded host
# it may not run for tens of seconds; the soft-lockup detector then
# reports the host's scheduling, not the guest's (it fires after 2x the
# threshold, 120 s, instead of 20 s; a real hang still hits the timeout).
set -uo pipefail
icount=() timeout=900 smp=2 drives=()
while [ $# -gt 3 ]; do
	case $1 in
	--icount) icount=(-icount shift=0,sleep=off); smp=1; shift ;;
	--timeout) timeout=$2; shift 2 ;;
	--drive) drives+=(-drive "$2"); shift 2 ;;
	--smp) smp=$2; shift 2 ;;
	*) echo "qemu-run: unknown option $1" >&2; exit 2 ;;
	esac
done
kernel=$1 initrd=$2 log=$3
: > "$log.out"
qemu=(qemu-system-x86_64 -machine q35 -cpu max,la57=off -smp $smp -m 2G
	"${icount[@]}" -nographic -no-reboot
	-kernel "$kernel" -initrd "$initrd" "${drives[@]}"
	-append "console=ttyS0 panic=-1 loglevel=5 hung_task_panic=0 watchdog_thresh=60"
	-serial mon:stdio -serial "file:$log.out")
# The exact command line, for reports (bench/results/*.md).
for a in "${qemu[@]}"; do
	case $a in *[!A-Za-z0-9_./:=,+-]*) printf "'%s' " "$a" ;; *) printf '%s ' "$a" ;; esac
done | sed 's/ $/\n/' > "$log.cmdline"
timeout --foreground -k 10 "$timeout" "${qemu[@]}" </dev/null 2>&1 | tee "$log.console"
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
	echo "qemu-run: TIMEOUT after ${timeout}s" >&2
	exit 124
fi
status=$(tr -d '\r' < "$log.out" | sed -n 's/^SYSLET-GUEST-EXIT: \([0-9]*\)$/\1/p' | tail -1)
if [ -z "$status" ]; then
	echo "qemu-run: the guest died without reporting a result" >&2
	exit 125
fi
exit "$status"
