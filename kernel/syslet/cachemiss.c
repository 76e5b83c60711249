// SPDX-License-Identifier: GPL-2.0
/*
 * Syslets: the cachemiss hand-off.
 *
 * A chain runs in the caller's context.  When one of its system calls
 * is about to sleep, the scheduler calls syslet_sched_block(): a parked
 * spare thread of the process takes over the caller's user context and
 * returns to user space from async_exec() with 0, while the blocked task
 * stays in the kernel, finishes the call and the rest of the chain as a
 * cachemiss worker, posts the chain's last atom to the ring and parks as
 * the next spare.
 *
 * The hand-off has two halves.  The first runs in the scheduler hook, in
 * the blocked task, and must not sleep: it takes what only the task
 * itself can read (CPU registers, FPU state, segment bases), moves the
 * per-thread user state that is plain data into the hand-off record,
 * blocks all signals on itself and wakes the spare.  The second runs in
 * the spare, may sleep, and installs the rest: the caller's thread ID
 * (gettid() does not change across a cachemiss; for the group leader
 * its leadership too), pending thread-directed signals, children,
 * signal mask, name, nice value and affinity.  Whatever cannot be moved
 * safely makes the hook refuse; the atom then simply completes in the
 * caller.  What the hook cannot see without locks it may not take (a
 * tracer attaching, a timer armed on the thread, a new user thread) is
 * checked again by the spare under tasklist_lock and siglock; if that
 * check fails, the spare gives the context back untouched and the
 * blocked task returns to user space itself once its chain is done
 * (syslet_handoff_finish()).
 *
 * Locks: tasklist_lock (write) -> siglock, taken by the spare to move
 * the identity; pool_lock is never taken inside either (siglock is
 * taken from hard interrupts, pool_lock is not irq-safe).
 */
#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/freezer.h>
#include <linux/pid_namespace.h>
#include <linux/posix-timers.h>
#include <linux/proc_fs.h>
#include <linux/rcupdate.h>
#include <linux/rseq.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <uapi/linux/sched/types.h>
#include <linux/seccomp.h>
#include <linux/syscalls.h>
#include <linux/timerqueue.h>
#include <linux/syslet.h>
#include <linux/uaccess.h>
#include <linux/uprobes.h>
#include <linux/wait_bit.h>
#include "syslet.h"
#include <trace/events/syslet.h>

/* Per-thread state that rules a hand-off out, or NULL. */
static const char *syslet_task_unmovable(struct task_struct *tsk)
{
	struct syslet_process *sp = READ_ONCE(tsk->signal->syslet);

	if (!sp || READ_ONCE(sp->dying))
		return "exiting";
	if (signal_pending(tsk))
		return "signal pending";
	if (tsk->signal->flags & SIGNAL_GROUP_EXIT || tsk->signal->group_exec_task)
		return "exiting";
	if (tsk->ptrace || !list_empty(&tsk->ptraced))
		return "ptrace";
	if (test_restore_sigmask())
		return "temporary signal mask";
	if (tsk->policy != SCHED_NORMAL && tsk->policy != SCHED_BATCH &&
	    tsk->policy != SCHED_IDLE)
		return "real-time policy";
	if (thread_group_leader(tsk) && is_child_reaper(task_tgid(tsk)))
		return "child reaper";
#ifdef CONFIG_IO_URING
	if (tsk->io_uring)
		return "io_uring";
#endif
#ifdef CONFIG_FUTEX_PI
	if (!list_empty(&tsk->pi_state_list))
		return "PI futex held";
#endif
#ifdef CONFIG_UPROBES
	if (tsk->utask && tsk->utask->return_instances)
		return "uretprobe";
#endif
	return NULL;
}

/* Is @tsk a pool thread running a user-space context?  pool_lock held. */
static bool syslet_task_in_user(struct syslet_process *sp,
				struct task_struct *tsk)
{
	struct syslet_worker *w;

	lockdep_assert_held(&sp->pool_lock);
	list_for_each_entry(w, &sp->workers, node) {
		if (w->task == tsk)
			return w->in_user;
	}
	return false;
}

/**
 * syslet_pick_spare - take a parked pool thread fit to become @tsk
 * @sp:		the process' syslet state
 * @tsk:	the blocking task
 * @why:	set to the reason when there is none
 *
 * Does not sleep.  Return: the spare, off the idle list, or NULL.
 */
