// SPDX-License-Identifier: GPL-2.0
/*
 * Syslets: fetching and running atoms, and async_exec().
 *
 * A chain runs in the caller's own context: each atom is read from user
 * memory once, its system call runs through the normal entry and exit
 * work (see arch_syslet_syscall()), its result goes to ret_ptr, and the
 * flags decide which atom comes next.  Nothing here allocates, locks or
 * sleeps beyond what the atoms' own system calls do.
 */
#include <linux/compat.h>
#include <linux/futex.h>
#include <linux/prctl.h>
#include <linux/ptrace.h>
#include <linux/sched/signal.h>
#include <linux/syscalls.h>
#include <linux/syslet.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>
#include <asm/syslet.h>
#include "syslet.h"

#define CREATE_TRACE_POINTS
#include <trace/events/syslet.h>

/**
 * syslet_fetch_atom - read one atom and its argument values from user memory
 * @uatom:	the atom
 * @ka:		where to put it
 *
 * Every field is read exactly once, so user space changing the atom while
 * it runs cannot make the kernel act on two different versions of it.
 * Argument pointers are read up to the first NULL one; the fields after
 * them (and @user_data) are never read, so only those need be mapped.
 *
 * The fields that decide what happens to a chain (flags, nr, ret_ptr,
 * next) are committed to @ka only once the whole atom was read and
 * found valid: when a chain ends because its next atom cannot be read,
 * @ka still describes the atom the chain ended on, and that atom's
 * NO_COMPLETE decides whether it is posted.  The argument values are
 * read in place (a copy would cost the cached path): after a failure
 * @ka->args is scratch, and nothing uses it again.
 *
 * Return: 0, -EFAULT or -EINVAL (misaligned atom, unknown flags).
 */
static __always_inline int __syslet_fetch_atom(struct syslet_uatom __user *uatom,
					       struct syslet_katom *ka)
{
	u64 flags, nr, ret_ptr, next, p;
	int i;

	if (unlikely(!IS_ALIGNED((unsigned long)uatom, sizeof(u64))))
		return -EINVAL;
	if (!user_read_access_begin(uatom, sizeof(*uatom)))
		return -EFAULT;
	unsafe_get_user(flags, &uatom->flags, efault);
	unsafe_get_user(nr, &uatom->nr, efault);
	unsafe_get_user(ret_ptr, &uatom->ret_ptr, efault);
	unsafe_get_user(next, &uatom->next, efault);
	/*
	 * Arguments after the first NULL pointer are 0.  Six plain stores
	 * up front cost less than a loop over the ones left after it.
	 */
	for (i = 0; i < SYSLET_NR_ARGS; i++)
		ka->args[i] = 0;
	/*
	 * One user access section for the atom and the values its argument
	 * pointers point to: each pointer is checked like the atom was.
	 */
	for (i = 0; i < SYSLET_NR_ARGS; i++) {
		unsafe_get_user(p, &uatom->arg_ptr[i], efault);
		if (!p)
			break;
		if (unlikely(!access_ok(u64_to_user_ptr(p), sizeof(u64))))
			goto efault;
		unsafe_get_user(ka->args[i], (u64 __user *)u64_to_user_ptr(p),
				efault);
	}
	user_read_access_end();

	if (unlikely(flags & ~SYSLET_VALID_FLAGS))
		return -EINVAL;
	ka->flags = flags;
	ka->nr = nr;
	ka->ret_ptr = u64_to_user_ptr(ret_ptr);
	ka->next = u64_to_user_ptr(next);
	return 0;
efault:
	user_read_access_end();
	return -EFAULT;
}

int syslet_fetch_atom(struct syslet_uatom __user *uatom, struct syslet_katom *ka)
{
	return __syslet_fetch_atom(uatom, ka);
}

/*
 * Syscall User Dispatch (PR_SET_SYSCALL_USER_DISPATCH) is on for this
 * thread: would it send a system call made from async_exec()'s call site
 * to the SIGSYS handler now?  Such an atom ends the chain with -ENOSYS
 * instead: the handler would see async_exec()'s registers, not the
 * atom's, and could not emulate it.  The same test as the entry code
 * makes; a selector that cannot be read fails closed.
 */
