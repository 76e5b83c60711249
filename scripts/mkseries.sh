#!/usr/bin/env bash
# Export the syslets as a mailable git format-patch series (make series).
#
# 1. base: build/series/git is a throwaway git repository whose first
#    commit (tag "base") is the pristine tree build/linux-source-6.12
#    (Debian's linux-source-6.12, unpacked from /usr/src if missing).  It
#    is made once per base version and reused after that.  Its work tree
#    shares unchanged files with the pristine tree through hard links; git
#    replaces files rather than writing into them, so the pristine tree is
#    never touched -- do not edit files in build/series/git in place.
# 2. one commit per logical change, in dependency order (the order and
#    the messages come from scripts/series-plan.py): patches of
#    patches/series that need nothing of ours, the uapi header, the
#    syslet patches of patches/series cut by feature (in their order, in
#    which each builds), Documentation, selftests (one commit per test
#    program, in the order of the selftests Makefile).  Each selftest
#    patch must change at most 1,600 lines, every other patch 800.
#    Commits are made with git plumbing on a private index, the overlay
#    (same directories as scripts/sync-overlay.sh) and patches/ are only
#    read; branch "series" points at the result.
# 3. checks that the tip is what kbuild.sh builds (pristine tree + overlay
#    + patches/series applied by patch -F0)
# 4. git format-patch --cover-letter -o build/series/out; the mails are
#    replayed onto base (git mailinfo + git apply, as git am does) and
#    must give the tip again
# 5. scripts/checkpatch.pl --strict --show-types on every patch, judged by
#    scripts/series-checks.py: one summary line per patch, full output in
#    build/series/checkpatch/; it fails on any ERROR, any WARNING (but a
#    FILE_PATH_CHANGES it finds answered by MAINTAINERS), and any CHECK
#    with no reason in patches/series-msg/checks.txt (format: see there)
# 6. the cover letter filled in, with the list of CHECKs left and their
#    reasons
#
# Environment: SERIES_REV=<commit> exports the overlay and patches of that
# commit of this repository instead of the working tree;
# SERIES_SUBJECT_PREFIX (default PATCH) and SERIES_VERSION (-v N) go to
# format-patch; SERIES_CHECKPATCH_OPTS adds checkpatch options, e.g.
# "--ignore COMPLEX_MACRO" for a false positive you have looked at;
# SERIES_LAX=1 reports warnings and unexplained checks without failing
# (errors still fail).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${SYSLET_BUILD:-$top/build}
pristine=${SYSLET_PRISTINE:-$build/linux-source-6.12}
tarball=/usr/src/linux-source-6.12.tar.xz
sdir=$build/series
repo=$sdir/git
out=$sdir/out
work=$sdir/work
say() { echo "mkseries: $*"; }
die() { echo "mkseries: $*" >&2; exit 1; }
g() { git -C "$repo" "$@"; }

mkdir -p "$sdir"
exec 9>"$sdir/.lock"
flock -n 9 || die "another mkseries.sh or series-build.sh is running ($sdir/.lock)"

# Identity and date of the commits.  The date is that of the exported
# revision, so the same sources give the same commits and mails.
name=$(git -C "$top" config user.name || true)
email=$(git -C "$top" config user.email || true)
[ -n "$name" ] && [ -n "$email" ] || { name="Syslet Developers"; email="syslet@example.org"; }
export GIT_AUTHOR_NAME=$name GIT_AUTHOR_EMAIL=$email
export GIT_COMMITTER_NAME=$name GIT_COMMITTER_EMAIL=$email

