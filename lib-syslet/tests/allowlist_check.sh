#!/bin/sh
# Checks that the fallback's allowlist (include/syslet/allowlist.hpp) names
# the same system calls as the kernel's (kernel/syslet/allow.c, created by
# one patch of patches/series and changed by none after it).
set -eu
lib=$1
patches=$lib/../patches
creators=$(grep -l '^+++ b/kernel/syslet/allow\.c' "$patches"/*.patch || true)
if [ "$(printf '%s\n' "$creators" | grep -c .)" -ne 1 ] ||
   ! grep -q '^--- /dev/null' "$creators"; then
	echo "FAIL kernel/syslet/allow.c: expected one patch in $patches that creates it and none that changes it, found: ${creators:-none}"
	exit 1
fi
# The new file's lines, from its +++ line to the next file of the patch.
kernel=$(awk '/^\+\+\+ b\// { on = ($2 == "b/kernel/syslet/allow.c"); next }
	      on && /^(--- |diff )/ { on = 0 }
	      on && /^\+/ { print substr($0, 2) }' "$creators" |
	sed -n '/syslet_allowed_nrs\[\]/,/^};/p' | grep -o -E '__NR_[a-z0-9_]+' | sed 's/^__NR_//' | sort -u)
library=$(sed -n '/auto allowed = std::to_array<long>({/,/});/p' "$lib/include/syslet/allowlist.hpp" |
	grep -o -E '(__NR_|nr::)[a-z0-9_]+' | sed -E 's/^(__NR_|nr::)//' | sort -u)
if [ -z "$kernel" ]; then
	echo "FAIL no syslet_allowed_nrs[] in kernel/syslet/allow.c of $(basename "$creators")"
	exit 1
fi
if [ "$kernel" != "$library" ]; then
	echo "FAIL allowlist differs from kernel/syslet/allow.c ($(basename "$creators")):"
	printf '%s\n' "$kernel" > /tmp/syslet-allow-kernel.$$
	printf '%s\n' "$library" | diff /tmp/syslet-allow-kernel.$$ - || true
	rm -f /tmp/syslet-allow-kernel.$$
	exit 1
fi
echo "ok   fallback allowlist == kernel/syslet/allow.c of $(basename "$creators") ($(printf '%s\n' "$kernel" | wc -l) calls)"
