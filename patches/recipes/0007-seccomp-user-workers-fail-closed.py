HEADER = """seccomp: fail closed in user workers, which cannot take a signal

A user worker (PF_USER_WORKER) never returns to user space.  Syslet pool
threads are such workers that run system calls on behalf of their
process, through the normal syscall entry work, so seccomp filters apply
to them.  Two filter actions assume a thread that goes back to user
space and can take a signal, and both go wrong in a worker:

 - SECCOMP_RET_TRAP forces SIGSYS on the worker.  Its signals are
   blocked, so force_sig_info_to_task() resets the process' SIGSYS
   action to SIG_DFL, and the worker's get_signal() later dequeues a
   fatal signal that PF_USER_WORKER threads only report: no handler
   runs, the process lives on with its handler gone, and the pool
   thread drops its chain.

 - SECCOMP_RET_KILL_THREAD calls do_exit() in the middle of the
   worker's system call, behind the back of the pool that owns it (a
   freed task stays on its list); SECCOMP_RET_KILL_PROCESS forces a
   SIGSYS that get_signal() does not turn into a group exit for a user
   worker (without CONFIG_COREDUMP nothing kills the process at all).

Fail closed instead.  RET_TRAP in a user worker denies the call with
-ENOSYS, as RET_TRACE does without a tracer.  RET_KILL_THREAD and
RET_KILL_PROCESS in a user worker kill the whole process, as a group
exit with status SIGSYS (no core dump): the worker has no thread of its
own to lose, its caller is already back in user space.  The worker
itself gets SIGKILL and leaves its work the way it does for any group
exit.

io_uring and vhost workers never run system calls through the syscall
entry, so nothing changes for them.
"""
EDITS = [
("kernel/seccomp.c",
"""static int __seccomp_filter(int this_syscall, const struct seccomp_data *sd,
			    const bool recheck_after_trace)
{
	u32 filter_ret, action;
""",
"""/*
 * A user worker (PF_USER_WORKER: a syslet pool thread running a system
 * call of its process) has no user context to take a signal in, and
 * must not exit in the middle of its work: a kill ends the whole
 * process, as a group exit by SIGSYS.
 */
static void seccomp_kill_worker_process(void)
{
	struct sighand_struct *sighand = current->sighand;
	struct signal_struct *sig = current->signal;

	spin_lock_irq(&sighand->siglock);
	if (!(sig->flags & SIGNAL_GROUP_EXIT) && !sig->group_exec_task) {
		sig->group_exit_code = SIGSYS;
		sig->flags = SIGNAL_GROUP_EXIT;
		zap_other_threads(current);
	}
	sigaddset(&current->pending.signal, SIGKILL);
	signal_wake_up(current, 1);
	spin_unlock_irq(&sighand->siglock);
}

static int __seccomp_filter(int this_syscall, const struct seccomp_data *sd,
			    const bool recheck_after_trace)
{
	u32 filter_ret, action;
"""),
("kernel/seccomp.c",
"""	case SECCOMP_RET_TRAP:
		/* Show the handler the original registers. */
		syscall_rollback(current, current_pt_regs());
""",
"""	case SECCOMP_RET_TRAP:
		/* A user worker cannot take SIGSYS: deny the call. */
		if (unlikely(current->flags & PF_USER_WORKER)) {
			syscall_set_return_value(current, current_pt_regs(),
						 -ENOSYS, 0);
			goto skip;
		}
		/* Show the handler the original registers. */
		syscall_rollback(current, current_pt_regs());
"""),
("kernel/seccomp.c",
"""		current->seccomp.mode = SECCOMP_MODE_DEAD;
		seccomp_log(this_syscall, SIGSYS, action, true);
		/* Dump core only if this is the last remaining thread. */
""",
"""		current->seccomp.mode = SECCOMP_MODE_DEAD;
		seccomp_log(this_syscall, SIGSYS, action, true);
		if (unlikely(current->flags & PF_USER_WORKER)) {
			seccomp_kill_worker_process();
			return -1;
		}
		/* Dump core only if this is the last remaining thread. */
"""),
]