static noinline bool syslet_sud_dispatches(void)
{
	struct syscall_user_dispatch *sd = &current->syscall_dispatch;
	char state;

	if (instruction_pointer(current_pt_regs()) - sd->offset < sd->len)
		return false;
	if (!sd->selector)
		return true;
	if (get_user(state, sd->selector))
		return true;
	return state != SYSCALL_DISPATCH_FILTER_ALLOW;
}

/*
 * Return: SYSLET_ATOM_RUN, _STAY (never hand off in this call) or
 * _REFUSE.  Only ioctl, futex, close_range and timer_create look at
 * their arguments (allow.c); an atom that Syscall User Dispatch would
 * dispatch is refused (-ENOSYS, no SIGSYS).
 */
static __always_inline int syslet_atom_check(const struct syslet_katom *ka)
{
	unsigned int class = syslet_nr_class(ka->nr);

	if (unlikely(test_syscall_work(SYSCALL_USER_DISPATCH)) &&
	    syslet_sud_dispatches())
		return SYSLET_ATOM_REFUSE;
	if (likely(class == SYSLET_NR_ALLOWED))
		return SYSLET_ATOM_RUN;
	if (class == SYSLET_NR_REFUSED)
		return SYSLET_ATOM_REFUSE;
	return syslet_atom_args_check(ka->nr, ka->args, syslet_in_worker());
}

static inline bool syslet_is_restart(long ret)
{
	return ret <= -ERESTARTSYS && ret >= -ERESTART_RESTARTBLOCK;
}

/*
 * A call interrupted by something that runs no signal handler (a stop, a
 * tracer, task work; in a pool thread anything but death) is made again,
 * as the return to user space would after a direct call; its
 * restart_block, if it set one, resumes it.  A restart code is left only
 * when a handler is to run, a tracer diverted the caller, or the pool
 * thread must exit.  See signal.c.
 */
static noinline long syslet_call_again(struct syslet_uatom __user *uatom,
				       const struct syslet_katom *ka,
				       struct syslet_run *run, long ret,
				       bool may_hand_off)
{
	unsigned long nr = ka->nr;

	/*
	 * async_cancel() marks the chain before it notifies the thread, and
	 * get_signal() (in syslet_interrupted()) may take the notification
	 * away, as the freezer's trap does: look at the mark again after
	 * it, or a cancelled call would be made again.
	 */
	while (syslet_is_restart(ret) && !syslet_cancelled(run) &&
	       !syslet_interrupted(ka->nr, ret, (long)(unsigned long)uatom) &&
	       !syslet_cancelled(run)) {
		if (ret == -ERESTART_RESTARTBLOCK)
			nr = __NR_restart_syscall;
		/* A cachemiss may have made us a pool thread during the call. */
		ret = arch_syslet_syscall(nr, ka->args, &run->frame,
					  may_hand_off && !syslet_in_worker());
	}
	return ret;
}

/* Run an atom's system call; inlined for the chain's common case. */
static __always_inline long syslet_call(struct syslet_uatom __user *uatom,
					const struct syslet_katom *ka,
					struct syslet_run *run,
					bool may_hand_off)
{
	long ret = arch_syslet_syscall(ka->nr, ka->args, &run->frame,
				       may_hand_off);

	if (unlikely(syslet_is_restart(ret)))
		ret = syslet_call_again(uatom, ka, run, ret, may_hand_off);
	return ret;
}

static __always_inline bool syslet_stop_condition(u64 flags, long ret)
{
	if (likely(!(flags & SYSLET_STOP_MASK)))
		return false;
	return ((flags & SYSLET_STOP_ON_NONZERO) && ret != 0) ||
	       ((flags & SYSLET_STOP_ON_ZERO) && ret == 0) ||
	       ((flags & SYSLET_STOP_ON_NEGATIVE) && ret < 0) ||
	       ((flags & SYSLET_STOP_ON_NON_POSITIVE) && ret <= 0);
}

/**
 * __syslet_run_chain - run a chain of atoms to its end
 * @uatom:	first atom
 * @ka:		@uatom, already fetched; on return, the last atom run
 * @run:	execution context; whether a blocking call may hand off
 * @res:	outcome
 *
 * The chain ends at an atom without a next pointer, at an atom whose
 * stop condition is met (unless it says SKIP_TO_NEXT_ON_STOP, which
 * continues with the atom right after it in memory), at an atom whose
 * system call is not allowed or that Syscall User Dispatch would send to
 * the thread's SIGSYS handler (-ENOSYS in its ret_ptr), or when a system
 * call is interrupted by a signal whose handler is to run (-EINTR in its
 * ret_ptr).  A signal handler due between two atoms, a fault or invalid
 * flags in a later atom abort it with res->err set; the atoms before
 * have run.  A stop, a tracer or task work does neither (signal.c).
 */
