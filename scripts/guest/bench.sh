#!/bin/sh
# Guest job of "make bench": per-call cost of syslets and their peers, in
# guest instructions (QEMU -icount shift=0,sleep=off), all in this boot.
# scripts/bench-table.py turns the output into bench/results/percall.md.
rc=0
echo "BENCH-KERNEL: $(uname -r)"
echo "BENCH-CPUS: $(nproc)"
echo "BENCH-FS: $(stat -f -c %T /opt/syslet)"
./peers -f /opt/syslet/peers 20000 || rc=1
./peers-lib -f /opt/syslet/peers 20000 || rc=1
# First asynchronous operation of a freshly exec'd process, per peer.
for peer in stat syslet-stat-noring syslet-stat-sync syslet-stat uring-stat \
	    pread syslet-pread uring-read \
	    libaio posix-aio thread-pool; do
	./peers-first -f /opt/syslet/peers "$peer" || rc=1
done
./peers-lib -f /opt/syslet/peers --first || rc=1
# Cachemiss hand-off against a futex wake + switch.
./percall 20000 || rc=1
exit $rc
