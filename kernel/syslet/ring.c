// SPDX-License-Identifier: GPL-2.0
/*
 * Syslets: completion rings and async_wait().
 *
 * The ring lives in user memory: an array of atom addresses.  The kernel
 * writes the address of a finished atom into slot (posted % nr_slots)
 * and counts it; user space reaps a slot by writing 0 back.  The kernel
 * never overwrites a non-zero slot.  A completion that finds its slot
 * still in use, or cannot be written because the ring is not writable,
 * is kept on the head's overflow list, flagged in the user-visible
 * status word, and written out as soon as there is room: on the next
 * completion or async_wait().  Nothing is ever dropped or posted twice:
 * a completion is counted as posted the moment its slot is written, and
 * whatever happens to the head after that (kernel_ring_idx cannot be
 * written) is reported by async_wait() without touching the ring again.
 *
 * Waiters sleep on a kernel-side counter; user memory is read once per
 * async_wait() call, never polled.
 *
 * Memory ordering between the kernel and user space:
 *
 * - Before the kernel writes an atom's address into a slot, it has
 *   written every result of the chain (each atom's ret_ptr) and the
 *   atoms' system calls have written what they write.  The smp_wmb()
 *   in syslet_ring_write() orders those stores before the slot's (on
 *   x86-64, the only architecture syslets build for, stores are seen
 *   in program order anyway; the barrier is for the compiler and says
 *   what a port needs).  User space that reads a non-zero slot with an
 *   acquire load (or a plain load on x86-64, kept by the compiler:
 *   volatile or atomic) then sees the chain's results.
 * - kernel_ring_idx and status are written after the slot, with plain
 *   stores, and are only hints: the slots are the truth.  User space
 *   may read kernel_ring_idx with an acquire load and then the slots
 *   below it, which are written.
 * - User space reaps a slot by storing 0 into it, after it is done with
 *   the atom: the kernel reads the slot (get_user()) before it writes
 *   it, never writes a non-zero slot, and never reads a chain's atoms
 *   again once it was posted, so atom memory may be reused as soon as
 *   its slot was seen.
 * - user_ring_idx is read once per async_wait(), to count the unreaped
 *   completions to wait for; it is never written by the kernel.
 * - Every slot write and index update happens under head->lock, so two
 *   completions of one ring never race for a slot; async_wait()'s
 *   wake-up is ordered after the count (see syslet_head_end_async()).
 */
#include <linux/compat.h>
#include <linux/hrtimer.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/syscalls.h>
#include <linux/syslet.h>
#include <linux/time64.h>
#include <linux/uaccess.h>
#include "syslet.h"
#include <trace/events/syslet.h>

struct syslet_overflow {
	struct list_head	node;
	u64			atom;
};

/*
 * Tell user space how many completions were posted and whether some are
 * held back.  head->lock held.  Only informative: the kernel's count is
 * its own, and a head that cannot be written does not make a posted
 * completion unposted; async_wait() tries again and reports it.
 */
static void syslet_publish(struct syslet_head *head)
{
	struct async_head_user __user *uhead = head->uhead;
	u64 status = head->overflowing ? SYSLET_HEAD_RING_OVERFLOW : 0;

	lockdep_assert_held(&head->lock);
	head->uhead_stale = put_user(head->posted, &uhead->kernel_ring_idx) ||
			    put_user(status, &uhead->status);
}

/*
 * Write one completion into the ring, all or nothing: 0 once it is in
 * its slot (and counted), else -EOVERFLOW (slot in use) or -EFAULT
 * (ring not writable) with nothing written.  head->lock held.
 */
static int syslet_ring_write(struct syslet_head *head, u64 atom)
{
	u64 __user *slot = head->ring + head->posted % head->nr_slots;
	u64 cur;

	lockdep_assert_held(&head->lock);
	if (get_user(cur, slot))
		return -EFAULT;
	if (cur)
		return -EOVERFLOW;
	/* The chain's results before its slot: see the top of this file. */
	smp_wmb();
	if (put_user(atom, slot))
		return -EFAULT;
	WRITE_ONCE(head->posted, head->posted + 1);
	trace_syslet_complete(head->uaddr, atom, head->posted);
	syslet_publish(head);
	return 0;
}

static void syslet_set_overflowing(struct syslet_head *head, bool on)
{
	lockdep_assert_held(&head->lock);
	if (head->overflowing == on)
		return;
	WRITE_ONCE(head->overflowing, on);
	syslet_publish(head);
}

/* Move held-back completions into the ring.  head->lock held. */
static int syslet_flush_overflow(struct syslet_head *head)
{
	struct syslet_overflow *ov, *tmp;
	int err = 0;

	lockdep_assert_held(&head->lock);
	list_for_each_entry_safe(ov, tmp, &head->overflow, node) {
		err = syslet_ring_write(head, ov->atom);
		if (err)
			break;
		list_del(&ov->node);
		kfree(ov);
	}
	syslet_set_overflowing(head, !list_empty(&head->overflow));
	return err;
}

