#!/bin/sh
# Guest job of "make bench-concurrency": blocking concurrency, memory per
# blocked operation and the "ls -l" workload, syslets against threads and
# io_uring, all in this boot (plain TCG wall time: ratios only).  Peers
# run interleaved, REPS rounds, so that host noise spreads over all of
# them.  scripts/concurrency-report.py turns the output into
# bench/results/concurrency.md.
rc=0
REPS=${REPS:-3}
NS="1 2 4 8 16 32 64 128 256 512 1024"
DELAY_MS=50
echo "BENCH-KERNEL: $(uname -r)"
echo "BENCH-CPUS: $(nproc)"
echo "BENCH-DELAY-MS: $DELAY_MS"

echo "# blocking concurrency"
r=1
while [ $r -le "$REPS" ]; do
	for work in pipe fifo; do
		for peer in syslet thread pool uring; do
			./blocking $peer $work $DELAY_MS $NS || rc=1
		done
	done
	r=$((r + 1))
done

echo "# memory per blocked operation"
for work in pipe fifo; do
	for peer in syslet thread pool uring; do
		./blocking --mem $peer $work 1024 || rc=1
	done
done

echo "# ls -l"
if [ -b /dev/vda ]; then
	mkdir -p /mnt
	mount -t ext4 -o ro /dev/vda /mnt || rc=1
	echo "BENCH-DISK: $(cat /sys/block/vda/size) sectors, scheduler $(cat /sys/block/vda/queue/scheduler), read_ahead_kb $(cat /sys/block/vda/queue/read_ahead_kb)"
	echo "BENCH-LS-DIR: /mnt/tree ($(ls /mnt/tree | wc -l) directories)"
	r=1
	while [ $r -le "$REPS" ]; do
		for peer in seq syslet uring uring64 pool8 pool64; do
			./lsbench $peer /mnt/tree 5 || rc=1
		done
		r=$((r + 1))
	done
	umount /mnt
else
	echo "BENCH-DISK: none (no /dev/vda): ls -l workload skipped"
	rc=1
fi
exit $rc
