#!/bin/sh
# Guest job of "make statbench" (-icount: 1 ns = 1 instruction).
./libsyslet_stat 20000 /opt/syslet/libsyslet_stat || exit 1
echo "# raw atoms for comparison (bench/percall.c)"
./percall 20000
