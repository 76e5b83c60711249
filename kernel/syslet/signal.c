// SPDX-License-Identifier: GPL-2.0
/*
 * Syslets: what interrupts an atom's system call, and restarting it.
 *
 * A system call made directly returns a restart code (-ERESTARTSYS,
 * -ERESTARTNOINTR, -ERESTARTNOHAND, -ERESTART_RESTARTBLOCK) when the
 * thread is wanted elsewhere: a signal, a group stop, a ptrace trap, the
 * freezer, task work queued with TWA_SIGNAL (TIF_NOTIFY_SIGNAL).  On the
 * way back to user space the thread deals with it, then either runs a
 * signal handler (the call fails with EINTR, or is made again after the
 * handler under SA_RESTART) or, when no handler runs, makes the call
 * again with the same arguments (or calls its restart_block).
 *
 * An atom's call does the same without leaving async_exec(), so that a
 * chain goes on exactly when the direct call would have gone on:
 *
 *  - In the caller's context, everything that runs no handler is dealt
 *    with here, by get_signal() with every signal that has a handler held
 *    back (blocked) meanwhile: task work, group stop and SIGCONT, ptrace
 *    traps and signal-delivery stops, the freezer, ignored signals, and
 *    fatal ones (the process dies here, as it would have there).  Then
 *    the call is made again.
 *  - When a signal with a handler is to be delivered, the atom's result
 *    is -EINTR and the chain ends; the handler runs on the way out of
 *    async_exec().  SA_RESTART makes no difference: the chain cannot be
 *    resumed in the middle once the handler has run.  The same when a
 *    tracer that stopped the caller here diverted it elsewhere.
 *  - A pool thread or cachemiss worker blocks every signal but SIGKILL
 *    and SIGSTOP and has no handler to run: it stops, freezes, runs task
 *    work or dies (syslet_worker_signalled()), and makes the call again
 *    unless it dies.
 *
 * The same holds between two atoms of a chain (syslet_run_chain()).
 */
#include <linux/ptrace.h>
#include <linux/sched/signal.h>
#include <linux/signal.h>
#include <asm/syscall.h>
#include "syslet.h"
#include <trace/events/syslet.h>

/* Our own signal handlers: only we replace them (exec), not under us. */
static inline struct sighand_struct *syslet_own_sighand(void)
{
	return rcu_dereference_protected(current->sighand, true);
}

/* The signals that have a handler, not SIG_DFL or SIG_IGN.  Under siglock. */
static void syslet_handled_signals(struct sighand_struct *sighand,
				   sigset_t *set)
{
	int sig;

	sigemptyset(set);
	for (sig = 1; sig <= _NSIG; sig++) {
		__sighandler_t h = sighand->action[sig - 1].sa.sa_handler;

		if (h != SIG_DFL && h != SIG_IGN)
			sigaddset(set, sig);
	}
}

/* Is one of @handled pending for current and not blocked?  Under siglock. */
static bool syslet_handler_due(const sigset_t *handled)
{
	sigset_t due;

	sigorsets(&due, &current->pending.signal,
		  &current->signal->shared_pending.signal);
	sigandsets(&due, &due, handled);
	sigandnsets(&due, &due, &current->blocked);
	return !sigisemptyset(&due);
}

/*
 * get_signal() took a signal that had no handler when we held the
 * handled ones back, but has one now (a sigaction() of another thread
 * raced with us).  Put it back, for this thread, and undo the
 * SA_RESETHAND get_signal() did: the handler runs on the way out.
 */
static void syslet_requeue(struct ksignal *ksig)
{
	struct sighand_struct *sighand = syslet_own_sighand();
	struct k_sigaction *ka = &sighand->action[ksig->sig - 1];

	spin_lock_irq(&sighand->siglock);
	if ((ksig->ka.sa.sa_flags & SA_ONESHOT) && ka->sa.sa_handler == SIG_DFL)
		*ka = ksig->ka;
	spin_unlock_irq(&sighand->siglock);
	send_sig_info(ksig->sig, &ksig->info, current);
}

/*
 * The registers a tracer changes to divert the thread at a stop in
 * get_signal(), as a debugger does to call a function in it: it does
 * not want the thread back in the chain then.
 */
struct syslet_user_regs {
	unsigned long ip, sp;
	long nr;
};

