HEADER = """syslet: Kconfig option and build glue

CONFIG_SYSLET builds kernel/syslet/ and the x86-64 arch support.
"""
EDITS = [
("init/Kconfig",
"""config GCOV_PROFILE_URING
""",
"""config SYSLET
	bool "Syslets: generic asynchronous system calls"
	depends on X86_64 && GENERIC_ENTRY && !PREEMPT_RT
	help
	  Syslets let user space run any allowed system call, or a short
	  chain of them, asynchronously: the chain runs in the caller's
	  context at the cost of the plain system calls when nothing
	  blocks, or in a pool thread of the process when asked to, and
	  completes to a ring in user memory.  Adds the system calls
	  async_register, async_unregister, async_exec, async_wait,
	  async_thread, async_cancel and umem_add.  See
	  Documentation/syslet-design.txt.

	  Not with PREEMPT_RT: the scheduler hook that hands a blocked
	  call's user context to a spare thread takes spinlock_t locks
	  from sched_submit_work().

	  If unsure, say N.

config GCOV_PROFILE_URING
"""),
("kernel/Makefile",
"""obj-$(CONFIG_FUTEX) += futex/
""",
"""obj-$(CONFIG_FUTEX) += futex/
obj-$(CONFIG_SYSLET) += syslet/
"""),
("arch/x86/kernel/Makefile",
"""obj-$(CONFIG_X86_MPPARSE)	+= mpparse.o
""",
"""obj-$(CONFIG_X86_MPPARSE)	+= mpparse.o
obj-$(CONFIG_SYSLET)		+= syslet.o
"""),
]
