HEADER = """ptrace: do not attach to a syslet pool thread

A syslet hand-off gives a blocked thread's ID to the spare thread that
takes over its user context; the blocked task goes on in the kernel as
a pool thread.  sys_ptrace() looks the task up by ID and attaches to it
much later, after sleeping for cred_guard_mutex.  A PTRACE_ATTACH or
PTRACE_SEIZE that looked up the caller's ID just before a hand-off then
attaches to the pool thread, and the thread that has the ID, the one
the tracer named, runs on untraced.

Pool threads never run user code and block every signal; a tracer has
nothing to do with them, and one that follows clone() still gets them
through PTRACE_EVENT_CLONE as they are made.  Refuse an explicit attach
with -EPERM, as for kernel threads, under tasklist_lock, where the
hand-off checks the tracee too: the attach either happens first (the
hand-off is refused) or fails.
"""
EDITS = [
("kernel/ptrace.c",
"""#include <linux/cn_proc.h>
""",
"""#include <linux/cn_proc.h>
#include <linux/syslet.h>
"""),
("kernel/ptrace.c",
"""		scoped_guard (write_lock_irq, &tasklist_lock) {
			if (unlikely(task->exit_state))
				return -EPERM;
			if (task->ptrace)
				return -EPERM;
""",
"""		scoped_guard (write_lock_irq, &tasklist_lock) {
			if (unlikely(task->exit_state))
				return -EPERM;
			if (unlikely(syslet_pool_thread(task)))
				return -EPERM;
			if (task->ptrace)
				return -EPERM;
"""),
]