struct syslet_worker *syslet_pick_spare(struct syslet_process *sp,
					struct task_struct *tsk,
					const char **why)
{
	struct syslet_worker *w;
	bool differs = false;

	*why = "no spare";
	spin_lock(&sp->pool_lock);
	/*
	 * The leadership of a thread group moves only while no other
	 * thread of the group runs user code (see "The group leader" in
	 * Documentation/syslet-design.txt).  Threads that are neither
	 * counted as pool threads nor this one are user threads, or
	 * threads on their way in or out: refuse for all of them.  The
	 * spare checks again, exactly, under tasklist_lock.
	 */
	if (unlikely(sp->nr_in_user) && syslet_task_in_user(sp, tsk)) {
		/*
		 * A user-space cachemiss context is a pool thread lending
		 * its time: its own atoms complete in it.  (Handing it off
		 * would leave two pool records for one task.)
		 */
		*why = "user-space cachemiss context";
		spin_unlock(&sp->pool_lock);
		return NULL;
	}
	if (thread_group_leader(tsk) &&
	    (sp->nr_in_user ||
	     READ_ONCE(tsk->signal->nr_threads) != sp->nr_workers + 1)) {
		*why = "leader of a multi-threaded process";
		spin_unlock(&sp->pool_lock);
		return NULL;
	}
	/* The caller's own CPU state first: no spare would do for it. */
	*why = arch_syslet_cannot_move(tsk, NULL);
	if (*why) {
		spin_unlock(&sp->pool_lock);
		return NULL;
	}
	*why = "no spare";
	list_for_each_entry(w, &sp->idle, idle_node) {
		const char *unfit = syslet_unfit(w->task, tsk,
						 SYSLET_FIT_HANDOFF);

		if (unfit) {
			*why = unfit;
			differs = true;
			continue;
		}
		/*
		 * A frozen spare would keep the blocked task waiting for
		 * it (syslet_handoff_finish()) until the thaw.
		 */
		if (frozen(w->task) ||
		    (READ_ONCE(w->task->jobctl) & JOBCTL_TRAP_FREEZE)) {
			*why = "spare frozen";
			continue;
		}
		list_del_init(&w->idle_node);
		WRITE_ONCE(sp->nr_idle, sp->nr_idle - 1);
		/* Ours; it may not look at the record until it is filled. */
		w->job = SYSLET_JOB_RESERVED;
		spin_unlock(&sp->pool_lock);
		return w;
	}
	/*
	 * Spares made before the task changed its credentials, filter,
	 * files, ... (or made by another thread) never fit it: have the
	 * next async_exec() make one that does (the misfits time out).
	 */
	if (differs)
		WRITE_ONCE(sp->want_spare, true);
	spin_unlock(&sp->pool_lock);
	return NULL;
}

/* The hook's half: move what is plain data, freeze the rest. */
static void syslet_capture(struct task_struct *tsk, struct syslet_run *run,
			   struct syslet_handoff *ho)
{
	sigset_t all;

	arch_syslet_capture(&ho->arch, &run->frame);
	ho->from = tsk;
	get_task_struct(tsk);
	/*
	 * The rest of the chain is made for the thread ID, which follows
	 * the user context to the spare: every later atom is checked
	 * against that thread's credentials as they are then.
	 */
	run->submitter = get_pid(task_pid(tsk));
	ho->nr = task_pt_regs(tsk)->orig_ax;
	ho->to = NULL;
	ho->refused = NULL;
	ho->forwarding = false;
	ho->busy = true;

	/*
	 * The blocked task never delivers a signal again: block them all
	 * but SIGKILL and SIGSTOP, so process-wide signals go to threads
	 * that can take them, and thread-directed ones wait for the spare
	 * to take them over with the thread ID.
	 */
	ho->blocked = tsk->blocked;
	siginitsetinv(&all, sigmask(SIGKILL) | sigmask(SIGSTOP));
	__set_current_blocked(&all);

	ho->sas_ss_sp = tsk->sas_ss_sp;
	ho->sas_ss_size = tsk->sas_ss_size;
	ho->sas_ss_flags = tsk->sas_ss_flags;
	sas_ss_reset(tsk);
	ho->clear_child_tid = tsk->clear_child_tid;
	tsk->clear_child_tid = NULL;
#ifdef CONFIG_FUTEX
	ho->robust_list = tsk->robust_list;
	tsk->robust_list = NULL;
#endif
#ifdef CONFIG_RSEQ
	ho->rseq = tsk->rseq;
	ho->rseq_len = tsk->rseq_len;
	ho->rseq_sig = tsk->rseq_sig;
	tsk->rseq = NULL;
	tsk->rseq_len = 0;
	tsk->rseq_sig = 0;
	tsk->rseq_event_mask = 0;
#endif
	tsk->flags |= PF_USER_WORKER;
}

