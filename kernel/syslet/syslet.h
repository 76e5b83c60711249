/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Syslets: definitions shared by the files of kernel/syslet/.
 *
 * exec.c	fetching and running atoms, the chain loop, async_exec()
 * head.c	per-process state and completion ring heads, (un)register
 * ring.c	posting completions to a ring, async_wait()
 * pool.c	the pool threads that run SYSLET_ASYNC chains
 * allow.c	which system calls an atom may run
 * umem.c	umem_add()
 */
#ifndef _KERNEL_SYSLET_SYSLET_H
#define _KERNEL_SYSLET_SYSLET_H

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/xarray.h>
#include <uapi/linux/syslet.h>

struct cred;
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
 * @wait:	async_wait() sleeps here
 * @ref:	one for the process' table, one per chain in flight
 */
struct syslet_head {
	unsigned long			uaddr;
	struct async_head_user __user	*uhead;
	u64 __user			*ring;
	u64				nr_slots;
	unsigned int			max_threads;
	atomic_t			inflight;
	struct mutex			lock;
	u64				posted;
	struct list_head		overflow;
	bool				overflowing;
	wait_queue_head_t		wait;
	refcount_t			ref;
	struct rcu_head			rcu;
};

/**
 * struct syslet_process - per-process (thread group) syslet state
 * @heads:	completion ring heads, indexed by user address / 8
 * @lock:	serialises creation and removal of heads
 * @pool_lock:	protects @idle and the counters below
 * @idle:	parked pool threads (struct syslet_worker)
 * @workers:	all pool threads
 * @nr_workers:	pool threads alive
 * @nr_idle:	pool threads parked
 * @dying:	the process is exiting: no new pool threads
 * @exit_code:	exit code of the last thread that is not a pool thread
 */
struct syslet_process {
	struct xarray		heads;
	struct mutex		lock;
	spinlock_t		pool_lock;
	struct list_head	idle;
	struct list_head	workers;
	unsigned int		nr_workers;
	unsigned int		nr_idle;
	bool			dying;
	long			exit_code;
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

struct syslet_process *syslet_process(void);

/* exec.c */
int syslet_fetch_atom(struct syslet_uatom __user *uatom,
		      struct syslet_katom *ka);
void syslet_run_chain(struct syslet_uatom __user *uatom,
		      struct syslet_katom *ka, bool in_worker,
		      struct syslet_chain_result *res);

/* head.c */
struct syslet_head *syslet_head_get(struct async_head_user __user *uhead,
				    size_t size, bool create);
void syslet_head_put(struct syslet_head *head);

/* ring.c */
void syslet_post_completion(struct syslet_head *head,
			    struct syslet_uatom __user *atom);
void syslet_head_release_overflow(struct syslet_head *head);

/* pool.c */
int syslet_queue_async(struct syslet_head *head,
		       struct syslet_uatom __user *atom,
		       const struct syslet_katom *ka);
void syslet_pool_kill(struct syslet_process *sp);

#endif /* _KERNEL_SYSLET_SYSLET_H */
