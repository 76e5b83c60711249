// SPDX-License-Identifier: GPL-2.0
/*
 * Syslets: pool threads for SYSLET_ASYNC chains.
 *
 * A pool thread is a thread of the submitting process (it shares mm,
 * files, fs and signal handlers) that never returns to user space.  It
 * runs a chain handed to it, posts the atom the chain ended on to the
 * chain's completion ring and parks, waiting for the next chain.  Pool
 * threads are shared by all rings of a process; each ring bounds how
 * many of them work for it at once (max_nr_threads).
 *
 * A chain must run as the submitter's own system calls would.  A pool
 * thread is created by the submitter and so starts out with exactly its
 * credentials, filter, files, fs and namespaces; a parked thread is only
 * handed a chain by a submitter it fits in all of them (syslet_unfit(),
 * fit.c).  A thread that dropped privileges, added a filter, unshared
 * or changed namespace since gets a fresh pool thread.  The chain is
 * bound to the submitting thread's ID, and every atom is checked
 * against the submitter as it is by then (-EPERM when it changed).
 *
 * When no pool thread can be had (ring's bound reached, RLIMIT_NPROC,
 * no memory) the chain runs synchronously in the caller instead.
 */
#include <linux/cred.h>
#include <linux/nodemask.h>
#include <linux/ptrace.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/syscalls.h>
#include <linux/syslet.h>
#include <linux/task_work.h>
#include "syslet.h"
#include <trace/events/syslet.h>

/*
 * How long a parked pool thread waits for work before it exits: as long
 * as an io-wq worker.  A pool trimmed between two bursts makes the next
 * burst create its threads again, on the submitter's time.
 */
#define SYSLET_IDLE_TIMEOUT	(5 * HZ)

/**
 * syslet_same_identity - would @w run system calls exactly as @tsk would?
 * @w:		a pool thread
 * @tsk:	the task it would act for
 *
 * The very same credentials and seccomp filter objects: a thread that
 * dropped privileges or added a filter since @w was made never gets it.
 */
bool syslet_same_identity(struct task_struct *w, struct task_struct *tsk)
{
	return rcu_access_pointer(w->real_cred) ==
	       rcu_access_pointer(tsk->real_cred) &&
	       rcu_access_pointer(w->cred) == rcu_access_pointer(tsk->cred) &&
	       READ_ONCE(w->seccomp.filter) == tsk->seccomp.filter;
}

/**
 * syslet_pool_thread - is @tsk a syslet pool thread or cachemiss worker?
 * @tsk: a task the caller keeps from exiting
 *
 * For ptrace_attach(): such a thread runs no user code, and its thread
 * ID may have gone to the thread that does just after the tracer looked
 * it up.  A user worker without PF_IO_WORKER of a process with syslet
 * state (a vhost worker of such a process passes too; it runs no user
 * code either).
 */
bool syslet_pool_thread(struct task_struct *tsk)
{
	return (tsk->flags & (PF_USER_WORKER | PF_IO_WORKER)) ==
	       PF_USER_WORKER && READ_ONCE(tsk->signal->syslet);
}

/**
 * syslet_worker_pass_signals - hand this pool thread's signals to the group
 *
 * A signal that a chain's system call raised on this thread (SIGPIPE or
 * SIGXFSZ, sent to "current") is the process' to take, as after a direct
 * call; so is one sent to the thread's own ID from outside (tgkill).  A
 * pool thread blocks every signal: pass such signals on to the thread
 * group when a chain completes and before the thread takes over a
 * caller's context, or they would surface in that context, under its
 * signal mask.  (A cachemiss worker forwards the signals sent to it to
 * its caller: syslet_forward_stragglers().)
 */