/**
 * syslet_sched_block - an atom's system call is about to sleep
 * @tsk: current, with PF_SYSLET set
 *
 * Called from sched_submit_work(): the task state is no longer running,
 * so nothing here may sleep or fault.  A wake-up racing with us may mean
 * the task does not sleep after all; the hand-off is then merely early.
 *
 * Return: the spare, for the scheduler to wake on this CPU, or NULL.
 */
struct task_struct *syslet_sched_block(struct task_struct *tsk)
{
	struct syslet_run *run = tsk->syslet;
	struct syslet_worker *w = NULL;
	const char *why;

	/* One attempt per atom call; later sleeps in it stay put. */
	tsk->flags &= ~PF_SYSLET;
	if (WARN_ON_ONCE(!run || !run->may_hand_off) ||
	    !(READ_ONCE(tsk->__state) & TASK_NORMAL))
		return NULL;

	why = syslet_task_unmovable(tsk);
	if (!why)
		why = syslet_head_start_async(run->head);
	if (!why) {
		w = syslet_pick_spare(tsk->signal->syslet, tsk, &why);
		if (!w) {
			syslet_head_end_async(run->head);
			/* async_exec() makes one once this call is done. */
			run->missed_spare = !READ_ONCE(tsk->signal->syslet->nr_idle);
		}
	}
	if (!w) {
		trace_syslet_handoff_refused(task_pt_regs(tsk)->orig_ax, why);
		return NULL;
	}

	syslet_capture(tsk, run, &run->ho);
	run->may_hand_off = false;
	run->worker = w;
	trace_syslet_cachemiss(tsk->pid, w->task->pid, run->ho.nr);
	/* Publish the record: the spare reads it after taking pool_lock. */
	spin_lock(&w->sp->pool_lock);
	w->ho = &run->ho;
	w->job = SYSLET_JOB_HANDOFF;
	/* Asynchronous from here on: async_cancel() may stop the rest. */
	syslet_chain_track(w->sp, run->head, &run->own, run->own.atom, tsk);
	run->inflight = &run->own;
	spin_unlock(&w->sp->pool_lock);
	return w->task;
}

/*
 * Move thread-directed pending signals from @from to @to, except SIGKILL
 * and SIGSTOP (they act on the whole group wherever they are pending).
 * Caller holds their (shared) siglock.  Return: whether any moved.
 */
static bool syslet_move_signals(struct task_struct *from,
				struct task_struct *to)
{
	struct sigqueue *q, *n;
	sigset_t moved = from->pending.signal;

	lockdep_assert_held(&from->sighand->siglock);
	sigdelset(&moved, SIGKILL);
	sigdelset(&moved, SIGSTOP);
	if (sigisemptyset(&moved))
		return false;
	list_for_each_entry_safe(q, n, &from->pending.list, list) {
		if (sigismember(&moved, q->info.si_signo))
			list_move_tail(&q->list, &to->pending.list);
	}
	sigorsets(&to->pending.signal, &to->pending.signal, &moved);
	sigandnsets(&from->pending.signal, &from->pending.signal, &moved);
	return true;
}

/*
 * The group leader hands over its leadership, as a non-leader exec()
 * takes it in de_thread(), except that the old leader lives on as a
 * pool thread.  de_thread() may do this because every other thread of
 * the group is dead: code that reads ->group_leader of its own thread
 * without tasklist_lock (copy_process(), setpgid(), do_prlimit(),
 * bprm_mm_init(), ...) cannot run.  Here the other threads may only be
 * pool threads, which run nothing but allowlisted system calls, none of
 * which reads ->group_leader that way (syslet_identity_unmovable()
 * checks this under the locks; see "The group leader" in
 * Documentation/syslet-design.txt for the readers audited).
 * Caller holds tasklist_lock for writing and siglock.
 */
static void syslet_take_leadership(struct task_struct *leader)
{
	struct task_struct *tsk = current, *t;

	lockdep_assert_held_write(&tasklist_lock);
	transfer_pid(leader, tsk, PIDTYPE_TGID);
	transfer_pid(leader, tsk, PIDTYPE_PGID);
	transfer_pid(leader, tsk, PIDTYPE_SID);
	list_replace_rcu(&leader->tasks, &tsk->tasks);
	list_replace_init(&leader->sibling, &tsk->sibling);
	/*
	 * The leader comes first on the thread list: thread_group_empty()
	 * and the exit code rely on it.  Walkers under siglock or
	 * tasklist_lock (signal delivery, wait) see the move whole; the
	 * lock-free ones that sum CPU times (thread_group_cputime(),
	 * getrusage()) retry on stats_lock, as for a thread's exit.
	 */
	write_seqlock(&tsk->signal->stats_lock);
	list_del_rcu(&tsk->thread_node);
	list_add_rcu(&tsk->thread_node, &tsk->signal->thread_head);
	write_sequnlock(&tsk->signal->stats_lock);
	for_each_thread(tsk, t)
		WRITE_ONCE(t->group_leader, tsk);
	tsk->exit_signal = leader->exit_signal;
	leader->exit_signal = -1;
	arch_syslet_take_leadership(leader);
}

