#!/bin/sh
# Guest job of "make check": the kselftests, then lib-syslet's tests.
# Every program runs even if an earlier one failed; the status says
# whether all passed.
rc=0
echo "# syslet selftests"
./syslet_test || rc=1
echo "# syslet cachemiss selftests"
./cachemiss_test || rc=1
echo "# hello_syslet"
if ./hello_syslet | grep -q "Hello Syslet World"; then
	echo "ok 1 hello_syslet.prints_hello"
else
	echo "not ok 1 hello_syslet.prints_hello"; rc=1
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
if [ -x ./syslet-lib-tests ]; then
	echo "# lib-syslet tests"
	./syslet-lib-tests || rc=1
fi
exit $rc
