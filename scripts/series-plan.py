#!/usr/bin/env python3
"""Plan the commits of the exported series (helper of scripts/mkseries.sh).

usage: series-plan.py SRC FILES SIGNOFF OUTDIR

SRC	directory holding patches/series, patches/*.patch and the overlay
FILES	file listing the overlay files (paths relative to SRC), one per line
SIGNOFF	"Name <email>" for the Signed-off-by trailer
OUTDIR	where to write plan.tsv and the commit messages

Every patch of patches/series becomes one commit, with the subject and
body from the patch's header (the text before its first "---" line or
diff), else derived from the file name.  The overlay files become one
commit per group, by path: core (the uapi header: everything not below),
x86 arch code (arch/, none today), Documentation (Documentation/; in
parts where patches/series-msg/docs-<k>.txt say, see plan_docs()),
and one commit per selftest program (tools/): the programs in the order
of the "TEST_GEN_PROGS := / +=" lines of the selftests Makefile (one
program a line), each commit adding the program's .c file, the local
headers it includes ("x.h", also through other headers) that no earlier
program brought, and its own line of the Makefile (the Makefile of the
k-th commit is the real one without the lines of later programs, so the
last commit gives the real file).  A file under tools/ that no program
takes is an error.

Order, each class keeping patches/series order:
  pre     patches that do not refer to syslets (code lines, comments aside)
  core    overlay: the uapi header
  arch    overlay: arch/x86
  kernel  the other patches, the syslet code cut by feature: in
	  patches/series order, where each one builds (make series-build)
  docs    overlay: Documentation
  tests   overlay: tools/testing/selftests
A patch header line "Series-Phase: pre|kernel" overrides the guess (and
is left out of the commit message).  The message of an
overlay group is SRC/patches/series-msg/<group>.txt (subject line, blank
line, body), that of a selftest program
SRC/patches/series-msg/tests/<program>.txt; a missing one is an error.

plan.tsv: one line per commit: kind ("patch" or "files"), payload (patch
file name, or a file listing the paths, each optionally followed by a
tab and the file holding its content, when that is not SRC/<path>),
commit message file, phase, unit (the patch file name, or the overlay
group: core, arch, docs, docs-<k>, tests/<program>; patches/series-msg/checks.txt
names patches by it).
"""
import os
import re
import sys
import textwrap

PHASES = ["pre", "core", "arch", "kernel", "docs", "tests"]

GROUPS = ("core", "arch", "docs", "tests")

TESTS_DIR = "tools/testing/selftests/syslet"


def core_files(src):
    """The file table of kernel/syslet/syslet.h's header comment, if any."""
    rows = []
    try:
        with open(os.path.join(src, "kernel/syslet/syslet.h")) as f:
            for line in f:
                m = re.match(r"^ \* (\w+\.c)\t+(.*\S)", line)
                if m:
                    rows.append(textwrap.fill(
                        m.group(2), 72, initial_indent=f"  {m.group(1):<12} ",
                        subsequent_indent=" " * 15))
                elif rows:
                    break
    except OSError:
        pass
    return "\n".join(rows) or (
        "  fetching atoms and the chain loop, the per-process state and\n"
        "  the ring heads, completions and async_wait(), the pool threads,\n"
        "  the allowlist of system calls an atom may run, umem_add()")


def group_of(path):
    if path.startswith("Documentation/"):
        return "docs"
    if path.startswith("tools/"):
        return "tests"
    if path.startswith("arch/"):
        return "arch"
    return "core"


def test_programs(src, paths):
    """Programs of the selftests Makefile, in order: [(prog, line index)]."""
    mk = os.path.join(src, TESTS_DIR, "Makefile")
    with open(mk) as f:
        lines = f.read().split("\n")
    progs = []
    for i, line in enumerate(lines):
        m = re.match(r"^TEST_GEN_PROGS\s*[:+]?=\s*(.*?)\s*$", line)
        if not m:
            continue
        words = m.group(1).split()
        if len(words) != 1 or line.endswith("\\"):
            sys.exit(f"series-plan: {mk}: one program per TEST_GEN_PROGS "
                     f"line, please (line {i + 1})")
        progs.append((words[0], i))
    if not progs:
        sys.exit(f"series-plan: {mk}: no TEST_GEN_PROGS")
    return lines, progs


def local_includes(src, path, seen):
    """Headers of the selftests directory that @path includes, deep."""
    out = []
    try:
        with open(os.path.join(src, path)) as f:
            text = f.read()
    except OSError:
        return out
    for name in re.findall(r'^#include\s+"([^"/]+)"', text, re.M):
        h = f"{TESTS_DIR}/{name}"
        if h in seen or not os.path.exists(os.path.join(src, h)):
            continue
        seen.add(h)
        out += [h] + local_includes(src, h, seen)
    return out


