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
 * its leadership too), pending thread-directed signals, signal mask,
 * name, nice value and affinity.  Whatever cannot be moved safely makes
 * the hook refuse; the atom then simply completes in the caller.
 */
#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/pid_namespace.h>
#include <linux/rcupdate.h>
#include <linux/rseq.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/seccomp.h>
#include <linux/syscalls.h>
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

/* Does the spare share everything with @tsk that a hand-off keeps? */
static bool syslet_spare_fits(struct task_struct *spare,
			      struct task_struct *tsk)
{
	if (spare->ptrace || !syslet_same_identity(spare, tsk) ||
	    tsk->cred != tsk->real_cred ||
	    spare->seccomp.mode != tsk->seccomp.mode ||
	    spare->files != tsk->files || spare->fs != tsk->fs ||
	    spare->nsproxy != tsk->nsproxy ||
	    spare->personality != tsk->personality ||
	    task_no_new_privs(spare) != task_no_new_privs(tsk))
		return false;
#ifdef CONFIG_NUMA
	if (spare->mempolicy != tsk->mempolicy)
		return false;
#endif
#ifdef CONFIG_CGROUPS
	if (rcu_access_pointer(spare->cgroups) !=
	    rcu_access_pointer(tsk->cgroups))
		return false;
#endif
	return true;
}

static const char spare_differs[] = "spare differs";

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

	*why = "no spare";
	spin_lock(&sp->pool_lock);
	list_for_each_entry(w, &sp->idle, idle_node) {
		if (!syslet_spare_fits(w->task, tsk)) {
			*why = spare_differs;
			continue;
		}
		*why = arch_syslet_cannot_move(tsk, w->task);
		if (*why)
			break;
		list_del_init(&w->idle_node);
		sp->nr_idle--;
		/* Ours; it may not look at the record until it is filled. */
		w->job = SYSLET_JOB_RESERVED;
		spin_unlock(&sp->pool_lock);
		return w;
	}
	/*
	 * Spares made before the task changed its credentials or filter
	 * never fit it again: have the next async_exec() make one that
	 * does (the misfits time out).
	 */
	if (*why == spare_differs)
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
	ho->nr = task_pt_regs(tsk)->orig_ax;
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
 */
