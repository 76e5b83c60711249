"""Shared by scripts/bench-table.py and scripts/concurrency-report.py: where
a benchmark's figures come from (QEMU command line and version, git commit
of the tree that built the kernel and the guest programs)."""
import subprocess


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
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "bench",
                job, "kernel", "arch", "include", "patches", "configs",
                "lib-syslet/include", "tools")
    return {
        "cmdline": cmdline,
        "qemu_version": qemu_version,
        "commit": git("rev-parse", "HEAD") or "unknown",
        "subject": git("log", "-1", "--format=%s"),
        "dirty": bool(dirty),
    }
