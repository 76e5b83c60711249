// SPDX-License-Identifier: GPL-2.0
/*
 * Syslets: per-process state and completion ring heads.
 *
 * A ring is named by the user address of its struct async_head_user.
 * There is no global registration: the first async_exec() that names a
 * ring sets it up, so independent libraries in one process each use
 * their own ring without knowing about each other.  async_register() and
 * async_unregister() exist for callers that want set-up and tear-down at
 * a time of their choosing.
 */
#include <linux/compat.h>
#include <linux/cred.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/syscalls.h>
#include <linux/syslet.h>
#include <linux/uaccess.h>
#include <linux/user_namespace.h>
#include "syslet.h"

#define SYSLET_DEFAULT_THREADS	64
#define SYSLET_MAX_THREADS	4096
#define SYSLET_MAX_RING_BYTES	SZ_16M
/* Default of /proc/sys/user/max_syslet_heads: 8 processes at the limit. */
#define SYSLET_DEFAULT_USER_HEADS	(8 * SYSLET_MAX_HEADS)

static int __init syslet_heads_init(void)
{
	init_user_ns.ucount_max[UCOUNT_SYSLET_HEADS] = SYSLET_DEFAULT_USER_HEADS;
	return 0;
}
core_initcall(syslet_heads_init);

/* The calling process' syslet state, set up on first use. */
struct syslet_process *syslet_process(void)
{
	struct signal_struct *sig = current->signal;
	/* Pairs with the cmpxchg_release() below: see it initialised. */
	struct syslet_process *sp = smp_load_acquire(&sig->syslet);

	if (likely(sp))
		return sp;

	sp = kzalloc(sizeof(*sp), GFP_KERNEL_ACCOUNT);
	if (!sp)
		return NULL;
	xa_init(&sp->heads);
	mutex_init(&sp->lock);
	spin_lock_init(&sp->pool_lock);
	INIT_LIST_HEAD(&sp->idle);
	INIT_LIST_HEAD(&sp->workers);
	/* The thread group ID stays the process' through exec(). */
	snprintf(sp->comm, sizeof(sp->comm), "syslet-%d", task_tgid_nr(current));
	/* Publish only initialised state; another thread may race us. */
	if (cmpxchg_release(&sig->syslet, NULL, sp)) {
		kfree(sp);
		sp = smp_load_acquire(&sig->syslet);	/* the winner's */
	}
	return sp;
}

/*
 * What syslet_head_alloc() read from user memory that syslet_head_insert()
 * can only judge under sp->lock.
 */
struct syslet_head_setup {
	unsigned long	unregistered;	/* sp->unregistered before the read */
	bool		bad_indices;	/* kernel_ring_idx - user_ring_idx */
};

static struct syslet_head *syslet_head_alloc(struct syslet_process *sp,
					     struct async_head_user __user *uhead,
					     size_t size,
					     struct syslet_head_setup *setup)
{
	struct async_head_user kh;
	struct syslet_head *head;
	int err;

	/*
	 * Before the read: pairs with the release in async_unregister(),
	 * so a head removed before this load has published its last
	 * kernel_ring_idx where the read below sees it.
	 */
	setup->unregistered = smp_load_acquire(&sp->unregistered);
	err = copy_struct_from_user(&kh, sizeof(kh), uhead, size);
	if (err)
		return ERR_PTR(err);
	if (memchr_inv(kh.__reserved, 0, sizeof(kh.__reserved)))
		return ERR_PTR(-EINVAL);
	if (kh.completion_ring || kh.ring_size_bytes) {
		if (!kh.completion_ring || !kh.ring_size_bytes ||
		    kh.ring_size_bytes % sizeof(u64) ||
		    kh.ring_size_bytes > SYSLET_MAX_RING_BYTES ||
		    !IS_ALIGNED(kh.completion_ring, sizeof(u64)))
			return ERR_PTR(-EINVAL);
		if (!access_ok(u64_to_user_ptr(kh.completion_ring),
			       kh.ring_size_bytes))
			return ERR_PTR(-EFAULT);
	}
	if (kh.max_nr_threads > SYSLET_MAX_THREADS)
		return ERR_PTR(-EINVAL);
	/*
	 * The indices count modulo 2^64.  No more completions can be
	 * unreaped than the ring has slots (none without a ring): anything
	 * else is user_ring_idx ahead of kernel_ring_idx, or garbage.
	 * Judged by syslet_head_insert(): a head of the ring that is still
	 * in the table may have written a slot, which user space reaped,
	 * and not yet kernel_ring_idx; then the ring is simply taken.
	 */
	setup->bad_indices = kh.kernel_ring_idx - kh.user_ring_idx >
			     kh.ring_size_bytes / sizeof(u64);

