#!/bin/sh
# Guest job of "make run": the demo.
echo "== Hello Syslet World (the 2007 original's example, SYSLET_ASYNC) =="
./hello_syslet || exit 1
echo
echo "== stat every entry of /bin through syslets, cached attempt first =="
./dirscan /bin | tail -5 || exit 1
echo
echo "== the same with SYSLET_ASYNC: completions reaped from the ring =="
./dirscan -a /bin | tail -5 || exit 1
