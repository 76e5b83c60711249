#!/bin/sh
# Guest job of "make check": the kselftests, then lib-syslet's tests,
# then the benchmarks' smoke runs (bench-smoke.sh).
# Every program runs even if an earlier one failed; the status says
# whether all passed.
rc=0
# kmemleak (debug kernel): what boot left behind is not ours to judge.
kmemleak=/sys/kernel/debug/kmemleak
if [ -w $kmemleak ]; then
	echo scan > $kmemleak
	echo clear > $kmemleak
fi
echo "# syslet selftests"
./syslet_test || rc=1
echo "# syslet cachemiss selftests"
./cachemiss_test || rc=1
echo "# syslet security selftests"
./security_test || rc=1
echo "# syslet isolation selftests"
./isolation_test || rc=1
echo "# syslet system call surface: bad input, the contracts of the header"
./surface_test || rc=1
echo "# syslet shared memory under fire"
./race_test || rc=1
echo "# syslet teardown under fire"
./teardown_test || rc=1
echo "# syslet hand-off under attack (issue 13)"
./handoff_test || rc=1
echo "# syslet restart semantics: stops, tracers, task work, handlers (issue 19)"
./restart_test || rc=1
echo "# syslet cancellation: async_cancel() (issue 16)"
./cancel_test || rc=1
echo "# syslet many hand-offs in flight at once (issue 15)"
./depth_test || rc=1
echo "# syslet hand-off stress (fixed seed; make stress runs long)"
./handoff_stress -s 1 -d 150 || rc=1
echo "# syslet load: 10,000 chains, 16 threads, 4 rings"
./load_test -c 10000 -t 16 -r 4 -s 8 || rc=1
echo "# syslet fuzz (short, fixed seed; make fuzz runs long)"
./syslet_fuzz -s 1 -p 6 -t 4 -n 150 || rc=1
# every process exec()s while its chains run and hand off (de_thread())
./syslet_fuzz -e -s 1 -p 12 -t 6 -n 1000 || rc=1
# and race the hand-off (issue 13): thread life cycle, timers, ptrace, exec
./syslet_fuzz -r -s 1 -p 6 -t 4 -n 150 || rc=1
echo "# hello_syslet"
if ./hello_syslet | grep -q "Hello Syslet World"; then
	echo "ok 1 hello_syslet.prints_hello"
else
	echo "not ok 1 hello_syslet.prints_hello"; rc=1
fi
# The examples print the errno of a failed call (the wrappers return -1
# and set errno): with no ring heads allowed per user, the lazy set-up of
# their ring fails with ENOSPC, and that is what they must say.
heads=$(cat /proc/sys/user/max_syslet_heads)
echo 0 > /proc/sys/user/max_syslet_heads
hello_err=$(./hello_syslet 2>&1 >/dev/null); hello_rc=$?
dirscan_err=$(./dirscan /opt/syslet 2>&1 >/dev/null); dirscan_rc=$?
echo "$heads" > /proc/sys/user/max_syslet_heads
if [ $hello_rc -eq 1 ] && [ "$hello_err" = "async_exec: No space left on device" ]; then
	echo "ok 2 hello_syslet.reports_errno"
else
	echo "not ok 2 hello_syslet.reports_errno"; rc=1
	echo "# exit $hello_rc: $hello_err"
fi
if [ $dirscan_rc -eq 1 ] && [ "$dirscan_err" = "async_exec: No space left on device" ]; then
	echo "ok 1 dirscan.reports_errno"
else
	echo "not ok 1 dirscan.reports_errno"; rc=1
	echo "# exit $dirscan_rc: $dirscan_err"
fi
# strace -f must show the system calls atoms run: the SYSLET_ASYNC
# write of hello_syslet in its pool thread, and dirscan's cached stats
# between async_exec's (alternating) stops.  (exit_group may be shown
# interrupted when a spare pool thread exits at the same time.)
echo "# strace"
if strace -f -o /tmp/hello.strace ./hello_syslet >/dev/null 2>&1 &&
   grep -q 'write(1, "Hello Syslet World!\\n", 20' /tmp/hello.strace; then
	echo "ok 1 strace.shows_async_atom_in_pool_thread"
else
	echo "not ok 1 strace.shows_async_atom_in_pool_thread"; rc=1
	cat /tmp/hello.strace
