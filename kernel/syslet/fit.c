// SPDX-License-Identifier: GPL-2.0
/*
 * Syslets: the one fit check.
 *
 * An atom is exactly the system call it names, made by the thread that
 * submitted it.  Whatever decides what a system call sees must therefore
 * be the submitter's wherever the atom runs: in a SYSLET_ASYNC pool
 * thread, in a cachemiss worker, and in the spare that takes a blocked
 * caller's user context over.  syslet_unfit() is the single comparison
 * of a pool thread with the task it would act for; it is used
 *
 *  - by syslet_queue_async() to pick a parked pool thread (SYSLET_FIT_POOL),
 *  - by syslet_pick_spare() to pick a spare for a hand-off (SYSLET_FIT_HANDOFF),
 *  - before every atom a pool thread or cachemiss worker runs, against
 *    the submitter as it is now (SYSLET_FIT_CALLS, syslet_submitter_unfit()),
 *  - before a cachemiss worker enters a user-space context (the same).
 *
 * Everything is compared by object identity, without dereferencing
 * another task's pointers, so nothing here sleeps or locks: the
 * scheduler hook may call it.
 */
#include <linux/cred.h>
#include <linux/mempolicy.h>
#include <linux/pid.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/seccomp.h>
#include <linux/thread_info.h>
#include "syslet.h"

/*
 * PF_* flags that are a thread's own policy and decide how its system
 * calls behave: PR_SET_IO_FLUSHER (PF_MEMALLOC_NOIO, PF_LOCAL_THROTTLE)
 * and PR_MCE_KILL (PF_MCE_*).  A pool thread inherits its creator's, so
 * a spare made by the caller carries the caller's: requiring them equal
 * moves them with the user context without touching either task.
 */
#define SYSLET_PF_SAME	(PF_MEMALLOC_NOIO | PF_LOCAL_THROTTLE | \
			 PF_MCE_PROCESS | PF_MCE_EARLY)

static bool syslet_sud_on(struct task_struct *t)
{
#ifdef CONFIG_GENERIC_ENTRY
	return test_task_syscall_work(t, SYSCALL_USER_DISPATCH);
#else
	return false;
#endif
}

/**
 * syslet_unfit - may pool thread @w act for @tsk?
 * @w:		a pool thread (parked, or current between two atoms)
 * @tsk:	the task whose system calls it would make
 * @what:	SYSLET_FIT_* bits: what else must match besides the calls
 *
 * SYSLET_FIT_CALLS, always: credentials (cred and real_cred) and seccomp
 * filter objects, seccomp mode, no_new_privs, file table, fs (root, cwd,
 * umask), namespaces, personality; and neither may have Syscall User
 * Dispatch on (a pool thread cannot take the SIGSYS it raises, and the
 * spare of a hand-off never has it: such a thread's atoms complete in
 * its own context).
 * SYSLET_FIT_PLACE: also the per-thread policy flags above, memory
 * policy and cgroup, which decide where a call's work is done.
 * SYSLET_FIT_USER: @w takes @tsk's user context over: @w is not traced,
 * @tsk runs with its real credentials, and the per-thread CPU state
 * that is not moved is in its default state on both sides
 * (arch_syslet_cannot_move(); the spare inherited its creator's, and a
 * user-space context back from async_thread() may have changed its own).
 * The caller checked @tsk's side of that, arch_syslet_cannot_move(@tsk,
 * NULL), before it looked at any spare.
 *
 * Return: NULL if @w fits, else what differs (a tracepoint reason).
 */
const char *syslet_unfit(struct task_struct *w, struct task_struct *tsk,
			 unsigned int what)
{
	if (!syslet_same_identity(w, tsk))
		return "credentials";
	if (READ_ONCE(w->seccomp.mode) != READ_ONCE(tsk->seccomp.mode))
		return "seccomp";
	if (task_no_new_privs(w) != task_no_new_privs(tsk))
		return "no_new_privs";
	if (READ_ONCE(w->files) != READ_ONCE(tsk->files))
		return "files";
	if (READ_ONCE(w->fs) != READ_ONCE(tsk->fs))
		return "fs";
	if (READ_ONCE(w->nsproxy) != READ_ONCE(tsk->nsproxy))
		return "namespaces";
	if (READ_ONCE(w->personality) != READ_ONCE(tsk->personality))
		return "personality";
	if (syslet_sud_on(w) || syslet_sud_on(tsk))
		return "syscall user dispatch";

	if (what & SYSLET_FIT_PLACE) {
		if ((READ_ONCE(w->flags) ^ READ_ONCE(tsk->flags)) &
		    SYSLET_PF_SAME)
			return "thread flags";
#ifdef CONFIG_NUMA
		/*
		 * copy_process() duplicates the policy: compare contents.
		 * Only the owners change their policy; @w is parked and
		 * @tsk is current.
		 */
		if (!mpol_equal(w->mempolicy, tsk->mempolicy))
			return "mempolicy";
#endif
#ifdef CONFIG_CGROUPS
		if (rcu_access_pointer(w->cgroups) !=
		    rcu_access_pointer(tsk->cgroups))
			return "cgroup";
#endif
	}

	if (what & SYSLET_FIT_USER) {
		if (w->ptrace)
			return "ptrace";
		if (rcu_access_pointer(tsk->cred) !=
		    rcu_access_pointer(tsk->real_cred))
			return "overridden credentials";
#ifdef CONFIG_SCHED_CORE
		if (w->core_cookie != tsk->core_cookie)
			return "core scheduling cookie";
#endif
		return arch_syslet_cannot_move(tsk, w);
	}
	return NULL;
}

/**
 * syslet_submitter_unfit - may current go on making @submitter's calls?
 * @submitter:	the thread ID that submitted the chain (it follows a
 *		hand-off: it names the thread that runs the submitter's
 *		user code)
 *
 * For a pool thread or cachemiss worker, before every atom and before
 * it enters a user-space context: a submitter that dropped privileges,
 * added a seccomp filter, unshared its files or changed namespace since
 * is not served with what it had.  Once the submitting thread has
 * exited (a thread that submits and leaves is common), the chain goes on
 * for the process: it is checked against the thread group leader, which
 * holds the process' credentials as glibc's set*id broadcast keeps them
 * (a process that dropped privileges dropped the leader's too).  If the
 * leader is exiting or gone as well, nobody vouches: the chain ends.
 *
 * Return: NULL, or why not (the atom gets -EPERM).
 */
const char *syslet_submitter_unfit(struct pid *submitter)
{
	struct task_struct *tsk;
	const char *why;

	rcu_read_lock();
	tsk = pid_task(submitter, PIDTYPE_PID);
	if (tsk) {
		why = syslet_unfit(current, tsk, SYSLET_FIT_CALLS);
		/*
		 * A submitter on its way out drops its files, fs and
		 * namespaces (PF_EXITING is set, and released, before):
		 * it no longer vouches for the chain, the leader does.
		 */
		smp_rmb();
		if (!why || !(READ_ONCE(tsk->flags) & PF_EXITING))
			goto out;
	}
	/* Task structs are freed after a grace period. */
	tsk = READ_ONCE(current->group_leader);
	if (READ_ONCE(tsk->flags) & PF_EXITING)
		why = "submitter exited";
	else
		why = syslet_unfit(current, tsk, SYSLET_FIT_CALLS);
out:
	rcu_read_unlock();
	return why;
}
