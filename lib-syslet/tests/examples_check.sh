#!/bin/sh
# Runs the examples built in $1 and checks their output.
set -eu
bin=$1
work=$(mktemp -d /tmp/syslet-examples.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
check() { # name, command...
	name=$1; shift
	if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures + 1)); fi
}

check "hello-syslet prints the greeting" \
	sh -c "[ \"\$('$bin/hello-syslet' 2>/dev/null)\" = 'Hello Syslet World!' ]"

mkdir -p "$work/dir/sub"
printf 'data' > "$work/dir/file"
ln -s file "$work/dir/link"
ln -s /nonexistent "$work/dir/dangling"
mkfifo "$work/dir/fifo"
touch "$work/dir/.hidden"
for dir in "$work/dir" /usr/bin /etc; do
	"$bin/sls" "$dir" > "$work/async.txt"
	"$bin/sls" --sync "$dir" > "$work/sync.txt"
	check "sls $dir == sls --sync $dir" cmp -s "$work/async.txt" "$work/sync.txt"
done
"$bin/sls" "$work/dir" | grep -q 'link -> file$' && echo "ok   sls shows symlink targets" ||
	{ echo "FAIL sls shows symlink targets"; failures=$((failures + 1)); }

head -c 1000000 /dev/urandom > "$work/source"
check "syslet-copy copies a file" sh -c "'$bin/syslet-copy' '$work/source' '$work/copy' && cmp -s '$work/source' '$work/copy'"
check "syslet-copy --async copies a file" sh -c "'$bin/syslet-copy' --async '$work/source' '$work/copy2' && cmp -s '$work/source' '$work/copy2'"
: > "$work/empty"
check "syslet-copy copies an empty file" sh -c "'$bin/syslet-copy' '$work/empty' '$work/copy3' && cmp -s '$work/empty' '$work/copy3'"
check "syslet-copy reports a missing source" sh -c "! '$bin/syslet-copy' '$work/missing' '$work/copy4' 2>/dev/null"

[ "$failures" -eq 0 ]
