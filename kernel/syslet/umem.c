// SPDX-License-Identifier: GPL-2.0
/*
 * Syslets: umem_add(), an atomic add on a user-space word.
 *
 * Atoms can count with it (how many of a batch are done) without a
 * round trip to user space, and user space can use it to publish ring
 * indices that the kernel side also updates.
 */
#include <linux/compat.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/syscalls.h>
#include <linux/uaccess.h>

SYSCALL_DEFINE2(umem_add, u64 __user *, uptr, u64, inc)
{
	u64 old, new;

	if (in_compat_syscall())
		return -ENOSYS;
	if (!IS_ALIGNED((unsigned long)uptr, sizeof(u64)))
		return -EINVAL;

	for (;;) {
		if (get_user(old, uptr))
			return -EFAULT;
		if (!user_access_begin(uptr, sizeof(*uptr)))
			return -EFAULT;
		do {
			new = old + inc;
		} while (!unsafe_try_cmpxchg_user(uptr, &old, new, fault));
		user_access_end();
		return new;
fault:
		user_access_end();
		/* Read-only or gone: the write can never succeed. */
		if (fault_in_writeable((char __user *)uptr, sizeof(*uptr)))
			return -EFAULT;
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
}