void syslet_worker_pass_signals(void)
{
	struct sighand_struct *sighand = syslet_current_sighand();
	kernel_siginfo_t info;
	enum pid_type type;
	sigset_t skip;
	int sig;

	while (unlikely(!sigisemptyset(&current->pending.signal))) {
		spin_lock_irq(&sighand->siglock);
		/* Our own pending signals only, never the group's. */
		skip = current->pending.signal;
		sigdelset(&skip, SIGKILL);
		sigdelset(&skip, SIGSTOP);
		if (sigisemptyset(&skip)) {
			spin_unlock_irq(&sighand->siglock);
			return;
		}
		signotset(&skip);
		sig = dequeue_signal(&skip, &info, &type);
		spin_unlock_irq(&sighand->siglock);
		if (sig <= 0 || type != PIDTYPE_PID)
			return;
		do_send_sig_info(sig, &info, current, PIDTYPE_TGID);
	}
}

/**
 * syslet_worker_signalled - take what interrupted a pool thread
 * @sp: the process' syslet state
 *
 * Pool threads (and cachemiss workers) block every signal but SIGKILL
 * and SIGSTOP, so get_signal() deals with a stop, the freezer or a
 * tracer here, and returns a signal only when the group is exiting or
 * exec()ing.  That signal is the SIGKILL zap_other_threads() queued for
 * this thread, and get_signal() took it off: remember it in ->dying, or
 * a thread that parks, runs a chain or takes over a user context later
 * would never be told again and de_thread() or the parent would wait for
 * it forever.
 *
 * Return: true if the thread must exit.
 */
bool syslet_worker_signalled(struct syslet_process *sp)
{
	struct ksignal ksig;

	if (!signal_pending(current) || !get_signal(&ksig))
		return false;
	spin_lock(&sp->pool_lock);
	WRITE_ONCE(sp->dying, true);
	spin_unlock(&sp->pool_lock);
	return true;
}

/* Run a SYSLET_ASYNC chain handed to this pool thread. */
void syslet_worker_finish_chain(struct syslet_worker *w)
{
	struct syslet_head *head = w->head;
	struct syslet_run run = {
		.may_hand_off = false,
		.submitter = w->submitter,
		.inflight = &w->chain,
	};
	struct syslet_chain_result res;

	/*
	 * Handed over just before the group's SIGKILL, which this thread
	 * has taken already: a call that sleeps would not be woken.
	 */
	if (unlikely(READ_ONCE(w->sp->dying))) {
		res.err = -EINTR;
	} else if (syslet_cancelled(&run)) {
		/* Cancelled before it started: it never does. */
		res.err = 0;
		res.last = w->atom;
		if (w->ka.ret_ptr && put_user(-ECANCELED, w->ka.ret_ptr))
			res.err = -EFAULT;
	} else {
		/* The submitter's protection keys, not the last one's. */
		arch_syslet_set_pkru(w->pkru);
		syslet_run_chain(w->atom, &w->ka, &run, &res);
	}
	syslet_chain_untrack(w->sp, &w->chain);
	syslet_worker_pass_signals();
	syslet_chain_complete(head, &res, w->ka.flags);
	put_pid(w->submitter);
	w->submitter = NULL;
	w->head = NULL;
	w->job = SYSLET_JOB_NONE;
}

