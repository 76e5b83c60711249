#!/bin/sh
# Guest job of "make run": the demo.
echo "== a blocking read from the main thread goes asynchronous, the TID stays =="
./handoff || exit 1
echo
echo "== strace -f of a short chain (getpid, then write): the atoms' own calls =="
strace -f ./handoff -c 2>&1 | grep -E 'getpid|write\(1|0x1d1' || exit 1
echo
echo "== Hello Syslet World (the 2007 original's example, SYSLET_ASYNC) =="
./hello_syslet || exit 1
echo
echo "== stat every entry of /bin through syslets, cached attempt first =="
./dirscan /bin | tail -5 || exit 1
echo
echo "== the same with SYSLET_ASYNC: completions reaped from the ring =="
./dirscan -a /bin | tail -5 || exit 1
