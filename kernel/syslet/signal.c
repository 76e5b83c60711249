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
 *    resumed in the middle once the handler has run.
 *  - A pool thread or cachemiss worker blocks every signal but SIGKILL
 *    and SIGSTOP and has no handler to run: it stops, freezes, runs task
 *    work or dies (syslet_worker_signalled()), and makes the call again
 *    unless it dies.
 *
 * The same holds between two atoms of a chain (syslet_run_chain()).
 */
#include <linux/sched/signal.h>
#include <linux/signal.h>
#include "syslet.h"
#include <trace/events/syslet.h>

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
	struct sighand_struct *sighand = current->sighand;
	struct k_sigaction *ka = &sighand->action[ksig->sig - 1];

	spin_lock_irq(&sighand->siglock);
	if ((ksig->ka.sa.sa_flags & SA_ONESHOT) && ka->sa.sa_handler == SIG_DFL)
		*ka = ksig->ka;
	spin_unlock_irq(&sighand->siglock);
	send_sig_info(ksig->sig, &ksig->info, current);
}

/*
 * The blocked mask @saved again, with what changed in @hold since we set
 * it carried over: a tracer's PTRACE_SETSIGMASK while we were stopped,
 * or a forced signal unblocking itself.
 */
static void syslet_unhold(const sigset_t *saved, const sigset_t *hold)
{
	sigset_t now, cleared, added, mask;

	spin_lock_irq(&current->sighand->siglock);
	now = current->blocked;
	spin_unlock_irq(&current->sighand->siglock);
	sigandnsets(&cleared, hold, &now);
	sigandnsets(&added, &now, hold);
	sigandnsets(&mask, saved, &cleared);
	sigorsets(&mask, &mask, &added);
	set_current_blocked(&mask);
}

/*
 * syslet_caller_interrupted - deal with what interrupted the caller's atom
 *
 * Return: true if a signal handler is to run: the chain must end and
 * leave async_exec() for it.  False once whatever else was pending has
 * been dealt with: the call is to be made again.
 */
static bool syslet_caller_interrupted(void)
{
	struct sighand_struct *sighand = current->sighand;
	sigset_t handled, saved, hold;
	struct ksignal ksig;
	bool due;

	/* No allowed call swaps the signal mask (ppoll() does). */
	if (WARN_ON_ONCE(test_restore_sigmask()))
		return true;

	spin_lock_irq(&sighand->siglock);
	syslet_handled_signals(sighand, &handled);
	due = syslet_handler_due(&handled);
	saved = current->blocked;
	spin_unlock_irq(&sighand->siglock);
	if (due)
		return true;

	/*
	 * Hold the handled signals back, so that get_signal() takes only
	 * what runs no handler, and those arriving meanwhile stay queued.
	 * Blocking them may hand a shared one to another thread, as
	 * sigprocmask() would: it is delivered either way.
	 */
	sigorsets(&hold, &saved, &handled);
	set_current_blocked(&hold);
	if (unlikely(get_signal(&ksig)))
		syslet_requeue(&ksig);
	syslet_unhold(&saved, &hold);

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
 *
 * Called when an atom's call returned a restart code, or a signal is
 * pending between two atoms; see the top of this file.
 *
 * Return: true if the chain must end here (with -EINTR): a signal
 * handler is to run in the caller's context, or the pool thread must
 * exit.  False if the call is to be made again, or the chain go on.
 */
bool syslet_interrupted(unsigned long nr, long code)
{
	bool end;

	if (syslet_in_worker())
		end = syslet_worker_interrupted();
	else
		end = syslet_caller_interrupted();
	trace_syslet_interrupted(nr, code, end);
	return end;
}