/* Park until handed a job.  Return: false if the thread must exit. */
static bool syslet_worker_park(struct syslet_worker *w)
{
	struct syslet_process *sp = w->sp;
	long timeout = SYSLET_IDLE_TIMEOUT;

	for (;;) {
		long wait;

		spin_lock(&sp->pool_lock);
		if (w->job == SYSLET_JOB_CHAIN || w->job == SYSLET_JOB_HANDOFF) {
			spin_unlock(&sp->pool_lock);
			trace_syslet_worker_park(current->pid, false);
			return true;
		}
		if (w->job == SYSLET_JOB_RESERVED) {
			/* A cachemiss is filling in our record: wait for it. */
			wait = MAX_SCHEDULE_TIMEOUT;
		} else if (sp->dying || !timeout) {
			/* Keep one spare for the next submitter. */
			if (sp->dying || sp->nr_idle > 1) {
				if (!list_empty(&w->idle_node)) {
					list_del_init(&w->idle_node);
					WRITE_ONCE(sp->nr_idle, sp->nr_idle - 1);
				}
				spin_unlock(&sp->pool_lock);
				return false;
			}
			timeout = SYSLET_IDLE_TIMEOUT;
			wait = timeout;
		} else {
			wait = timeout;
		}
		if (w->job == SYSLET_JOB_NONE && list_empty(&w->idle_node)) {
			list_add(&w->idle_node, &sp->idle);
			WRITE_ONCE(sp->nr_idle, sp->nr_idle + 1);
			trace_syslet_worker_park(current->pid, true);
		}
		set_current_state(TASK_INTERRUPTIBLE | TASK_FREEZABLE);
		spin_unlock(&sp->pool_lock);

		if (wait == MAX_SCHEDULE_TIMEOUT)
			schedule();
		else
			timeout = schedule_timeout(wait);
		__set_current_state(TASK_RUNNING);
		/* Deferred work queued for this thread, e.g. fput(). */
		if (task_work_pending(current))
			task_work_run();
		syslet_worker_signalled(sp);
	}
}

/**
 * syslet_pool_loop - serve the pool until handed a user context
 * @w: this pool thread
 *
 * Runs SYSLET_ASYNC chains handed to the thread, parking in between.
 *
 * Return: true when the thread took over a blocked task's user context
 * and must return to user mode now; false when it must exit (idle
 * timeout, process exiting).
 */
bool syslet_pool_loop(struct syslet_worker *w)
{
	while (syslet_worker_park(w)) {
		if (w->job == SYSLET_JOB_HANDOFF) {
			if (syslet_take_over(w))
				return true;
			continue;	/* gave it back: still a spare */
		}
		syslet_worker_finish_chain(w);
	}
	return false;
}

/* Leave the pool and exit; legal at any depth of a system call. */
void __noreturn syslet_worker_exit(struct syslet_worker *w)
{
	struct syslet_process *sp = w->sp;
	long code;

	spin_lock(&sp->pool_lock);
	list_del(&w->node);
	WRITE_ONCE(sp->nr_workers, sp->nr_workers - 1);
	code = sp->dying ? sp->exit_code : 0;
	spin_unlock(&sp->pool_lock);
	kfree(w);
	trace_syslet_worker(current->pid, false);
	do_exit(code);
}

/*
 * A thread that clone()'s tracer follows starts with a stop pending, as
 * a cloned user thread stops before its first instruction: take it
 * before the first atom, so the tracer sees every call.
 */
static void syslet_worker_start_traced(struct syslet_process *sp)
{
	spin_lock_irq(&syslet_current_sighand()->siglock);
	recalc_sigpending();
	spin_unlock_irq(&syslet_current_sighand()->siglock);
	syslet_worker_signalled(sp);
}

static int syslet_worker_fn(void *arg)
{
	struct syslet_worker *w = arg;

	trace_syslet_worker(current->pid, true);
	if (unlikely(current->ptrace))
		syslet_worker_start_traced(w->sp);
	if (w->job == SYSLET_JOB_CHAIN)
		syslet_worker_finish_chain(w);
	/* ret_from_fork() takes a taken-over context to user mode. */
	if (syslet_pool_loop(w))
		return 0;
	syslet_worker_exit(w);
}

/*
 * Create a pool thread for @w.  A thread without a job is a spare: it is
 * on the idle list before it first runs, so a cachemiss right after
 * finds it even on a single CPU.
 */
static int syslet_worker_create(struct syslet_process *sp,
				struct syslet_worker *w)
{
	struct kernel_clone_args args = {
		.flags		= CLONE_VM | CLONE_FS | CLONE_FILES |
				  CLONE_SIGHAND | CLONE_THREAD | CLONE_IO |
				  CLONE_SYSVSEM | CLONE_UNTRACED,
		.exit_signal	= 0,
		.fn		= syslet_worker_fn,
		.fn_arg		= w,
		.name		= sp->comm,
		.user_worker	= 1,
	};
	struct task_struct *tsk;
	struct pid *pid = NULL;
	int trace = 0;

