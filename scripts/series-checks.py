#!/usr/bin/env python3
"""Judge checkpatch's findings on the exported series (helper of mkseries.sh).

usage: series-checks.py PLAN CHECKS REPO LOGDIR COVER-OUT MAIL...

PLAN	plan.tsv of series-plan.py (its 5th column names each commit's unit)
CHECKS	patches/series-msg/checks.txt: the reason for each CHECK left
REPO	the series repository (build/series/git; branch "series" is the tip)
LOGDIR	checkpatch --strict --show-types output of each mail, LOGDIR/NAME.log
	for NAME.patch
COVER-OUT  where to write the cover letter's checkpatch section
MAIL...	the patches in order

Per patch it prints one line: errors, warnings, checks.  It exits 1 on:
  - any ERROR;
  - any WARNING, except FILE_PATH_CHANGES ("does MAINTAINERS need
    updating?") when this script finds every file the patch adds covered
    by an F: pattern of a MAINTAINERS entry that the series itself adds
    or changes, as it is at the tip of the series (so not THE REST, nor
    a subsystem's entry that happens to cover a directory): then the
    question is answered, and the line says so;
  - any CHECK that checks.txt gives no reason for.
SERIES_LAX=1 in the environment makes the last two warnings (printed,
exit 0); errors always fail.

checks.txt: one entry a line, "#" comments, fields split by " | ":
    unit | TYPE | message | reason
  unit     the patch file of patches/series (0007-syslet-ring-heads.patch)
           or the overlay unit: core (the uapi header), docs, docs-<k>,
           tests/<program>; shell glob, so "*" is every patch
  TYPE     checkpatch's type, as --show-types prints it (CAMELCASE)
  message  checkpatch's message after "CHECK:TYPE: ", a shell glob ("*"
           for any); never a line number, so edits do not break it
  reason   one line, printed in the cover letter
The first entry that matches a CHECK explains it; every CHECK of every
patch must be explained.  Entries that match nothing are reported, so
they can be dropped.
"""
import fnmatch
import os
import re
import subprocess
import sys
import textwrap

FINDING = re.compile(r"^(ERROR|WARNING|CHECK):([A-Z0-9_]+): (.*?)\s*$")
TOTAL = re.compile(r"^total: (\d+) errors, (\d+) warnings, (\d+) checks")


def load_reasons(path):
    entries = []
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return entries
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split(" | ", 3)]
        if len(parts) != 4 or not all(parts):
            sys.exit(f"series-checks: {path}:{n}: want 'unit | TYPE | "
                     f"message | reason'")
        entries.append({"unit": parts[0], "type": parts[1],
                        "msg": parts[2], "reason": parts[3],
                        "where": f"{path}:{n}", "used": 0})
    return entries


def maintainers_entries(repo, rev):
    """{entry name: [F: patterns]} of MAINTAINERS at @rev."""
    try:
        text = subprocess.run(["git", "-C", repo, "show", f"{rev}:MAINTAINERS"],
                              capture_output=True, text=True,
                              check=True).stdout
    except subprocess.CalledProcessError:
        return {}
    entries, name = {}, None
    for line in text.splitlines():
        if not line.strip():
            name = None
            continue
        m = re.match(r"^([A-Z]):\s*(.*?)\s*$", line)
        if m and name:
            if m.group(1) == "F":
                entries[name].append(m.group(2))
        elif not m:
            name = line.strip()
            entries.setdefault(name, [])
    return entries


def maintainers_patterns(repo):
    """The entries of MAINTAINERS that the series adds or changes (tip)."""
    base = maintainers_entries(repo, "base")
    tip = maintainers_entries(repo, "series")
    return {n: pats for n, pats in tip.items()
            if n != "THE REST" and base.get(n) != pats}


def covered(path, pattern):
    """MAINTAINERS F: semantics: a directory covers everything below it."""
    if pattern.endswith("/"):
        return path.startswith(pattern) or fnmatch.fnmatch(
            path, pattern + "*")
    return fnmatch.fnmatch(path, pattern)


def added_files(mail):
    files, last = [], None
    for line in open(mail, errors="replace"):
        m = re.match(r"^diff --git a/(\S+) b/(\S+)", line)
        if m:
            last = m.group(2)
        elif line.startswith("new file mode") and last:
            files.append(last)
    return files


