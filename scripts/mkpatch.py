#!/usr/bin/env python3
"""Developer helper: regenerate a patch in patches/ from edit recipes.

usage: mkpatch.py PRISTINE_TREE RECIPE.py OUT.patch

RECIPE.py defines HEADER (patch description) and EDITS, a list of
(path, old, new) string replacements on pristine files; each `old` must
occur exactly once.  The result is a unified diff with a/ b/ prefixes.
"""
import difflib, runpy, sys

tree, recipe, out = sys.argv[1:4]
r = runpy.run_path(recipe)
files = {}
for path, old, new in r["EDITS"]:
    if path not in files:
        files[path] = open(f"{tree}/{path}").read()
    cur = files[path]
    if cur.count(old) != 1:
        sys.exit(f"{recipe}: {path}: anchor found {cur.count(old)} times:\n{old}")
    files[path] = cur.replace(old, new)
with open(out, "w") as f:
    f.write(r["HEADER"].rstrip() + "\n\n---\n")
    for path in sorted(files):
        a = open(f"{tree}/{path}").read().splitlines(keepends=True)
        b = files[path].splitlines(keepends=True)
        f.writelines(difflib.unified_diff(a, b, f"a/{path}", f"b/{path}"))
