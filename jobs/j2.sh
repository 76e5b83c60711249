#!/bin/sh
echo "### pool_thread_timer"
./handoff_test -v pool_thread_timer
echo "### leader"
./handoff_test -t leader_handoff_races_thread_creation
echo "### exit together"
./handoff_test -v user_threads_exit_together
echo "### stress 40 s"
./handoff_stress -s 1 -d 40
echo "### fuzz -r"
./syslet_fuzz -r -s 1 -p 4 -t 4 -n 150