# 0. what to export --------------------------------------------------------
# The overlay directories, exactly as scripts/sync-overlay.sh has them.
dirs=()
eval "$(grep -m1 '^dirs=(' "$top/scripts/sync-overlay.sh" || true)"
[ ${#dirs[@]} -gt 0 ] || die "cannot read the overlay directories from scripts/sync-overlay.sh"

rm -rf "$work"
mkdir -p "$work"
if [ -n "${SERIES_REV:-}" ]; then
	rev=$(git -C "$top" rev-parse --verify "$SERIES_REV^{commit}")
	src=$work/src
	mkdir -p "$src"
	paths=(patches)
	for d in "${dirs[@]}"; do
		git -C "$top" cat-file -e "$rev:$d" 2>/dev/null && paths+=("$d")
	done
	git -C "$top" archive --format=tar "$rev" -- "${paths[@]}" | tar -x -C "$src"
	(cd "$src" && for d in "${dirs[@]}"; do [ -d "$d" ] && find "$d" -type f; done | sort) > "$work/files"
	origin="syslet $(git -C "$top" describe --always "$rev")"
	date=$(git -C "$top" log -1 --format=%cI "$rev")
else
	# tracked and new files, not what .gitignore ignores (objects, binaries)
	git -C "$top" ls-files -z --cached --others --exclude-standard -- "${dirs[@]}" |
		while IFS= read -r -d '' f; do
			[ -f "$top/$f" ] && [ ! -L "$top/$f" ] || continue
			if ! grep -qI . "$top/$f" && [ -s "$top/$f" ]; then
				echo "mkseries: skipping binary file $f" >&2; continue
			fi
			echo "$f"
		done | sort -u > "$work/files"
	origin="syslet $(git -C "$top" describe --always --dirty)"
	date=$(git -C "$top" log -1 --format=%cI HEAD)
	# Work on a snapshot: people edit these files while we run.
	src=$work/src
	mkdir -p "$src"
	{ echo patches; cat "$work/files"; } | tar -C "$top" -cf - -T - | tar -C "$src" -xf -
fi
export GIT_AUTHOR_DATE=$date GIT_COMMITTER_DATE=$date
[ -s "$work/files" ] || die "no overlay files found"

# 1. base ------------------------------------------------------------------
if [ ! -f "$pristine/Makefile" ]; then
	[ -f "$tarball" ] || die "missing $pristine and $tarball: run scripts/setup.sh"
	say "unpacking $tarball into $pristine"
	rm -rf "$pristine.tmp"
	mkdir -p "$pristine.tmp"
	tar -xf "$tarball" -C "$pristine.tmp"
	mv "$pristine.tmp/linux-source-6.12" "$pristine"
	rmdir "$pristine.tmp"
fi
version=$(awk -F' *= *' '$1=="VERSION"{v=$2} $1=="PATCHLEVEL"{p=$2}
	$1=="SUBLEVEL"{s=$2} $1=="EXTRAVERSION"{e=$2; print v"."p"."s e; exit}' "$pristine/Makefile")
debver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || echo unknown)
key="$version $debver"

if [ -d "$repo/.git" ] && [ "$(g config syslet.base 2>/dev/null)" = "$key" ] &&
   g rev-parse -q --verify refs/tags/base >/dev/null; then
	base=$(g rev-parse refs/tags/base)
	say "reusing base $version (${base:0:12}) in $repo"
else
	say "making base $version from $pristine (once per base version)"
	rm -rf "$repo"
	cp -al "$pristine" "$repo" 2>/dev/null || { rm -rf "$repo"; cp -a "$pristine" "$repo"; }
	git init -q "$repo"
	g config feature.manyFiles true
	g config gc.auto 0
	g config core.looseCompression 1
	g symbolic-ref HEAD refs/heads/series
	# -f: the tarball has files that the kernel's .gitignore names
	g add -A -f .
	tree=$(g write-tree)
	base=$(GIT_AUTHOR_DATE="@$(stat -c %Y "$pristine/Makefile") +0000" \
	       GIT_COMMITTER_DATE="@$(stat -c %Y "$pristine/Makefile") +0000" \
	       g commit-tree -m "Linux $version (Debian linux-source-6.12 $debver)" "$tree")
	g tag -f base "$base" >/dev/null
	g update-ref refs/heads/series "$base"
	g config syslet.base "$key"
fi

# 2. commits ---------------------------------------------------------------
say "exporting $origin against Linux $version"
python3 "$top/scripts/series-plan.py" "$src" "$work/files" "$name <$email>" "$work"
idx=$work/index
export GIT_INDEX_FILE=$idx
g read-tree "$base"
tip=$base
n=0
while IFS=$'\t' read -r kind payload msg phase unit; do
	n=$((n + 1))
	case $kind in
	patch)
		g apply --cached -p1 "$src/patches/$payload" ||
			die "patches/$payload does not apply at step $n" ;;
	files)
		# "path" (content: $src/path) or "path<TAB>content file"
		while IFS=$'\t' read -r f content; do
			[ -n "$content" ] || content=$src/$f
			blob=$(git --git-dir="$repo/.git" hash-object -w --no-filters -- "$content")
			mode=100644
			[ -x "$src/$f" ] && mode=100755
			printf '%s %s\t%s\n' "$mode" "$blob" "$f"
		done < "$payload" | g update-index --add --index-info ;;
	esac
	tree=$(g write-tree)
	[ "$tree" != "$(g rev-parse "$tip^{tree}")" ] || die "step $n ($payload) changes nothing"
	# what a reviewer reads at once: selftests 1,600 lines, every other
	# patch (kernel code, the uapi header, Documentation) 800
	lines=$(g diff --numstat "$tip" "$tree" | awk '{ n += $1 + $2 } END { print n + 0 }')
	case $phase in
	tests) limit=1600 ;;
	*) limit=800 ;;
	esac
	[ "$lines" -le "$limit" ] ||
		die "step $n ($unit) changes $lines lines, more than $limit"
	tip=$(g commit-tree "$tree" -p "$tip" -F "$msg")
