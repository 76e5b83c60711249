#!/usr/bin/env python3
"""Summarise test results and kernel splats.

usage: results.py [--console LOG]... [--tests LOG]... [--status NAME=RC]...

--tests LOG     KTAP (kselftest harness) and GoogleTest output to count
--console LOG   kernel console to scan for splats (each one fails the run)
--status N=RC   a step that must have exited 0 (e.g. guest=0)

Prints failures, splats and skips, then "N passed, N failed" (skips
counted and shown) and exits non-zero if anything failed.
"""
import argparse
import re
import sys

SPLATS = [
    r"WARNING:", r"BUG:", r"Oops", r"kernel BUG at", r"Kernel panic",
    r"general protection fault", r"KASAN:", r"KFENCE:", r"UBSAN:",
    r"possible recursive locking", r"circular locking dependency",
    r"inconsistent lock state", r"INFO: task .* blocked for more than",
    r"rcu: INFO:", r"rcu_.*detected stall", r"self-detected stall",
    r"soft lockup", r"hard LOCKUP", r"suspected memory leak",
    r"Call Trace:",
]
SPLAT_RE = re.compile("|".join(SPLATS))
KTAP_RE = re.compile(r"^(not ok|ok) \d+ (\S+)(?:\s+#\s*(SKIP|TODO|XFAIL)\b(.*))?")
GTEST_RE = re.compile(r"^\[\s+(OK|FAILED|SKIPPED)\s+\] (\S+) \(\d+ ms\)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tests", action="append", default=[])
    ap.add_argument("--console", action="append", default=[])
    ap.add_argument("--status", action="append", default=[])
    a = ap.parse_args()

    passed, failed, skipped = [], [], []
    for path in a.tests:
        try:
            lines = open(path, errors="replace").read().splitlines()
        except OSError:
            failed.append(f"{path}: missing test output")
            continue
        for raw in lines:
            line = raw.strip("\r")
            m = KTAP_RE.match(line)
            if m:
                name = m.group(2)
                # Plan-level lines ("ok 1 selftests: x") are not tests.
                if m.group(3) == "SKIP":
                    skipped.append(f"{name}:{m.group(4) or ''}")
                elif m.group(1) == "ok":
                    passed.append(name)
                else:
                    failed.append(name)
                continue
            m = GTEST_RE.match(line)
            if m:
                {"OK": passed, "FAILED": failed, "SKIPPED": skipped}[m.group(1)].append(m.group(2))

    splats = []
    for path in a.console:
        try:
            lines = open(path, errors="replace").read().splitlines()
        except OSError:
            failed.append(f"{path}: missing console log")
            continue
        for i, line in enumerate(lines):
            if SPLAT_RE.search(line):
                splats.append((path, i, lines[max(0, i - 2): i + 25]))

    for st in a.status:
        name, _, rc = st.partition("=")
        if rc != "0":
            failed.append(f"{name} exited with status {rc}")

    for path, i, ctx in splats[:5]:
        print(f"=== kernel splat in {path} line {i + 1}:")
        print("\n".join(ctx))
    if splats:
        failed.append(f"{len(splats)} kernel splat line(s)")
    for s in skipped:
        print(f"SKIP {s}")
    for f in failed:
        print(f"FAIL {f}")
    print(f"{len(skipped)} skipped")
    print(f"{len(passed)} passed, {len(failed)} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
