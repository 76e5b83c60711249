#!/usr/bin/env python3
"""Check that the READMEs name nothing that is not there (make check).

usage: readme-links.py TOP README...

For each README (a path relative to TOP), every relative Markdown link
([text](target), fragment dropped) and every path it names in `code` or
in the text -- a word with a "/" that starts at a top-level directory of
the repository (scripts/guest/check.sh, bench/results/fio.md), or a file
name with an extension of ours (kbuild.sh, sls.cpp; not .h, which names
system headers too) -- must exist:
relative to the README's directory or to TOP, as a file or directory of
the repository, or as a file that a kernel patch of patches/ creates or
changes (kernel/syslet/pool.c, include/linux/syslet.h).  Generated paths
are not checked: build/..., anything with a placeholder (<flavor>, $(...),
"..."), a glob or an option, and shell comments in fenced code blocks.
A bare file name must be a file somewhere in the repository.

Prints KTAP, one result per README ("readme_links.<path>"), with each
dangling name as a diagnostic; exits 1 if any dangles.
"""
import os
import re
import sys

# a bare file name with one of these is a file of ours (not <fcntl.h>)
EXTS = ("sh", "py", "c", "cpp", "hpp", "md", "txt", "patch", "png")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`\n]+)`")
WORD = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_./+-]*")


def repo_files(top):
    files, dirs = set(), set()
    for root, dnames, fnames in os.walk(top):
        rel = os.path.relpath(root, top)
        if rel == ".":
            dnames[:] = [d for d in dnames if d not in ("build", ".git")]
            rel = ""
        dnames[:] = [d for d in dnames if not d.startswith(".")]
        for d in dnames:
            dirs.add(os.path.join(rel, d))
        for f in fnames:
            files.add(os.path.join(rel, f))
    return files, dirs


def patched_files(top):
    out = set()
    pdir = os.path.join(top, "patches")
    for name in sorted(os.listdir(pdir)) if os.path.isdir(pdir) else []:
        if not name.endswith(".patch"):
            continue
        for line in open(os.path.join(pdir, name), errors="replace"):
            if line.startswith("+++ b/"):
                out.add(line[6:].split("\t")[0].strip())
    return out


def drop_comments(text):
    """Shell comments in fenced code blocks (" # ...") are prose."""
    out, fenced = [], False
    for line in text.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        elif fenced:
            line = re.sub(r"(^|\s)#\s.*", "", line)
        out.append(line)
    return "\n".join(out)


def candidates(text):
    """(name, kind) of the paths a README names: link, path or file."""
    text = drop_comments(text)
    for m in LINK.finditer(text):
        t = m.group(1)
        if re.match(r"^[a-z]+:", t) or t.startswith("#"):
            continue
        yield t.split("#", 1)[0], "link"
    for m in CODE.finditer(text):
        for w in m.group(1).split():
            yield w, "code"
    prose = LINK.sub(" ", CODE.sub(" ", text))
    for m in WORD.finditer(prose):
        yield m.group(0), "text"


def judge(name, kind, top_dirs):
    """The path to look for, or None if it is not a path of ours."""
    name = name.strip("'\",;:()")
    name = re.sub(r"[.,;:]+$", "", name)
    if not name or any(c in name for c in "<>$*?{}[]=") or "..." in name:
        return None
    if name.startswith(("-", "/", "~", "build/", "http")):
        return None
    if kind == "link":
        return name
    if "/" in name:
        first = name.split("/", 1)[0]
        return name if first in top_dirs else None
    m = re.match(r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.(\w+)$", name)
    if m and m.group(1) in EXTS:
        return name
    return None


def main():
    top = sys.argv[1]
    readmes = sys.argv[2:]
    files, dirs = repo_files(top)
    patched = patched_files(top)
    patched_dirs = {os.path.dirname(p) for p in patched}
    top_dirs = {d for d in dirs if "/" not in d}
    basenames = {os.path.basename(f) for f in files | patched}
    print("TAP version 13")
    print(f"1..{len(readmes)}")
    bad_total = 0
    for n, readme in enumerate(readmes, 1):
        here = os.path.dirname(readme)
        text = open(os.path.join(top, readme)).read()
        bad = []
        for name, kind in candidates(text):
            path = judge(name, kind, top_dirs)
            if path is None:
                continue
            p = path.rstrip("/")
            if "/" not in path and kind != "link":
                ok = p in basenames
            else:
                tries = {os.path.normpath(os.path.join(here, p)),
                         os.path.normpath(p)}
                ok = any(t in files or t in dirs or t in patched or
                         any(d == t or d.startswith(t + "/")
                             for d in patched_dirs)
                         for t in tries)
            if not ok and path not in bad:
                bad.append(path)
        for b in bad:
            print(f"# {readme}: names {b}, which is not there")
        status = "not ok" if bad else "ok"
        print(f"{status} {n} readme_links.{readme}")
        bad_total += len(bad)
    sys.exit(1 if bad_total else 0)


if __name__ == "__main__":
    main()
