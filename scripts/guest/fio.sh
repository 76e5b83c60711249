#!/bin/sh
# Guest job of "make bench-fio" (and, with --smoke, part of make check and
# make bench-smoke): fio 4 KiB random reads of the read-only virtio disk
# DEV with each engine, O_DIRECT and cold buffered.
#
#   fio.sh [--smoke] [DEV]        (DEV default /dev/vda)
#
# Engines: io_uring, libaio, posixaio (glibc's POSIX AIO), posixaio with
# LD_PRELOAD=libsyslet-aio.so (POSIX AIO on syslets: "shim"), and psync
# (pread, one request at a time: depth 1 only).  Buffered runs drop the
# page cache first, so every read misses it.
#
# Full run: FIO_ROUNDS rounds (default 5) of every engine, mode and depth
# in turn (FIO_DEPTHS, default "1 16 64"), each FIO_RUNTIME seconds
# (default 2) after FIO_RAMP seconds (default 0) of warm-up.  For each run
# it prints
#   FIO-SHIM-CHECK status=S atoms=A reads=R   (once, before the matrix:
#       a 1 s shim run at depth 16 with the syslet tracepoint on, A 4 KiB
#       pread64 atoms for fio's R reads)
#   FIO-RUN round mode engine depth
#   FIO-DISK before|after </sys/block/DEV/stat>
#   FIO-JSON <fio's --output-format=json, on one line>
#   FIO-STATUS <fio's exit status>
# for scripts/fio-report.py to read.
#
# --smoke: posixaio, glibc's and the shim's, O_DIRECT at depth 16, 2 s
# each, as KTAP: "ok N fio.<posixaio|shim>" when fio exits 0 and read with
# IOPS > 0, and "ok N fio.<...>_reads_are_syslet_atoms_iff_shim" when the
# syslet tracepoint saw, under the shim, a 4 KiB pread64 atom for every
# read fio counted (and at most the depth, 16, more: reads in flight when
# the run ended), and none without it.  The shim runs every read of a
# block device as a syslet chain of its own, submitted from aio_read().
# Then "ok N fio.shim_verify_crc32c": fio --ioengine=posixaio under the
# shim writes and reads back a 4 MiB file at depth 16 with
# --verify=crc32c and reports no error.  Status 0 when all passed.
smoke=0
[ "$1" = --smoke ] && { smoke=1; shift; }
dev=${1:-/dev/vda}
shim=/opt/syslet/libsyslet-aio.so
engines="io_uring libaio posixaio shim psync"

if ! command -v fio > /dev/null; then
	echo "not ok 1 fio.present # no fio in the guest (scripts/setup.sh installs it)"
	exit 1
fi
if [ ! -b "$dev" ]; then
	echo "not ok 1 fio.disk # no block device $dev"
	exit 1
fi

# The device's I/O statistics (Documentation/admin-guide/iostats.rst):
# the first field is the number of reads it completed.
diskstat() { cat /sys/block/${dev#/dev/}/stat; }

drop_caches() {
	sync
	if [ -w /proc/sys/vm/drop_caches ]; then
		echo 3 > /proc/sys/vm/drop_caches
	else
		blockdev --flushbufs "$dev"
	fi
}

# run_fio ENGINE DIRECT DEPTH RUNTIME RAMP OUT.json: status of fio
# (busybox sh: "local" keeps the caller's variables of the same names)
run_fio() {
	local engine=$1 direct=$2 depth=$3 runtime=$4 ramp=$5 out=$6
	local ioengine=$1 preload=
	case $engine in
	shim) ioengine=posixaio preload=$shim ;;
	psync) depth=1 ;;
	esac
	LD_PRELOAD=$preload fio --name="$engine-qd$depth" --filename="$dev" --readonly \
		--rw=randread --bs=4k --direct="$direct" --ioengine="$ioengine" \
		--iodepth="$depth" --time_based --runtime="$runtime" --ramp_time="$ramp" \
		--output-format=json --output="$out" 2> /tmp/fio.err
}

# The syslet tracepoint of atoms finishing, on (trace_on) and off
# (trace_off: prints how many atoms ran pread64 (17 on x86-64) and read
# 4 KiB, "none" without tracefs).
tracing=/sys/kernel/tracing
trace_on() {
	[ -d $tracing/events/syslet/syslet_atom_exit ] || return 0
	echo 0 > $tracing/tracing_on
	echo > $tracing/trace
	echo 4096 > $tracing/buffer_size_kb
	echo 1 > $tracing/events/syslet/syslet_atom_exit/enable
	echo 1 > $tracing/tracing_on
}
trace_off() {
	if [ ! -d $tracing/events/syslet/syslet_atom_exit ]; then
		echo none
		return
	fi
	echo 0 > $tracing/tracing_on
	echo 0 > $tracing/events/syslet/syslet_atom_exit/enable
	grep -c 'syslet_atom_exit: .* nr=17 ret=4096$' $tracing/trace
	if grep -q 'LOST.*EVENTS' $tracing/trace; then
		echo "# trace: lost events" >&2
	fi
	echo > $tracing/trace
}

# job_reads JSON JOB: the reads job JOB completed (its "total_ios").
job_reads() {
	awk -F: -v job="\"$2\"," '
		/"jobname" :/ { gsub(/ /, "", $2); cur = ($2 == job); seen = 0 }
		cur && !seen && /"total_ios" :/ { gsub(/[ ,]/, "", $2); print $2; seen = 1 }
	' "$1" 2> /dev/null
}