def main():
    plan, checks_txt, repo, logdir, cover_out = sys.argv[1:6]
    mails = sys.argv[6:]
    units = [l.rstrip("\n").split("\t")[4] for l in open(plan) if l.strip()]
    if len(units) != len(mails):
        sys.exit(f"series-checks: {len(mails)} mails for {len(units)} commits")
    reasons = load_reasons(checks_txt)
    owners = None
    lax = os.environ.get("SERIES_LAX") == "1"
    failed = 0
    explained = []	# (mail, unit, type, msg, count, reason)
    answered, entries = [], set()
    for mail, unit in zip(mails, units):
        base = os.path.basename(mail)[:-len(".patch")]
        log = open(os.path.join(logdir, base + ".log"),
                   errors="replace").read().splitlines()
        tot = next((TOTAL.match(l) for l in log if TOTAL.match(l)), None)
        found = [FINDING.match(l) for l in log]
        found = [(m.group(1), m.group(2), m.group(3)) for m in found if m]
        errors = [f for f in found if f[0] == "ERROR"]
        warnings = [f for f in found if f[0] == "WARNING"]
        checks = [f for f in found if f[0] == "CHECK"]
        if not tot:
            errors.append(("ERROR", "NO_SUMMARY", "checkpatch gave no total"))
        note = ""
        if any(w[1] == "FILE_PATH_CHANGES" for w in warnings):
            if owners is None:
                owners = maintainers_patterns(repo)
            files = added_files(mail)
            who = set()
            for f in files:
                hit = [n for n, pats in owners.items()
                       if any(covered(f, p) for p in pats)]
                if not hit:
                    who = None
                    break
                who.update(hit)
            if files and who:
                warnings = [w for w in warnings
                            if w[1] != "FILE_PATH_CHANGES"]
                note = (" (FILE_PATH_CHANGES answered: MAINTAINERS "
                        + "; ".join(sorted(who)) + " covers the files added)")
                answered.append(base)
                entries.update(who)
        unexplained = []
        mine = {}
        for _, typ, msg in checks:
            for r in reasons:
                if (fnmatch.fnmatchcase(unit, r["unit"]) and
                        r["type"] == typ and
                        fnmatch.fnmatchcase(msg, r["msg"])):
                    r["used"] += 1
                    key = (typ, msg, r["reason"])
                    mine[key] = mine.get(key, 0) + 1
                    break
            else:
                unexplained.append((typ, msg))
        for (typ, msg, reason), count in mine.items():
            explained.append((base, unit, typ, msg, count, reason))
        print(f"checkpatch: {base:<64} {len(errors)} errors, "
              f"{len(warnings)} warnings, {len(checks)} checks{note}")
        for sev, typ, msg in errors + warnings:
            print(f"    {sev}:{typ}: {msg}", file=sys.stderr)
        for typ, msg in unexplained:
            print(f"    CHECK:{typ}: {msg}  -- no reason in checks.txt "
                  f"(unit {unit})", file=sys.stderr)
        if errors:
            failed = 1
        elif (warnings or unexplained) and not lax:
            failed = 1
    for r in reasons:
        if not r["used"]:
            print(f"series-checks: {r['where']}: matches no CHECK any more "
                  f"({r['unit']} {r['type']})", file=sys.stderr)

    out = ["checkpatch.pl --strict on every patch: "
           + ("0 errors and 0 warnings." if not failed else
              "see make series' output, not clean.")]
    if answered:
        out[0] += (f"  FILE_PATH_CHANGES (\"does MAINTAINERS need "
                   f"updating?\") is answered for {len(answered)} patches: "
                   f"at the end of the series, the series' MAINTAINERS entry "
                   f"{'; '.join(sorted(entries))} covers every file they "
                   f"add.")
    out = [textwrap.fill(out[0], 72), ""]
    if explained:
        out += [textwrap.fill("The checks left, and why each is left:", 72),
                ""]
        for base, unit, typ, msg, count, reason in explained:
            head = f"  {base.split('-', 1)[0]} {unit}: CHECK:{typ}"
            head += f" x{count}" if count > 1 else ""
            out.append(head)
            out.append(textwrap.fill(msg, 72, initial_indent="    \"",
                                     subsequent_indent="     ") + "\"")
            out.append(textwrap.fill(reason, 72, initial_indent="    ",
                                     subsequent_indent="    "))
            out.append("")
    else:
        out.append("No checks are left.")
    with open(cover_out, "w") as f:
        f.write("\n".join(out).rstrip("\n") + "\n")
    sys.exit(failed)


if __name__ == "__main__":
    main()