	/*
	 * A tracer that follows clone() (strace -f) follows pool threads
	 * too and sees the system calls of the chains they run: tell it
	 * about the new thread as clone() would.
	 */
	if (unlikely(ptrace_event_enabled(current, PTRACE_EVENT_CLONE)))
		trace = PTRACE_EVENT_CLONE;
	w->sp = sp;
	INIT_LIST_HEAD(&w->idle_node);

	spin_lock(&sp->pool_lock);
	if (sp->dying) {
		spin_unlock(&sp->pool_lock);
		return -EAGAIN;
	}
	list_add(&w->node, &sp->workers);
	spin_unlock(&sp->pool_lock);

	tsk = copy_process(NULL, trace, NUMA_NO_NODE, &args);
	if (IS_ERR(tsk)) {
		spin_lock(&sp->pool_lock);
		list_del(&w->node);
		spin_unlock(&sp->pool_lock);
		return PTR_ERR(tsk);
	}
	spin_lock(&sp->pool_lock);
	/*
	 * Counted only now that copy_process() counted it in ->live:
	 * syslet_exit() takes live - nr_workers for the user threads left,
	 * and a thread exiting in between must not find itself the last.
	 */
	WRITE_ONCE(sp->nr_workers, sp->nr_workers + 1);
	w->task = tsk;
	if (w->job == SYSLET_JOB_NONE) {
		list_add(&w->idle_node, &sp->idle);
		WRITE_ONCE(sp->nr_idle, sp->nr_idle + 1);
	} else {
		syslet_chain_track(sp, w->head, &w->chain, w->atom, tsk);
	}
	spin_unlock(&sp->pool_lock);
	if (unlikely(trace))
		pid = get_task_pid(tsk, PIDTYPE_PID);
	wake_up_new_task(tsk);
	if (unlikely(trace)) {
		ptrace_event_pid(trace, pid);
		put_pid(pid);
	}
	return 0;
}

/**
 * syslet_keep_spare - keep a spare ready for cachemisses from now on
 * @sp:		the process' syslet state
 * @head:	the ring the caller completes to; bounds the pool
 *
 * Spares are made lazily: a process whose chains never block never pays
 * for a thread.  Its first block completes in the caller; from then on
 * (or from async_register() on) a spare is kept parked.
 */
void syslet_keep_spare(struct syslet_process *sp, struct syslet_head *head)
{
	WRITE_ONCE(sp->keep_spare, true);
	syslet_pool_add_spare(sp, head);
}

/**
 * syslet_pool_add_spare - make sure a spare is ready for a cachemiss
 * @sp:		the process' syslet state
 * @head:	the ring the caller completes to; bounds the pool
 *
 * Called before a chain runs in cached mode (once the process keeps
 * spares, see syslet_keep_spare()), from sleepable context, so that the
 * scheduler hook (which cannot create threads) finds a spare.
 * Costs two loads when one is parked already.  Failure is not an error:
 * a cachemiss without a spare completes synchronously.
 */
void syslet_pool_add_spare(struct syslet_process *sp, struct syslet_head *head)
{
	struct syslet_worker *w;

	if ((likely(READ_ONCE(sp->nr_idle)) &&
	     likely(!READ_ONCE(sp->want_spare))) || READ_ONCE(sp->dying) ||
	    READ_ONCE(sp->nr_workers) >= head->max_threads)
		return;
	WRITE_ONCE(sp->want_spare, false);
	w = kzalloc(sizeof(*w), GFP_KERNEL_ACCOUNT);
	if (!w)
		return;
	w->job = SYSLET_JOB_NONE;
	if (syslet_worker_create(sp, w))
		kfree(w);
}

