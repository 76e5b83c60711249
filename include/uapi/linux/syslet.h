/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Syslets: generic asynchronous system calls.
 *
 * A syslet is a chain of "atoms" in user memory.  Each atom describes one
 * system call by number and by *pointers to* its argument values.  The
 * kernel runs the chain in the caller's own context; when nothing blocks
 * ("cached" execution) async_exec() returns the address of the atom the
 * chain ended on.  When an atom is run asynchronously, async_exec()
 * returns 0 and the finished atom's address is later posted to the
 * completion ring named by the caller's struct async_head_user.
 *
 * See Documentation/syslet-design.txt for the full description.
 */
#ifndef _UAPI_LINUX_SYSLET_H
#define _UAPI_LINUX_SYSLET_H

#include <linux/types.h>

/*
 * System call numbers (x86-64, ABI "64").  These are out-of-tree numbers,
 * the next free ones after mseal (462) in Linux 6.12.  Mainline assigns
 * 463 and up to other calls from 6.13 on, so user space must take the
 * numbers from this header and never hard-code them.
 */
#if defined(__x86_64__) && !defined(__ILP32__)
#define __NR_async_register	463
#define __NR_async_unregister	464
#define __NR_async_exec		465
#define __NR_async_wait		466
#define __NR_async_thread	467
#define __NR_umem_add		468
#define __NR_async_cancel	469
#endif

/*
 * Atom flags (struct syslet_uatom::flags).  Values are those of the 2007
 * syslet patches.
 *
 * SYSLET_ASYNC: do not try cached execution; queue the chain to a pool
 *	thread straight away.  Only meaningful on the first atom.
 * SYSLET_SYNC: never go asynchronous; the whole chain runs in the caller.
 *	Only meaningful on the first atom; may not be combined with ASYNC.
 * SYSLET_NO_COMPLETE: if the chain ends on this atom while running
 *	asynchronously, do not post it to the completion ring.
 * SYSLET_STOP_ON_*: after this atom's system call, stop the chain if its
 *	result is non-zero / zero / negative / zero or negative.
 * SYSLET_SKIP_TO_NEXT_ON_STOP: when a stop condition of this atom is met,
 *	continue with the atom that follows this one linearly in memory
 *	(address + sizeof(struct syslet_uatom)) instead of stopping.
 */
#define SYSLET_ASYNC			0x00000001
#define SYSLET_SYNC			0x00000002
#define SYSLET_NO_COMPLETE		0x00000004
#define SYSLET_STOP_ON_NONZERO		0x00000008
#define SYSLET_STOP_ON_ZERO		0x00000010
#define SYSLET_STOP_ON_NEGATIVE		0x00000020
#define SYSLET_STOP_ON_NON_POSITIVE	0x00000040
#define SYSLET_SKIP_TO_NEXT_ON_STOP	0x00000080

#define SYSLET_STOP_MASK	(SYSLET_STOP_ON_NONZERO | SYSLET_STOP_ON_ZERO | \
				 SYSLET_STOP_ON_NEGATIVE | \
				 SYSLET_STOP_ON_NON_POSITIVE)
#define SYSLET_VALID_FLAGS	(SYSLET_ASYNC | SYSLET_SYNC | \
				 SYSLET_NO_COMPLETE | SYSLET_STOP_MASK | \
				 SYSLET_SKIP_TO_NEXT_ON_STOP)

/* Number of argument pointers in an atom. */
#define SYSLET_NR_ARGS		6

/*
 * Completion ring heads one process may have set up at a time (by
 * async_register() or lazily by async_exec()): one more is -EMFILE.
 * Heads are also bounded per user (and user namespace) by
 * /proc/sys/user/max_syslet_heads: past it, -ENOSPC.  Unregistering a
 * ring, exec() and exit free its head.
 */
#define SYSLET_MAX_HEADS	1024