	head = kzalloc(sizeof(*head), GFP_KERNEL_ACCOUNT);
	if (!head)
		return ERR_PTR(-ENOMEM);
	/* Bounded per user too: a process may fork, each child with its own. */
	head->ucounts = inc_current_ucount(UCOUNT_SYSLET_HEADS);
	if (!head->ucounts) {
		kfree(head);
		return ERR_PTR(-ENOSPC);
	}
	head->uaddr = (unsigned long)uhead;
	head->uhead = uhead;
	head->ring = u64_to_user_ptr(kh.completion_ring);
	head->nr_slots = kh.ring_size_bytes / sizeof(u64);
	head->max_threads = kh.max_nr_threads ?: SYSLET_DEFAULT_THREADS;
	head->posted = kh.kernel_ring_idx;
	atomic_set(&head->inflight, 0);
	atomic_set(&head->running, 0);
	mutex_init(&head->lock);
	INIT_LIST_HEAD(&head->overflow);
	INIT_LIST_HEAD(&head->chains);
	init_waitqueue_head(&head->wait);
	refcount_set(&head->ref, 1);
	head->owner = current;
	return head;
}

static void syslet_head_free_rcu(struct rcu_head *rcu)
{
	kfree(container_of(rcu, struct syslet_head, rcu));
}

/* The last reference is gone; lookups under RCU may still see @head. */
void syslet_head_free(struct syslet_head *head)
{
	syslet_head_release_overflow(head);
	dec_ucount(head->ucounts, UCOUNT_SYSLET_HEADS);
	call_rcu(&head->rcu, syslet_head_free_rcu);
}

/*
 * A chain names the ring: running in its caller's context (cached or
 * SYSLET_SYNC, before it ever blocked), queued or in a pool thread, or
 * handed off; or completions are held back for it.  sp->lock held.
 */
static bool syslet_head_busy(struct syslet_head *head)
{
	return atomic_read(&head->running) || atomic_read(&head->inflight) ||
	       READ_ONCE(head->overflowing);
}

/**
 * syslet_run_abandon - a task dies in the middle of a chain in its context
 * @run:	the chain's run (task_struct::syslet)
 *
 * For syslet_exit(): async_exec() will never end the chain, so its
 * count in the ring's running chains and its reference go here.
 */
void syslet_run_abandon(struct syslet_run *run)
{
	if (run->worker || !run->head)
		return;
	atomic_dec(&run->head->running);
	syslet_head_put(run->head);
}

static inline unsigned long syslet_head_key(struct async_head_user __user *uhead)
{
	return (unsigned long)uhead / sizeof(u64);
}

/*
 * Insert a new head; -EEXIST if another thread was quicker, -EAGAIN if
 * the head must be set up again from user memory (see below), -EINVAL
 * if the indices it was set up from are inconsistent, -EMFILE if the
 * process has SYSLET_MAX_HEADS already.
 */
