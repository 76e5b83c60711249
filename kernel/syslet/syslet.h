/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Syslets: definitions shared by the files of kernel/syslet/.
 *
 * exec.c	fetching and running atoms, the chain loop, async_exec()
 * head.c	per-process state and completion ring heads, (un)register
 * ring.c	posting completions to a ring, async_wait()
 * pool.c	the pool threads: spares, cachemiss workers, SYSLET_ASYNC chains
 * cachemiss.c	handing a blocked atom's user context to a spare
 * allow.c	which system calls an atom may run
 * fit.c	the one fit check: may a pool thread act for a task?
 * signal.c	interrupted calls and restarts, signals of pool threads
 * cancel.c	async_cancel()
 * umem.c	umem_add()
 *
 * Locking
 *
 * syslet_process::lock (mutex)
 *	Creation and removal of heads: syslet_process::heads (writes),
 *	::nr_heads, ::unregistered.  A leaf: nothing else of ours is taken
 *	under it.  Lookups read ::heads under RCU (the xarray's own).
 *
 * syslet_head::lock (mutex)
 *	Posting to one ring: its slots, ::posted, ::overflow,
 *	::overflowing, ::uhead_stale, and the writes of kernel_ring_idx and
 *	status in user memory (ring.c).  A leaf; taken in pool threads and
 *	cachemiss workers, and by async_wait(), never in the caller's
 *	cached path.  It is a mutex because posting writes user memory,
 *	which may fault and sleep.
 *
 * syslet_process::pool_lock (spinlock)
 *	The pool: ::idle, ::workers, ::nr_workers, ::nr_idle,
 *	::nr_in_user, ::want_spare, ::dying, each worker's ::job and
 *	::idle_node, and every head's ::chains with the syslet_inflight
 *	entries on them.  A leaf: under it only list operations, counters,
 *	get_pid() and wake-ups (wake_up_process(), set_notify_signal()).
 *	It is taken from the scheduler hook (syslet_sched_block(), called
 *	from sched_submit_work() before the task sleeps), where a
 *	spinlock_t is allowed: sched_submit_work() declares an
 *	LD_WAIT_CONFIG context.  It stays a spinlock_t rather than a
 *	raw_spinlock_t because nothing under it needs one and SYSLET
 *	depends on !PREEMPT_RT, where the hook would have to be written
 *	differently anyway (the hand-off takes siglock and tasklist_lock).
 *
 * The hand-off (cachemiss.c): cgroup_threadgroup_rwsem (the leader's
 *	hand-off only), then tasklist_lock for writing, then the process'
 *	siglock; pool_lock is never held with them.
 *
 * Read without a lock, each with READ_ONCE() against WRITE_ONCE() under
 * its lock, and safe because a stale value only costs a slower path:
 * ::nr_workers, ::nr_idle, ::nr_in_user (a chain sent to the pool or
 * run in the caller is right either way), ::dying, ::keep_spare,
 * ::want_spare, syslet_head::overflowing and ::unlinked (the full
 * barriers of syslet_head_start_async() and async_unregister() pair
 * where it matters), ::posted (async_wait() re-reads it under the wait
 * queue's ordering), and syslet_inflight::cancelled (seen late, it
 * only lets one more atom run).  syslet_head::inflight and ::running
 * are atomics; ::ref a refcount; syslet_process::hint RCU.
 */
#ifndef _KERNEL_SYSLET_SYSLET_H
#define _KERNEL_SYSLET_SYSLET_H

#include <linux/list.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/mutex.h>
#include <linux/nospec.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/xarray.h>
#include <uapi/linux/syslet.h>
#include <asm/syslet.h>
#include <asm/unistd.h>

struct cred;
struct pid;
struct seccomp_filter;

/**
 * struct syslet_head - kernel side of one completion ring
 * @uaddr:	user address of the struct async_head_user; the ring's name
 * @uhead:	the same, as a user pointer
 * @ring:	user address of the completion ring (NULL: no ring)
 * @nr_slots:	ring size in slots (8 bytes each)
 * @max_threads: bound on chains running asynchronously for this ring
 * @inflight:	chains running asynchronously for this ring
 * @lock:	serialises posting: ring slots, @posted, @overflow
 * @posted:	completions posted so far (mirrors user kernel_ring_idx)
 * @overflow:	completions that found their slot still in use
 * @overflowing: @overflow is not empty (read without @lock)
 * @uhead_stale: kernel_ring_idx or status in user memory lag @posted or
 *		@overflowing: writing them faulted (@lock)
 * @wait:	async_wait() sleeps here
 * @ref:	one for the process' table, one per chain in flight
 * @running:	chains running in their caller's context (async_exec())
 * @owner:	the thread that set the ring up (compared, never followed):
 *		as a cachemiss worker it uses head_ip/head_stack
 * @unlinked:	removed from the process' table (unregistered)
 * @ucounts:	the user the head is charged to (max_syslet_heads)
 * @chains:	the chains in flight that async_cancel() can find
 *		(struct syslet_inflight), under the process' pool_lock
 */
struct syslet_head {
	unsigned long			uaddr;
	struct async_head_user __user	*uhead;
	u64 __user			*ring;
	u64				nr_slots;
	unsigned int			max_threads;
	atomic_t			inflight;
	atomic_t			running;
	struct mutex			lock;		/* posting; see Locking */
	u64				posted;
	struct list_head		overflow;
	bool				overflowing;
	bool				uhead_stale;
	wait_queue_head_t		wait;
	refcount_t			ref;
	struct rcu_head			rcu;
	const struct task_struct	*owner;
	bool				unlinked;
	struct ucounts			*ucounts;
	struct list_head		chains;
};

/**
 * struct syslet_inflight - an asynchronous chain, for async_cancel()
 * @node:	in syslet_head::chains from the moment the chain went
 *		asynchronous until just before it completes
 * @atom:	its first atom, the one async_exec() was given: its name
 * @task:	the thread that runs it (or is woken to run it)
 * @cancelled:	async_cancel() asked it to stop
 *
 * All fields under the process' pool_lock; @cancelled is read without
 * it between atoms (a cancellation seen late only runs an atom more).
 */
struct syslet_inflight {
	struct list_head		node;
	struct syslet_uatom __user	*atom;
	struct task_struct		*task;
	bool				cancelled;
};

/**
 * struct syslet_process - per-process (thread group) syslet state
 * @heads:	completion ring heads, indexed by user address / 8
 * @hint:	the head looked up last (RCU): most processes use one ring,
 *		and a lookup in @heads walks a deep tree for a user address
 * @lock:	serialises creation and removal of heads
 * @nr_heads:	heads in @heads (at most SYSLET_MAX_HEADS)
 * @unregistered: heads removed from @heads so far (@lock): a head set up
 *		from user memory read before a removal may start from a
 *		stale kernel_ring_idx (see syslet_head_insert())
 * @pool_lock:	protects @idle and the counters below
 * @idle:	parked pool threads (struct syslet_worker)
 * @workers:	all pool threads
 * @nr_workers:	pool threads alive
 * @nr_idle:	pool threads parked
 * @nr_in_user: pool threads running a user-space cachemiss context
 * @want_spare: a blocked atom found only parked spares that do not fit
 *		its task (other credentials, filter, ...): make a fitting
 *		one at the next chance, though others are parked
 * @dying:	the process is exiting: no new pool threads
 * @keep_spare:	keep a spare parked for cachemisses: a ring was
 *		registered, or a chain blocked when there was none
 * @exit_code:	exit code of the last thread that is not a pool thread
 * @comm:	the name of its pool threads, "syslet-<tgid>", made once
 * @rcu:	freed after a grace period: a thread that left the group
 *		may still look at the pool (syslet_thread_gone())
 */
struct syslet_process {
	struct xarray		heads;
	struct syslet_head __rcu *hint;
	struct mutex		lock;		/* heads; see Locking */
	unsigned int		nr_heads;
	unsigned long		unregistered;
	spinlock_t		pool_lock;	/* the pool; see Locking */
	struct list_head	idle;
	struct list_head	workers;
	unsigned int		nr_workers;
	unsigned int		nr_idle;
	unsigned int		nr_in_user;
	bool			want_spare;
	bool			dying;
	bool			keep_spare;
	long			exit_code;
	char			comm[TASK_COMM_LEN];
	struct rcu_head		rcu;
};

/* An atom as read from user memory, once (see syslet_fetch_atom()). */
struct syslet_katom {
	u64				flags;
	unsigned long			nr;
	s64 __user			*ret_ptr;
	struct syslet_uatom __user	*next;
	u64				args[SYSLET_NR_ARGS];
};

/* Outcome of running a chain. */
struct syslet_chain_result {
	struct syslet_uatom __user	*last;	/* atom the chain ended on */
	long				err;	/* 0, or -errno: chain aborted */
};

/**
 * struct syslet_handoff - a blocked task's user context, for a spare
 * @from:	the blocked task (referenced); a cachemiss worker from now on
 * @arch:	user CPU state
 * @blocked:	its signal mask (it now blocks all but SIGKILL and SIGSTOP)
 * @sas_ss_sp:	its sigaltstack ...
 * @sas_ss_size: ...
 * @sas_ss_flags: ... (reset on @from)
 * @clear_child_tid: CLONE_CHILD_CLEARTID address (NULLed on @from)
 * @robust_list: robust futex list head (NULLed on @from)
 * @rseq:	rseq registration (cleared on @from) ...
 * @rseq_len:	...
 * @rseq_sig:	...
 * @nr:		the system call that blocked, for the tracepoint
 * @to:		the spare that took over (referenced until @rcu ran)
 * @refused:	why the spare gave the context back (see
 *		syslet_identity_unmovable()), or NULL
 * @rcu:	forwards signals that raced with the thread ID's move, one
 *		grace period after it (see syslet_forward_stragglers())
 * @busy:	the spare is still moving state off @from
 * @forwarding:	@rcu is queued
 *
 * Lives in the blocked task's async_exec() frame, which outlives both
 * @busy and @forwarding: the task waits for them to clear before it
 * leaves syslet_handoff_finish().
 */
struct syslet_handoff {
	struct task_struct		*from;
	struct arch_syslet_user_state	arch;
	sigset_t			blocked;
	unsigned long			sas_ss_sp;
	size_t				sas_ss_size;
	unsigned int			sas_ss_flags;
	int __user			*clear_child_tid;
#ifdef CONFIG_FUTEX
	struct robust_list_head __user	*robust_list;
#endif
#ifdef CONFIG_RSEQ
	struct rseq __user		*rseq;
	u32				rseq_len;
	u32				rseq_sig;
#endif
	unsigned long			nr;
	struct task_struct		*to;
	const char			*refused;
	struct rcu_head			rcu;
	bool				busy;
	bool				forwarding;
};

enum syslet_job {
	SYSLET_JOB_NONE,	/* parked */
	SYSLET_JOB_CHAIN,	/* run a SYSLET_ASYNC chain */
	SYSLET_JOB_RESERVED,	/* picked by the hook, hand-off not ready */
	SYSLET_JOB_HANDOFF,	/* take over a blocked task's user context */
};

/**
 * struct syslet_worker - a pool thread
 * @idle_node:	in syslet_process::idle while parked
 * @node:	in syslet_process::workers
 * @task:	the thread; changes hands at a cachemiss (the spare leaves
 *		the pool, the blocked task joins it with this structure)
 * @sp:		the process' syslet state
 * @job:	what it was woken for; set under pool_lock
 * @head:	SYSLET_JOB_CHAIN: ring to complete to (referenced)
 * @atom:	SYSLET_JOB_CHAIN: first atom
 * @ka:		SYSLET_JOB_CHAIN: first atom, fetched
 * @pkru:	SYSLET_JOB_CHAIN: the submitter's protection key rights
 * @submitter:	SYSLET_JOB_CHAIN: the submitting thread's ID (referenced)
 * @ho:		SYSLET_JOB_HANDOFF: the user context to take over, in
 *		the blocked task's syslet_run
 * @in_user:	running a user-space cachemiss context (see async_thread())
 * @chain:	SYSLET_JOB_CHAIN: the chain, for async_cancel()
 */
struct syslet_worker {
	struct list_head		idle_node;
	struct list_head		node;
	struct task_struct		*task;
	struct syslet_process		*sp;
	enum syslet_job			job;
	struct syslet_head		*head;
	struct syslet_uatom __user	*atom;
	struct syslet_katom		ka;
	u32				pkru;
	struct pid			*submitter;
	struct syslet_handoff		*ho;
	bool				in_user;
	struct syslet_inflight		chain;
};

/**
 * struct syslet_run - a chain running in the caller's context
 * @frame:	async_exec() registers while an atom's call is in pt_regs
 * @head:	the ring named by async_exec(), or NULL: a cachemiss completes
 *		to it; async_exec()'s reference (syslet_exit() drops it if
 *		an atom's call kills the task)
 * @may_hand_off: a block in an atom's call may hand off
 * @submitter:	NULL in the caller's own context; in a pool thread or
 *		cachemiss worker the submitting thread's ID (referenced),
 *		whose current credentials every atom is checked against
 * @missed_spare: a block found no spare to hand off to
 * @worker:	set by the scheduler hook when the caller's user context
 *		went to a spare: this task is a cachemiss worker now
 * @ho:		the user context handed to @worker's thread
 * @inflight:	NULL in the caller's own context; the chain as
 *		async_cancel() finds it once it went asynchronous
 * @own:	a cachemiss's @inflight (a pool thread's is in its worker)
 *
 * Lives on async_exec()'s stack; task_struct::syslet points to it while
 * a chain that names a ring runs.
 */
struct syslet_run {
	struct arch_syslet_frame	frame;
	struct syslet_head		*head;
	struct pid			*submitter;
	bool				may_hand_off;
	bool				missed_spare;
	struct syslet_worker		*worker;
	struct syslet_handoff		ho;
	struct syslet_inflight		*inflight;
	struct syslet_inflight		own;
};

/**
 * syslet_head_start_async - count one more chain in flight for @head
 * @head:	the ring the chain will complete to
 *
 * A ring whose completions are already held back in the kernel (user
 * space is not reaping) takes no new asynchronous chain: it runs in the
 * caller instead and completes through the return value.  That bounds
 * the held-back completions, each a kernel allocation, by max_nr_threads.
 * Nor does a ring being unregistered: nothing is posted to a ring after
 * async_unregister() returned 0 (the increment is a full barrier, and
 * pairs with the one there).
 *
 * Return: NULL if the chain may go asynchronous, else why not.
 */
static inline void syslet_head_end_async(struct syslet_head *head);

static inline const char *syslet_head_start_async(struct syslet_head *head)
{
	if (READ_ONCE(head->overflowing))
		return "ring overflowing";
	if (atomic_inc_return(&head->inflight) > head->max_threads) {
		syslet_head_end_async(head);
		return "max_nr_threads";
	}
	if (unlikely(READ_ONCE(head->unlinked))) {
		syslet_head_end_async(head);
		return "ring unregistered";
	}
	return NULL;
}

/**
 * syslet_head_end_async - count one chain in flight less for @head
 * @head:	the ring
 *
 * After its completion was posted, if it has one: async_wait() counts
 * the posted ones before it looks at @head->inflight (syslet_wait_done()).
 * Also for a count taken and given back at once: a waiter that saw it
 * may have gone to sleep on it, and must see it gone.  The barrier of
 * wq_has_sleeper() orders the decrement before the look at the queue,
 * as prepare_to_wait() orders the waiter's queueing before its look at
 * the count.
 */
static inline void syslet_head_end_async(struct syslet_head *head)
{
	atomic_dec(&head->inflight);
	if (wq_has_sleeper(&head->wait))
		wake_up_all(&head->wait);
}

/*
 * Has every thread that runs user code left?  Pool threads that do not
 * (parked, running chains, cachemiss workers) cannot reap completions.
 * pool_lock held; see syslet_thread_gone().
 */
static inline bool syslet_no_user_threads(struct syslet_process *sp)
{
	lockdep_assert_held(&sp->pool_lock);
	return atomic_read(&current->signal->live) <=
	       (int)(sp->nr_workers - sp->nr_in_user);
}

/*
 * Is @tsk the leader of a thread group in which another thread runs user
 * code?  Its hand-off would be refused (the leadership moves only while
 * no other thread runs user code), so async_exec() sends its chains to a
 * pool thread at once, as SYSLET_ASYNC ones, rather than let a call that
 * blocks block it.  The counts may be stale; a chain sent to the pool or
 * run in the caller is right either way.
 */
static inline bool syslet_leader_among_threads(struct task_struct *tsk)
{
	struct syslet_process *sp;
	int nr;

	if (!thread_group_leader(tsk))
		return false;
	/* Alone (no spare made yet): the common case, and the cheap one. */
	nr = READ_ONCE(tsk->signal->nr_threads);
	/* A traced caller never hands off: its tracer sees its atoms. */
	if (nr == 1 || tsk->ptrace)
		return false;
	sp = READ_ONCE(tsk->signal->syslet);
	return nr > 1 + (int)(READ_ONCE(sp->nr_workers) -
			      READ_ONCE(sp->nr_in_user));
}

/*
 * current's own signal handlers: only exec's de_thread() replaces them,
 * and current itself runs it, so they cannot change under current.
 */
static inline struct sighand_struct *syslet_current_sighand(void)
{
	return rcu_dereference_protected(current->sighand, true);
}

/*
 * What a system call that does not exist returns (-ENOSYS), as the entry
 * code makes it.  The documented result of an atom whose call is outside
 * the allowlist.  And of the syslet calls for an ia32 or x32 caller:
 * the syscall table wires them for 64-bit callers only (ABI "64"), so
 * those never get here; should one, it finds no such call all the same.
 */
static inline long syslet_ni_syscall(void)
{
	return arch_syslet_ni_syscall(current_pt_regs());
}

static inline bool syslet_in_worker(void)
{
	return current->flags & PF_USER_WORKER;
}

struct syslet_process *syslet_process(void);

/* exec.c */
int syslet_fetch_atom(struct syslet_uatom __user *uatom,
		      struct syslet_katom *ka);
void syslet_run_chain(struct syslet_uatom __user *uatom,
		      struct syslet_katom *ka, struct syslet_run *run,
		      struct syslet_chain_result *res);

/* allow.c */
#define SYSLET_NR_REFUSED	0	/* not in the allowlist */
#define SYSLET_NR_ALLOWED	1	/* allowed, whatever its arguments */
#define SYSLET_NR_CHECK_ARGS	2	/* syslet_atom_args_check() decides */
extern u8 syslet_nr_classes[NR_syscalls];

static __always_inline unsigned int syslet_nr_class(unsigned long nr)
{
	/* As the entry code: the class byte decides which path runs. */
	if (likely(nr < NR_syscalls))
		return syslet_nr_classes[array_index_nospec(nr, NR_syscalls)];
	return SYSLET_NR_REFUSED;
}

/* signal.c */
bool syslet_interrupted(unsigned long nr, long code, long end_ret);

/* head.c */
struct syslet_head *syslet_head_lookup(struct async_head_user __user *uhead,
				       size_t size, bool create);
void syslet_head_free(struct syslet_head *head);
void syslet_run_abandon(struct syslet_run *run);

/* A ring's name: aligned, of a known size, and a user address. */
static inline int syslet_check_uhead(struct async_head_user __user *uhead,
				     size_t size)
{
	if (!IS_ALIGNED((unsigned long)uhead, sizeof(u64)))
		return -EINVAL;
	if (size < SYSLET_HEAD_SIZE_VER0)
		return -EINVAL;
	if (size > PAGE_SIZE)
		return -E2BIG;
	/*
	 * A ring is named by a user address; a kernel address never names
	 * one, not even for async_wait() or async_unregister(), which only
	 * look the name up.
	 */
	if (!access_ok(uhead, size))
		return -EFAULT;
	return 0;
}

static inline void syslet_head_put(struct syslet_head *head)
{
	if (refcount_dec_and_test(&head->ref))
		syslet_head_free(head);
}

/**
 * syslet_head_get - find (or set up) the ring named by @uhead
 * @uhead:	user address of the struct async_head_user
 * @size:	its size as user space knows it
 * @create:	set it up if it is unknown
 *
 * The ring the process used last (syslet_process::hint) is found inline:
 * it is the ring of nearly every async_exec().  Anything else, and every
 * error, is syslet_head_lookup()'s.
 *
 * Return: a referenced head, NULL if unknown and !@create, or ERR_PTR.
 */
static __always_inline struct syslet_head *
syslet_head_get(struct async_head_user __user *uhead, size_t size, bool create)
{
	/* Pairs with syslet_process()'s cmpxchg_release(). */
	struct syslet_process *sp = smp_load_acquire(&current->signal->syslet);
	struct syslet_head *head;

	if (unlikely(!sp || syslet_check_uhead(uhead, size)))
		return syslet_head_lookup(uhead, size, create);
	rcu_read_lock();
	head = rcu_dereference(sp->hint);
	if (head && (head->uhead != uhead || !refcount_inc_not_zero(&head->ref)))
		head = NULL;
	rcu_read_unlock();
	if (likely(head)) {
		/* Still in the table?  (A stale hint is merely useless.) */
		if (likely(!READ_ONCE(head->unlinked)))
			return head;
		syslet_head_put(head);
	}
	return syslet_head_lookup(uhead, size, create);
}

/* ring.c */
void syslet_post_completion(struct syslet_head *head,
			    struct syslet_uatom __user *atom);
void syslet_chain_complete(struct syslet_head *head,
			   const struct syslet_chain_result *res, u64 flags);
void syslet_head_release_overflow(struct syslet_head *head);

/* pool.c */
int syslet_queue_async(struct syslet_head *head,
		       struct syslet_uatom __user *atom,
		       const struct syslet_katom *ka);
void syslet_pool_kill(struct syslet_process *sp);
void syslet_pool_add_spare(struct syslet_process *sp, struct syslet_head *head);
void syslet_keep_spare(struct syslet_process *sp, struct syslet_head *head);
bool syslet_same_identity(struct task_struct *w, struct task_struct *tsk);
bool syslet_worker_signalled(struct syslet_process *sp);
void syslet_worker_pass_signals(void);
void syslet_worker_finish_chain(struct syslet_worker *w);
bool syslet_pool_loop(struct syslet_worker *w);
void __noreturn syslet_worker_exit(struct syslet_worker *w);

/* fit.c */
#define SYSLET_FIT_CALLS	0	/* what an atom's system call sees */
#define SYSLET_FIT_PLACE	1	/* + thread flags, mempolicy, cgroup */
#define SYSLET_FIT_USER		2	/* + the user context moves to it */
#define SYSLET_FIT_POOL		SYSLET_FIT_PLACE
#define SYSLET_FIT_HANDOFF	(SYSLET_FIT_PLACE | SYSLET_FIT_USER)
const char *syslet_unfit(struct task_struct *w, struct task_struct *tsk,
			 unsigned int what);
const char *syslet_submitter_unfit(struct pid *submitter);

/* cancel.c */
void syslet_chain_track(struct syslet_process *sp, struct syslet_head *head,
			struct syslet_inflight *chain,
			struct syslet_uatom __user *atom,
			struct task_struct *task);
void syslet_chain_untrack(struct syslet_process *sp,
			  struct syslet_inflight *chain);

/* A pool thread or worker whose process is exiting: nobody to post to. */
static inline bool syslet_worker_dying(void)
{
	return fatal_signal_pending(current) ||
	       READ_ONCE(current->signal->syslet->dying);
}

/* Has async_cancel() asked @run's chain to stop?  Lockless. */
static inline bool syslet_cancelled(const struct syslet_run *run)
{
	return unlikely(run->inflight) && READ_ONCE(run->inflight->cancelled);
}

/* cachemiss.c */
struct syslet_worker *syslet_pick_spare(struct syslet_process *sp,
					struct task_struct *tsk,
					const char **why);
bool syslet_take_over(struct syslet_worker *w);
void syslet_forget_user_worker(struct syslet_process *sp,
			       struct task_struct *tsk);
bool syslet_handoff_finish(struct syslet_run *run);
long syslet_cachemiss_done(struct syslet_run *run,
			   const struct syslet_chain_result *res, u64 flags);

#endif /* _KERNEL_SYSLET_SYSLET_H */
