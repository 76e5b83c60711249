HEADER = """sched: let a syslet atom hand off its user context when it blocks

A system call run by a syslet atom in the caller's context may block.
When it does, a spare thread of the process takes over the caller's user
context and returns to user space, while the blocked task finishes the
call and the rest of the chain as a cachemiss worker.

The place to notice that is sched_submit_work(), next to the workqueue
and io-wq hooks: it runs only when a task is really about to sleep
(never on preemption).  PF_SYSLET marks a task whose current system call
belongs to an atom running in cached mode; the flag is set only around
that call, so faults while fetching atoms, ptrace stops and ring writes
never hand off.  task_struct::syslet points at the caller's on-stack
execution context for the hook.  A new task never inherits either.
"""
EDITS = [
("include/linux/sched.h",
"""#define PF__HOLE__01000000	0x01000000
""",
"""#define PF_SYSLET		0x01000000	/* Running a syslet atom's syscall, may hand off */
"""),
("include/linux/sched.h",
"""#ifdef CONFIG_IO_URING
	struct io_uring_task		*io_uring;
#endif
""",
"""#ifdef CONFIG_IO_URING
	struct io_uring_task		*io_uring;
#endif
#ifdef CONFIG_SYSLET
	/* Cached-mode syslet run, see kernel/syslet/cachemiss.c: */
	struct syslet_run		*syslet;
#endif
"""),
("kernel/fork.c",
"""	p->flags &= ~(PF_SUPERPRIV | PF_WQ_WORKER | PF_IDLE | PF_NO_SETAFFINITY);
""",
"""	p->flags &= ~(PF_SUPERPRIV | PF_WQ_WORKER | PF_IDLE | PF_NO_SETAFFINITY |
		      PF_SYSLET);
"""),
("kernel/fork.c",
"""#ifdef CONFIG_IO_URING
	p->io_uring = NULL;
#endif
""",
"""#ifdef CONFIG_IO_URING
	p->io_uring = NULL;
#endif
#ifdef CONFIG_SYSLET
	p->syslet = NULL;
#endif
"""),
("kernel/sched/core.c",
"""#include <linux/workqueue_api.h>
""",
"""#include <linux/workqueue_api.h>
#include <linux/syslet.h>
"""),
("kernel/sched/core.c",
"""	blk_flush_plug(tsk->plug, true);

	lock_map_release(&sched_map);
""",
"""	blk_flush_plug(tsk->plug, true);

	/*
	 * A syslet atom's system call is about to block: hand the user
	 * context to a spare thread.  After the plug flush, so the I/O
	 * this task waits for is on its way.  The spare runs on the CPU
	 * this task is giving up: its caches, and its FPU registers, are
	 * the user context's.  Under RCU: the spare may have taken the
	 * context and exited by the time it is woken, and a task_struct
	 * is freed a grace period after the task is reaped.
	 */
	if (task_flags & PF_SYSLET) {
		struct task_struct *spare;

		rcu_read_lock();
		spare = syslet_sched_block(tsk);
		if (spare)
			try_to_wake_up(spare, TASK_NORMAL, WF_CURRENT_CPU);
		rcu_read_unlock();
	}

	lock_map_release(&sched_map);
"""),
]