/**
 * syslet_post_completion - post a finished atom to its ring
 * @head:	the ring
 * @atom:	the atom the chain ended on
 *
 * Runs in the pool thread that ran the chain; may sleep and fault.
 */
void syslet_post_completion(struct syslet_head *head,
			    struct syslet_uatom __user *atom)
{
	struct syslet_overflow *ov;
	u64 addr = (u64)(unsigned long)atom;

	mutex_lock(&head->lock);
	if (!syslet_flush_overflow(head) && !syslet_ring_write(head, addr))
		goto out;
	/* Ring full or unreachable: hold it back, in order. */
	ov = kmalloc(sizeof(*ov), GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
	ov->atom = addr;
	list_add_tail(&ov->node, &head->overflow);
	syslet_set_overflowing(head, true);
out:
	mutex_unlock(&head->lock);
}

/**
 * syslet_chain_complete - an asynchronous chain is done
 * @head:	the ring it completes to; the chain's reference is dropped
 * @res:	how the chain ended
 * @flags:	flags of the atom it ended on
 *
 * The one place a chain that went asynchronous ends, in a pool thread or
 * a cachemiss worker.  A chain cut short (-EINTR) because its process is
 * dying has nobody to complete to.  Otherwise the atom it ended on is
 * posted, also after a fault in a later atom (its ret_ptr tells), unless
 * it says SYSLET_NO_COMPLETE.  Posted first, then no longer in flight.
 */
void syslet_chain_complete(struct syslet_head *head,
			   const struct syslet_chain_result *res, u64 flags)
{
	if (res->err != -EINTR && !(flags & SYSLET_NO_COMPLETE))
		syslet_post_completion(head, res->last);
	syslet_head_end_async(head);
	syslet_head_put(head);
}

/* Free what can never be posted any more: the head is going away. */
void syslet_head_release_overflow(struct syslet_head *head)
{
	struct syslet_overflow *ov, *tmp;

	list_for_each_entry_safe(ov, tmp, &head->overflow, node)
		kfree(ov);
}

static bool syslet_wait_done(struct syslet_head *head, u64 reaped,
			     unsigned long min_events)
{
	return READ_ONCE(head->posted) - reaped >= min_events ||
	       !atomic_read(&head->inflight) || READ_ONCE(head->overflowing);
}

/**
 * sys_async_wait - wait for completions on a ring
 * @min_events:	number of unreaped completions to wait for
 * @uhead:	the ring
 * @timeout:	relative timeout, or NULL to wait without limit
 *
 * Return: the number of posted, unreaped completions; -EOVERFLOW if
 * completions are held back because the ring is full (reap, call again);
 * -EFAULT if the ring cannot be written; -EINTR on a signal.
 */
SYSCALL_DEFINE3(async_wait, unsigned long, min_events,
		struct async_head_user __user *, uhead,
		const struct __kernel_timespec __user *, timeout)
{
	struct syslet_head *head;
	struct timespec64 ts;
	u64 reaped, posted;
	long ret;

	if (in_compat_syscall())
		return syslet_ni_syscall();
	if (!uhead)
		return -EINVAL;
	if (timeout) {
		if (get_timespec64(&ts, timeout))
			return -EFAULT;
		if (!timespec64_valid(&ts))
			return -EINVAL;
	}
	head = syslet_head_get(uhead, SYSLET_HEAD_SIZE_VER0, false);
	if (IS_ERR_OR_NULL(head))
		return head ? PTR_ERR(head) : 0;	/* unknown: nothing pending */
	if (get_user(reaped, &uhead->user_ring_idx)) {
		ret = -EFAULT;
		goto out;
	}

	mutex_lock(&head->lock);
	ret = syslet_flush_overflow(head);
	/* A kernel_ring_idx or status that could not be written: again. */
	if (head->uhead_stale)
		syslet_publish(head);
	if (!ret && head->uhead_stale)
		ret = -EFAULT;
	posted = head->posted;
	mutex_unlock(&head->lock);
	if (ret)
		goto out;
	/*
	 * Modulo 2^64: the indices may wrap.  More unreaped completions
	 * than slots: user_ring_idx is ahead of kernel_ring_idx, or garbage.
	 */
	if (posted - reaped > head->nr_slots) {
		ret = -EINVAL;
		goto out;
	}

	if (timeout) {
		ktime_t t = timespec64_to_ktime(ts);

		ret = wait_event_interruptible_hrtimeout(head->wait,
							 syslet_wait_done(head, reaped,
									  min_events),
							 t);
		if (ret == -ETIME)
			ret = 0;
	} else {
		ret = wait_event_interruptible(head->wait,
					       syslet_wait_done(head, reaped,
								min_events));
	}
	if (ret) {
		ret = -EINTR;
		goto out;
	}
	ret = READ_ONCE(head->overflowing) ? -EOVERFLOW :
					     READ_ONCE(head->posted) - reaped;
out:
	trace_syslet_wait(head->uaddr, min_events, ret);
	syslet_head_put(head);
	return ret;
}
