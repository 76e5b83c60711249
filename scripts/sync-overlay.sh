#!/usr/bin/env bash
# Copy the repository's new kernel files into a kernel tree.  Files are
# compared by content: unchanged ones keep their timestamp (so make does
# not rebuild their users), changed ones are rewritten, and files that
# were synced before but are gone from the repository are removed.
set -euo pipefail
top=$1 src=$2
dirs=(include/uapi Documentation tools/testing/selftests/syslet)
manifest=$src/.syslet-overlay-files

cd "$top"
new=$(for d in "${dirs[@]}"; do [ -d "$d" ] && find "$d" -type f; done | sort)
changed=0
while read -r f; do
	[ -n "$f" ] || continue
	if ! cmp -s "$f" "$src/$f"; then
		mkdir -p "$src/$(dirname "$f")"
		cp "$f" "$src/$f"
		echo "overlay: $f"
		changed=$((changed + 1))
	fi
done <<<"$new"
# A file that left the overlay is moved aside, not deleted: when a patch
# of patches/series creates it again (the kernel code moved from the
# overlay into patches), scripts/apply-patches.sh gives it back its old
# mtime if the content is the same, and then removes the stash.
stash=$src/.syslet-overlay-removed
if [ -f "$manifest" ]; then
	comm -23 "$manifest" <(echo "$new") | while read -r f; do
		[ -n "$f" ] && [ -f "$src/$f" ] || continue
		mkdir -p "$stash/$(dirname "$f")"
		mv -f "$src/$f" "$stash/$f"
		echo "overlay: removed $f"
	done
fi
echo "$new" > "$manifest"