/* Does a thread other than @from and @to run user code?  Locks held. */
static bool syslet_other_user_threads(struct task_struct *from,
				      struct task_struct *to)
{
	struct task_struct *t;

	lockdep_assert_held_write(&tasklist_lock);
	/*
	 * A pool thread entering a user-space cachemiss context drops
	 * PF_USER_WORKER under siglock (syslet_enter_user_context()), so
	 * none can start to run user code while we look.
	 */
	for_each_thread(from, t) {
		if (t != from && t != to && !(t->flags & PF_USER_WORKER))
			return true;
	}
	return false;
}

#ifdef CONFIG_POSIX_TIMERS
/* A CPU timer queued on @tsk, or one of its timers firing?  siglock held. */
static bool syslet_cpu_timers_queued(struct task_struct *tsk)
{
	struct posix_cputimers *pct = &tsk->posix_cputimers;
	int i;

	lockdep_assert_held(&tsk->sighand->siglock);
	if (pct->expiry_active)
		return true;
#ifdef CONFIG_POSIX_CPU_TIMERS_TASK_WORK
	if (tsk->posix_cputimers_work.scheduled)
		return true;
#endif
	for (i = 0; i < CPUCLOCK_MAX; i++) {
		if (timerqueue_getnext(&pct->bases[i].tqhead))
			return true;
	}
	return false;
}
#endif

/*
 * A per-thread CPU timer is queued on the task its thread ID named when
 * it was armed, and found again through that ID: it must not change
 * hands while the timer exists.  That covers the process' timers
 * (timer_create()) naming either ID, armed or not, and the on-stack
 * timers of clock_nanosleep() on another thread's CPU clock, which are
 * on no list but are queued on the task.  Timers are added to the list
 * and armed under siglock, which the caller holds.
 */
static bool syslet_thread_cpu_timer(struct task_struct *from,
				    struct task_struct *to)
{
#ifdef CONFIG_POSIX_TIMERS
	struct pid *a = task_pid(from), *b = task_pid(to);
	struct k_itimer *timer;

	if (syslet_cpu_timers_queued(from) || syslet_cpu_timers_queued(to))
		return true;
	hlist_for_each_entry(timer, &from->signal->posix_timers, list) {
		if (timer->it_clock >= 0 || !CPUCLOCK_PERTHREAD(timer->it_clock))
			continue;
		if (timer->it.cpu.pid == a || timer->it.cpu.pid == b)
			return true;
	}
#endif
	return false;
}

/**
 * syslet_identity_unmovable - may the thread ID move from @from to @to now?
 * @from:	the blocked task
 * @to:		current, the spare
 *
 * The hook checked most of this without these locks, and could not see
 * what other threads do until the spare runs: a tracer attaching to the
 * caller, a CPU timer created on its thread ID, another thread starting
 * to run user code (for a leader), the group starting to exit.
 * Caller holds tasklist_lock for writing and siglock.
 *
 * Return: NULL, or why the spare must give the context back.
 */
static const char *syslet_identity_unmovable(struct task_struct *from,
					     struct task_struct *to)
{
	struct signal_struct *sig = from->signal;

	lockdep_assert_held_write(&tasklist_lock);
	if ((sig->flags & SIGNAL_GROUP_EXIT) || sig->group_exec_task)
		return "exiting";
	if (from->ptrace || !list_empty(&from->ptraced) || to->ptrace)
		return "ptrace";
	if (syslet_thread_cpu_timer(from, to))
		return "thread CPU timer";
	if (thread_group_leader(from) && syslet_other_user_threads(from, to))
		return "leader of a multi-threaded process";
	return NULL;
}

/*
 * Children belong to the thread that forked them: its thread ID, and its
 * exit for PR_SET_PDEATHSIG.  They follow the thread ID, as
 * forget_original_parent() moves them when a thread exits.  Pool
 * threads never fork, so @to has none of its own.  Locks held.
 */
static void syslet_take_children(struct task_struct *from)
{
	struct task_struct *tsk = current, *c;

	lockdep_assert_held_write(&tasklist_lock);
	list_for_each_entry(c, &from->children, sibling) {
		rcu_assign_pointer(c->real_parent, tsk);
		if (!c->ptrace)
			rcu_assign_pointer(c->parent, tsk);
	}
	list_splice_tail_init(&from->children, &tsk->children);
}

