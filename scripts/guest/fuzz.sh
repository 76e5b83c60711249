#!/bin/sh
# Guest job of "make fuzz": syslet_fuzz for each of FUZZ_SEEDS, once with
# FUZZ_ARGS and once with FUZZ_RACE_ARGS (the hand-off races, -r).  make
# passes the three through mkinitramfs.sh --env; the defaults here are
# the Makefile's.
rc=0
for s in ${FUZZ_SEEDS:-1 2 3 4 5 6 7 8}; do
	# shellcheck disable=SC2086
	./syslet_fuzz -s "$s" ${FUZZ_ARGS:--p 9 -t 6 -n 1000} || rc=1
	# shellcheck disable=SC2086
	./syslet_fuzz -s "$s" ${FUZZ_RACE_ARGS:--r -p 9 -t 6 -n 1000} || rc=1
done
exit $rc