done < "$work/plan.tsv"
unset GIT_INDEX_FILE
g update-ref refs/heads/series "$tip"
g symbolic-ref HEAD refs/heads/series
g reset -q --hard series	# rewrites only what changed since the last run

# 3. the tip is what kbuild.sh builds ----------------------------------------
chk=$work/check
mkdir -p "$chk"
mapfile -t patches < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$src/patches/series")
for p in "${patches[@]}"; do
	sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$src/patches/$p"
done | sort -u > "$work/patched"
while read -r f; do
	mkdir -p "$chk/$(dirname "$f")"
	if grep -qxF "$f" "$work/files"; then cp "$src/$f" "$chk/$f"
	elif [ -f "$pristine/$f" ]; then cp "$pristine/$f" "$chk/$f"; fi
done < "$work/patched"
for p in "${patches[@]}"; do
	patch -d "$chk" -p1 -F0 -N -s --no-backup-if-mismatch -r - -i "$src/patches/$p" ||
		die "patches/$p does not apply with patch -F0"
done
bad=0
while read -r f; do
	if grep -qxF "$f" "$work/patched"; then want=$chk/$f; else want=$src/$f; fi
	g cat-file blob "series:$f" | cmp -s - "$want" || { echo "mkseries: $f differs from what kbuild.sh builds" >&2; bad=1; }
done < <(sort -u "$work/files" "$work/patched")
[ $bad -eq 0 ] || die "the series does not match the overlay and patches/series"

