// SPDX-License-Identifier: GPL-2.0
/*
 * Syslets: umem_add(), an atomic add on a user-space word.
 *
 * User space can use it to publish ring indices that the kernel side
 * also updates.  It is not an atom's call (allow.c): an atom gets
 * -ENOSYS, as for any call outside the allowlist.
 */
#include <linux/compat.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/syscalls.h>
#include <linux/uaccess.h>
#include "syslet.h"

/*
 * Make the page of @uptr present and writable without writing to it: a
 * probe that stores a zero byte (fault_in_writeable()) could land after
 * another thread made the page writable and clobber the user's word.
 * Return: 0 if a retry may succeed, else -EFAULT (or -EINTR).
 */
static int umem_fault_in(u64 __user *uptr)
{
	struct mm_struct *mm = current->mm;
	bool unlocked = false;
	int ret;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	/* May drop and retake the lock (unlocked): then it is held again. */
	ret = fixup_user_fault(mm, (unsigned long)uptr, FAULT_FLAG_WRITE,
			       &unlocked);
	mmap_read_unlock(mm);
	if (ret && ret != -EINTR)
		ret = -EFAULT;
	return ret;
}

SYSCALL_DEFINE2(umem_add, u64 __user *, uptr, u64, inc)
{
	u64 old, new;
	int err;

	if (in_compat_syscall())
		return syslet_ni_syscall();
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
		err = umem_fault_in(uptr);
		if (err)
			return err;
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
}