fi
if strace -f -o /tmp/dirscan.strace ./dirscan /opt/syslet >/dev/null 2>&1 &&
   grep -q 'newfstatat(3, "hello_syslet", {st_mode=S_IFREG' /tmp/dirscan.strace &&
   ! grep 'resumed>' /tmp/dirscan.strace | grep -qv '<\.\.\. exit_group resumed>'; then
	echo "ok 2 strace.shows_cached_atoms_in_order"
else
	echo "not ok 2 strace.shows_cached_atoms_in_order"; rc=1
	tail -20 /tmp/dirscan.strace
fi
# ...and an atom's call that a seccomp filter denies, with the filter's
# errno, in the pool thread that ran it (a thread that never called
# async_exec, i.e. syscall_0x1d1 to this strace).
pool_pids=$(strace -f -o /tmp/sec.strace ./security_test -r seccomp.pool_thread.errno_answers_the_atom_as_a_direct_call >/tmp/sec.out 2>&1 &&
	for p in $(grep 'getppid.*= -1 EXFULL' /tmp/sec.strace | awk '{ print $1 }' | sort -u); do
		grep -qE "^$p .*syscall_0x1d1" /tmp/sec.strace || echo "$p"
	done)
if [ -n "$pool_pids" ]; then
	echo "ok 3 strace.shows_seccomp_denied_atom_in_pool_thread"
else
	echo "not ok 3 strace.shows_seccomp_denied_atom_in_pool_thread"; rc=1
	cat /tmp/sec.out
	grep -E 'getppid|syscall_0x1d1' /tmp/sec.strace | tail -20
fi
# Linus's test: sls (readdir + one async stat chain per entry, one wait)
# on 10,000 entries must print exactly what its synchronous mode (plain
# fstatat/readlinkat) prints; busybox ls, an independent lstat reader,
# must agree on mode, links, owner, size and name.  tmpfs: every stat is
# cached, sls --paths says how many went which way.
if [ -x ./sls ]; then
	echo "# lib-syslet sls"
	d=/tmp/sls-10000
	mkdir -p $d
	(
		cd $d || exit 1
		i=0
		while [ $i -lt 10000 ]; do
			umask 0$((i / 8 % 4))$((i % 8))$((i / 32 % 8))
			case $((i % 1000)) in
			1) mkdir "Dir.$i" ;;
			2) ln -s "f$((i - 2))" "link-$i" ;;
			3) ln -s "/nowhere/$i" "dangling-$i" ;;
			4) mkfifo "fifo_$i" ;;
			5) : > ".hidden$i"; ln ".hidden$i" "HARD$i" ;;
			6) ;;
			*) printf '%*s' $((i * 37 % 3001)) '' > "f$i" ;;
			esac
			i=$((i + 1))
		done
	)
	umask 022
	./sls --paths $d > /tmp/sls.async 2> /tmp/sls.paths
	sls_rc=$?
	./sls --sync $d > /tmp/sls.sync
	sync_rc=$?
	lines=$(wc -l < /tmp/sls.async)
	cat /tmp/sls.paths | sed 's/^/# /'
	if [ $sls_rc -eq 0 ] && [ $sync_rc -eq 0 ] && [ "$lines" -eq 10000 ] &&
	   cmp -s /tmp/sls.async /tmp/sls.sync; then
		echo "ok 1 lib-syslet.sls_matches_reference_on_10000_files"
	else
		echo "not ok 1 lib-syslet.sls_matches_reference_on_10000_files"; rc=1
		echo "# sls: status $sls_rc, sync $sync_rc, $lines lines"
		diff /tmp/sls.async /tmp/sls.sync | head -20
	fi
	awk '{ print $1, $2, $3, $4, $5, $8 }' /tmp/sls.async > /tmp/sls.fields
	LC_ALL=C ls -lAn $d | awk 'NR > 1 { print $1, $2, $3, $4, $5, $9 }' > /tmp/ls.fields
	if [ "$lines" -eq 10000 ] && cmp -s /tmp/sls.fields /tmp/ls.fields; then
		echo "ok 2 lib-syslet.sls_agrees_with_busybox_ls"
	else
		echo "not ok 2 lib-syslet.sls_agrees_with_busybox_ls"; rc=1
		diff /tmp/sls.fields /tmp/ls.fields | head -20
	fi
	rm -rf $d
