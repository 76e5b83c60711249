#!/bin/sh
# Guest job of "make bench-smoke" (and the end of make check's job,
# check.sh): every peer of the benchmarks a few times, results checked
# (KTAP "ok N bench.smoke_<peer>"); seconds, also on the debug kernel.
rc=0
echo "# bench smoke"
./peers --smoke || rc=1
./peers-lib --smoke || rc=1
./blocking --smoke || rc=1
# tmpfs: the disk part of "ls -l" runs only in make bench-concurrency
./lsbench --smoke || rc=1
# fio through glibc's POSIX AIO and the syslet shim, on the throttled disk
# (figures: make FLAVOR=perf bench-fio)
sh ./fio.sh --smoke /dev/vda || rc=1
exit $rc