/*
 * Take over the blocked task's thread ID (and leadership), its children
 * and the thread-directed signals sent to it so far.
 * Return: NULL, or why not (nothing moved).
 */
static const char *syslet_take_identity(struct task_struct *from)
{
	struct task_struct *tsk = current;
	bool leader = thread_group_leader(from);
	u64 start_time, start_boottime;
	const char *why;

	if (leader)
		cgroup_threadgroup_change_begin(tsk);
	write_lock_irq(&tasklist_lock);
	spin_lock(&syslet_current_sighand()->siglock);
	why = syslet_identity_unmovable(from, tsk);
	if (!why) {
		exchange_tids(tsk, from);
		start_time = tsk->start_time;
		start_boottime = tsk->start_boottime;
		tsk->start_time = from->start_time;
		tsk->start_boottime = from->start_boottime;
		from->start_time = start_time;
		from->start_boottime = start_boottime;
		if (leader)
			syslet_take_leadership(from);
		syslet_take_children(from);
		syslet_move_signals(from, tsk);
	}
	spin_unlock(&syslet_current_sighand()->siglock);
	write_unlock_irq(&tasklist_lock);
	if (leader)
		cgroup_threadgroup_change_end(tsk);
	if (!why) {
		/*
		 * A /proc lookup that found a task by one of the two IDs
		 * before they moved may have made its dentry from the
		 * other task's ID: drop what /proc has cached for both.
		 */
		proc_flush_pid(task_pid(tsk));
		proc_flush_pid(task_pid(from));
	}
	return why;
}

/*
 * Name, scheduling policy, nice value, affinity and a few scalars of the
 * blocked task.
 */
static void syslet_take_attributes(struct task_struct *from)
{
	struct task_struct *tsk = current;
	char comm[TASK_COMM_LEN];

	get_task_comm(comm, from);
	set_task_comm(tsk, comm);
	set_task_comm(from, tsk->signal->syslet->comm);

	if (tsk->policy != from->policy) {
		/* SCHED_IDLE or SCHED_BATCH (the hook refuses real-time). */
		struct sched_attr attr = {
			.size		= sizeof(attr),
			.sched_policy	= from->policy,
			.sched_nice	= task_nice(from),
		};

		sched_setattr_nocheck(tsk, &attr);
	}
	if (task_nice(tsk) != task_nice(from))
		set_user_nice(tsk, task_nice(from));
	if (!cpumask_equal(tsk->cpus_ptr, from->cpus_ptr))
		set_cpus_allowed_ptr(tsk, from->cpus_ptr);
	tsk->timer_slack_ns = from->timer_slack_ns;
	tsk->default_timer_slack_ns = from->default_timer_slack_ns;
	tsk->pdeath_signal = from->pdeath_signal;
}

/**
 * syslet_forward_stragglers - pass on signals that raced with the TID move
 * @rcu:	syslet_handoff::rcu
 *
 * A sender that looked the caller's thread ID up before it moved (under
 * RCU, see kill_pid_info_type() and do_tkill()) may still queue its
 * signal on the blocked task after the move.  One grace period later all
 * such senders are done: move what they queued to the thread that has
 * the ID now.  Signals queued on the blocked task after this are for
 * its new thread ID, a pool thread's, and go to the process
 * (syslet_worker_pass_signals()).  Runs from an RCU callback, so the
 * window in which the two cannot be told apart is one grace period, not
 * the rest of the chain.
 */
static void syslet_forward_stragglers(struct rcu_head *rcu)
{
	struct syslet_handoff *ho = container_of(rcu, struct syslet_handoff,
						 rcu);
	struct task_struct *from = ho->from, *to = ho->to;
	struct sighand_struct *sighand;
	unsigned long flags;

	/* @from waits for us in syslet_handoff_finish(): it is alive. */
	sighand = lock_task_sighand(from, &flags);
	if (sighand) {
		if (to->sighand == from->sighand && !(to->flags & PF_EXITING) &&
		    syslet_move_signals(from, to))
			signal_wake_up(to, 0);
		spin_unlock_irqrestore(&sighand->siglock, flags);
	}
	ho->to = NULL;
	put_task_struct(to);
	/* Pairs with syslet_worker_wait(): we are done with @ho. */
	smp_store_release(&ho->forwarding, false);
	wake_up_var(&ho->forwarding);
}

/* The spare lets go of @ho; the blocked task may return or go on. */
static void syslet_release_handoff(struct syslet_handoff *ho)
{
	struct task_struct *from = ho->from;

	/* @ho belongs to the blocked task after this. */
	smp_store_release(&ho->busy, false);
	wake_up_var(&ho->busy);
	put_task_struct(from);
}