fi
# An unmodified POSIX AIO program (glibc <aio.h>, dynamic, -lrt) passes on
# glibc's AIO and on syslets through the LD_PRELOAD shim; glibc starts a
# helper thread at the first request, the shim does not (a request that
# does not block runs in the caller; nothing went asynchronous yet).
if [ -x ./aio-test-dyn ] && [ -f ./libsyslet-aio.so ]; then
	echo "# lib-syslet POSIX AIO"
	./aio-test-dyn --blocking > /tmp/aio-glibc.txt 2>&1
	glibc_rc=$?
	LD_PRELOAD=./libsyslet-aio.so ./aio-test-dyn --blocking > /tmp/aio-shim.txt 2>&1
	shim_rc=$?
	sed 's/^/# glibc: /' /tmp/aio-glibc.txt
	sed 's/^/# shim: /' /tmp/aio-shim.txt
	if [ $glibc_rc -eq 0 ] && grep -q 'aio_read comes from .*libc\.so' /tmp/aio-glibc.txt; then
		echo "ok 1 lib-syslet.aio_passes_without_shim"
	else
		echo "not ok 1 lib-syslet.aio_passes_without_shim"; rc=1
	fi
	if grep -q '^threads right after the first aio_write: [2-9]' /tmp/aio-glibc.txt; then
		echo "ok 2 lib-syslet.aio_glibc_starts_helper_thread"
	else
		echo "not ok 2 lib-syslet.aio_glibc_starts_helper_thread"; rc=1
	fi
	if [ $shim_rc -eq 0 ] && grep -q 'aio_read comes from .*libsyslet-aio\.so' /tmp/aio-shim.txt; then
		echo "ok 3 lib-syslet.aio_passes_with_shim"
	else
		echo "not ok 3 lib-syslet.aio_passes_with_shim"; rc=1
	fi
	if grep -q '^threads right after the first aio_write: 1$' /tmp/aio-shim.txt &&
	   grep -q '^threads after read/write/fsync/lio_listio: 1$' /tmp/aio-shim.txt; then
		echo "ok 4 lib-syslet.aio_no_helper_thread_with_shim"
	else
		echo "not ok 4 lib-syslet.aio_no_helper_thread_with_shim"; rc=1
	fi
fi
# The POSIX AIO conformance suite (lib-syslet/aio/aio_conformance.c, one
# assertion per test): glibc is the reference; the shim on syslets, and
# in its fallback mode, must pass the same.
if [ -x ./aio-conformance ] && [ -f ./libsyslet-aio.so ]; then
	echo "# lib-syslet POSIX AIO conformance"
	for mode in glibc shim fallback; do
		case $mode in
		glibc) ./aio-conformance -t 8000 > /tmp/aioc.txt 2>&1 ;;
		# the shim stops a running request through async_cancel()
		shim) AIO_CONFORMANCE_KERNEL_CANCEL=1 LD_PRELOAD=./libsyslet-aio.so ./aio-conformance -t 8000 > /tmp/aioc.txt 2>&1 ;;
		fallback) SYSLET_FORCE_FALLBACK=1 LD_PRELOAD=./libsyslet-aio.so ./aio-conformance -t 8000 > /tmp/aioc.txt 2>&1 ;;
		esac
		aioc_rc=$?
		grep -E '^# aio-conformance|^not ok' /tmp/aioc.txt | sed 's/^/# /'
		if [ $aioc_rc -eq 0 ]; then
			echo "ok 1 lib-syslet.aio_conformance_$mode"
		else
			echo "not ok 1 lib-syslet.aio_conformance_$mode"; rc=1
			tail -20 /tmp/aioc.txt
		fi
	done
fi
if [ -x ./syslet-lib-tests ]; then
	echo "# lib-syslet tests"
	./syslet-lib-tests || rc=1
fi
# The benchmarks with tiny sizes, so they never rot (figures: make bench):
# the job of make bench-smoke, one list of them.
sh ./bench-smoke.sh || rc=1
# Kernel memory: nothing the whole suite allocated may be left unreferenced
# (kmemleak reports objects unreferenced for 5 s over two scans).
if [ -w $kmemleak ]; then
	echo "# kmemleak"
	sleep 5
	echo scan > $kmemleak
	echo scan > $kmemleak
	leaks=$(grep -c '^unreferenced object' $kmemleak)
	if [ "$leaks" -eq 0 ]; then
		echo "ok 1 kmemleak.nothing_leaked_by_the_suite"
	else
		echo "not ok 1 kmemleak.nothing_leaked_by_the_suite # $leaks objects"
		sed 's/^/# /' $kmemleak | head -200
		rc=1
	fi
else
	echo "not ok 1 kmemleak.nothing_leaked_by_the_suite # no $kmemleak"
	rc=1
fi
exit $rc