def plan_tests(src, mine, outdir):
    """One unit per selftest program: (listing file, program)."""
    lines, progs = test_programs(src, mine)
    mk = f"{TESTS_DIR}/Makefile"
    taken = {mk}
    units = []
    for k, (prog, _) in enumerate(progs):
        c = f"{TESTS_DIR}/{prog}.c"
        if c not in mine:
            sys.exit(f"series-plan: {mk} names {prog}, but there is no {c}")
        files = [c] + [h for h in local_includes(src, c, set(taken))
                       if h in mine]
        taken.update(files)
        later = {i for _, i in progs[k + 1:]}
        content = os.path.join(outdir, f"Makefile-{k + 1:02d}")
        with open(content, "w") as f:
            f.write("\n".join(l for i, l in enumerate(lines)
                              if i not in later))
        listing = os.path.join(outdir, f"files-tests-{prog}")
        with open(listing, "w") as f:
            f.write("".join(p + "\n" for p in sorted(files)))
            f.write(f"{mk}\t{content}\n")
        units.append((listing, prog))
    left = sorted(set(mine) - taken)
    if left:
        sys.exit("series-plan: no selftest program takes " + ", ".join(left)
                 + f" (add it to {mk}, or include it from a program)")
    return units


def msg_text(src, name):
    """(Starts-At heading or None, message text) of a series-msg file."""
    msgfile = os.path.join(src, "patches/series-msg", f"{name}.txt")
    try:
        with open(msgfile) as f:
            text = f.read().strip()
    except OSError as e:
        sys.exit(f"series-plan: {name} needs its commit message: {e}")
    m = re.match(r"^Starts-At:\s*(.*\S)\s*\n", text)
    if m:
        return m.group(1), text[m.end():].strip()
    return None, text


def read_msg(src, name):
    subject, _, body = msg_text(src, name)[1].partition("\n")
    return subject, body.strip("\n").replace("{core_files}", core_files(src))


def plan_docs(src, mine, outdir):
    """Documentation in one or more units: [(listing file, unit)].

    patches/series-msg/docs.txt is the first unit; each docs-<k>.txt
    (k = 2, 3, ...) that exists is one more, and its first line
    "Starts-At: <heading>" names the section heading of a Documentation
    file where it begins.  Unit k adds that file up to where unit k+1
    begins, so the last unit gives the real file, and a long document
    reaches reviewers in parts no longer than a kernel patch may be.
    """
    units, k = ["docs"], 2
    while os.path.exists(os.path.join(src, f"patches/series-msg/docs-{k}.txt")):
        units.append(f"docs-{k}")
        k += 1
    cuts = []   # (path, line index) where unit i + 1 begins
    for unit in units[1:]:
        heading = msg_text(src, unit)[0]
        if heading is None:
            sys.exit(f"series-plan: patches/series-msg/{unit}.txt must begin "
                     "with \"Starts-At: <section heading>\"")
        hits = []
        for path in mine:
            with open(os.path.join(src, path)) as f:
                lines = f.read().split("\n")
            for i, line in enumerate(lines[:-1]):
                if (line == heading and lines[i + 1]
                        and set(lines[i + 1]) <= set("=-~")):
                    hits.append((path, i))
        if len(hits) != 1:
            sys.exit(f"series-plan: {unit}: heading \"{heading}\" found "
                     f"{len(hits)} times in {', '.join(mine)}; need once")
        cuts.append(hits[0])
    out = []
    for n, unit in enumerate(units):
        listing = os.path.join(outdir, f"files-{unit}")
        with open(listing, "w") as f:
            for path in mine:
                later = [i for p, i in cuts[n:] if p == path]
                if not later:
                    f.write(path + "\n")
                    continue
                with open(os.path.join(src, path)) as g:
                    text = g.read().split("\n")
                content = os.path.join(outdir, f"{unit}-part-" + path.replace("/", "_"))
                with open(content, "w") as g:
                    g.write("\n".join(text[:later[0]]).rstrip("\n") + "\n")
                f.write(f"{path}\t{content}\n")
        out.append((listing, unit))
    return out


