#!/usr/bin/env bash
# Apply patches/series to a kernel tree, quilt style, strictly: no fuzz,
# no rejects.  The tree remembers what it has applied (a copy of each
# patch); only the patches from the first one that differs onwards are
# reverted and re-applied, so unchanged patches do not touch any file.
# On any failure, everything this run applied is reverted and we exit 1.
set -euo pipefail
pdir=$1 src=$2
state=$src/.syslet-patches
mkdir -p "$state"
[ -f "$state/series" ] || : > "$state/series"

mapfile -t want < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$pdir/series")
mapfile -t have < "$state/series"

# Length of the common, unchanged prefix.
keep=0
while [ $keep -lt ${#want[@]} ] && [ $keep -lt ${#have[@]} ] &&
      [ "${want[$keep]}" = "${have[$keep]}" ] &&
      cmp -s "$pdir/${want[$keep]}" "$state/${have[$keep]}"; do
	keep=$((keep + 1))
done

run_patch() { # dir file [-R]
	patch -d "$src" -p1 -F0 -N -s --no-backup-if-mismatch -r - "$@"
}

# Reverting and re-applying rewrites every file those patches touch,
# and make would rebuild all that includes them (sched.h: nearly all).
# Remember content and mtime of each such file now; at the end, a file
# whose content came out the same gets its old mtime back.
files=()
for ((i = keep; i < ${#have[@]}; i++)); do files+=("$state/${have[$i]}"); done
for ((i = keep; i < ${#want[@]}; i++)); do files+=("$pdir/${want[$i]}"); done
mapfile -t touched < <([ ${#files[@]} -gt 0 ] &&
	sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "${files[@]}" | sort -u)
stamps=$(mktemp -d)
trap 'rm -rf "$stamps"' EXIT
for ((i = 0; i < ${#touched[@]}; i++)); do
	f=$src/${touched[$i]}
	[ -f "$f" ] || continue
	sha1sum < "$f" > "$stamps/$i.sum"
	touch -r "$f" "$stamps/$i.time"
done
restore_mtimes() {
	local i f
	for ((i = 0; i < ${#touched[@]}; i++)); do
		f=$src/${touched[$i]}
		[ -f "$stamps/$i.sum" ] && [ -f "$f" ] || continue
		if [ "$(sha1sum < "$f")" = "$(cat "$stamps/$i.sum")" ]; then
			touch -r "$stamps/$i.time" "$f"
		fi
	done
}

# Revert what changed, newest first.
for ((i = ${#have[@]} - 1; i >= keep; i--)); do
	echo "patches: reverting ${have[$i]}"
	if ! run_patch -R -i "$state/${have[$i]}"; then
		echo "patches: cannot revert ${have[$i]}: tree is inconsistent, remove $src and rebuild" >&2
		exit 1
	fi
	rm -f "$state/${have[$i]}"
done
printf '%s\n' "${have[@]:0:$keep}" | sed '/^$/d' > "$state/series"

applied=()
for ((i = keep; i < ${#want[@]}; i++)); do
	p=${want[$i]}
	echo "patches: applying $p"
	if ! run_patch --dry-run -i "$pdir/$p" >/dev/null 2>&1 || ! run_patch -i "$pdir/$p"; then
		echo "patches: $p does not apply cleanly (fuzz 0):" >&2
		run_patch --dry-run -i "$pdir/$p" >&2 || true
		for ((j = ${#applied[@]} - 1; j >= 0; j--)); do
			run_patch -R -i "$pdir/${applied[$j]}"
			rm -f "$state/${applied[$j]}"
		done
		printf '%s\n' "${have[@]:0:$keep}" | sed '/^$/d' > "$state/series"
		restore_mtimes
		exit 1
	fi
	applied+=("$p")
	cp "$pdir/$p" "$state/$p"
	echo "$p" >> "$state/series"
done
restore_mtimes