# 4. format-patch, cover letter, replay ------------------------------------
commits=$(g rev-list --count base..series)
rm -rf "$out"
fp=(--cover-letter --subject-prefix="${SERIES_SUBJECT_PREFIX:-PATCH}" -o "$out")
[ -z "${SERIES_VERSION:-}" ] || fp+=(-v "$SERIES_VERSION")
g format-patch -q "${fp[@]}" base..series
cover=$(printf '%s\n' "$out"/*0000-cover-letter.patch)

mapfile -t mails < <(printf '%s\n' "$out"/*.patch | grep -v -- '-cover-letter\.patch$')
[ ${#mails[@]} -eq "$commits" ] || die "${#mails[@]} patches for $commits commits"

# Replay the mails onto base, as git am would, and compare with the tip.
export GIT_INDEX_FILE=$work/replay-index
g read-tree "$base"
for m in "${mails[@]}"; do
	g mailinfo "$work/replay-msg" "$work/replay-patch" < "$m" > /dev/null
	g apply --cached "$work/replay-patch" || die "$(basename "$m") does not apply in sequence"
done
[ "$(g write-tree)" = "$(g rev-parse 'series^{tree}')" ] || die "the mails do not add up to the series"
unset GIT_INDEX_FILE
say "$commits patches and a cover letter in $out (they git am onto base in order)"

# 5. checkpatch ------------------------------------------------------------
cpdir=$sdir/checkpatch
rm -rf "$cpdir"
mkdir -p "$cpdir"
read -r -a cpopts <<< "${SERIES_CHECKPATCH_OPTS:-}"
for m in "${mails[@]}"; do
	b=$(basename "$m" .patch)
	# run outside any git repository: checkpatch checks a file that git
	# tracks as a source file (--file), not as a patch
	(cd "$cpdir" && perl "$pristine/scripts/checkpatch.pl" --strict --show-types \
		--root="$pristine" --color=never "${cpopts[@]}" "$m") > "$cpdir/$b.log" 2>&1 || true
done
cprc=0
python3 "$top/scripts/series-checks.py" "$work/plan.tsv" "$src/patches/series-msg/checks.txt" \
	"$repo" "$cpdir" "$work/cover-checks" "${mails[@]}" || cprc=$?

# 6. cover letter ------------------------------------------------------------
# Cover letter: what syslets are, a summary of the design document, the
# new system calls, where CONFIG_SYSLET comes in, and the base; git has
# put the shortlog and diffstat below the placeholders.
enable=$(awk -F'\t' '$4 == "enable" { print NR; exit }' "$work/plan.tsv")
python3 - "$cover" "$src" "$version" "$debver" "$origin" "$enable" "$work/cover-checks" <<'EOF'
import re, sys, textwrap
cover, src, version, debver, origin, enable, checks = sys.argv[1:8]

def wrap(text, indent=""):
    return textwrap.fill(" ".join(text.split()), 72, initial_indent=indent,
                         subsequent_indent=indent)

out = [wrap("""Syslets are generic asynchronous system calls, after Ingo Molnar's
2007 design, reworked for today's kernel.  A program describes a system
call, or a short chain of them, as atoms in its own memory and hands the
first atom to async_exec().  The kernel runs the chain in the caller's
context at the cost of the plain system calls when nothing blocks, or in
a pool thread of the process when asked to (SYSLET_ASYNC), posting the
finished atom to a completion ring in user memory.  Every atom's system
call passes through the normal syscall entry and exit work, so seccomp
filters apply to it, and ptrace, strace, audit and the syscall
tracepoints see it."""), ""]

# From the design document: its "Goal" section and the paragraph on what
# is not done yet.
try:
    doc = open(f"{src}/Documentation/syslet-design.txt").read()
except OSError:
    doc = ""
m = re.search(r"^Goal\n-+\n(.*?)\n\n[^\n]+\n-+\n", doc, re.S | re.M)
paras = [p for p in (m.group(1).split("\n\n") if m else []) if p.strip()]
paras += [p for p in doc.split("\n\n") if p.startswith("The cachemiss handoff")]
if paras:
    out += ["From Documentation/syslet-design.txt:", ""]
    for p in paras:
        out += [wrap(p, "  "), ""]

try:
    uapi = open(f"{src}/include/uapi/linux/syslet.h").read()
except OSError:
    uapi = ""
calls = re.findall(r"^#define __NR_(\w+)\s+(\d+)\s*$", uapi, re.M)
if calls:
    out += [wrap("New x86-64 system calls: " +
                 ", ".join(f"{n} ({nr})" for n, nr in calls) +
                 ".  These are out-of-tree numbers (see the syscall table "
                 "patch); user space takes them from <linux/syslet.h>."), ""]
if enable:
    out += [wrap(f"Patch {enable} adds CONFIG_SYSLET; the patches before it "
                 "add code that is not built yet, so that every step of the "
                 "series builds."), ""]
out += [wrap(f"Based on Linux {version} as shipped by Debian (linux-source-6.12 "
             f"{debver}); generated from {origin} by make series."), ""]
out += open(checks).read().rstrip("\n").split("\n")

text = open(cover).read()
for ph in ("*** SUBJECT HERE ***", "*** BLURB HERE ***"):
    if text.count(ph) != 1:
        sys.exit(f"mkseries: cover letter: expected one {ph!r}")
text = text.replace("*** SUBJECT HERE ***",
                    "syslets: generic asynchronous system calls")
text = text.replace("*** BLURB HERE ***", "\n".join(out))
open(cover, "w").write(text)
EOF
! grep -q '\*\*\*' "$cover" || die "cover letter still has a placeholder"
grep -qE "^Subject: \[.*\b0+/$commits\] syslets: generic asynchronous system calls$" "$cover" ||
	die "cover letter subject is not [... 0/$commits] syslets: ..."
say "done in ${SECONDS}s (checkpatch logs in $cpdir)"
[ $cprc -eq 0 ] || die "checkpatch: see above (errors, warnings, or checks with no reason in patches/series-msg/checks.txt)"
