HEADER = """MAINTAINERS: add an entry for syslets

Name the files of the syslet core, its x86-64 support, the user ABI,
the documentation and the selftests, so get_maintainer.pl finds them.

Series-Phase: hook
"""
EDITS = [
("MAINTAINERS",
"""SYSTEM CONFIGURATION (SYSCON)
""",
"""SYSLETS (GENERIC ASYNCHRONOUS SYSTEM CALLS)
M:	Seed 84aa97a8 maintainers <maintainers@users.noreply.r-seed-84aa97a8.example>
L:	linux-kernel@vger.kernel.org
S:	Maintained
F:	Documentation/syslet-design.txt
F:	arch/x86/include/asm/syslet.h
F:	arch/x86/kernel/syslet.c
F:	include/linux/syslet.h
F:	include/trace/events/syslet.h
F:	include/uapi/linux/syslet.h
F:	kernel/syslet/
F:	tools/testing/selftests/syslet/

SYSTEM CONFIGURATION (SYSCON)
"""),
]