def split_patch(text):
    """Header lines and diff lines of a quilt style patch."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if (line == "---" or line.startswith("--- ") or
                line.startswith("diff ") or line.startswith("Index: ")):
            return lines[:i], lines[i:]
    return lines, []


def parse_header(header):
    """(subject, body lines, phase override) from a patch header."""
    lines = list(header)
    # mbox style: take Subject: and the body after the mail headers
    if lines and lines[0].startswith("From "):
        subj, i = None, 1
        while i < len(lines) and lines[i].strip():
            if lines[i].startswith("Subject:"):
                subj = re.sub(r"^Subject:\s*(\[[^]]*\]\s*)?", "", lines[i])
            i += 1
        lines = ([subj] if subj else []) + [""] + lines[i + 1:]
    phase = None
    kept = []
    for line in lines:
        m = re.match(r"^Series-Phase:\s*(\S+)\s*$", line)
        if m:
            phase = m.group(1)
            continue
        kept.append(line.rstrip())
    while kept and not kept[0]:
        kept.pop(0)
    while kept and not kept[-1]:
        kept.pop()
    if not kept:
        return None, [], phase
    body = kept[1:]
    while body and not body[0]:
        body.pop(0)
    return kept[0], body, phase


def subject_from_name(name):
    stem = re.sub(r"\.(patch|diff)$", "", name)
    stem = re.sub(r"^\d+-", "", stem)
    prefix, _, rest = stem.partition("-")
    return f"{prefix}: {rest.replace('-', ' ')}" if rest else stem


def code_lines(diff):
    """Added lines of a diff, C comments left out."""
    out, in_comment = [], False
    for line in diff:
        if not line.startswith("+") or line.startswith("+++ "):
            continue
        s = line[1:]
        if in_comment:
            if "*/" in s:
                s, in_comment = s.split("*/", 1)[1], False
            else:
                continue
        s = re.sub(r"/\*.*?\*/", "", s)
        if "/*" in s:
            s, in_comment = s.split("/*", 1)[0], True
        s = re.sub(r"//.*", "", s)
        if s.strip():
            out.append(s)
    return out


def classify(diff):
    if any(re.search(r"syslet", l, re.I) for l in code_lines(diff)):
        return "kernel"
    return "pre"


def main():
    src, files_list, signoff, outdir = sys.argv[1:5]
    os.makedirs(outdir, exist_ok=True)
    sob = f"Signed-off-by: {signoff}"
    units = {p: [] for p in PHASES}

    with open(os.path.join(src, "patches/series")) as f:
        series = [l.split("#", 1)[0].strip() for l in f]
    for name in [s for s in series if s]:
        with open(os.path.join(src, "patches", name)) as f:
            header, diff = split_patch(f.read())
        subject, body, phase = parse_header(header)
        if not subject:
            print(f"series-plan: {name}: no header, subject from the name",
                  file=sys.stderr)
            subject = subject_from_name(name)
            files = sorted({l[6:].split("\t")[0] for l in diff
                            if l.startswith("+++ b/")})
            body = ["Changes to existing kernel files that syslets need:",
                    ""] + [f"  {x}" for x in files]
        if phase is None:
            phase = classify(diff)
        elif phase not in ("pre", "kernel"):
            sys.exit(f"series-plan: {name}: bad Series-Phase {phase}")
        units[phase].append(("patch", name, subject, body, name))

    with open(files_list) as f:
        paths = [l.rstrip("\n") for l in f if l.strip()]
    for g in GROUPS:
        mine = sorted(p for p in paths if group_of(p) == g)
        if not mine:
            continue
        if g == "tests":
            for listing, prog in plan_tests(src, mine, outdir):
                subject, body = read_msg(src, f"tests/{prog}")
                units[g].append(("files", listing, subject,
                                 body.splitlines(), f"tests/{prog}"))
            continue
        if g == "docs":
            for listing, unit in plan_docs(src, mine, outdir):
                subject, body = read_msg(src, unit)
                units[g].append(("files", listing, subject,
                                 body.splitlines(), unit))
            continue
        listing = os.path.join(outdir, f"files-{g}")
        with open(listing, "w") as f:
            f.write("".join(p + "\n" for p in mine))
        subject, body = read_msg(src, g)
        units[g].append(("files", listing, subject, body.splitlines(), g))

    n = 0
    with open(os.path.join(outdir, "plan.tsv"), "w") as plan:
        for phase in PHASES:
            for kind, payload, subject, body, unit in units[phase]:
                n += 1
                msg = os.path.join(outdir, f"msg-{n:02d}")
                text = subject + "\n\n"
                if body:
                    text += "\n".join(body) + "\n"
                    # join the trailer block if the header ends in one
                    if not re.match(r"^[A-Za-z-]+-by: ", body[-1]):
                        text += "\n"
                if sob not in body:
                    text += sob + "\n"
                with open(msg, "w") as f:
                    f.write(text)
                plan.write(f"{kind}\t{payload}\t{msg}\t{phase}\t{unit}\n")
                print(f"  {n:2d}. [{phase}] {subject}"
                      + (f"  ({payload})" if kind == "patch" else ""))


if __name__ == "__main__":
    main()
