#!/usr/bin/env python3
"""Turn the output of scripts/guest/bench.sh into a Markdown table.

usage: bench-table.py LOGPREFIX [-o OUT.md]

Reads LOGPREFIX.out (the guest job's output: "BENCH <group> <label> <ns>"
lines from bench/peers*, bench/percall's "<label> <ns> ns/call" lines,
BENCH-KERNEL/CPUS/FS) and LOGPREFIX.cmdline (the QEMU command line that
scripts/qemu-run.sh recorded), adds the git commit and the QEMU version,
and writes the table (default: stdout).  The first figure of each group
is the direct system call that the group's ratios are taken against.
Exits non-zero if the guest job did not finish with status 0.
"""
import datetime
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlog import fmt, provenance, report_args, write_report  # noqa: E402

GROUPS = [
    ("null", "Null system call (getpid)"),
    ("stat", "stat of a cached file"),
    ("pread", "pread 4 KiB of a cached file (libaio, POSIX AIO and the pool have no stat)"),
    ("first-stat", "First asynchronous stat in a freshly exec'd process, set-up included"),
    ("first-pread", "First asynchronous 4 KiB pread in a freshly exec'd process, set-up included"),
    ("handoff", "Cachemiss hand-off against a futex wake + switch (bench/percall.c)"),
]
# bench/percall.c lines that go into the table, and their group.
PERCALL = {
    "futex wake + switch (one way)": ("handoff", "futex wake + switch to the woken thread (one way)"),
    "hand-off (block -> back in user)": ("handoff", "syslet cachemiss hand-off: atom blocks -> caller back in user space"),
    "hand-off: release -> reaped": ("handoff", "then: the caller's write() releases the read -> async_wait() returns its completion"),
    "empty loop": ("loop", "empty loop (percall)"),
}
PERCALL_RE = re.compile(r"^(.*?)\s+([0-9.]+) ns/call$")

NOTES = """\
How to read this:

- Figures are guest instructions per call: QEMU runs with
  `-icount shift=0,sleep=off`, so the guest clock advances 1 ns per
  executed instruction and `clock_gettime()` deltas count instructions.
  They do not depend on the host's load; from boot to boot they repeat
  to within a few per cent (the one-shot ring excepted: its teardown is
  deferred to a kworker, and how much of it lands inside the loop varies;
  boots gave 67k, 85k and 91k).  They are not wall time (a cache miss or a TLB flush costs
  one instruction here).  Under icount one `rep movs` iteration counts
  as one instruction, so copying 4 KiB to user space (`rep movsb` on
  `-cpu max`) costs about 4100 "instructions": that is why every pread
  row carries some 5000 of them.
- Per-call rows: the average of N back-to-back calls in one process after
  8 untimed ones (N = 20000; 2000 for io_uring STATX, POSIX AIO and the
  pool; 200 for the one-shot ring), the loop's own cost included (the
  empty loop is shown).  The guest has one CPU (`-icount` runs one), so
  every hand-off to another thread (io-wq worker, glibc AIO helper, the
  pool's worker) is a context switch there and back.
- Syslet rows call `async_exec()` raw (as in bench/percall.c) with a
  completion ring named; the atom completes cached, so `async_exec()`
  returns it and the ring is not touched.  lib-syslet rows go through
  `syslet::ring::submit()` on a reused `syslet::chain`, or
  `syslet::async_stat()`, which builds a new chain per call.
- io_uring: liburing `io_uring_submit_and_wait()` + `io_uring_peek_cqe()`,
  one system call per operation.  STATX is always punted to an io-wq
  worker (REQ_F_FORCE_ASYNC).  The files sit in the initramfs (tmpfs),
  and shmem in 6.12 does not set FMODE_NOWAIT, so READ is punted to io-wq
  too; on ext4/xfs a page-cache hit would be read inline.
- libaio: buffered reads run synchronously inside `io_submit()`;
  `io_getevents()` is a second system call.  POSIX AIO is glibc's (a
  helper thread per request queue).  The pool is one worker thread
  woken by a futex; the caller sleeps on a second futex for the result.
- First-call rows: one process exec'd per row by the job script; the
  clock starts before any set-up (for syslets: filling in the head and
  the atom; io_uring: `io_uring_queue_init()`; libaio: `io_setup()`;
  POSIX AIO: the first `aio_read()`, which starts glibc's helper thread;
  pool: `pthread_create()`) and stops when the result is in hand.  The
  file is opened before the clock starts; teardown is not counted.
  Every row includes the page faults its code takes on first touch, the
  direct rows too; the syslet rows fault their static atoms and ring in
  before the clock starts, as the direct rows' buffers on the stack are.
  A process makes no thread until one of its atoms blocks (or it calls
  async_register()), so no syslet row pays for one; the "no ring" and
  "SYSLET_SYNC" rows show what the ring's set-up adds.
- Cachemiss hand-off: a read of an empty pipe, from `async_exec()` until
  it returns 0 in the caller's context, now running on a spare thread
  (bench/percall.c).  A process that uses io_uring is refused hand-offs
  (its atoms then block in the caller), so percall runs in its own process.
"""


