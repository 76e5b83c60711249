#!/bin/sh
# Guest job of "make stress": handoff_stress for each of STRESS_SEEDS with
# STRESS_ARGS (make passes both through mkinitramfs.sh --env; the
# defaults here are the Makefile's).
rc=0
for s in ${STRESS_SEEDS:-1 2 3}; do
	# shellcheck disable=SC2086
	./handoff_stress -s "$s" ${STRESS_ARGS:--d 900 -w 6 -h 3} || rc=1
done
exit $rc