# job_iops JSON JOB: the read IOPS of job JOB in fio's JSON, as an integer
# (the first "iops" after its name: "read" comes before "write" and "trim"),
# nothing if the job is missing or reported an error.
job_iops() {
	awk -F: -v job="\"$2\"," '
		/"jobname" :/ { gsub(/ /, "", $2); cur = ($2 == job); seen = 0 }
		cur && /"error" :/ { gsub(/[ ,]/, "", $2); if ($2 != 0) exit }
		cur && !seen && /"iops" :/ { gsub(/[ ,]/, "", $2); printf "%d\n", $2; seen = 1 }
	' "$1" 2> /dev/null
}

if [ $smoke -eq 1 ]; then
	# Two fio processes, one job each (starting fio costs ~10 s on the
	# debug kernel): glibc's posixaio, then the shim's, with the syslet
	# tracepoint of finished atoms on.
	echo "# fio smoke: posixaio, glibc's and the shim's, 4 KiB O_DIRECT random reads of $dev, depth 16, 2 s"
	rc=0 n=0
	for engine in posixaio shim; do
		n=$((n + 1))
		trace_on
		run_fio $engine 1 16 2 0 /tmp/fio-$engine.json > /dev/null
		status=$?
		atoms=$(trace_off)
		iops=$(job_iops /tmp/fio-$engine.json $engine-qd16)
		reads=$(job_reads /tmp/fio-$engine.json $engine-qd16)
		if [ $status -eq 0 ] && [ "${iops:-0}" -gt 0 ]; then
			echo "ok $n fio.${engine} # $iops IOPS"
		else
			echo "not ok $n fio.${engine} # status $status, IOPS ${iops:-none}"
			sed 's/^/# /' /tmp/fio.err
			rc=1
		fi
		# reads went through syslet atoms (pread64) under the shim,
		# none without it
		n=$((n + 1))
		if [ $engine = shim ]; then
			expect="${reads:-0} > 0 and reads <= atoms <= reads + 16"
			[ "${reads:-0}" -gt 0 ] && [ "${atoms:-0}" -ge "$reads" ] &&
				[ "${atoms:-0}" -le $((reads + 16)) ]
		else
			expect="no atoms"
			[ "${atoms:-1}" -eq 0 ]
		fi
		if [ $? -eq 0 ]; then
			echo "ok $n fio.${engine}_reads_are_syslet_atoms_iff_shim # $atoms pread64 atoms, $reads reads"
		else
			echo "not ok $n fio.${engine}_reads_are_syslet_atoms_iff_shim # $atoms pread64 atoms, ${reads:-no} reads: expected $expect"
			rc=1
		fi
	done
	# fio's own data check through the shim: random writes and reads of
	# a file, every block read back and checked against its crc32c.
	n=$((n + 1))
	rm -f /tmp/fio-verify.dat
	LD_PRELOAD=$shim fio --name=verify --ioengine=posixaio --rw=randrw --bs=4k --size=4m \
		--iodepth=16 --verify=crc32c --verify_fatal=1 --verify_state_save=0 \
		--filename=/tmp/fio-verify.dat > /tmp/fio-verify.txt 2>&1
	status=$?
	rm -f /tmp/fio-verify.dat
	issued=$(grep -o 'issued rwts: total=[0-9]*,[0-9]*' /tmp/fio-verify.txt)
	if [ $status -eq 0 ] && grep -q 'err= 0' /tmp/fio-verify.txt; then
		echo "ok $n fio.shim_verify_crc32c # $issued"
	else
		echo "not ok $n fio.shim_verify_crc32c # status $status"
		sed 's/^/# /' /tmp/fio-verify.txt
		rc=1
	fi
	exit $rc
fi

rounds=${FIO_ROUNDS:-5} runtime=${FIO_RUNTIME:-2} ramp=${FIO_RAMP:-0}
depths=${FIO_DEPTHS:-"1 16 64"}
q=/sys/block/${dev#/dev/}/queue
echo "FIO-VERSION $(fio --version)"
echo "FIO-KERNEL $(uname -r) $(uname -v)"
echo "FIO-CPUS $(nproc)"
echo "FIO-DEVICE $dev: $(cat /sys/block/${dev#/dev/}/size) sectors, scheduler $(cat $q/scheduler), read_ahead_kb $(cat $q/read_ahead_kb), nr_requests $(cat $q/nr_requests)"
echo "FIO-PARAMS rounds=$rounds runtime=$runtime ramp=$ramp depths=$depths"
# First, not measured (tracing costs time): one short run through the shim
# with the syslet tracepoint on, to show that its reads are syslet atoms.
trace_on
run_fio shim 1 16 1 0 /tmp/fio.json > /dev/null
status=$?
echo "FIO-SHIM-CHECK status=$status atoms=$(trace_off) reads=$(job_reads /tmp/fio.json shim-qd16)"
rc=0 round=1
while [ $round -le "$rounds" ]; do
	for mode in direct buffered; do
		direct=1
		[ $mode = buffered ] && direct=0
		for engine in $engines; do
			for depth in $depths; do
				[ $engine = psync ] && [ "$depth" != 1 ] && continue
				echo "FIO-RUN $round $mode $engine $depth"
				[ $mode = buffered ] && drop_caches
				echo "FIO-DISK before $(diskstat)"
				run_fio $engine $direct "$depth" "$runtime" "$ramp" /tmp/fio.json > /dev/null
				status=$?
				echo "FIO-DISK after $(diskstat)"
				echo "FIO-JSON $(sed 's/^[ \t]*//' /tmp/fio.json | tr -d '\n')"
				echo "FIO-STATUS $status"
				if [ $status -ne 0 ]; then
					sed 's/^/# /' /tmp/fio.err
					rc=1
				fi
			done
		done
	done
	round=$((round + 1))
done
exit $rc