def main():
    a, lines = report_args()
    meta, rows, status = {}, [], None
    for line in lines:
        if line.startswith("BENCH\t"):
            _, group, label, value = line.split("\t")
            rows.append((group, label, float(value)))
        elif line.startswith("BENCH-"):
            key, _, value = line.partition(": ")
            meta[key[6:]] = value
        elif line.startswith("SYSLET-GUEST-EXIT: "):
            status = line.split(": ")[1]
        elif m := PERCALL_RE.match(line):
            if m.group(1) in PERCALL:
                group, label = PERCALL[m.group(1)]
                rows.append((group, label, float(m.group(2))))
    if status != "0":
        print(f"bench-table: the guest job exited with status {status}", file=sys.stderr)
        return 1

    prov = provenance(a.log, "scripts/guest/bench.sh")
    cmdline, qemu_version, commit = prov["cmdline"], prov["qemu_version"], prov["commit"]
    dirty, subject = prov["dirty"], prov["subject"]

    out = []
    out.append("# Per-call cost: syslets against io_uring, libaio, POSIX AIO and threads\n")
    out.append("Generated by `scripts/bench-table.py` from one guest boot running `scripts/guest/bench.sh` (what `make FLAVOR=perf bench` runs).\n")
    out.append(f"- kernel (guest `uname -r`): `{meta.get('KERNEL', '?')}`, perf configuration "
               f"(`build/perf`), {meta.get('CPUS', '?')} CPU, files on {meta.get('FS', '?')}")
    out.append(f"- git commit: `{commit}` ({subject})" +
               (" **with uncommitted changes**" if dirty else ""))
    out.append(f"- {qemu_version}")
    out.append(f"- QEMU command line (scripts/qemu-run.sh --icount):\n\n  `{cmdline}`")
    out.append(f"- generated {datetime.date.today().isoformat()}\n")
    out.append("Unit: guest instructions per call (see the notes below).  "
               "\"× direct\" is the figure divided by the group's first row.\n")

    for group, title in GROUPS:
        grp = [(label, v) for g, label, v in rows if g == group]
        if not grp:
            continue
        # The direct call first, then syslets (raw, lib-syslet), then the peers.
        grp = [grp[0]] + sorted(grp[1:], key=lambda r: 0 if "atom" in r[0] or r[0].startswith("syslet")
                                else 1 if r[0].startswith("lib-syslet") else 2)
        base = grp[0][1]
        out.append(f"## {title}\n")
        out.append("| | instructions | × " + ("futex" if group == "handoff" else "direct") + " |")
        out.append("|---|---:|---:|")
        for label, v in grp:
            out.append(f"| {label} | {fmt(v)} | {v / base:.2f} |")
        out.append("")
    loops = [(label, v) for g, label, v in rows if g == "loop"]
    if loops:
        out.append("Loop overhead included in the per-call rows: " +
                   ", ".join(f"{label} {v:.0f}" for label, v in loops) + ".\n")
    out.append("## Notes\n")
    out.append(NOTES)

    text = "\n".join(out)
    write_report(text, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