static __always_inline void __syslet_run_chain(struct syslet_uatom __user *uatom,
					       struct syslet_katom *ka,
					       struct syslet_run *run,
					       struct syslet_chain_result *res)
{
	long ret;
	int err;

	res->err = 0;
	for (;;) {
		bool end_chain = false;
		int check;

		trace_syslet_atom_enter(uatom, ka->nr);
		/*
		 * Off the caller's context every atom is made for the
		 * submitter as it is now (fit.c); the caller's own context
		 * pays nothing for it.
		 */
		if (unlikely(run->submitter) &&
		    syslet_submitter_unfit(run->submitter))
			check = -1;
		else
			check = syslet_atom_check(ka);
		if (likely(check == SYSLET_ATOM_RUN ||
			   check == SYSLET_ATOM_STAY)) {
			ret = syslet_call(uatom, ka, run, run->may_hand_off &&
					  check == SYSLET_ATOM_RUN);
			if (unlikely(syslet_is_restart(ret))) {
				/* Restart codes never reach user memory. */
				ret = -EINTR;
				end_chain = true;
				if (syslet_cancelled(run) && !syslet_worker_dying())
					ret = -ECANCELED;
				else if (syslet_in_worker())
					res->err = -EINTR;	/* dying */
			} else if (unlikely(ret == -EINTR) && syslet_cancelled(run) &&
				   !syslet_worker_dying()) {
				/* Calls that fail with -EINTR themselves (epoll_wait) */
				ret = -ECANCELED;
			}
		} else {
			/* Outside the allowlist no such call, for an atom. */
			ret = check < 0 ? -EPERM : syslet_ni_syscall();
			end_chain = true;
		}
		trace_syslet_atom_exit(uatom, ka->nr, ret);
		res->last = uatom;

		if (ka->ret_ptr && put_user(ret, ka->ret_ptr)) {
			res->err = -EFAULT;
			return;
		}
		if (end_chain || syslet_cancelled(run))
			return;
		if (syslet_stop_condition(ka->flags, ret)) {
			if (!(ka->flags & SYSLET_SKIP_TO_NEXT_ON_STOP))
				return;
			uatom++;
		} else if (ka->next) {
			uatom = ka->next;
		} else {
			return;
		}

		/*
		 * Chains may loop: stay killable and preemptible.  Run the
		 * task work a return to user space would run between two
		 * direct calls (deferred fput(): a file an atom closed is
		 * closed before the next atom, also in a worker whose chain
		 * goes on long after).  One flags load covers both.
		 */
		if (unlikely(read_thread_flags() &
			     (_TIF_SIGPENDING | _TIF_NOTIFY_SIGNAL |
			      _TIF_NOTIFY_RESUME))) {
			if (task_work_pending(current))
				task_work_run();
			if (signal_pending(current) &&
			    syslet_interrupted(ka->nr, 0, -EINTR)) {
				res->err = -EINTR;
				return;
			}
			/* The notification may have been a cancellation. */
			if (syslet_cancelled(run))
				return;
		}
		cond_resched();

		err = syslet_fetch_atom(uatom, ka);
		if (unlikely(err)) {
			res->err = err;
			return;
		}
	}
}

void syslet_run_chain(struct syslet_uatom __user *uatom,
		      struct syslet_katom *ka, struct syslet_run *run,
		      struct syslet_chain_result *res)
{
	__syslet_run_chain(uatom, ka, run, res);
}

/*
 * A tracer that stops at system calls (PTRACE_SYSCALL: strace, gdb's
 * catch syscall) expects entry and exit stops to alternate.  Atoms run
 * inside async_exec(), so a traced chain is presented as async_exec()
 * returning 0, the atoms' own calls, then async_exec() entered again;
 * its real exit stop carries the result.
 */
