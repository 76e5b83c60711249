#!/usr/bin/env bash
# Build the ext4 disk image of the "ls -l" benchmark on the host, without
# root or mounts (mke2fs -d): a tree of DIRS directories of FILES files
# each (default 10 x 1000 = 10,000 files) under /tree, file sizes
# 0..3000 bytes; 4 KiB blocks, 256-byte inodes (a typical ext4).  Rebuilt
# only when missing.
#
#   mkdiskimg.sh OUT.img [DIRS FILES]
set -euo pipefail
out=$1 dirs=${2:-10} files=${3:-1000}
[ -f "$out" ] && exit 0
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
python3 - "$src/tree" "$dirs" "$files" <<'PY'
import os, sys
top, dirs, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in range(dirs):
    path = os.path.join(top, f"dir{d:03d}")
    os.makedirs(path)
    for f in range(files):
        i = d * files + f
        with open(os.path.join(path, f"file{f:05d}"), "wb") as fh:
            fh.write(b"x" * (i * 37 % 3001))
PY
mkdir -p "$(dirname "$out")"
/usr/sbin/mke2fs -q -t ext4 -T default -b 4096 -I 256 -N 16384 -L lstree \
	-d "$src" "$out.tmp" 128M >/dev/null
mv "$out.tmp" "$out"
echo "mkdiskimg: $out: $dirs x $files files"