/*
 * Install the per-thread user state syslet_capture() took off the
 * blocked task: on the spare that takes its context over, or on the
 * blocked task itself when the spare gives it back.  For rseq the thread
 * migrated to another CPU either way.
 */
static void syslet_install_thread_state(struct task_struct *tsk,
					const struct syslet_handoff *ho)
{
	tsk->sas_ss_sp = ho->sas_ss_sp;
	tsk->sas_ss_size = ho->sas_ss_size;
	tsk->sas_ss_flags = ho->sas_ss_flags;
	tsk->clear_child_tid = ho->clear_child_tid;
#ifdef CONFIG_FUTEX
	tsk->robust_list = ho->robust_list;
#endif
#ifdef CONFIG_RSEQ
	tsk->rseq = ho->rseq;
	tsk->rseq_len = ho->rseq_len;
	tsk->rseq_sig = ho->rseq_sig;
	if (tsk->rseq) {
		tsk->rseq_event_mask |= RSEQ_EVENT_MIGRATE;
		rseq_set_notify_resume(tsk);
	}
#endif
}

/**
 * syslet_take_over - become the task that blocked in an atom
 * @w: this pool thread, woken with SYSLET_JOB_HANDOFF
 *
 * The spare's half of a hand-off, in process context.  Afterwards the
 * spare is an ordinary user thread with the blocked task's thread ID and
 * user state, about to return from async_exec() with 0, and @w describes
 * the blocked task, a pool thread now.
 *
 * Return: true if it took over; false if it gave the context back
 * (syslet_identity_unmovable()) and is still a parked pool thread.
 */
bool syslet_take_over(struct syslet_worker *w)
{
	struct syslet_handoff *ho = w->ho;
	struct task_struct *from = ho->from;
	struct syslet_process *sp = w->sp;
	struct task_struct *tsk = current;
	const char *why;

	/* Signals sent to this pool thread so far are not the caller's. */
	syslet_worker_pass_signals();
	why = syslet_take_identity(from);
	if (unlikely(why)) {
		trace_syslet_handoff_refused(ho->nr, why);
		spin_lock(&sp->pool_lock);
		w->ho = NULL;
		w->job = SYSLET_JOB_NONE;
		spin_unlock(&sp->pool_lock);
		ho->refused = why;
		syslet_release_handoff(ho);
		return false;
	}
	arch_syslet_install(&ho->arch);
	syslet_take_attributes(from);

	syslet_install_thread_state(tsk, ho);
	tsk->restart_block.fn = do_no_restart_syscall;

	spin_lock(&sp->pool_lock);
	w->task = from;
	w->job = SYSLET_JOB_NONE;
	if (sp->dying) {
		set_notify_signal(from);
		wake_up_state(from, TASK_INTERRUPTIBLE);
	}
	spin_unlock(&sp->pool_lock);

	ho->to = tsk;
	get_task_struct(tsk);
	ho->forwarding = true;
	/* @ho is on the blocked task's stack, which waits for the callback. */
	init_rcu_head_on_stack(&ho->rcu);
	call_rcu(&ho->rcu, syslet_forward_stragglers);
	/* An ordinary user thread from here on, with the caller's FPU. */
	arch_syslet_become_user(from);
	set_current_blocked(&ho->blocked);
	syslet_release_handoff(ho);
	return true;
}

static inline bool syslet_flag_clear(bool *flag)
{
	/* Pairs with the release of the spare or of the RCU callback. */
	return !smp_load_acquire(flag);
}

/*
 * Wait for @flag to clear, as a pool thread: stops, the freezer (a
 * cgroup's too) and death are dealt with meanwhile.  Death does not end
 * the wait, the spare still uses our state: once the process is dying
 * (get_signal() then keeps returning SIGKILL) wait without signals.
 */
static void syslet_worker_wait(bool *flag, struct syslet_process *sp)
{
	/* syslet_flag_clear(): acquire, pairs with the releaser's store. */
	while (!syslet_flag_clear(flag)) {
		if (READ_ONCE(sp->dying) || fatal_signal_pending(current)) {
			wait_var_event(flag, syslet_flag_clear(flag));
			return;
		}
		___wait_var_event(flag, syslet_flag_clear(flag) ||
				  signal_pending(current),
				  (TASK_INTERRUPTIBLE | TASK_FREEZABLE), 0, 0,
				  schedule());
		syslet_worker_signalled(sp);
	}
}

/*
 * The spare gave our user context back: become the thread that called
 * async_exec() again, as if the hook had refused.  Undoes
 * syslet_capture().
 */
