#!/bin/sh
# Installs lib-syslet into a temporary prefix and builds examples against the
# installed package only: with CMake find_package(syslet) and with pkg-config.
set -eu
lib=$1
work=$(mktemp -d /tmp/syslet-install-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

make -s -C "$lib" install PREFIX="$prefix"
test -f "$prefix/include/syslet.hpp"
test -f "$prefix/include/syslet/uapi/linux/syslet.h"
if [ -e "$prefix/include/linux" ]; then
	echo "FAIL the install wrote into include/linux/ (the distribution's)"; exit 1
fi
test -f "$prefix/lib/libsyslet-aio.so.0"
[ "$(readlink "$prefix/lib/libsyslet-aio.so")" = libsyslet-aio.so.0 ]
readelf -d "$prefix/lib/libsyslet-aio.so.0" | grep -q 'SONAME.*\[libsyslet-aio.so.0\]'
echo "ok   layout: include/syslet/uapi, no include/linux, SONAME libsyslet-aio.so.0"

# Man pages: one per system call of the uapi header in man2, syslet.7,
# each found by man(1) under the prefix and rendered with its NAME line.
calls=$(sed -n 's/^#define __NR_\([a-z_]*\)[[:space:]].*/\1/p' "$lib/../include/uapi/linux/syslet.h")
[ -n "$calls" ]
for page in $(printf '%s:2 ' $calls) syslet:7; do
	name=${page%:*} sect=${page#*:}
	f="$prefix/share/man/man$sect/$name.$sect"
	if [ ! -f "$f" ]; then echo "FAIL $f is not installed"; exit 1; fi
	found=$(man -M "$prefix/share/man" -w "$sect" "$name" 2>/dev/null || true)
	# (a page that is a link, async_unregister.2, is found as its target)
	if [ -z "$found" ] || [ "$(readlink -f "$found")" != "$(readlink -f "$f")" ]; then
		echo "FAIL man -M $prefix/share/man -w $sect $name gave '$found'"; exit 1
	fi
	if ! MANWIDTH=200 man -M "$prefix/share/man" "$sect" "$name" 2>/dev/null |
		grep -Eq "^ +([a-z_]+, )*$name(, [a-z_]+)* - "; then
		echo "FAIL man $sect $name does not render its NAME line"; exit 1
	fi
done
echo "ok   man pages: $(echo $calls | wc -w) in man2, syslet.7, each found and rendered by man(1)"

# CMake: only the prefix is known to the project.
mkdir -p "$work/cmake-project"
cp "$lib/examples/hello-syslet.cpp" "$lib/examples/sls.cpp" "$work/cmake-project/"
cat > "$work/cmake-project/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(syslet_install_check CXX)
find_package(syslet 0.2 REQUIRED)
add_compile_options(-Wall -Wextra -Werror)
add_executable(hello-syslet hello-syslet.cpp)
target_link_libraries(hello-syslet PRIVATE syslet::syslet)
add_executable(sls sls.cpp)
target_link_libraries(sls PRIVATE syslet::syslet)
CMAKE
cmake -S "$work/cmake-project" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" > "$work/cmake.log"
cmake --build "$work/cmake-build" > "$work/build.log"
[ "$("$work/cmake-build/hello-syslet" 2>/dev/null)" = "Hello Syslet World!" ]
"$work/cmake-build/sls" "$lib" > "$work/a.txt"
"$work/cmake-build/sls" --sync "$lib" > "$work/b.txt"
cmp -s "$work/a.txt" "$work/b.txt"
echo "ok   CMake find_package(syslet): hello-syslet and sls built and ran"

# pkg-config
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cflags=$(pkg-config --cflags syslet)
libs=$(pkg-config --libs syslet)
case "$cflags" in *-std=*) echo "FAIL pkg-config --cflags syslet forces a standard: $cflags"; exit 1 ;; esac
# shellcheck disable=SC2086
g++ -std=c++20 $cflags -Wall -Wextra -Werror "$lib/examples/syslet-copy.cpp" -o "$work/syslet-copy" $libs
"$work/syslet-copy" "$lib/Makefile" "$work/Makefile.copy"
cmp -s "$lib/Makefile" "$work/Makefile.copy"
# shellcheck disable=SC2086
clang++ -std=c++2b $cflags -Wall -Wextra -Wshadow-all -Werror -c "$lib/examples/sls.cpp" -o /dev/null
echo "ok   pkg-config syslet: syslet-copy built and ran; -std=c++2b and clang -Wshadow-all clean"

aio_libs=$(pkg-config --libs syslet-aio)
cat > "$work/aio.c" <<'C'
#include <aio.h>
#include <stdio.h>
int main(void) { struct aiocb cb = {0}; cb.aio_fildes = 0; cb.aio_nbytes = 0; return aio_error(&cb) < 0; }
C
# shellcheck disable=SC2086
gcc "$work/aio.c" -o "$work/aio" $aio_libs -Wl,-rpath,"$prefix/lib"
ldd "$work/aio" | grep -q 'libsyslet-aio.so.0 =>'
echo "ok   pkg-config syslet-aio: links against libsyslet-aio.so.0"
