#!/usr/bin/env python3
"""Shared by the report scripts (bench-table.py, statbench-report.py,
concurrency-report.py, ...): their command line and the guest log they
read, the way they write their report, and where a benchmark's figures
come from (QEMU command line and version, git commit of the tree that built
the kernel and the guest programs).

    benchlog.py LOGPREFIX JOB    record the commit now (LOGPREFIX.commit)"""
import argparse
import os
import subprocess
import sys


def fmt(v):
    """A count of instructions (or nanoseconds): 12,345."""
    return f"{v:,.0f}"


def log_lines(log):
    """The lines of LOGPREFIX.out (the guest job's output), CRs dropped."""
    return open(log + ".out", errors="replace").read().replace("\r", "").splitlines()


def report_args():
    """The command line of a report script, LOGPREFIX [-o OUT.md]: its
    arguments (log, out) and the lines of LOGPREFIX.out."""
    ap = argparse.ArgumentParser()
    ap.add_argument("log", help="LOGPREFIX of scripts/qemu-run.sh")
    ap.add_argument("-o", "--out")
    a = ap.parse_args()
    return a, log_lines(a.log)


def write_report(text, out):
    """Writes the report to @out (its directory made if needed), or to
    stdout if @out is None."""
    if out:
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        with open(out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


def git(*args):
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def provenance(log, job):
    """LOGPREFIX of scripts/qemu-run.sh and the guest job script: a dict of
    cmdline, qemu_version, commit, subject and dirty (uncommitted changes to
    what the kernel and the bench programs are built from)."""
    try:
        cmdline = open(log + ".cmdline").read().strip()
    except OSError:
        cmdline = "(not recorded)"
    try:
        qemu_version = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                                      text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        qemu_version = "unknown"
    # The generated reports (bench/results) are outputs, not inputs.
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "bench",
                ":!bench/results", job, "kernel", "arch", "include", "patches", "configs",
                "lib-syslet/include", "tools")
    prov = {
        "cmdline": cmdline,
        "qemu_version": qemu_version,
        "commit": git("rev-parse", "HEAD") or "unknown",
        "subject": git("log", "-1", "--format=%s"),
        "dirty": bool(dirty),
    }
    # LOGPREFIX.commit, written when the guest was built (record_commit),
    # names what was measured even if HEAD has moved since.
    try:
        with open(log + ".commit") as f:
            commit, dirty_flag, subject = f.read().rstrip("\n").split("\t", 2)
        prov.update(commit=commit, dirty=dirty_flag == "dirty", subject=subject)
    except (OSError, ValueError):
        pass
    return prov


def record_commit(log, job):
    """Write LOGPREFIX.commit: HEAD, clean/dirty and subject, now."""
    prov = provenance("/nonexistent", job)
    with open(log + ".commit", "w") as f:
        f.write(f"{prov['commit']}\t{'dirty' if prov['dirty'] else 'clean'}\t{prov['subject']}\n")


if __name__ == "__main__":
    import sys
    record_commit(sys.argv[1], sys.argv[2])