static int syslet_head_insert(struct syslet_process *sp,
			      struct syslet_head *head,
			      const struct syslet_head_setup *setup)
{
	int err;

	mutex_lock(&sp->lock);
	/*
	 * Every refusal needs a lookup first (a quicker thread's head wins
	 * over them); the common case lets xa_insert() find it instead.
	 */
	if (unlikely(setup->unregistered != sp->unregistered ||
		     setup->bad_indices || sp->nr_heads >= SYSLET_MAX_HEADS)) {
		if (xa_load(&sp->heads, syslet_head_key(head->uhead))) {
			err = -EEXIST;
		} else if (setup->unregistered != sp->unregistered) {
			/*
			 * A head was removed since @head read
			 * kernel_ring_idx.  It may have been a head of this
			 * very ring, set up after our read, that posted
			 * completions and was unregistered: @head would
			 * start from an index user space has reaped past,
			 * write its completions into slots behind
			 * user_ring_idx, where nobody looks, and
			 * async_wait() would count them as reaped.  Read
			 * the indices again.  (Without a removal in
			 * between, no head of this ring can have posted
			 * since the read: it would still be in the table.)
			 */
			err = -EAGAIN;
		} else if (setup->bad_indices) {
			err = -EINVAL;
		} else {
			err = -EMFILE;
		}
	} else {
		err = xa_insert(&sp->heads, syslet_head_key(head->uhead), head,
				GFP_KERNEL_ACCOUNT);
		if (err == -EBUSY)
			err = -EEXIST;
	}
	if (!err) {
		refcount_inc(&head->ref);	/* the table's reference */
		sp->nr_heads++;
	}
	mutex_unlock(&sp->lock);
	return err;
}

/*
 * The syslet state of current's process for a call that names the ring
 * @uhead: ERR_PTR(-EINVAL, -E2BIG, -EFAULT) for a bad name, and if the
 * process has none yet, a new one (@create) or ERR_PTR(-ENOENT).
 */
static struct syslet_process *
syslet_uhead_process(struct async_head_user __user *uhead, size_t size,
		     bool create)
{
	struct syslet_process *sp;
	int err = syslet_check_uhead(uhead, size);

	if (unlikely(err))
		return ERR_PTR(err);
	if (create) {
		sp = syslet_process();
		return likely(sp) ? sp : ERR_PTR(-ENOMEM);
	}
	/* Pairs with syslet_process()'s cmpxchg_release(). */
	sp = smp_load_acquire(&current->signal->syslet);
	return sp ? sp : ERR_PTR(-ENOENT);
}

/**
 * syslet_head_lookup - syslet_head_get() past the last-used ring
 * @uhead:	user address of the struct async_head_user
 * @size:	its size as user space knows it
 * @create:	set it up if it is unknown
 *
 * Return: a referenced head, NULL if unknown and !@create, or ERR_PTR.
 */
struct syslet_head *syslet_head_lookup(struct async_head_user __user *uhead,
				       size_t size, bool create)
{
	struct syslet_process *sp = syslet_uhead_process(uhead, size, create);
	struct syslet_head *head;
	int err;

	/* A look for a ring of a process that has none sets nothing up. */
	if (sp == ERR_PTR(-ENOENT))
		return NULL;
	if (IS_ERR(sp))
		return ERR_CAST(sp);

	rcu_read_lock();
	head = xa_load(&sp->heads, syslet_head_key(uhead));
	if (head && !refcount_inc_not_zero(&head->ref))
		head = NULL;
	if (head) {
		rcu_assign_pointer(sp->hint, head);
		/*
		 * An async_unregister() that cleared the hint before we set
		 * it must not leave it pointing at a head it frees: it marks
		 * the head unlinked, then clears the hint; we publish, then
		 * look at the mark (both with full barriers in between), so
		 * one of us sees the other.  The head cannot go while we
		 * hold our reference.
		 */
		smp_mb();
		if (unlikely(READ_ONCE(head->unlinked)))
			cmpxchg((struct syslet_head __force **)&sp->hint, head,
				NULL);
	}
	rcu_read_unlock();
	if (likely(head) || !create)
		return head;

	for (;;) {
		struct syslet_head_setup setup;

		head = syslet_head_alloc(sp, uhead, size, &setup);
		if (IS_ERR(head))
			return head;
		err = syslet_head_insert(sp, head, &setup);
		if (!err)
			return head;
		syslet_head_put(head);
		/*
		 * Another thread unregistering rings may send us round
		 * again and again: stay killable.
		 */
		if (fatal_signal_pending(current))
			return ERR_PTR(-EINTR);
		cond_resched();
		if (err == -EAGAIN)
			continue;
		if (err != -EEXIST)
			return ERR_PTR(err);
		/* Lost a race with another thread: use its head. */
		head = syslet_head_lookup(uhead, size, false);
		if (head)
			return head;
	}
}

