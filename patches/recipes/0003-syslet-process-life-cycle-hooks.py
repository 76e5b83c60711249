HEADER = """syslet: hook into the process life cycle

A thread group's syslet state hangs off its signal_struct.  exec drops
it (the rings name addresses of the old mm; de_thread() has already
disposed of the pool threads), the last thread of the group frees it, and
when the last thread that is not a pool thread exits, the pool threads
are told to exit as nobody can reap their completions any more.  That
decision is taken right after the thread's ->live decrement, so that two
threads exiting at once cannot both take the other for still alive.  A
new process starts without syslet state: copy_signal() zeroes
signal_struct.
"""
EDITS = [
("include/linux/sched/signal.h",
"""#ifdef CONFIG_TASKSTATS
	struct taskstats *stats;
#endif
""",
"""#ifdef CONFIG_TASKSTATS
	struct taskstats *stats;
#endif
#ifdef CONFIG_SYSLET
	struct syslet_process *syslet;	/* completion rings, pool threads */
#endif
"""),
("fs/exec.c",
"""#include <linux/io_uring.h>
""",
"""#include <linux/io_uring.h>
#include <linux/syslet.h>
"""),
("fs/exec.c",
"""	retval = de_thread(me);
	if (retval)
		goto out;

""",
"""	retval = de_thread(me);
	if (retval)
		goto out;

	syslet_exec(me);

"""),
("kernel/exit.c",
"""#include <linux/io_uring.h>
""",
"""#include <linux/io_uring.h>
#include <linux/syslet.h>
"""),
("kernel/exit.c",
"""	io_uring_files_cancel();
	exit_signals(tsk);  /* sets PF_EXITING */
""",
"""	io_uring_files_cancel();
	syslet_exit(tsk, code);
	exit_signals(tsk);  /* sets PF_EXITING */
"""),
("kernel/exit.c",
"""		if (tsk->mm)
			setmax_mm_hiwater_rss(&tsk->signal->maxrss, tsk->mm);
	}
""",
"""		if (tsk->mm)
			setmax_mm_hiwater_rss(&tsk->signal->maxrss, tsk->mm);
		syslet_free_process(tsk->signal);
	}
	syslet_thread_gone(tsk, group_dead);
"""),
]
