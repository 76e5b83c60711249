#!/usr/bin/env bash
# Build the guest initramfs: static busybox, the guest programs, and a
# job script that /init runs.  Its output goes to the console and to the
# second serial port (a clean copy for the host to parse), followed by
# "SYSLET-GUEST-EXIT: <status>".
#
#   mkinitramfs.sh [--prog PATH]... [--env NAME=VALUE]... OUT.cpio JOB.sh DIR...
#   (DIRs' files go to /opt/syslet; JOB.sh, one of scripts/guest/, runs there)
#
# --prog PATH: a dynamic program of the host (e.g. /usr/bin/fio), copied to
# the same path with every shared library it loads (ldd), also skipped
# quietly when the host has no such program (the guest job says so).
# --env NAME=VALUE: exported to the job (make's knobs: FUZZ_SEEDS, REPS...).
set -euo pipefail
progs=()
envs=()
while [ $# -gt 0 ]; do
	case $1 in
	--prog) progs+=("$2"); shift 2 ;;
	--env) envs+=("$2"); shift 2 ;;
	*) break ;;
	esac
done
out=$1 job=$2
shift 2
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,opt/syslet,lib64,lib/x86_64-linux-gnu,usr/bin}
cp /bin/busybox "$root/bin/busybox"
for d in "$@"; do
	[ -d "$d" ] && cp -a "$d"/. "$root/opt/syslet/"
done
cp "$job" "$root/opt/syslet/job"
# The job's settings, one NAME='VALUE' a line, sourced by /init.
for e in "${envs[@]}"; do
	name=${e%%=*} value=${e#*=}
	[[ $name =~ ^[A-Z_][A-Z0-9_]*$ ]] || { echo "mkinitramfs: bad --env $e" >&2; exit 1; }
	printf "%s='%s'\n" "$name" "${value//\'/\'\\\'\'}"
done > "$root/opt/syslet/job.env"
# Dynamic programs (LD_PRELOAD tests, strace) need the C library.
for f in /lib64/ld-linux-x86-64.so.2 /lib/x86_64-linux-gnu/{libc,libm,librt,libpthread,libstdc++,libgcc_s,libunwind,liblzma,libdw,libelf,libz,libbz2,libzstd}.so.*; do
	[ -e "$f" ] && cp -L "$f" "$root$f" 2>/dev/null || true
done
if [ -x /usr/bin/strace ]; then
	cp /usr/bin/strace "$root/usr/bin/strace"
	# and whatever else it links against (libunwind-ptrace, ...)
	for f in $(ldd /usr/bin/strace | awk '/=> \//{print $3}'); do
		cp -L "$f" "$root$f"
	done
fi
for p in "${progs[@]}"; do
	[ -x "$p" ] || continue
	mkdir -p "$root$(dirname "$p")"
	cp -L "$p" "$root$p"
	for f in $(ldd "$p" | awk '/=> \//{print $3}'); do
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
	done
done

cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
export PATH=/opt/syslet:/bin:/usr/bin HOME=/tmp
cd /opt/syslet
echo "SYSLET-GUEST: $(uname -r) $(nproc) cpus"
( set -a; . /opt/syslet/job.env; set +a
  sh /opt/syslet/job; echo "SYSLET-GUEST-EXIT: $?" ) 2>&1 | tee /dev/ttyS1
sync
reboot -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) > "$out"