static void syslet_reclaim(struct syslet_run *run)
{
	struct syslet_handoff *ho = &run->ho;
	struct task_struct *tsk = current;
	struct signal_struct *sig = tsk->signal;

	syslet_install_thread_state(tsk, ho);
	arch_syslet_reclaim(&ho->arch);
	tsk->flags &= ~PF_USER_WORKER;

	spin_lock_irq(&syslet_current_sighand()->siglock);
	/*
	 * As a pool thread we may have taken the group exit's SIGKILL in
	 * syslet_worker_signalled(): queue it again, or this context would
	 * outlive its process.
	 */
	if ((sig->flags & SIGNAL_GROUP_EXIT) || sig->group_exec_task) {
		sigaddset(&tsk->pending.signal, SIGKILL);
		signal_wake_up(tsk, 1);
	}
	spin_unlock_irq(&syslet_current_sighand()->siglock);
	set_current_blocked(&ho->blocked);

	put_pid(run->submitter);
	run->submitter = NULL;
	syslet_chain_untrack(sig->syslet, &run->own);
	run->inflight = NULL;
	/* Counted in flight by the hook; completes in the caller now. */
	syslet_head_end_async(run->head);
	run->worker = NULL;
}

/**
 * syslet_handoff_finish - the chain of a task that handed off has ended
 * @run:	the run, with @run->worker set
 *
 * Waits for the spare to be done with the hand-off record.  Not for the
 * straggler callback, which runs a grace period after the hand-off:
 * the chain's completion does not wait for it (syslet_handoff_settle()).
 *
 * Return: true if the spare took the user context over (this task is a
 * cachemiss worker now); false if it gave it back, and this task returns
 * from async_exec() itself, as if no hand-off had happened.
 */
bool syslet_handoff_finish(struct syslet_run *run)
{
	/* Not run->worker->sp: a spare that gives back keeps its record. */
	struct syslet_process *sp = current->signal->syslet;
	struct syslet_handoff *ho = &run->ho;

	syslet_worker_wait(&ho->busy, sp);
	if (unlikely(ho->refused)) {
		syslet_reclaim(run);
		return false;
	}
	return true;
}

/*
 * The straggler callback (syslet_forward_stragglers()) uses @run->ho, on
 * this task's async_exec() frame: wait for it before this task leaves the
 * frame, parks or runs anything else.  After the chain was posted, so
 * that its completion is not a grace period late.
 */
static void syslet_handoff_settle(struct syslet_run *run)
{
	struct syslet_handoff *ho = &run->ho;

	syslet_worker_wait(&ho->forwarding, current->signal->syslet);
	destroy_rcu_head_on_stack(&ho->rcu);
	/* What is pending on us now was sent to our new thread ID. */
	syslet_worker_pass_signals();
}

/* Take a user word and leave 0 in its place, atomically. */
static int syslet_take_user_word(u64 __user *uptr, u64 *val)
{
	u64 old;

	if (get_user(old, uptr))
		return -EFAULT;
	if (!user_access_begin(uptr, sizeof(*uptr)))
		return -EFAULT;
	while (old && !unsafe_try_cmpxchg_user(uptr, &old, 0, fault))
		;
	user_access_end();
	*val = old;
	return 0;
fault:
	user_access_end();
	return -EFAULT;
}

/*
 * User-space cachemiss contexts.  After posting its chain, a cachemiss
 * worker may run user code instead of parking: the ring's owner (the
 * thread that set the ring up) at head_ip on head_stack, any other at
 * new_thread_ip on new_thread_stack.  A stack serves once: the worker
 * takes it and leaves 0, user space puts in a fresh one when it likes.
 * The thread starts with the completed atom in rdi and the head in rsi,
 * no TLS, the initial FPU state and all signals blocked, and comes back
 * into the pool with async_thread().
 */
static bool syslet_enter_user_context(struct syslet_worker *w,
				      struct async_head_user __user *uhead,
				      bool owner,
				      struct syslet_uatom __user *atom)
{
	u64 __user *stackp = owner ? &uhead->head_stack :
				     &uhead->new_thread_stack;
	u64 __user *ipp = owner ? &uhead->head_ip : &uhead->new_thread_ip;
	struct syslet_process *sp = w->sp;
	u64 ip, stack;

	if (get_user(ip, ipp) || !ip || ip >= TASK_SIZE_MAX)
		return false;
	if (syslet_take_user_word(stackp, &stack) || !stack)
		return false;

	spin_lock(&sp->pool_lock);
	if (sp->dying) {
		spin_unlock(&sp->pool_lock);
		return false;
	}
	w->in_user = true;
	WRITE_ONCE(sp->nr_in_user, sp->nr_in_user + 1);
	spin_unlock(&sp->pool_lock);

