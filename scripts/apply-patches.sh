#!/usr/bin/env bash
# Apply patches/series to a kernel tree with quilt, strictly: no fuzz, no
# rejects.  The tree is an ordinary quilt tree (state in SRC/.pc, patches
# read from PATCHDIR, options from PATCHDIR/quiltrc), so a developer can
# cd into it and quilt pop/push/refresh directly.
#
#   scripts/apply-patches.sh PATCHDIR SRC
#
# Only the patches from the first one that changed onwards are popped
# (quilt restores the files from its backups, whatever the patch file
# says now) and pushed again; unchanged patches do not touch any file.
# A patch counts as changed when its name or position differs from what
# was pushed, or its checksum differs from the one recorded when it was
# pushed (SRC/.pc/.syslet-sums; `quilt refresh` in SRC therefore costs a
# pop and push of that patch on the next build, with no rebuild).
# On a push failure, what this run pushed is popped again and we exit 1.
set -euo pipefail
pdir=$(cd "$1" && pwd)
src=$2
cd "$src"
export QUILTRC=$pdir/quiltrc QUILT_PATCHES=$pdir
sums=.pc/.syslet-sums
# Files that scripts/sync-overlay.sh removed this run (they used to be
# overlay files and may come back from a patch): their old content and
# mtime are kept here so that the mtime trick below covers them too.
stash=.syslet-overlay-removed

mapfile -t want < <(sed -e 's/#.*//' -e 's/[[:space:]].*//' -e '/^$/d' "$pdir/series")
have=()
if [ -d .pc ]; then
	# the patches are always read from PATCHDIR, wherever the tree was made
	echo "$pdir" > .pc/.quilt_patches
	[ -s .pc/applied-patches ] && mapfile -t have < .pc/applied-patches
fi
sum_of() { sha1sum < "$pdir/$1" | cut -d' ' -f1; }
recorded() { [ -f "$sums" ] && awk -v p="$1" '$2 == p { print $1 }' "$sums"; }

# Length of the common, unchanged prefix.
keep=0
while [ $keep -lt ${#want[@]} ] && [ $keep -lt ${#have[@]} ] &&
      [ "${want[$keep]}" = "${have[$keep]}" ] &&
      [ "$(sum_of "${want[$keep]}")" = "$(recorded "${want[$keep]}")" ]; do
	keep=$((keep + 1))
done

# The tree of scripts/apply-patches.sh before it used quilt kept copies of
# the patches it applied in .syslet-patches: revert those with patch -R.
old=.syslet-patches
oldseries=()
[ -f "$old/series" ] && mapfile -t oldseries < "$old/series"

# Popping and pushing rewrites every file those patches touch, and make
# would rebuild all that includes them (sched.h: nearly all).  Remember
# content and mtime of each such file now; at the end, a file whose
# content came out the same gets its old mtime back.
touched_list() {
	local i p
	for ((i = keep; i < ${#have[@]}; i++)); do
		# quilt's backups name every file the applied version touches
		p=.pc/${have[$i]}
		[ -d "$p" ] && (cd "$p" && find . -type f ! -name .timestamp | sed 's|^\./||')
	done
	for ((i = keep; i < ${#want[@]}; i++)); do
		sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$pdir/${want[$i]}"
	done
	for p in "${oldseries[@]}"; do
		sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$old/$p"
	done
	true
}
mapfile -t touched < <(touched_list | sort -u)
stamps=$(mktemp -d)
trap 'rm -rf "$stamps"' EXIT
for ((i = 0; i < ${#touched[@]}; i++)); do
	f=${touched[$i]}
	[ -f "$f" ] || f=$stash/${touched[$i]}
	[ -f "$f" ] || continue
	sha1sum < "$f" > "$stamps/$i.sum"
	touch -r "$f" "$stamps/$i.time"
done
restore_mtimes() {
	local i f
	for ((i = 0; i < ${#touched[@]}; i++)); do
		f=${touched[$i]}
		[ -f "$stamps/$i.sum" ] && [ -f "$f" ] || continue
		if [ "$(sha1sum < "$f")" = "$(cat "$stamps/$i.sum")" ]; then
			touch -r "$stamps/$i.time" "$f"
		fi
	done
}

for ((i = ${#oldseries[@]} - 1; i >= 0; i--)); do
	echo "patches: reverting ${oldseries[$i]} (state of the pre-quilt apply-patches.sh)"
	patch -p1 -F0 -R -s --no-backup-if-mismatch -r - -i "$old/${oldseries[$i]}" || {
		echo "patches: cannot revert ${oldseries[$i]}: remove $src and rebuild" >&2
		exit 1
	}
done
rm -rf "$old"

# Pop what changed, newest first, from quilt's backups (-f: the patch
# file may no longer be what was pushed).
if [ $keep -lt ${#have[@]} ]; then
	echo "patches: popping $((${#have[@]} - keep)) patch(es) down to ${have[$keep]}"
	if ! quilt pop -f -q "$((${#have[@]} - keep))" > /dev/null; then
		echo "patches: quilt pop failed in $src: remove $src and rebuild" >&2
		exit 1
	fi
fi
if [ -f "$sums" ]; then
	awk 'NR == FNR { a[$1]; next } $2 in a' <(printf '%s\n' "${have[@]:0:$keep}") "$sums" > "$sums.new"
	mv "$sums.new" "$sums"
fi

pushed=0
for ((i = keep; i < ${#want[@]}; i++)); do
	p=${want[$i]}
	echo "patches: applying $p"
	if ! out=$(quilt push -q 2>&1) || [ "$(quilt top 2>/dev/null)" != "$p" ]; then
		echo "patches: $p does not apply cleanly (fuzz 0):" >&2
		echo "$out" >&2
		[ $pushed -eq 0 ] || quilt pop -f -q "$pushed" > /dev/null || true
		head -n "$keep" "$sums" > "$sums.new" && mv "$sums.new" "$sums"
		restore_mtimes
		exit 1
	fi
	pushed=$((pushed + 1))
	echo "$(sum_of "$p") $p" >> "$sums"
done
restore_mtimes
rm -rf "$stash"