static void syslet_trace_chain_begin(void)
{
	struct pt_regs *regs;
	unsigned long entry_ax;

	if (likely(!test_syscall_work(SYSCALL_TRACE)))
		return;
	regs = current_pt_regs();
	/* What the entry code left there: async_exec() is "entered again". */
	entry_ax = regs->ax;
	regs->ax = 0;
	ptrace_report_syscall_exit(regs, 0);
	regs->ax = entry_ax;
}

static void syslet_trace_chain_end(void)
{
	/* A tracer asking to skip the call is too late: the atoms ran. */
	if (unlikely(test_syscall_work(SYSCALL_TRACE)) &&
	    ptrace_report_syscall_entry(current_pt_regs()))
		return;
}

/**
 * sys_async_exec - run a syslet
 * @atom:	first atom of the chain
 * @uhead:	completion ring for asynchronous completion, or NULL
 * @size:	sizeof(struct async_head_user) as user space knows it
 *
 * A chain with a ring runs in the caller's context until one of its
 * system calls blocks; a spare thread then takes over the caller's user
 * context and returns 0 from here (see cachemiss.c), while this task
 * finishes the chain.  SYSLET_ASYNC hands the chain to a pool thread
 * right away; SYSLET_SYNC never hands off.
 *
 * Return: the address of the atom the chain ended on when it completed
 * in the caller's context, 0 when it went asynchronous (it completes to
 * @uhead's ring), or -errno.
 */
SYSCALL_DEFINE3(async_exec, struct syslet_uatom __user *, atom,
		struct async_head_user __user *, uhead, size_t, size)
{
	/* Filled before use: spare the hot path the stack auto-init. */
	struct syslet_run run __uninitialized;
	struct syslet_chain_result res __uninitialized;
	struct syslet_katom ka __uninitialized;
	struct syslet_head *head = NULL;
	int err;

	if (unlikely(in_compat_syscall()))
		return syslet_ni_syscall();

	/* Inlined: the first atom's fetch is part of every call's cost. */
	err = __syslet_fetch_atom(atom, &ka);
	if (unlikely(err))
		return err;
	if (unlikely((ka.flags & (SYSLET_ASYNC | SYSLET_SYNC)) ==
		     (SYSLET_ASYNC | SYSLET_SYNC)))
		return -EINVAL;
	trace_syslet_exec(atom, ka.flags);

	if (uhead) {
		head = syslet_head_get(uhead, size, true);
		if (IS_ERR(head))
			return PTR_ERR(head);
	}

	if ((ka.flags & SYSLET_ASYNC) ||
	    unlikely(head && head->ring && !(ka.flags & SYSLET_SYNC) &&
		     syslet_leader_among_threads(current))) {
		if (!head || !head->ring) {
			err = -EINVAL;
			goto out;
		}
		/* On success the pool thread owns our head reference. */
		err = syslet_queue_async(head, atom, &ka);
		if (!err)
			return 0;
		if (err != -EAGAIN)
			goto out;
		/* No pool thread to be had: complete synchronously. */
	}

	run.worker = NULL;
	run.submitter = NULL;
	run.head = head;
	run.may_hand_off = false;
	run.missed_spare = false;
	run.inflight = NULL;
	if (head) {
		run.own.atom = atom;
		if (head->ring && !(ka.flags & SYSLET_SYNC)) {
			/* Only a process that has blocked pays for a spare thread. */
			if (READ_ONCE(current->signal->syslet->keep_spare))
				syslet_pool_add_spare(current->signal->syslet, head);
			run.may_hand_off = true;
		}
		/* Also for syslet_exit(), should an atom's call kill us. */
		current->syslet = &run;
		/* async_unregister() is -EBUSY while it runs. */
		atomic_inc(&head->running);
	}
	syslet_trace_chain_begin();
	/* Inlined here: the caller's context runs nearly every chain. */
	__syslet_run_chain(atom, &ka, &run, &res);
	current->syslet = NULL;
	/* Handed off: inflight counts it from the hand-off on. */
	if (head)
		atomic_dec(&head->running);
	if (unlikely(run.worker) && syslet_handoff_finish(&run))
		return syslet_cachemiss_done(&run, &res, ka.flags);
	if (unlikely(run.missed_spare))
		syslet_keep_spare(current->signal->syslet, head);
	syslet_trace_chain_end();
	err = res.err;
out:
	if (head)
		syslet_head_put(head);
	return err ? err : (long)(unsigned long)res.last;
}
