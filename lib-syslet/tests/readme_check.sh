#!/bin/sh
# Builds every ```c++ block of README.md (each names itself on its first
# line, "// readme: NAME") with g++ and clang++ -Wall -Wextra -Werror, and
# runs it on the cases below.  Also checks what the headers promise to
# compilers: [[nodiscard]] chains, -Wshadow, -fno-exceptions.
#   readme_check.sh LIBDIR UAPIDIR
set -eu
lib=$1
uapi=$2
work=$(mktemp -d /tmp/syslet-readme.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
check() { # name, command...
	name=$1; shift
	if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures + 1)); fi
}
flags="-std=c++20 -O1 -Wall -Wextra -Werror -I$lib/include -I$uapi -pthread"

# Extract: one file per block, named after its "// readme: NAME" line.
awk -v dir="$work" '
	/^```c\+\+$/ { inside = 1; name = ""; body = ""; next }
	/^```$/ && inside { if (name != "") { f = dir "/" name ".cpp"; printf "%s", body > f; close(f) } inside = 0; next }
	inside { if (name == "" && match($0, /^\/\/ readme: [a-z0-9-]+/)) { split($0, w, " "); name = w[3] } body = body $0 "\n" }
' "$lib/README.md"
count=$(ls "$work"/*.cpp 2>/dev/null | wc -l)
check "README has its programs (found $count)" [ "$count" -ge 3 ]

for source in "$work"/*.cpp; do
	name=$(basename "$source" .cpp)
	for cxx in g++ clang++; do
		# shellcheck disable=SC2086
		check "README $name builds with $cxx" $cxx $flags "$source" -o "$work/$name.$cxx"
	done
done

if [ -x "$work/stat-many.g++" ]; then
	check "stat-many reports sizes and errors" sh -c "
		'$work/stat-many.g++' / /nonexistent > '$work/out' 2> '$work/err'; [ \$? -eq 1 ] &&
		grep -q '^/: ' '$work/out' && grep -q 'No such file or directory' '$work/err'"
fi
if [ -x "$work/copy.g++" ]; then
	head -c 300000 /dev/urandom > "$work/source"
	check "copy copies a file" sh -c "'$work/copy.g++' '$work/source' '$work/dest' && cmp -s '$work/source' '$work/dest'"
	: > "$work/empty"
	check "copy copies an empty file" sh -c "'$work/copy.g++' '$work/empty' '$work/dest2' && cmp -s '$work/empty' '$work/dest2'"
	check "copy to /dev/full fails with ENOSPC" sh -c "
		! '$work/copy.g++' '$work/source' /dev/full 2> '$work/err' && grep -q 'No space left on device' '$work/err'"
	# A file size limit makes a write short, then the rest fails (EFBIG).
	check "copy reports a write cut short by RLIMIT_FSIZE" sh -c "
		trap '' XFSZ; ulimit -f 100; ! '$work/copy.g++' '$work/source' '$work/dest3' 2> '$work/err' &&
		grep -q 'File too large' '$work/err' && size=\$(stat -c %s '$work/dest3') &&
		[ \$size -gt 0 ] && [ \$((size % 65536)) -ne 0 ] && cmp -s -n \$size '$work/source' '$work/dest3'"
	check "copy through a pipe" sh -c "'$work/copy.g++' '$work/source' /dev/stdout | cmp -s '$work/source' -"
	check "copy reports a missing source" sh -c "! '$work/copy.g++' '$work/missing' '$work/dest4' 2>/dev/null"
fi
if [ -x "$work/poll.g++" ]; then
	check "poll reads through epoll" sh -c "[ \"\$('$work/poll.g++')\" = 'read 5 bytes: hello' ]"
fi

# Header promises.
cat > "$work/discard.cpp" <<'CPP'
#include <syslet.hpp>
#include <sys/stat.h>
int main() { struct stat st; syslet::async_stat("/", &st); syslet::wait_all(); }
CPP
for cxx in g++ clang++; do
	# shellcheck disable=SC2086
	check "$cxx: dropping a chain does not compile under -Werror" sh -c "! $cxx $flags -c '$work/discard.cpp' -o /dev/null 2>/dev/null"
done
# The uapi header is the one ABI source for C and C++ alike: it must build
# as it is, with no rename of a field (the atom's user_data was once named
# `private`, a C++ keyword).
cat > "$work/uapi.cpp" <<'CPP'
#include <linux/syslet.h>
static_assert(sizeof(struct syslet_uatom) == 88, "atom layout");
static_assert(__builtin_offsetof(struct syslet_uatom, user_data) == 80, "user_data is the last word");
int main() { struct syslet_uatom a {}; a.user_data = 1; return static_cast<int>(a.user_data) - 1; }
CPP
for cxx in g++ clang++; do
	check "$cxx: <linux/syslet.h> builds as C++ with -pedantic" $cxx -std=c++20 -Wall -Wextra -Werror -pedantic -I"$uapi" -c "$work/uapi.cpp" -o /dev/null
done
for example in "$lib"/examples/*.cpp; do
	# shellcheck disable=SC2086
	check "clang++ -Wshadow -Wextra-semi: $(basename "$example")" clang++ $flags -Wshadow-all -Wextra-semi -c "$example" -o /dev/null
	# shellcheck disable=SC2086
	check "g++ -Wshadow: $(basename "$example")" g++ $flags -Wshadow -c "$example" -o /dev/null
	# shellcheck disable=SC2086
	check "g++ -fno-exceptions: $(basename "$example")" g++ $flags -fno-exceptions -c "$example" -o /dev/null
	# shellcheck disable=SC2086
	check "clang++ -fno-exceptions: $(basename "$example")" clang++ $flags -fno-exceptions -c "$example" -o /dev/null
done
# shellcheck disable=SC2086
check "-std=c++2b is not overridden" g++ $flags -std=c++2b -c "$lib/examples/hello-syslet.cpp" -o /dev/null

[ "$failures" -eq 0 ]