/*
 * Make @w's job the chain at @atom, submitted by current now: its ring
 * reference and in-flight count go with it, and its atoms run with
 * current's protection keys (syslet_worker_finish_chain()).
 */
static void syslet_worker_give_chain(struct syslet_worker *w,
				     struct syslet_head *head,
				     struct syslet_uatom __user *atom,
				     const struct syslet_katom *ka)
{
	w->job = SYSLET_JOB_CHAIN;
	w->head = head;
	w->atom = atom;
	w->ka = *ka;
	w->pkru = arch_syslet_pkru();
	w->submitter = get_pid(task_pid(current));
}

/**
 * syslet_queue_async - hand a chain to a pool thread
 * @head:	ring to complete to; on success the pool thread owns the
 *		caller's reference
 * @atom:	first atom
 * @ka:		first atom, already fetched
 *
 * Return: 0 if a pool thread runs the chain, -EAGAIN if none can be had
 * (the caller then runs it synchronously).
 */
int syslet_queue_async(struct syslet_head *head,
		       struct syslet_uatom __user *atom,
		       const struct syslet_katom *ka)
{
	struct syslet_process *sp = syslet_process();
	struct syslet_worker *w;
	const char *why;

	/*
	 * No pool thread has Syscall User Dispatch (copy_process() clears
	 * it), and none could take the SIGSYS it raises: such a thread's
	 * chains run in its own context.
	 */
	if (unlikely(syslet_unfit(current, current, SYSLET_FIT_CALLS))) {
		trace_syslet_sync_fallback(atom, "syscall user dispatch");
		return -EAGAIN;
	}
	why = syslet_head_start_async(head);
	if (why) {
		trace_syslet_sync_fallback(atom, why);
		return -EAGAIN;
	}

	spin_lock(&sp->pool_lock);
	list_for_each_entry(w, &sp->idle, idle_node) {
		/* A dying pool takes no chains; nor is a thread made below. */
		if (sp->dying)
			break;
		if (syslet_unfit(w->task, current, SYSLET_FIT_POOL))
			continue;
		list_del_init(&w->idle_node);
		WRITE_ONCE(sp->nr_idle, sp->nr_idle - 1);
		syslet_worker_give_chain(w, head, atom, ka);
		syslet_chain_track(sp, head, &w->chain, atom, w->task);
		spin_unlock(&sp->pool_lock);
		wake_up_process(w->task);
		return 0;
	}
	spin_unlock(&sp->pool_lock);

	w = kzalloc(sizeof(*w), GFP_KERNEL_ACCOUNT);
	if (w) {
		syslet_worker_give_chain(w, head, atom, ka);
		if (!syslet_worker_create(sp, w))
			return 0;
		put_pid(w->submitter);
		kfree(w);
	}
	trace_syslet_sync_fallback(atom, "no pool thread");
	syslet_head_end_async(head);
	return -EAGAIN;
}

/**
 * syslet_pool_kill - make every pool thread of a process exit
 * @sp: the process' syslet state
 *
 * Parked threads wake up and exit.  A thread in the middle of a chain is
 * interrupted like io_uring interrupts its workers (TIF_NOTIFY_SIGNAL): a
 * sleeping system call returns, the thread sees ->dying and exits without
 * posting.  Not SIGKILL: that would turn an exit() of the last thread
 * into a group exit by SIGKILL and change the status the parent sees.
 */
void syslet_pool_kill(struct syslet_process *sp)
{
	struct syslet_worker *w;

	spin_lock(&sp->pool_lock);
	WRITE_ONCE(sp->dying, true);
	list_for_each_entry(w, &sp->workers, node) {
		if (w->task) {
			set_notify_signal(w->task);
			wake_up_state(w->task, TASK_INTERRUPTIBLE);
		}
	}
	spin_unlock(&sp->pool_lock);
}
