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
if [ -x ./syslet-lib-tests ]; then
	echo "# lib-syslet tests"
	./syslet-lib-tests || rc=1
fi
exit $rc