/**
 * struct syslet_uatom - one system call of a syslet
 * @flags:	SYSLET_* flags above; any other bit set gives -EINVAL.
 * @nr:		system call number (native x86-64 numbering).
 * @ret_ptr:	address of a __s64 that receives the system call's return
 *		value, or 0 for "not needed".
 * @next:	address of the next atom of the chain, or 0 to end it.
 * @arg_ptr:	addresses of the argument values (each a __u64).  The
 *		kernel reads arguments up to the first 0 entry; later
 *		arguments are passed as 0.
 * @user_data:	free for user space; never read or written by the kernel
 *		(the name liburing users know for the same purpose).
 *
 * The kernel reads each atom exactly once, before running it, so user
 * space may change an atom after the kernel has moved past it.  Atoms
 * must be 8-byte aligned.  Only the fields the kernel reads must be
 * readable: flags, nr, ret_ptr, next and arg_ptr[] up to the first 0.
 * An atom whose remaining argument pointers and @user_data lie in an
 * unmapped page runs like any other (by design: @user_data is user
 * space's, and unused argument slots need not exist).
 */
struct syslet_uatom {
	__aligned_u64	flags;
	__aligned_u64	nr;
	__aligned_u64	ret_ptr;
	__aligned_u64	next;
	__aligned_u64	arg_ptr[SYSLET_NR_ARGS];
	__aligned_u64	user_data;
};

/* async_head_user::status bits, written by the kernel. */
/*
 * Completions are held back in the kernel: their ring slot was still
 * non-zero, or the ring could not be written (read-only, unmapped).
 */
#define SYSLET_HEAD_RING_OVERFLOW	0x1

/**
 * struct async_head_user - a completion ring and its parameters
 * @kernel_ring_idx:	written by the kernel: number of completions posted
 *			so far (monotonic modulo 2^64; slot = idx % nr_slots).
 * @user_ring_idx:	written by user space: number of completions reaped
 *			so far (monotonic modulo 2^64).  async_wait() reads
 *			it once on entry to know how many posted
 *			completions are still unreaped.  Both indices may
 *			wrap around 2^64; every comparison is modulo 2^64.
 *			At set-up, kernel_ring_idx - user_ring_idx (modulo
 *			2^64) may not exceed the number of slots (0 without
 *			a ring): -EINVAL.
 * @completion_ring:	address of an array of __u64 atom addresses.  The
 *			kernel fills slot kernel_ring_idx % nr_slots with the
 *			finished atom's address; user space consumes a slot
 *			by writing 0 back.  The kernel never overwrites a
 *			non-zero slot.
 * @ring_size_bytes:	size of the ring in bytes: a non-zero multiple of 8,
 *			at most 16 MiB.  0 together with a 0
 *			@completion_ring means "no ring": only cached and
 *			SYSLET_SYNC execution is possible; one without the
 *			other is -EINVAL.
 * @max_nr_threads:	upper bound on pool threads working for this ring;
 *			0 lets the kernel choose.
 * @status:		written by the kernel: SYSLET_HEAD_* bits.
 * @head_stack:		user-space cachemiss context for the ring's owner
 *			(the thread that set the ring up) once it has become
 *			a cachemiss worker and completed its chain: the
 *			stack pointer it starts with.  The kernel takes it
 *			atomically and leaves 0 (one use; refill to reuse).
 *			0: the worker parks in the kernel instead.  It
 *			parks too when the thread whose chain it ran no
 *			longer has its credentials, filter, files, ...
 * @head_ip:		entry point for that context (0: none).  It starts
 *			with the completed atom in rdi, the head in rsi, all
 *			other registers 0, no TLS (fs/gs base 0), the
 *			initial FPU state and all signals blocked, and goes
 *			back into the pool with async_thread().
 * @new_thread_stack:	the same as @head_stack, for every other worker.
 * @new_thread_ip:	the same as @head_ip, for every other worker.
 * @__reserved:		must be zero.
 *
 * The kernel identifies a ring by the address of its async_head_user.  It
 * reads the structure when the ring is first used (lazily by async_exec(),
 * or by async_register()) and keeps its own copy of the ring's parameters
 * (@completion_ring, @ring_size_bytes, @max_nr_threads); later changes to
 * them are ignored until the ring is unregistered.  The user-space
 * context fields (@head_stack, @head_ip, @new_thread_stack,
 * @new_thread_ip) are read each time a worker takes one up.  The
 * structure must be 8-byte aligned.  Its size is passed to the system
 * calls so that it can grow: a larger structure is
 * accepted if the extra bytes are zero (-E2BIG otherwise), a smaller one
 * than SYSLET_HEAD_SIZE_VER0 gives -EINVAL.
 *
 * Completion contract: every chain that went asynchronous (async_exec()
 * returned 0) completes exactly once, unless its last atom says
 * SYSLET_NO_COMPLETE or the process is exiting.  "Completes" means its
 * final atom's address is written into exactly one ring slot, or, while
 * that is impossible, held back in the kernel (SYSLET_HEAD_RING_OVERFLOW)
 * and written later, in order: at the next completion or async_wait().
 * A slot is written all or nothing, and a completion counts as posted
 * once its slot is written, whatever happens to the head after that.
 * User memory that faults never duplicates or drops one:
 *  - ring not writable (read-only, PROT_NONE, unmapped, truncated): the
 *    completion is held back; async_wait() returns -EFAULT until the
 *    ring can be written again;
 *  - head not writable: the completion is in the ring, but
 *    kernel_ring_idx (and @status) could not be updated; async_wait()
 *    rewrites kernel_ring_idx and returns -EFAULT while it cannot.
 * Whether a chain is posted is decided by the flags of the atom it
 * ended on: the last atom whose system call ran (or was refused), never
 * one that could not be read.
 */