SYSCALL_DEFINE2(async_register, struct async_head_user __user *, uhead,
		size_t, size)
{
	struct syslet_process *sp;
	struct syslet_head *head;
	int err;

	if (in_compat_syscall())
		return syslet_ni_syscall();
	sp = syslet_uhead_process(uhead, size, true);
	if (IS_ERR(sp))
		return PTR_ERR(sp);
	do {
		struct syslet_head_setup setup;

		head = syslet_head_alloc(sp, uhead, size, &setup);
		if (IS_ERR(head))
			return PTR_ERR(head);
		err = syslet_head_insert(sp, head, &setup);
		/* The first cachemiss should not wait for a thread to be made. */
		if (!err && head->ring)
			syslet_keep_spare(sp, head);
		syslet_head_put(head);
		if (err == -EAGAIN && fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	} while (err == -EAGAIN);
	return err == -EEXIST ? -EBUSY : err;
}

SYSCALL_DEFINE2(async_unregister, struct async_head_user __user *, uhead,
		size_t, size)
{
	/* Only a look: nothing is set up for a call that fails. */
	struct syslet_process *sp = syslet_uhead_process(uhead, size, false);
	struct syslet_head *head;
	int err;

	if (in_compat_syscall())
		return syslet_ni_syscall();
	if (IS_ERR(sp))
		return PTR_ERR(sp);

	mutex_lock(&sp->lock);
	head = xa_load(&sp->heads, syslet_head_key(uhead));
	if (!head) {
		err = -ENOENT;
	} else if (syslet_head_busy(head)) {
		err = -EBUSY;
	} else {
		/*
		 * Mark it first, then look again: a chain that starts going
		 * asynchronous now either is seen here or sees the mark
		 * (syslet_head_start_async()) and completes in its caller.
		 * Pairs with the full barrier of its inflight increment.
		 */
		WRITE_ONCE(head->unlinked, true);
		smp_mb();	/* mark, then look: see above */
		if (syslet_head_busy(head)) {
			WRITE_ONCE(head->unlinked, false);
			err = -EBUSY;
		} else {
			xa_erase(&sp->heads, syslet_head_key(uhead));
			sp->nr_heads--;
			/*
			 * A head set up from user memory read before now
			 * must read it again (syslet_head_insert()).  The
			 * release pairs with syslet_head_alloc(): the last
			 * kernel_ring_idx this head published, before its
			 * last chain left inflight, is seen there.
			 */
			smp_store_release(&sp->unregistered,
					  sp->unregistered + 1);
			RCU_INIT_POINTER(sp->hint, NULL);
		}
	}
	mutex_unlock(&sp->lock);
	if (!err)
		syslet_head_put(head);	/* the table's reference */
	return err;
}

/*
 * Free every head of a process that is gone (exit) or forgets its rings
 * (exec).  Up to SYSLET_MAX_HEADS of them: let others run meanwhile.
 */
static void syslet_free_state(struct syslet_process *sp)
{
	struct syslet_head *head;
	unsigned long key;

	xa_for_each(&sp->heads, key, head) {
		xa_erase(&sp->heads, key);
		syslet_head_put(head);
		cond_resched();
	}
	xa_destroy(&sp->heads);
	/* A thread past its ->live decrement may still look: see syslet_thread_gone(). */
	kfree_rcu(sp, rcu);
}

/**
 * syslet_free_process - free a thread group's syslet state
 * @sig: the thread group's signal_struct
 *
 * Called by the last thread of the group to exit (group_dead in
 * do_exit()): every other thread, pool threads included, is past the
 * point where it could use the state.  Process context, unlike the
 * final put of the signal_struct.
 */
void syslet_free_process(struct signal_struct *sig)
{
	struct syslet_process *sp = sig->syslet;

	if (sp) {
		WRITE_ONCE(sig->syslet, NULL);
		syslet_free_state(sp);
	}
}

/**
 * syslet_exec - forget the old program's rings at exec
 * @tsk: the task that execs, now the only thread of its group
 *
 * de_thread() has killed and waited for every other thread, pool threads
 * included; the rings named user addresses of the old mm.
 */
void syslet_exec(struct task_struct *tsk)
{
	struct syslet_process *sp = tsk->signal->syslet;

	if (!sp)
		return;
	syslet_forget_user_worker(sp, tsk);
	WRITE_ONCE(tsk->signal->syslet, NULL);
	syslet_free_state(sp);
}

/**
 * syslet_exit - a thread exits
 * @tsk: current
 * @code: its exit code
 *
 * Drops what the thread holds: the ring of a chain it was killed in, or
 * its pool record if it ran a user-space cachemiss context.  The exit
 * code of a thread that is not a pool thread is kept for the pool
 * threads: when the last thread that is not a pool thread has gone, they
 * exit too (syslet_thread_gone()), with this code, which is what the
 * parent must see (the last thread to exit sets it).
 */
void syslet_exit(struct task_struct *tsk, long code)
{
	/* Pairs with syslet_process()'s cmpxchg_release(). */
	struct syslet_process *sp = smp_load_acquire(&tsk->signal->syslet);
	struct syslet_run *run = tsk->syslet;

	/*
	 * Killed in the middle of a chain in its own context (seccomp's
	 * RET_KILL_THREAD exits right there): async_exec() will never drop
	 * its reference to the ring.  A cachemiss worker never gets here
	 * with a run (seccomp ends its process instead).
	 */
	if (unlikely(run)) {
		tsk->syslet = NULL;
		syslet_run_abandon(run);
	}
	if (!sp || (tsk->flags & PF_USER_WORKER))
		return;
	/* Leaves nr_workers before ->live, as syslet_worker_exit() does. */
	syslet_forget_user_worker(sp, tsk);
	WRITE_ONCE(sp->exit_code, code);
}

/**
 * syslet_thread_gone - a thread has left the group's ->live count
 * @tsk:	current, exiting
 * @group_dead:	it was the last thread
 *
 * Pool threads keep the thread group alive like any thread.  When the
 * last thread that is not a pool thread exits, nobody can reap their
 * completions any more: make them exit too.
 *
 * Threads that run user code are ->live minus the pool threads that do
 * not (nr_workers - nr_in_user: a user-space cachemiss context can still
 * reap).  Every thread asks after its own ->live decrement, pool threads
 * too, and a pool thread leaves nr_workers before it leaves ->live (so
 * does a user-space cachemiss context, in syslet_exit()); the count is
 * read under pool_lock, which a context going back into the pool
 * (async_thread(), which asks too) holds while it changes nr_in_user.
 * Hence the count never undercounts the threads that run user code, and
 * the last of the exiting threads to leave ->live sees 0: two threads
 * that exit at once, or a thread exiting while a pool thread does,
 * cannot both miss it.  (A hand-off changes no count: the spare's pool
 * record passes to the blocked task.)
 */
void syslet_thread_gone(struct task_struct *tsk, bool group_dead)
{
	struct syslet_process *sp;
	bool last;

	if (group_dead)
		return;
	/* syslet_free_process() frees the state after a grace period. */
	rcu_read_lock();
	/* Pairs with syslet_process()'s cmpxchg_release(). */
	sp = smp_load_acquire(&tsk->signal->syslet);
	if (sp) {
		spin_lock(&sp->pool_lock);
		last = !sp->dying && syslet_no_user_threads(sp);
		spin_unlock(&sp->pool_lock);
		if (last)
			syslet_pool_kill(sp);
	}
	rcu_read_unlock();
}
