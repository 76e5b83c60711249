#!/bin/sh
# Checks that the fallback's allowlist (include/syslet/allowlist.hpp) names
# the same system calls as the kernel's (kernel/syslet/allow.c).
set -eu
lib=$1
kernel_list=$lib/../kernel/syslet/allow.c
if [ ! -f "$kernel_list" ]; then
	echo "skip allowlist check: $kernel_list not found"
	exit 0
fi
names() { grep -o -E "$2" "$1" | sed -E 's/^(__NR_|nr::)//' | sort -u; }
kernel=$(sed -n '/syslet_allowed_nrs\[\]/,/^};/p' "$kernel_list" | grep -o -E '__NR_[a-z0-9_]+' | sed 's/^__NR_//' | sort -u)
library=$(sed -n '/auto allowed = std::to_array<long>({/,/});/p' "$lib/include/syslet/allowlist.hpp" |
	grep -o -E '(__NR_|nr::)[a-z0-9_]+' | sed -E 's/^(__NR_|nr::)//' | sort -u)
if [ "$kernel" != "$library" ]; then
	echo "FAIL allowlist differs from kernel/syslet/allow.c:"
	printf '%s\n' "$kernel" > /tmp/syslet-allow-kernel.$$
	printf '%s\n' "$library" | diff /tmp/syslet-allow-kernel.$$ - || true
	rm -f /tmp/syslet-allow-kernel.$$
	exit 1
fi
echo "ok   fallback allowlist == kernel/syslet/allow.c ($(printf '%s\n' "$kernel" | wc -l) calls)"