struct async_head_user {
	__aligned_u64	kernel_ring_idx;
	__aligned_u64	user_ring_idx;
	__aligned_u64	completion_ring;
	__aligned_u64	ring_size_bytes;
	__aligned_u64	max_nr_threads;
	__aligned_u64	status;
	__aligned_u64	head_stack;
	__aligned_u64	head_ip;
	__aligned_u64	new_thread_stack;
	__aligned_u64	new_thread_ip;
	__aligned_u64	__reserved[6];
};

#define SYSLET_HEAD_SIZE_VER0	128	/* sizeof first published struct */

/*
 * System call summary (return values; -errno on failure):
 *
 * long async_register(struct async_head_user *ahu, size_t size);
 *	Set up the ring named by @ahu now (instead of lazily), with a spare
 *	thread, so that even the process' first blocking atom goes
 *	asynchronous: 0, -EBUSY if it is already set up, -EMFILE or
 *	-ENOSPC past the head limits (SYSLET_MAX_HEADS).
 * long async_unregister(struct async_head_user *ahu, size_t size);
 *	Tear the ring down: 0, -ENOENT if unknown (the head is not read),
 *	-EBUSY while any chain that named it runs (in the caller's context
 *	too, cached or SYSLET_SYNC, in a pool thread or a cachemiss
 *	worker) or completions are held back for it (reap, async_wait(),
 *	then retry).  Once it returned 0, nothing is ever posted to the
 *	ring again: a chain that names it and starts meanwhile completes
 *	in its caller (async_exec() returns the atom); a later
 *	async_exec() that names it sets up a new ring.
 * long async_exec(struct syslet_uatom *atom, struct async_head_user *ahu,
 *		   size_t size);
 *	Run the chain starting at @atom.  Returns the address of the atom
 *	the chain ended on if it completed in the caller's context, 0 if it
 *	continues asynchronously (completion goes to @ahu's ring), or
 *	-errno if the chain could not be run (bad atom, bad flags, bad
 *	ring).  An atom whose system call is not allowed in syslets gets
 *	-ENOSYS in its ret_ptr and ends the chain.  The address returned is
 *	that of the atom the chain ended on, which is @atom only for a
 *	one-atom chain: with SYSLET_SKIP_TO_NEXT_ON_STOP a met stop
 *	condition continues at @atom + 1 (the next struct in memory), so
 *	@atom with every valid flag but SYSLET_ASYNC (SYNC, NO_COMPLETE,
 *	all STOP_ON_*, SKIP_TO_NEXT_ON_STOP) returns a later atom's address
 *	(or -errno if there is none to read).  NO_COMPLETE has no effect on
 *	a cached completion.
 *	Signals: an atom's call is interrupted as the direct call would be.
 *	A stop and SIGCONT, a ptrace interrupt or task work (no handler
 *	runs) restart it in place and the chain goes on.  When a signal
 *	handler is to run in the caller's context (SA_RESTART or not) the
 *	atom gets -EINTR in its ret_ptr and the chain ends there, or, due
 *	between two atoms, async_exec() returns -EINTR; the handler runs on
 *	return.  Pool threads and cachemiss workers run no handlers: their
 *	chains go on.
 *	Syscall User Dispatch: an atom that SUD would dispatch (the thread
 *	turned it on and the selector says BLOCK, judged for async_exec()'s
 *	call site) gets -ENOSYS in its ret_ptr and ends the chain; no
 *	SIGSYS is raised and async_exec() returns normally.  SUD is per
 *	thread: a SYSLET_ASYNC chain's pool thread never dispatches.
 *	Protection keys: every atom runs under the submitting thread's PKRU,
 *	in a pool thread too (taken when async_exec() queues the chain).
 *	A chain is bound to
 *	the submitting thread: an atom that would run in a pool thread or
 *	cachemiss worker after that thread changed its credentials,
 *	seccomp filter, no_new_privs, file table, fs, namespaces,
 *	personality or Syscall User Dispatch (once it has exited: the
 *	thread group leader did), gets
 *	-EPERM in its ret_ptr and ends the chain (in the caller's own
 *	context atoms simply see the change).  ioctl runs off the caller's
 *	context only for the generic VFS commands (FIOCLEX, FIONCLEX,
 *	FIONBIO, FIOASYNC, FIOQSIZE, FIONREAD, FIGETBSZ, FS_IOC_FIEMAP,
 *	FICLONE, FICLONERANGE, FIDEDUPERANGE, FS_IOC_GETFLAGS/SETFLAGS,
 *	FS_IOC_FSGETXATTR/FSSETXATTR, FS_IOC_GETFSUUID,
 *	FS_IOC_GETFSSYSFSPATH), else -ENOSYS; in the caller's context it
 *	runs any command but does not hand off.  close_range() with
 *	CLOSE_RANGE_UNSHARE is -ENOSYS.  A process makes no
 *	thread until it needs one: the first atom that blocks in a process
 *	that never registered a ring completes in the caller; later ones
 *	go asynchronous.  SYSLET_ASYNC chains always go to a pool thread.
 * long async_wait(unsigned long min_events, struct async_head_user *ahu,
 *		   const struct __kernel_timespec *timeout);
 *	Wait until at least @min_events posted completions are unreaped, or
 *	nothing is in flight for the ring, or @timeout (relative; NULL means
 *	no limit) expires, or a signal arrives (-EINTR).  Returns the number
 *	of unreaped completions, or -EOVERFLOW if completions are held back
 *	because the ring is full (reap, then call again), -EFAULT while the
 *	ring or the head cannot be written (see the completion contract
 *	above), -EINVAL if user_ring_idx is ahead of kernel_ring_idx or
 *	more than the ring's slots behind it (modulo 2^64).  While they are,
 *	async_exec() runs new chains for the ring to their end in the
 *	caller (cached completion), even SYSLET_ASYNC ones.  A ring the
 *	kernel does not know (never used, or unregistered) has nothing in
 *	flight: 0 at once, and nothing is set up for it.
 * long async_thread(void *event, struct async_head_user *ahu);
 *	Return a user-space cachemiss thread to the pool (@event must be
 *	NULL).  Returns 0 when the thread has taken over the context of
 *	a caller whose atom blocked, -EINVAL when the caller is not a
 *	user-space cachemiss thread.
 * long umem_add(__u64 *uptr, __u64 inc);
 *	Atomically add @inc to the 8-byte aligned user word at @uptr and
 *	return the new value (-EFAULT, -EINVAL if misaligned).  Nothing
 *	but the sum is ever written to the word, and nothing at all when
 *	the call fails (faulting the page in never writes to it).
 * long async_cancel(struct syslet_uatom *atom, struct async_head_user *ahu,
 *		     unsigned int flags);
 *	Ask the chain that starts at @atom (the atom given to async_exec())
 *	and went asynchronous on the ring @ahu to stop (@flags must be 0).
 *	Returns 0: the chain completes to the ring exactly once, as always;
 *	a chain that had not started gets -ECANCELED in its first atom's
 *	ret_ptr and runs nothing; an atom whose call sleeps interruptibly
 *	is woken and gets -ECANCELED; an atom in an uninterruptible sleep
 *	keeps its own result.  No atom after that runs.  -EALREADY if the
 *	chain was asked already, -ENOENT if the ring has no such chain in
 *	flight (it completed or is completing, never went asynchronous, or
 *	is a chain of another process, or the ring is unknown), -EINVAL for
 *	NULL pointers, flags or a misaligned ring pointer, -EFAULT for one
 *	that is not a user address.  The same atom in flight twice on one
 *	ring names the older chain.
 */

#endif /* _UAPI_LINUX_SYSLET_H */