static void syslet_user_regs(struct pt_regs *regs, struct syslet_user_regs *r)
{
	r->ip = instruction_pointer(regs);
	r->sp = user_stack_pointer(regs);
	r->nr = syscall_get_nr(current, regs);
}

/**
 * syslet_caller_interrupted - deal with what interrupted the caller's atom
 * @end_ret:	what async_exec() returns if the chain ends here
 *
 * A tracer that stops the caller in get_signal() here sees async_exec()
 * in progress, with @end_ret as its return value, and the program's own
 * signal mask (PTRACE_GETSIGMASK).  If it diverts the thread (moves its
 * instruction or stack pointer, or cancels the system call), the chain
 * ends here and async_exec() returns @end_ret where the tracer pointed.
 * A mask it sets (PTRACE_SETSIGMASK) is kept.
 *
 * Return: true if the chain must end: a signal handler is to run, or
 * the tracer diverted the thread.  False once whatever else was pending
 * has been dealt with: the call is to be made again.
 */
static bool syslet_caller_interrupted(long end_ret)
{
	struct sighand_struct *sighand = syslet_own_sighand();
	struct pt_regs *regs = current_pt_regs();
	struct syslet_user_regs before, after;
	sigset_t handled, hold;
	struct ksignal ksig;
	long ret;
	bool due;

	/* No allowed call swaps the signal mask (ppoll() does). */
	if (WARN_ON_ONCE(test_restore_sigmask()))
		return true;

	spin_lock_irq(&sighand->siglock);
	syslet_handled_signals(sighand, &handled);
	due = syslet_handler_due(&handled);
	hold = current->blocked;
	spin_unlock_irq(&sighand->siglock);
	if (due)
		return true;

	/*
	 * Hold the handled signals back, so that get_signal() takes only
	 * what runs no handler, and those arriving meanwhile stay queued.
	 * Blocking them may hand a shared one to another thread, as
	 * sigprocmask() would: it is delivered either way.  As under
	 * sigsuspend(), the program's own mask is saved_sigmask meanwhile:
	 * that is the one a tracer reads and replaces.
	 */
	current->saved_sigmask = hold;
	set_restore_sigmask();
	sigorsets(&hold, &hold, &handled);
	set_current_blocked(&hold);

	syslet_user_regs(regs, &before);
	ret = syscall_get_return_value(current, regs);
	syscall_set_return_value(current, regs, 0, end_ret);
	if (unlikely(get_signal(&ksig)))
		syslet_requeue(&ksig);
	syslet_user_regs(regs, &after);

	/* Cleared if PTRACE_SETSIGMASK replaced the mask: keep that one. */
	if (test_and_clear_restore_sigmask()) {
		hold = current->saved_sigmask;
		set_current_blocked(&hold);
	}
	if (memcmp(&before, &after, sizeof(before)))
		return true;
	syscall_set_return_value(current, regs, 0, ret);

	spin_lock_irq(&sighand->siglock);
	syslet_handled_signals(sighand, &handled);
	due = syslet_handler_due(&handled);
	spin_unlock_irq(&sighand->siglock);
	return due;
}

/* A pool thread or cachemiss worker.  Return: true if it must exit. */
static bool syslet_worker_interrupted(void)
{
	struct syslet_process *sp = READ_ONCE(current->signal->syslet);

	if (fatal_signal_pending(current) || READ_ONCE(sp->dying))
		return true;
	if (syslet_worker_signalled(sp))
		return true;
	return READ_ONCE(sp->dying);
}

/**
 * syslet_interrupted - deal with what interrupted an atom or a chain
 * @nr:		the atom's system call, for the tracepoint
 * @code:	the restart code it returned, or 0 between two atoms
 * @end_ret:	what async_exec() returns if the chain ends here (the atom's
 *		address, or -EINTR between two atoms)
 *
 * Called when an atom's call returned a restart code, or a signal is
 * pending between two atoms; see the top of this file.
 *
 * Return: true if the chain must end here (with -EINTR): a signal
 * handler is to run in the caller's context, a tracer diverted the
 * caller, or the pool thread must exit.  False if the call is to be made
 * again, or the chain go on.
 */
bool syslet_interrupted(unsigned long nr, long code, long end_ret)
{
	bool end;

	if (syslet_in_worker())
		end = syslet_worker_interrupted();
	else
		end = syslet_caller_interrupted(end_ret);
	trace_syslet_interrupted(nr, code, end);
	return end;
}