void syslet_sched_block(struct task_struct *tsk)
{
	struct syslet_run *run = tsk->syslet;
	struct syslet_worker *w = NULL;
	const char *why;

	/* One attempt per atom call; later sleeps in it stay put. */
	tsk->flags &= ~PF_SYSLET;
	if (WARN_ON_ONCE(!run || !run->may_hand_off) ||
	    !(READ_ONCE(tsk->__state) & TASK_NORMAL))
		return;

	why = syslet_task_unmovable(tsk);
	if (!why)
		why = syslet_head_start_async(run->head);
	if (!why) {
		w = syslet_pick_spare(tsk->signal->syslet, tsk, &why);
		if (!w) {
			atomic_dec(&run->head->inflight);
			/* async_exec() makes one once this call is done. */
			run->missed_spare = !READ_ONCE(tsk->signal->syslet->nr_idle);
		}
	}
	if (!w) {
		trace_syslet_handoff_refused(task_pt_regs(tsk)->orig_ax, why);
		return;
	}

	syslet_capture(tsk, run, &w->ho);
	run->may_hand_off = false;
	run->worker = w;
	trace_syslet_cachemiss(tsk->pid, w->task->pid, w->ho.nr);
	/* Publish the record: the spare reads it after taking pool_lock. */
	spin_lock(&w->sp->pool_lock);
	w->job = SYSLET_JOB_HANDOFF;
	spin_unlock(&w->sp->pool_lock);
	wake_up_process(w->task);
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
 * pool thread.  Caller holds tasklist_lock for writing and siglock.
 */
static void syslet_take_leadership(struct task_struct *leader)
{
	struct task_struct *tsk = current, *t;

	transfer_pid(leader, tsk, PIDTYPE_TGID);
	transfer_pid(leader, tsk, PIDTYPE_PGID);
	transfer_pid(leader, tsk, PIDTYPE_SID);
	list_replace_rcu(&leader->tasks, &tsk->tasks);
	list_replace_init(&leader->sibling, &tsk->sibling);
	/*
	 * The leader comes first on the thread list: thread_group_empty()
	 * and the exit code rely on it.  Lock-free walkers of the list may
	 * see a thread twice or miss the new leader once; those under
	 * siglock or tasklist_lock (signal delivery, wait) cannot.
	 */
	list_del_rcu(&tsk->thread_node);
	list_add_rcu(&tsk->thread_node, &tsk->signal->thread_head);
	for_each_thread(tsk, t)
		WRITE_ONCE(t->group_leader, tsk);
	tsk->exit_signal = leader->exit_signal;
	leader->exit_signal = -1;
}

/*
 * Take over the blocked task's thread ID (and leadership), and the
 * thread-directed signals sent to it so far.  Not when the group is
 * exiting or exec()ing: de_thread() may be waiting for the old leader.
 */
static void syslet_take_identity(struct task_struct *from)
{
	struct task_struct *tsk = current;
	bool leader = thread_group_leader(from);
	u64 start_time, start_boottime;

	if (leader)
		cgroup_threadgroup_change_begin(tsk);
	write_lock_irq(&tasklist_lock);
	spin_lock(&tsk->sighand->siglock);
	if (!(tsk->signal->flags & SIGNAL_GROUP_EXIT) &&
	    !tsk->signal->group_exec_task) {
		exchange_tids(tsk, from);
		start_time = tsk->start_time;
		start_boottime = tsk->start_boottime;
		tsk->start_time = from->start_time;
		tsk->start_boottime = from->start_boottime;
		from->start_time = start_time;
		from->start_boottime = start_boottime;
		if (leader)
			syslet_take_leadership(from);
		syslet_move_signals(from, tsk);
	} else {
		/*
		 * This thread may have taken the SIGKILL that the group exit
		 * queued for it while it was parked (and woken to take over
		 * just before).  Queue it again: the context it takes over
		 * must die on its way to user space, as every other thread.
		 */
		sigaddset(&tsk->pending.signal, SIGKILL);
		signal_wake_up(tsk, 1);
	}
	spin_unlock(&tsk->sighand->siglock);
	write_unlock_irq(&tasklist_lock);
	if (leader)
		cgroup_threadgroup_change_end(tsk);
}

/* Name, nice value, affinity and a few scalars of the blocked task. */
static void syslet_take_attributes(struct task_struct *from)
{
	struct task_struct *tsk = current;
	char comm[TASK_COMM_LEN];

	get_task_comm(comm, from);
	set_task_comm(tsk, comm);
	snprintf(comm, sizeof(comm), "syslet-%d", task_tgid_nr(tsk));
	set_task_comm(from, comm);

	if (task_nice(tsk) != task_nice(from))
		set_user_nice(tsk, task_nice(from));
	if (!cpumask_equal(tsk->cpus_ptr, from->cpus_ptr))
		set_cpus_allowed_ptr(tsk, from->cpus_ptr);
	tsk->timer_slack_ns = from->timer_slack_ns;
	tsk->default_timer_slack_ns = from->default_timer_slack_ns;
	tsk->pdeath_signal = from->pdeath_signal;
}

/**
 * syslet_take_over - become the task that blocked in an atom
 * @w: this pool thread, woken with SYSLET_JOB_HANDOFF
 *
 * The spare's half of a hand-off, in process context.  Afterwards the
 * spare is an ordinary user thread with the blocked task's thread ID and
 * user state, about to return from async_exec() with 0, and @w describes
 * the blocked task, a pool thread now.
 */
void syslet_take_over(struct syslet_worker *w)
{
	struct syslet_handoff *ho = &w->ho;
	struct task_struct *from = ho->from;
	struct syslet_process *sp = w->sp;
	struct task_struct *tsk = current;

	/* Signals sent to this pool thread so far are not the caller's. */
	syslet_worker_pass_signals();
	arch_syslet_install(&ho->arch, from);
	syslet_take_identity(from);
	syslet_take_attributes(from);

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
	/* The caller migrated to another CPU, as rseq sees it. */
	if (tsk->rseq) {
		tsk->rseq_event_mask |= RSEQ_EVENT_MIGRATE;
		rseq_set_notify_resume(tsk);
	}
#endif
	tsk->restart_block.fn = do_no_restart_syscall;

	spin_lock(&sp->pool_lock);
	w->task = from;
	w->job = SYSLET_JOB_NONE;
	if (sp->dying) {
		set_notify_signal(from);
		wake_up_state(from, TASK_INTERRUPTIBLE);
	}
	spin_unlock(&sp->pool_lock);

	ho->gp = get_state_synchronize_rcu();
	ho->to = tsk;
	get_task_struct(tsk);
	/* An ordinary user thread from here on. */
	tsk->flags &= ~PF_USER_WORKER;
	set_current_blocked(&ho->blocked);

	/* @w belongs to the blocked task after this. */
	smp_store_release(&ho->busy, false);
	wake_up_var(&ho->busy);
	put_task_struct(from);
}

/*
 * A sender that looked the caller's thread ID up before it moved may
 * still queue a signal on the worker.  Such senders run under RCU: after
 * a grace period (usually long over by now) pass their signals on.
 */
static void syslet_forward_signals(struct syslet_handoff *ho)
{
	struct task_struct *to = ho->to;

	cond_synchronize_rcu(ho->gp);
	spin_lock_irq(&current->sighand->siglock);
	if (!(to->flags & PF_EXITING) && syslet_move_signals(current, to))
		signal_wake_up(to, 0);
	recalc_sigpending();
	spin_unlock_irq(&current->sighand->siglock);
	ho->to = NULL;
	put_task_struct(to);
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
	sp->nr_in_user++;
	spin_unlock(&sp->pool_lock);

	current->flags &= ~PF_USER_WORKER;
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
			sp->nr_workers--;
			sp->nr_in_user--;
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

	if (in_compat_syscall())
		return -ENOSYS;
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
			sp->nr_in_user--;
			found = w;
			break;
		}
	}
	spin_unlock(&sp->pool_lock);
	if (!found)
		return -EINVAL;

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
 * async_exec()'s frame until handed another user context.
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

	if (res->err != -EINTR && !(flags & SYSLET_NO_COMPLETE))
		syslet_post_completion(head, res->last);
	/* Posted first, then no longer in flight: see syslet_wait_done(). */
	atomic_dec(&head->inflight);
	wake_up_all(&head->wait);
	syslet_head_put(head);

	/* @w and our old identity are the spare's until it is done. */
	wait_var_event(&w->ho.busy, !smp_load_acquire(&w->ho.busy));
	syslet_forward_signals(&w->ho);

	if (res->err != -EINTR &&
	    syslet_enter_user_context(w, uhead, owner, res->last))
		return 0;

	if (syslet_pool_loop(w))
		return 0;
	syslet_worker_exit(w);
}
