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
test -f "$prefix/include/linux/syslet.h"
test -f "$prefix/lib/libsyslet-aio.so"

# CMake: only the prefix is known to the project.
mkdir -p "$work/cmake-project"
cp "$lib/examples/hello-syslet.cpp" "$lib/examples/sls.cpp" "$work/cmake-project/"
cat > "$work/cmake-project/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(syslet_install_check CXX)
find_package(syslet 0.1 REQUIRED)
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
cflags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags syslet)
# shellcheck disable=SC2086
g++ $cflags -Wall -Wextra -Werror "$lib/examples/syslet-copy.cpp" -o "$work/syslet-copy"
"$work/syslet-copy" "$lib/Makefile" "$work/Makefile.copy"
cmp -s "$lib/Makefile" "$work/Makefile.copy"
echo "ok   pkg-config syslet: syslet-copy built and ran"
