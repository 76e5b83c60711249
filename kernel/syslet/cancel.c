// SPDX-License-Identifier: GPL-2.0
/*
 * Syslets: cancelling a chain in flight.
 *
 * A chain that went asynchronous (SYSLET_ASYNC, or a cachemiss) is named
 * by its ring and its first atom, the address async_exec() was given.
 * From the moment it goes asynchronous until just before its completion
 * is posted it is on its ring's list of chains, where async_cancel()
 * finds it.  Cancelling marks it, then interrupts the thread that runs
 * it the way io-wq interrupts a worker: TIF_NOTIFY_SIGNAL and a wake-up
 * of an interruptible sleep.
 *
 *  - A chain that has not started never starts: its first atom gets
 *    -ECANCELED.
 *  - An atom whose call is interrupted gets -ECANCELED instead of being
 *    made again, and the chain ends there.
 *  - An atom whose call cannot be interrupted (an uninterruptible sleep)
 *    keeps its own result; the chain ends after it.
 *
 * Either way the chain completes exactly once, to its ring, as it would
 * have: cancelling never posts anything itself.  A chain that is done,
 * or about to be posted, is no longer on the list: -ENOENT.
 *
 * Locks: the lists are under the process' pool_lock, which the
 * scheduler hook already holds when it picks a spare; notifying the
 * thread under it (as syslet_pool_kill() does) means a chain that took
 * itself off the list is never interrupted for it afterwards.
 */
#include <linux/sched/signal.h>
#include <linux/syscalls.h>
#include <linux/syslet.h>
#include "syslet.h"
#include <trace/events/syslet.h>

/**
 * syslet_chain_track - a chain goes asynchronous: make it cancellable
 * @sp:		the process' syslet state
 * @head:	its ring
 * @chain:	where it is tracked (in the pool thread's worker, or the
 *		cachemiss's syslet_run)
 * @atom:	its first atom
 * @task:	the thread that runs it
 *
 * Caller holds pool_lock.
 */
void syslet_chain_track(struct syslet_process *sp, struct syslet_head *head,
			struct syslet_inflight *chain,
			struct syslet_uatom __user *atom,
			struct task_struct *task)
{
	lockdep_assert_held(&sp->pool_lock);
	chain->atom = atom;
	chain->task = task;
	WRITE_ONCE(chain->cancelled, false);
	list_add_tail(&chain->node, &head->chains);
}

/**
 * syslet_chain_untrack - a chain is done, about to complete (or not)
 * @sp:		the process' syslet state
 * @chain:	as tracked
 *
 * Called by the thread that ran it, before its completion is posted.  A
 * cancellation that came too late to stop anything leaves
 * TIF_NOTIFY_SIGNAL set: take it off here, or it would interrupt the
 * next chain this thread runs.  (A notification of the process dying
 * that is lost with it does no harm: a pool thread looks at ->dying
 * under pool_lock before it parks or runs anything.)
 */
void syslet_chain_untrack(struct syslet_process *sp,
			  struct syslet_inflight *chain)
{
	spin_lock(&sp->pool_lock);
	list_del_init(&chain->node);
	if (chain->cancelled)
		clear_notify_signal();
	spin_unlock(&sp->pool_lock);
}

/**
 * sys_async_cancel - cancel an asynchronous chain
 * @atom:	the chain's first atom, as given to async_exec()
 * @uhead:	the ring it completes to
 * @flags:	must be 0
 *
 * Return: 0 if the chain was found and asked to stop (it completes to
 * the ring, with -ECANCELED in the ret_ptr of the atom it was stopped
 * at, or with its own result if it could not be stopped in time);
 * -EALREADY if it was asked already; -ENOENT if no chain of the ring
 * that went asynchronous starts at @atom (it completed, is completing,
 * or never went asynchronous); -EINVAL for bad arguments.
 */
SYSCALL_DEFINE3(async_cancel, struct syslet_uatom __user *, atom,
		struct async_head_user __user *, uhead, unsigned int, flags)
{
	struct syslet_inflight *chain;
	struct syslet_process *sp;
	struct syslet_head *head;
	long ret = -ENOENT;

	if (in_compat_syscall())
		return syslet_ni_syscall();
	if (flags || !atom || !uhead)
		return -EINVAL;
	/* A bad ring name is told apart whether or not the process has rings. */
	head = syslet_head_get(uhead, SYSLET_HEAD_SIZE_VER0, false);
	if (IS_ERR_OR_NULL(head))
		return head ? PTR_ERR(head) : -ENOENT;
	sp = READ_ONCE(current->signal->syslet);	/* set: it has a ring */

	spin_lock(&sp->pool_lock);
	list_for_each_entry(chain, &head->chains, node) {
		if (chain->atom != atom)
			continue;
		if (chain->cancelled) {
			ret = -EALREADY;
			break;
		}
		WRITE_ONCE(chain->cancelled, true);
		set_notify_signal(chain->task);
		wake_up_state(chain->task, TASK_INTERRUPTIBLE);
		ret = 0;
		break;
	}
	spin_unlock(&sp->pool_lock);
	trace_syslet_cancel(atom, ret);
	syslet_head_put(head);
	return ret;
}