	/* Under siglock: see syslet_other_user_threads(). */
	spin_lock_irq(&syslet_current_sighand()->siglock);
	current->flags &= ~PF_USER_WORKER;
	spin_unlock_irq(&syslet_current_sighand()->siglock);
	arch_syslet_enter_user(ip, stack, (unsigned long)atom,
			       (unsigned long)uhead);
	return true;
}

/**
 * syslet_forget_user_worker - a thread leaves for good
 * @sp:		the process' syslet state
 * @tsk:	current, exiting or exec()ing
 *
 * A pool thread running a user-space cachemiss context may exit or exec
 * instead of coming back with async_thread(): drop it from the pool.
 */
void syslet_forget_user_worker(struct syslet_process *sp,
			       struct task_struct *tsk)
{
	struct syslet_worker *w, *found = NULL;

	if (likely(!READ_ONCE(sp->nr_in_user)))
		return;
	spin_lock(&sp->pool_lock);
	list_for_each_entry(w, &sp->workers, node) {
		if (w->task == tsk && w->in_user) {
			list_del(&w->node);
			WRITE_ONCE(sp->nr_workers, sp->nr_workers - 1);
			WRITE_ONCE(sp->nr_in_user, sp->nr_in_user - 1);
			found = w;
			break;
		}
	}
	spin_unlock(&sp->pool_lock);
	kfree(found);
}

/**
 * sys_async_thread - a user-space cachemiss context returns to the pool
 * @event:	reserved, must be NULL
 * @uhead:	the ring whose context it ran (informational)
 *
 * Return: 0 when the thread has taken over the user context of a task
 * that blocked in an atom (it continues as that task), -EINVAL if the
 * caller is not running a user-space cachemiss context.  Does not
 * return when the pool thread exits instead.
 */
SYSCALL_DEFINE2(async_thread, void __user *, event,
		struct async_head_user __user *, uhead)
{
	struct syslet_process *sp;
	struct syslet_worker *w, *found = NULL;
	sigset_t all;
	bool last;

	if (in_compat_syscall())
		return syslet_ni_syscall();
	if (event)
		return -EINVAL;
	/* Pairs with syslet_process()'s cmpxchg_release(). */
	sp = smp_load_acquire(&current->signal->syslet);
	if (!sp)
		return -EINVAL;

	spin_lock(&sp->pool_lock);
	list_for_each_entry(w, &sp->workers, node) {
		if (w->task == current && w->in_user) {
			w->in_user = false;
			WRITE_ONCE(sp->nr_in_user, sp->nr_in_user - 1);
			found = w;
			break;
		}
	}
	/* The last thread that ran user code: see syslet_thread_gone(). */
	last = found && !sp->dying && syslet_no_user_threads(sp);
	spin_unlock(&sp->pool_lock);
	if (!found)
		return -EINVAL;
	if (last)
		syslet_pool_kill(sp);

	siginitsetinv(&all, sigmask(SIGKILL) | sigmask(SIGSTOP));
	set_current_blocked(&all);
	current->flags |= PF_USER_WORKER;
	if (syslet_pool_loop(found))
		return 0;
	syslet_worker_exit(found);
}

/**
 * syslet_cachemiss_done - a cachemiss worker finished its chain
 * @run:	the run, with @run->worker set
 * @res:	how the chain ended
 * @flags:	flags of the atom it ended on
 *
 * Post the atom to the ring, then serve the pool from inside
 * async_exec()'s frame until handed another user context.  Called once
 * syslet_handoff_finish() said the spare took the caller's context.
 *
 * Return: 0, for the async_exec() of the context taken over (does not
 * return when the thread exits instead).
 */
long syslet_cachemiss_done(struct syslet_run *run,
			   const struct syslet_chain_result *res, u64 flags)
{
	struct syslet_worker *w = run->worker;
	struct syslet_head *head = run->head;
	struct async_head_user __user *uhead = head->uhead;
	bool owner = head->owner == current;
	bool fits;

	syslet_chain_untrack(w->sp, &run->own);
	run->inflight = NULL;
	syslet_chain_complete(head, res, flags);
	syslet_handoff_settle(run);

	/*
	 * A user-space context runs as this task, with its credentials:
	 * only while they are still those of the thread whose chain it
	 * ran (the owner's, for head_ip), else park.
	 */
	fits = !syslet_submitter_unfit(run->submitter);
	put_pid(run->submitter);
	run->submitter = NULL;
	if (res->err != -EINTR && fits &&
	    syslet_enter_user_context(w, uhead, owner, res->last))
		return 0;

	if (syslet_pool_loop(w))
		return 0;
	syslet_worker_exit(w);
}
