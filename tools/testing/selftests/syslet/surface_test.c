// SPDX-License-Identifier: GPL-2.0
/*
 * Syslet selftests: the system call surface.
 *
 * bad_input: every argument of every one of the six calls, given NULL,
 * an unmapped, kernel, non-canonical, misaligned, read-only, PROT_NONE
 * or page-straddling address, edge sizes and bad fields, with the
 * result include/uapi/linux/syslet.h promises in the table.
 *
 * The TESTs after it each pin one promise of the header that a review
 * found broken: umem_add() writes nothing but the sum, a completion is
 * posted exactly once when user memory faults, NO_COMPLETE is decided
 * by the atom a chain ended on, the number of rings is bounded,
 * unregister waits for cached chains, Syscall User Dispatch and PKRU
 * apply to atoms, ring indices wrap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "syslet.h"

#undef TEST_TIMEOUT_DEFAULT
#define TEST_TIMEOUT_DEFAULT 120

#define HSZ sizeof(struct async_head_user)
#define PAGE 4096UL
#define SENTINEL 12345
/* Above TASK_SIZE_MAX (4-level paging) and not canonical. */
#define NONCANON ((void *)0x0000800000000000UL)

static const struct __kernel_timespec ten_seconds = { .tv_sec = 10 };

/* ------------------------------------------------------------ bad_input */

enum call { C_REG, C_UNREG, C_EXEC, C_WAIT, C_THREAD, C_UMEM };

enum kind {
	K_VALID, K_NULL, K_UNMAPPED, K_KERNEL, K_NONCANON, K_MISALIGNED,
	K_READONLY, K_PROTNONE, K_STRADDLE,
};

enum tweak {
	T_NONE,
	/* head */
	T_RING_MISALIGNED, T_RING_SIZE_ODD, T_RING_SIZE_HUGE, T_RING_KERNEL,
	T_RING_NULL_SIZED, T_RING_ZERO_SIZE, T_THREADS_HUGE, T_RESERVED,
	T_USER_AHEAD, T_IDX_FAR, T_IDX_WRAPPED, T_BIG_JUNK, T_REGISTER_FIRST,
	T_TWICE,
	/* atom */
	T_FLAGS_UNKNOWN, T_FLAGS_HIGH, T_ASYNC_SYNC, T_ASYNC_NO_HEAD,
	T_ASYNC_RINGLESS, T_NR_HUGE, T_NR_FORBIDDEN, T_ARG_KERNEL,
	T_ARG_UNMAPPED, T_ARG_NONCANON, T_ARG_MISALIGNED, T_RET_KERNEL,
	T_RET_READONLY, T_RET_UNMAPPED, T_NEXT_UNMAPPED, T_NEXT_KERNEL,
	T_NEXT_MISALIGNED, T_ALL_BUT_ASYNC, T_TWO_ARGS,
	/* async_wait */
	T_NSEC_BAD, T_NEG, T_WAIT_AHEAD, T_MIN_HUGE,
	/* umem_add */
	T_WRAP,
};

/* Expected results besides -errno. */
#define EXP_ZERO	0
#define EXP_OBJ		1	/* the address of the atom under test */
#define EXP_OBJ_NEXT	2	/* the atom right after it in memory */
#define EXP_SUM		3	/* umem_add(): the new value */

FIXTURE(bad_input) {
	char *rw, *hole, *ro, *none;
	int64_t *ret;
	uint64_t *vals;		/* argument values */
	uint64_t *ring;
};

FIXTURE_VARIANT(bad_input) {
	enum call call;
	int arg;		/* which argument is under test */
	enum kind kind;
	enum tweak tweak;
	size_t size;		/* head size; 0: sizeof(struct async_head_user) */
	long expect;		/* -errno or EXP_* */
};

/* One row of the table: call, argument, kind, tweak, size, expected. */
#define CASE(c, a, k, t, s, e)						\
	{ .call = (c), .arg = (a), .kind = (k), .tweak = (t),		\
	  .size = (s), .expect = (e) }

/* async_register(ahu, size) */
FIXTURE_VARIANT_ADD(bad_input, reg_ahu_valid)
	CASE(C_REG, 0, K_VALID, T_NONE, 0, EXP_ZERO);
FIXTURE_VARIANT_ADD(bad_input, reg_ahu_null)
	CASE(C_REG, 0, K_NULL, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, reg_ahu_unmapped)
	CASE(C_REG, 0, K_UNMAPPED, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, reg_ahu_kernel)
	CASE(C_REG, 0, K_KERNEL, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, reg_ahu_noncanon)
	CASE(C_REG, 0, K_NONCANON, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, reg_ahu_misaligned)
	CASE(C_REG, 0, K_MISALIGNED, T_NONE, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, reg_ahu_readonly)
	CASE(C_REG, 0, K_READONLY, T_NONE, 0, EXP_ZERO);
FIXTURE_VARIANT_ADD(bad_input, reg_ahu_protnone)
	CASE(C_REG, 0, K_PROTNONE, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, reg_ahu_straddle)
	CASE(C_REG, 0, K_STRADDLE, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, reg_ahu_twice)
	CASE(C_REG, 0, K_VALID, T_TWICE, 0, -EBUSY);
FIXTURE_VARIANT_ADD(bad_input, reg_size_0)
	CASE(C_REG, 1, K_VALID, T_NONE, 1, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, reg_size_127)
	CASE(C_REG, 1, K_VALID, T_NONE, 127, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, reg_size_larger_zero)
	CASE(C_REG, 1, K_VALID, T_NONE, 256, EXP_ZERO);
FIXTURE_VARIANT_ADD(bad_input, reg_size_larger_junk)
	CASE(C_REG, 1, K_VALID, T_BIG_JUNK, 256, -E2BIG);
FIXTURE_VARIANT_ADD(bad_input, reg_size_page_plus)
	CASE(C_REG, 1, K_VALID, T_NONE, PAGE + 8, -E2BIG);
FIXTURE_VARIANT_ADD(bad_input, reg_size_max)
	CASE(C_REG, 1, K_VALID, T_NONE, SIZE_MAX, -E2BIG);
FIXTURE_VARIANT_ADD(bad_input, reg_ring_misaligned)
	CASE(C_REG, 0, K_VALID, T_RING_MISALIGNED, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, reg_ring_size_odd)
	CASE(C_REG, 0, K_VALID, T_RING_SIZE_ODD, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, reg_ring_size_huge)
	CASE(C_REG, 0, K_VALID, T_RING_SIZE_HUGE, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, reg_ring_kernel)
	CASE(C_REG, 0, K_VALID, T_RING_KERNEL, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, reg_ring_null_sized)
	CASE(C_REG, 0, K_VALID, T_RING_NULL_SIZED, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, reg_ring_zero_size)
	CASE(C_REG, 0, K_VALID, T_RING_ZERO_SIZE, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, reg_threads_huge)
	CASE(C_REG, 0, K_VALID, T_THREADS_HUGE, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, reg_reserved)
	CASE(C_REG, 0, K_VALID, T_RESERVED, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, reg_user_idx_ahead)
	CASE(C_REG, 0, K_VALID, T_USER_AHEAD, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, reg_idx_more_than_ring)
	CASE(C_REG, 0, K_VALID, T_IDX_FAR, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, reg_idx_wrapped)
	CASE(C_REG, 0, K_VALID, T_IDX_WRAPPED, 0, EXP_ZERO);

/* async_unregister(ahu, size) */
FIXTURE_VARIANT_ADD(bad_input, unreg_registered)
	CASE(C_UNREG, 0, K_VALID, T_REGISTER_FIRST, 0, EXP_ZERO);
FIXTURE_VARIANT_ADD(bad_input, unreg_readonly)
	CASE(C_UNREG, 0, K_READONLY, T_REGISTER_FIRST, 0, EXP_ZERO);
FIXTURE_VARIANT_ADD(bad_input, unreg_unknown)
	CASE(C_UNREG, 0, K_VALID, T_NONE, 0, -ENOENT);
FIXTURE_VARIANT_ADD(bad_input, unreg_ahu_null)
	CASE(C_UNREG, 0, K_NULL, T_NONE, 0, -ENOENT);
FIXTURE_VARIANT_ADD(bad_input, unreg_ahu_unmapped)
	CASE(C_UNREG, 0, K_UNMAPPED, T_NONE, 0, -ENOENT);
FIXTURE_VARIANT_ADD(bad_input, unreg_ahu_kernel)
	CASE(C_UNREG, 0, K_KERNEL, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, unreg_ahu_noncanon)
	CASE(C_UNREG, 0, K_NONCANON, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, unreg_ahu_misaligned)
	CASE(C_UNREG, 0, K_MISALIGNED, T_NONE, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, unreg_ahu_protnone)
	CASE(C_UNREG, 0, K_PROTNONE, T_NONE, 0, -ENOENT);
FIXTURE_VARIANT_ADD(bad_input, unreg_size_0)
	CASE(C_UNREG, 1, K_VALID, T_REGISTER_FIRST, 1, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, unreg_size_page_plus)
	CASE(C_UNREG, 1, K_VALID, T_REGISTER_FIRST, PAGE + 8, -E2BIG);

/* async_exec(atom, ahu, size) */
FIXTURE_VARIANT_ADD(bad_input, exec_atom_valid)
	CASE(C_EXEC, 0, K_VALID, T_NONE, 0, EXP_OBJ);
FIXTURE_VARIANT_ADD(bad_input, exec_atom_null)
	CASE(C_EXEC, 0, K_NULL, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_atom_unmapped)
	CASE(C_EXEC, 0, K_UNMAPPED, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_atom_kernel)
	CASE(C_EXEC, 0, K_KERNEL, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_atom_noncanon)
	CASE(C_EXEC, 0, K_NONCANON, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_atom_misaligned)
	CASE(C_EXEC, 0, K_MISALIGNED, T_NONE, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, exec_atom_readonly)
	CASE(C_EXEC, 0, K_READONLY, T_NONE, 0, EXP_OBJ);
FIXTURE_VARIANT_ADD(bad_input, exec_atom_protnone)
	CASE(C_EXEC, 0, K_PROTNONE, T_NONE, 0, -EFAULT);
/* Only the fields read are checked: an atom's unread tail may be gone. */
FIXTURE_VARIANT_ADD(bad_input, exec_atom_straddle_tail)
	CASE(C_EXEC, 0, K_STRADDLE, T_NONE, 0, EXP_OBJ);
FIXTURE_VARIANT_ADD(bad_input, exec_atom_straddle_args)
	CASE(C_EXEC, 0, K_STRADDLE, T_TWO_ARGS, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_flags_unknown)
	CASE(C_EXEC, 0, K_VALID, T_FLAGS_UNKNOWN, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, exec_flags_high)
	CASE(C_EXEC, 0, K_VALID, T_FLAGS_HIGH, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, exec_flags_async_sync)
	CASE(C_EXEC, 0, K_VALID, T_ASYNC_SYNC, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, exec_async_no_head)
	CASE(C_EXEC, 0, K_VALID, T_ASYNC_NO_HEAD, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, exec_async_ringless)
	CASE(C_EXEC, 0, K_VALID, T_ASYNC_RINGLESS, 0, -EINVAL);
/* SKIP_TO_NEXT_ON_STOP: getpid() > 0 stops, the chain goes on at atom + 1. */
FIXTURE_VARIANT_ADD(bad_input, exec_all_flags_but_async)
	CASE(C_EXEC, 0, K_VALID, T_ALL_BUT_ASYNC, 0, EXP_OBJ_NEXT);
FIXTURE_VARIANT_ADD(bad_input, exec_nr_huge)
	CASE(C_EXEC, 0, K_VALID, T_NR_HUGE, 0, EXP_OBJ);
FIXTURE_VARIANT_ADD(bad_input, exec_nr_forbidden)
	CASE(C_EXEC, 0, K_VALID, T_NR_FORBIDDEN, 0, EXP_OBJ);
FIXTURE_VARIANT_ADD(bad_input, exec_arg_kernel)
	CASE(C_EXEC, 0, K_VALID, T_ARG_KERNEL, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_arg_unmapped)
	CASE(C_EXEC, 0, K_VALID, T_ARG_UNMAPPED, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_arg_noncanon)
	CASE(C_EXEC, 0, K_VALID, T_ARG_NONCANON, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_arg_misaligned)
	CASE(C_EXEC, 0, K_VALID, T_ARG_MISALIGNED, 0, EXP_OBJ);
FIXTURE_VARIANT_ADD(bad_input, exec_ret_kernel)
	CASE(C_EXEC, 0, K_VALID, T_RET_KERNEL, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_ret_readonly)
	CASE(C_EXEC, 0, K_VALID, T_RET_READONLY, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_ret_unmapped)
	CASE(C_EXEC, 0, K_VALID, T_RET_UNMAPPED, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_next_unmapped)
	CASE(C_EXEC, 0, K_VALID, T_NEXT_UNMAPPED, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_next_kernel)
	CASE(C_EXEC, 0, K_VALID, T_NEXT_KERNEL, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_next_misaligned)
	CASE(C_EXEC, 0, K_VALID, T_NEXT_MISALIGNED, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, exec_ahu_null)
	CASE(C_EXEC, 1, K_NULL, T_NONE, 0, EXP_OBJ);
FIXTURE_VARIANT_ADD(bad_input, exec_ahu_valid)
	CASE(C_EXEC, 1, K_VALID, T_NONE, 0, EXP_OBJ);
FIXTURE_VARIANT_ADD(bad_input, exec_ahu_unmapped)
	CASE(C_EXEC, 1, K_UNMAPPED, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_ahu_kernel)
	CASE(C_EXEC, 1, K_KERNEL, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_ahu_noncanon)
	CASE(C_EXEC, 1, K_NONCANON, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_ahu_misaligned)
	CASE(C_EXEC, 1, K_MISALIGNED, T_NONE, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, exec_ahu_readonly)
	CASE(C_EXEC, 1, K_READONLY, T_NONE, 0, EXP_OBJ);
FIXTURE_VARIANT_ADD(bad_input, exec_ahu_protnone)
	CASE(C_EXEC, 1, K_PROTNONE, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_ahu_straddle)
	CASE(C_EXEC, 1, K_STRADDLE, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, exec_size_0)
	CASE(C_EXEC, 2, K_VALID, T_NONE, 1, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, exec_size_127)
	CASE(C_EXEC, 2, K_VALID, T_NONE, 127, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, exec_size_max)
	CASE(C_EXEC, 2, K_VALID, T_NONE, SIZE_MAX, -E2BIG);

/* async_wait(min_events, ahu, timeout) */
FIXTURE_VARIANT_ADD(bad_input, wait_min_huge)
	CASE(C_WAIT, 0, K_VALID, T_MIN_HUGE, 0, EXP_ZERO);
FIXTURE_VARIANT_ADD(bad_input, wait_ahu_valid)
	CASE(C_WAIT, 1, K_VALID, T_REGISTER_FIRST, 0, EXP_ZERO);
FIXTURE_VARIANT_ADD(bad_input, wait_ahu_unknown)
	CASE(C_WAIT, 1, K_VALID, T_NONE, 0, EXP_ZERO);
FIXTURE_VARIANT_ADD(bad_input, wait_ahu_null)
	CASE(C_WAIT, 1, K_NULL, T_NONE, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, wait_ahu_unmapped)
	CASE(C_WAIT, 1, K_UNMAPPED, T_NONE, 0, EXP_ZERO);
FIXTURE_VARIANT_ADD(bad_input, wait_ahu_kernel)
	CASE(C_WAIT, 1, K_KERNEL, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, wait_ahu_noncanon)
	CASE(C_WAIT, 1, K_NONCANON, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, wait_ahu_misaligned)
	CASE(C_WAIT, 1, K_MISALIGNED, T_NONE, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, wait_user_idx_ahead)
	CASE(C_WAIT, 1, K_VALID, T_WAIT_AHEAD, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, wait_timeout_valid)
	CASE(C_WAIT, 2, K_VALID, T_NONE, 0, EXP_ZERO);
FIXTURE_VARIANT_ADD(bad_input, wait_timeout_null)
	CASE(C_WAIT, 2, K_NULL, T_NONE, 0, EXP_ZERO);
FIXTURE_VARIANT_ADD(bad_input, wait_timeout_unmapped)
	CASE(C_WAIT, 2, K_UNMAPPED, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, wait_timeout_kernel)
	CASE(C_WAIT, 2, K_KERNEL, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, wait_timeout_noncanon)
	CASE(C_WAIT, 2, K_NONCANON, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, wait_timeout_misaligned)
	CASE(C_WAIT, 2, K_MISALIGNED, T_NONE, 0, EXP_ZERO);
FIXTURE_VARIANT_ADD(bad_input, wait_timeout_readonly)
	CASE(C_WAIT, 2, K_READONLY, T_NONE, 0, EXP_ZERO);
FIXTURE_VARIANT_ADD(bad_input, wait_timeout_protnone)
	CASE(C_WAIT, 2, K_PROTNONE, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, wait_timeout_straddle)
	CASE(C_WAIT, 2, K_STRADDLE, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, wait_timeout_nsec_bad)
	CASE(C_WAIT, 2, K_VALID, T_NSEC_BAD, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, wait_timeout_negative)
	CASE(C_WAIT, 2, K_VALID, T_NEG, 0, -EINVAL);

/* async_thread(event, ahu): only a user-space cachemiss context may call */
FIXTURE_VARIANT_ADD(bad_input, thread_event_null)
	CASE(C_THREAD, 0, K_NULL, T_NONE, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, thread_event_valid)
	CASE(C_THREAD, 0, K_VALID, T_NONE, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, thread_event_kernel)
	CASE(C_THREAD, 0, K_KERNEL, T_NONE, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, thread_event_unmapped)
	CASE(C_THREAD, 0, K_UNMAPPED, T_NONE, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, thread_ahu_kernel)
	CASE(C_THREAD, 1, K_KERNEL, T_NONE, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, thread_ahu_misaligned)
	CASE(C_THREAD, 1, K_MISALIGNED, T_NONE, 0, -EINVAL);

/* umem_add(uptr, inc) */
FIXTURE_VARIANT_ADD(bad_input, umem_valid)
	CASE(C_UMEM, 0, K_VALID, T_NONE, 0, EXP_SUM);
FIXTURE_VARIANT_ADD(bad_input, umem_wraps)
	CASE(C_UMEM, 1, K_VALID, T_WRAP, 0, EXP_SUM);
FIXTURE_VARIANT_ADD(bad_input, umem_null)
	CASE(C_UMEM, 0, K_NULL, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, umem_unmapped)
	CASE(C_UMEM, 0, K_UNMAPPED, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, umem_kernel)
	CASE(C_UMEM, 0, K_KERNEL, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, umem_noncanon)
	CASE(C_UMEM, 0, K_NONCANON, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, umem_misaligned)
	CASE(C_UMEM, 0, K_MISALIGNED, T_NONE, 0, -EINVAL);
FIXTURE_VARIANT_ADD(bad_input, umem_readonly)
	CASE(C_UMEM, 0, K_READONLY, T_NONE, 0, -EFAULT);
FIXTURE_VARIANT_ADD(bad_input, umem_protnone)
	CASE(C_UMEM, 0, K_PROTNONE, T_NONE, 0, -EFAULT);

FIXTURE_SETUP(bad_input)
{
	char *p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	self->rw = p;
	self->hole = p + PAGE;
	self->ro = p + 2 * PAGE;
	self->none = p + 3 * PAGE;
	ASSERT_EQ(0, munmap(self->hole, PAGE));
	ASSERT_EQ(0, mprotect(self->none, PAGE, PROT_NONE));
	/* rw: ret @0, values @64, ring @256 (8 slots); objects @2048 */
	self->ret = (int64_t *)self->rw;
	*self->ret = SENTINEL;
	self->vals = (uint64_t *)(self->rw + 64);
	self->ring = (uint64_t *)(self->rw + 256);
}

FIXTURE_TEARDOWN(bad_input)
{
}

/* Put a copy of @obj where @k says; return its address. */
static void *place(FIXTURE_DATA(bad_input) *self, enum kind k,
		   const void *obj, size_t len, size_t straddle)
{
	char *p;

	switch (k) {
	case K_NULL:
		return NULL;
	case K_UNMAPPED:
		return self->hole;
	case K_KERNEL:
		return KERNEL_ADDR;
	case K_NONCANON:
		return NONCANON;
	case K_PROTNONE:
		return self->none;
	case K_STRADDLE:
		p = self->hole - straddle;
		memcpy(p, obj, straddle);
		return p;
	case K_MISALIGNED:
		p = self->rw + 2048 + 4;
		break;
	case K_READONLY:
		p = self->ro;
		break;
	case K_VALID:
	default:
		p = self->rw + 2048;
		break;
	}
	memcpy(p, obj, len);
	return p;
}

static void make_head(FIXTURE_DATA(bad_input) *self,
		      struct async_head_user *h, enum tweak t)
{
	memset(h, 0, sizeof(*h));
	h->completion_ring = PTR(self->ring);
	h->ring_size_bytes = 8 * sizeof(uint64_t);
	switch (t) {
	case T_RING_MISALIGNED:
		h->completion_ring += 4;
		break;
	case T_RING_SIZE_ODD:
		h->ring_size_bytes = 12;
		break;
	case T_RING_SIZE_HUGE:
		h->ring_size_bytes = 1UL << 25;
		break;
	case T_RING_KERNEL:
		h->completion_ring = PTR(KERNEL_ADDR);
		break;
	case T_RING_NULL_SIZED:
		h->completion_ring = 0;
		break;
	case T_RING_ZERO_SIZE:
		h->ring_size_bytes = 0;
		break;
	case T_THREADS_HUGE:
		h->max_nr_threads = 5000;
		break;
	case T_RESERVED:
		h->__reserved[5] = 1;
		break;
	case T_USER_AHEAD:
		h->user_ring_idx = 1;
		break;
	case T_IDX_FAR:
		/* 2^64 - 5 unreaped completions in an 8-slot ring */
		h->kernel_ring_idx = -5ULL;
		break;
	case T_IDX_WRAPPED:
		/* 4 unreaped, kernel_ring_idx wrapped past 2^64 */
		h->kernel_ring_idx = 2;
		h->user_ring_idx = -2ULL;
		break;
	case T_ASYNC_RINGLESS:
		h->completion_ring = 0;
		h->ring_size_bytes = 0;
		break;
	default:
		break;
	}
}

static void make_atom(FIXTURE_DATA(bad_input) *self, struct syslet_uatom *a,
		      enum tweak t)
{
	uint64_t *v = self->vals;

	init_atom(a, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  self->ret, 0, NULL);
	v[0] = 0;
	switch (t) {
	case T_FLAGS_UNKNOWN:
		a->flags = SYSLET_SKIP_TO_NEXT_ON_STOP << 1;
		break;
	case T_FLAGS_HIGH:
		a->flags = 1ULL << 63;
		break;
	case T_ASYNC_SYNC:
		a->flags = SYSLET_ASYNC | SYSLET_SYNC;
		break;
	case T_ASYNC_NO_HEAD:
	case T_ASYNC_RINGLESS:
		a->flags = SYSLET_ASYNC;
		break;
	case T_NR_HUGE:
		a->nr = 1ULL << 40;
		break;
	case T_NR_FORBIDDEN:
		a->nr = __NR_fork;
		break;
	case T_ARG_KERNEL:
		a->arg_ptr[0] = PTR(KERNEL_ADDR);
		break;
	case T_ARG_UNMAPPED:
		a->arg_ptr[0] = PTR(self->hole);
		break;
	case T_ARG_NONCANON:
		a->arg_ptr[0] = PTR(NONCANON);
		break;
	case T_ARG_MISALIGNED:
		a->arg_ptr[0] = PTR((char *)v + 1);
		break;
	case T_TWO_ARGS:
		a->arg_ptr[0] = PTR(&v[0]);
		a->arg_ptr[1] = PTR(&v[0]);
		break;
	case T_RET_KERNEL:
		a->ret_ptr = PTR(KERNEL_ADDR);
		break;
	case T_RET_READONLY:
		a->ret_ptr = PTR(self->ro + 1024);
		break;
	case T_RET_UNMAPPED:
		a->ret_ptr = PTR(self->hole);
		break;
	case T_NEXT_UNMAPPED:
		a->next = PTR(self->hole);
		break;
	case T_NEXT_KERNEL:
		a->next = PTR(KERNEL_ADDR);
		break;
	case T_NEXT_MISALIGNED:
		a->next = PTR(self->rw + 3000 + 4);
		break;
	case T_ALL_BUT_ASYNC:
		a->flags = SYSLET_VALID_FLAGS & ~SYSLET_ASYNC;
		break;
	default:
		break;
	}
}

TEST_F(bad_input, answers_the_errno_the_header_promises)
{
	const FIXTURE_VARIANT(bad_input) *v = variant;
	size_t size = v->size ? (v->size == 1 ? 0 : v->size) : HSZ;
	struct syslet_uatom a, *atom = NULL;
	struct async_head_user h, *ahu = NULL;
	struct __kernel_timespec ts = { .tv_nsec = 1000 }, *tsp = NULL;
	uint64_t word = 0x1122334455667788ULL, inc = 0x100, *wp = NULL;
	unsigned long min_events = 1;
	void *event = NULL;
	long r, want = v->expect;

	switch (v->call) {
	case C_REG:
	case C_UNREG:
		make_head(self, &h, v->tweak);
		ahu = place(self, v->arg == 0 ? v->kind : K_VALID, &h,
			    sizeof(h), 40);
		if (v->tweak == T_BIG_JUNK)
			self->rw[2048 + 200] = 1;
		if (v->tweak == T_REGISTER_FIRST || v->tweak == T_TWICE)
			ASSERT_EQ(0, async_register(ahu, HSZ));
		mprotect(self->ro, PAGE, PROT_READ);
		if (v->call == C_REG)
			r = async_register(ahu, size);
		else
			r = async_unregister(ahu, size);
		break;
	case C_EXEC:
		make_atom(self, &a, v->tweak);
		if (v->arg == 0) {
			atom = place(self, v->kind, &a, sizeof(a), 40);
		} else {
			atom = (void *)(self->rw + 3072);
			memcpy(atom, &a, sizeof(a));
		}
		if (v->tweak == T_ALL_BUT_ASYNC)
			init_atom(atom + 1, __NR_getppid, NULL, NULL, NULL,
				  NULL, NULL, NULL, NULL, 0, NULL);
		make_head(self, &h, v->tweak);
		if (v->arg == 1)
			ahu = place(self, v->kind, &h, sizeof(h), 40);
		else if (v->arg == 2 || v->tweak == T_ASYNC_RINGLESS)
			ahu = (void *)(self->rw + 1024);
		if (v->arg == 2 || v->tweak == T_ASYNC_RINGLESS)
			memcpy(ahu, &h, sizeof(h));
		mprotect(self->ro, PAGE, PROT_READ);
		r = async_exec(atom, ahu, size);
		break;
	case C_WAIT:
		make_head(self, &h, T_NONE);
		if (v->tweak == T_NSEC_BAD)
			ts.tv_nsec = 1000000000;
		if (v->tweak == T_NEG)
			ts.tv_sec = -1;
		if (v->tweak == T_MIN_HUGE)
			min_events = ~0UL;
		if (v->arg == 2) {
			tsp = place(self, v->kind, &ts, sizeof(ts), 8);
			ahu = (void *)(self->rw + 1024);
			memcpy(ahu, &h, sizeof(h));
		} else {
			ahu = place(self, v->arg == 1 ? v->kind : K_VALID,
				    &h, sizeof(h), 40);
			tsp = (void *)(self->rw + 1536);
			memcpy(tsp, &ts, sizeof(ts));
		}
		if (v->tweak == T_REGISTER_FIRST || v->arg != 1 ||
		    v->tweak == T_WAIT_AHEAD)
			ASSERT_EQ(0, async_register(ahu, HSZ));
		if (v->tweak == T_WAIT_AHEAD)
			ahu->user_ring_idx = 5;
		mprotect(self->ro, PAGE, PROT_READ);
		r = async_wait(min_events, ahu, tsp);
		break;
	case C_THREAD:
		make_head(self, &h, T_NONE);
		if (v->arg == 0) {
			event = place(self, v->kind, &h, sizeof(h), 40);
			ahu = (void *)(self->rw + 1024);
		} else {
			ahu = place(self, v->kind, &h, sizeof(h), 40);
		}
		r = syscall(__NR_async_thread, event, ahu);
		break;
	case C_UMEM:
	default:
		if (v->tweak == T_WRAP) {
			word = ~0ULL;
			inc = 2;
		}
		wp = place(self, v->kind, &word, sizeof(word), 4);
		mprotect(self->ro, PAGE, PROT_READ);
		r = umem_add(wp, inc);
		break;
	}
	if (r < 0)
		r = -errno;

	switch (want) {
	case EXP_OBJ:
		EXPECT_EQ((long)atom, r);
		break;
	case EXP_OBJ_NEXT:
		EXPECT_EQ((long)(atom + 1), r);
		break;
	case EXP_SUM:
		EXPECT_EQ((long)(word + inc), r);
		EXPECT_EQ(word + inc, *wp);
		break;
	default:
		EXPECT_EQ(want, r);
		break;
	}

	/* Nothing else happened: the atom ran or it did not. */
	if (v->call == C_EXEC) {
		bool next = v->tweak == T_NEXT_UNMAPPED ||
			    v->tweak == T_NEXT_KERNEL ||
			    v->tweak == T_NEXT_MISALIGNED;

		long ran = want >= 0 || next ? getpid() : SENTINEL;

		if (v->tweak == T_NR_HUGE || v->tweak == T_NR_FORBIDDEN)
			ran = -no_such_syscall;
		EXPECT_EQ(ran, *self->ret);
	}
	if (v->call == C_UMEM && v->kind == K_READONLY)
		EXPECT_EQ(word, *wp);
	for (int i = 0; i < 8; i++)
		EXPECT_EQ(0, self->ring[i]);
}

/* ------------------------------------------------------ 1: umem_add */

struct umem_race {
	uint64_t *word;
	atomic_int stop;
	long added, faulted, bad;
};

static void *umem_flipper(void *arg)
{
	struct umem_race *u = arg;
	void *page = (void *)((uintptr_t)u->word & ~(PAGE - 1));

	while (!u->stop) {
		mprotect(page, PAGE, PROT_READ);
		sched_yield();
		mprotect(page, PAGE, PROT_READ | PROT_WRITE);
	}
	return NULL;
}

/*
 * One writer adds 0x100 while another thread flips the word's page
 * between read-only and writable: a write only the sum may ever reach
 * user memory, so the low byte stays 0x1e and the word ends at start +
 * 0x100 per successful call.  (A fault-in that probes by writing a zero
 * byte clobbers it.)
 */
TEST(umem_add_writes_only_the_sum)
{
	const uint64_t start = 0x123456789abc571eULL;
	struct umem_race u = { 0 };
	pthread_t t;
	time_t end = time(NULL) + 6;
	long iter = 0;
	char *page;

	page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, page);
	u.word = (uint64_t *)page;	/* page offset 0: the probe's target */
	*u.word = start;
	ASSERT_EQ(0, pthread_create(&t, NULL, umem_flipper, &u));
	while (time(NULL) < end && !u.bad) {
		long r = umem_add(u.word, 0x100);

		iter++;
		if (r == -1 && errno == EFAULT) {
			u.faulted++;
			continue;
		}
		if (r == -1) {
			u.bad++;
			TH_LOG("umem_add: %s", strerror(errno));
			break;
		}
		u.added++;
		if ((uint64_t)r != start + 0x100 * u.added) {
			TH_LOG("umem_add returned %#lx after %ld adds, want %#llx",
			       r, u.added,
			       (unsigned long long)(start + 0x100 * u.added));
			u.bad++;
		}
	}
	u.stop = 1;
	pthread_join(t, NULL);
	mprotect(page, PAGE, PROT_READ | PROT_WRITE);
	TH_LOG("%ld calls: %ld added, %ld -EFAULT", iter, u.added, u.faulted);
	EXPECT_EQ(0, u.bad);
	EXPECT_EQ(start + 0x100 * u.added, *u.word);
	EXPECT_GT(u.added, 0);
	EXPECT_GT(u.faulted, 0);
}

/* ------------------------------------------- 2: posting exactly once */

static int wait_slots(uint64_t *slots, int n, int ms)
{
	for (int i = 0; i < ms; i++) {
		int full = 0;

		for (int j = 0; j < n; j++)
			full += !!__atomic_load_n(&slots[j], __ATOMIC_ACQUIRE);
		if (full >= n)
			return 0;
		usleep(1000);
	}
	return -1;
}

/*
 * The head's page turns read-only after registration: the kernel can
 * write ring slots but not kernel_ring_idx.  Each completion must still
 * be in the ring exactly once; async_wait() says -EFAULT (the head is
 * not writable) and, once it is again, republishes the index.
 */
TEST(completion_posted_once_when_head_is_readonly)
{
	char *mem = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct async_head_user *h = (void *)mem;
	uint64_t *slots = (uint64_t *)(mem + PAGE);
	struct syslet_uatom atoms[4];
	int64_t rets[4];
	long r;

	ASSERT_NE(MAP_FAILED, mem);
	h->completion_ring = PTR(slots);
	h->ring_size_bytes = 16 * sizeof(uint64_t);
	ASSERT_EQ(0, async_register(h, HSZ));
	ASSERT_EQ(0, mprotect(mem, PAGE, PROT_READ));
	for (int i = 0; i < 3; i++) {
		init_atom(&atoms[i], __NR_getpid, NULL, NULL, NULL, NULL,
			  NULL, NULL, &rets[i], SYSLET_ASYNC, NULL);
		ASSERT_EQ(0, async_exec(&atoms[i], h, HSZ));
		/* one at a time: the ring order is then known */
		ASSERT_EQ(0, wait_slots(slots, i + 1, 10000));
	}
	usleep(200000);
	r = async_wait(1, h, &ten_seconds);
	EXPECT_EQ(-1, r);
	EXPECT_EQ(EFAULT, errno);
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(PTR(&atoms[i]), slots[i]);
	for (int i = 3; i < 16; i++) {
		int slot = i;

		EXPECT_EQ(0, slots[slot]) TH_LOG("slot %d: a duplicate", slot);
	}

	ASSERT_EQ(0, mprotect(mem, PAGE, PROT_READ | PROT_WRITE));
	EXPECT_EQ(3, async_wait(3, h, &ten_seconds));
	EXPECT_EQ(3, h->kernel_ring_idx);
	init_atom(&atoms[3], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &rets[3], SYSLET_ASYNC, NULL);
	ASSERT_EQ(0, async_exec(&atoms[3], h, HSZ));
	EXPECT_EQ(4, async_wait(4, h, &ten_seconds));
	EXPECT_EQ(PTR(&atoms[3]), slots[3]);
	EXPECT_EQ(0, slots[4]);
	EXPECT_EQ(4, h->kernel_ring_idx);
	EXPECT_EQ(0, h->status);
}

/*
 * The ring's page turns read-only: the completion cannot be written and
 * is held back (once), flagged in the status word; once the ring is
 * writable again it arrives exactly once.
 */
TEST(completion_held_back_once_when_ring_is_readonly)
{
	char *mem = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct async_head_user *h = (void *)mem;
	uint64_t *slots = (uint64_t *)(mem + PAGE);
	struct syslet_uatom a;
	int64_t ret;
	long r;

	ASSERT_NE(MAP_FAILED, mem);
	h->completion_ring = PTR(slots);
	h->ring_size_bytes = 16 * sizeof(uint64_t);
	ASSERT_EQ(0, async_register(h, HSZ));
	ASSERT_EQ(0, mprotect(slots, PAGE, PROT_READ));
	init_atom(&a, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL, &ret,
		  SYSLET_ASYNC, NULL);
	ASSERT_EQ(0, async_exec(&a, h, HSZ));
	for (int i = 0; i < 500 && !(h->status & SYSLET_HEAD_RING_OVERFLOW); i++)
		usleep(10000);
	EXPECT_EQ(SYSLET_HEAD_RING_OVERFLOW, h->status);
	r = async_wait(1, h, &ten_seconds);
	EXPECT_EQ(-1, r);
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0, h->kernel_ring_idx);
	ASSERT_EQ(0, mprotect(slots, PAGE, PROT_READ | PROT_WRITE));
	EXPECT_EQ(1, async_wait(1, h, &ten_seconds));
	EXPECT_EQ(PTR(&a), slots[0]);
	for (int i = 1; i < 16; i++)
		EXPECT_EQ(0, slots[i]);
	EXPECT_EQ(1, h->kernel_ring_idx);
	EXPECT_EQ(0, h->status);
}

/* -------------------------------------------------- 3: NO_COMPLETE */

/*
 * A (plain) -> B (NO_COMPLETE, bad argument pointer): B never ran, the
 * chain ended on A, and A is posted.  A (NO_COMPLETE) -> B (unknown
 * flag): the chain ended on A, which is not posted.  In a pool thread
 * and in a cachemiss worker.
 */
static void no_complete_case(struct __test_metadata *_metadata, bool worker,
			     bool a_no_complete)
{
	static struct test_ring r;
	struct syslet_uatom a, b;
	struct pipe_read pr;
	int64_t ra = SENTINEL, rb = SENTINEL;
	pthread_t t;
	long rc;

	ASSERT_EQ(0, ring_setup(&r, 8, 0));
	init_atom(&a, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL, &ra,
		  a_no_complete ? SYSLET_NO_COMPLETE : 0, &b);
	init_atom(&b, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL, &rb,
		  a_no_complete ? 0x1000 : SYSLET_NO_COMPLETE, NULL);
	/* a page that stays inaccessible (an unmapped one may be reused) */
	if (!a_no_complete)
		b.arg_ptr[0] = PTR(mmap(NULL, PAGE, PROT_NONE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	if (worker) {
		/* the read blocks and hands off; A and B run in the worker */
		ASSERT_EQ(0, pipe_read_init(&pr, 0));
		pr.atom.next = PTR(&a);
		ASSERT_EQ(0, pthread_create(&t, NULL, write_later, &pr));
		rc = async_exec(&pr.atom, &r.head, HSZ);
		pthread_join(t, NULL);
	} else {
		a.flags |= SYSLET_ASYNC;
		rc = async_exec(&a, &r.head, HSZ);
	}
	ASSERT_EQ(0, rc) TH_LOG("did not go asynchronous");
	rc = async_wait(1, &r.head, &ten_seconds);
	if (a_no_complete) {
		EXPECT_EQ(0, rc);
		EXPECT_EQ(0, r.slots[0]);
	} else {
		EXPECT_EQ(1, rc);
		EXPECT_EQ(PTR(&a), r.slots[0]);
	}
	EXPECT_EQ(getpid(), ra);
	EXPECT_EQ(SENTINEL, rb);
	if (worker)
		pipe_read_close(&pr);
}

TEST(no_complete_of_failed_atom_ignored_pool)
{
	no_complete_case(_metadata, false, false);
}

TEST(no_complete_of_failed_atom_ignored_worker)
{
	no_complete_case(_metadata, true, false);
}

TEST(no_complete_of_last_run_atom_honoured_pool)
{
	no_complete_case(_metadata, false, true);
}

TEST(no_complete_of_last_run_atom_honoured_worker)
{
	no_complete_case(_metadata, true, true);
}

/* ------------------------------------------------------- 4: limits */

/* Register ring-less heads at consecutive addresses until it fails. */
static long register_many(struct async_head_user *heads, long max, int *err)
{
	long n;

	for (n = 0; n < max; n++) {
		if (async_register(&heads[n], HSZ)) {
			*err = errno;
			return n;
		}
	}
	*err = 0;
	return n;
}

TEST(heads_per_process_bounded)
{
	size_t len = (SYSLET_MAX_HEADS + 8) * HSZ;
	struct async_head_user *heads = mmap(NULL, len, PROT_READ | PROT_WRITE,
					     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct syslet_uatom a;
	int64_t ret;
	int err;

	ASSERT_NE(MAP_FAILED, heads);
	EXPECT_EQ(SYSLET_MAX_HEADS,
		  register_many(heads, SYSLET_MAX_HEADS + 8, &err));
	EXPECT_EQ(EMFILE, err);
	/* a lazily set-up ring counts alike */
	init_atom(&a, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL, &ret,
		  0, NULL);
	EXPECT_EQ(-1, async_exec(&a, &heads[SYSLET_MAX_HEADS + 1], HSZ));
	EXPECT_EQ(EMFILE, errno);
	/* known rings still work, and unregistering makes room */
	EXPECT_EQ((long)&a, async_exec(&a, &heads[0], HSZ));
	EXPECT_EQ(0, async_unregister(&heads[0], HSZ));
	EXPECT_EQ((long)&a, async_exec(&a, &heads[SYSLET_MAX_HEADS + 1], HSZ));
}

/* Exiting with the most rings a process may have is quick. */
TEST(heads_teardown_is_quick)
{
	struct timespec t0, t1;
	pid_t pid;
	int status;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		size_t len = SYSLET_MAX_HEADS * HSZ;
		struct async_head_user *heads = mmap(NULL, len,
				PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int err;

		_exit(register_many(heads, SYSLET_MAX_HEADS, &err) !=
		      SYSLET_MAX_HEADS);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	EXPECT_EQ(0, status);
	EXPECT_LT(t1.tv_sec - t0.tv_sec, 20);
}

#define USER_MAX "/proc/sys/user/max_syslet_heads"

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/*
 * Two processes of one user: together they may not have more rings
 * than /proc/sys/user/max_syslet_heads; the second gets -ENOSPC, and
 * the count drops when the first exits.
 */
TEST(heads_per_user_bounded)
{
	long old = read_long(USER_MAX), limit = SYSLET_MAX_HEADS + 100;
	size_t len = SYSLET_MAX_HEADS * HSZ;
	int go[2], done[2];
	pid_t first;
	struct async_head_user *heads;
	long n;
	int err;

	ASSERT_LT(0, old) TH_LOG("no " USER_MAX);
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(done));
	ASSERT_EQ(0, write_long(USER_MAX, limit));
	first = fork();
	ASSERT_LE(0, first);
	if (!first) {
		char c;

		heads = mmap(NULL, len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		n = register_many(heads, SYSLET_MAX_HEADS, &err);
		c = n == SYSLET_MAX_HEADS;
		if (write(done[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(2);
		_exit(0);
	}
	{
		char c = 0;

		ASSERT_EQ(1, read(done[0], &c, 1));
		EXPECT_EQ(1, c);
	}
	/* This process may still have other rings of its own: use a child. */
	{
		pid_t second = fork();
		int status;

		if (!second) {
			heads = mmap(NULL, len, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			n = register_many(heads, SYSLET_MAX_HEADS, &err);
			printf("# second process: %ld rings, then %s\n", n,
			       strerror(err));
			_exit(!(n == 100 && err == ENOSPC));
		}
		waitpid(second, &status, 0);
		EXPECT_EQ(0, status);
	}
	ASSERT_EQ(1, write(go[1], "x", 1));
	waitpid(first, NULL, 0);
	{
		pid_t third = fork();
		int status;

		if (!third) {
			heads = mmap(NULL, len, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			n = register_many(heads, SYSLET_MAX_HEADS, &err);
			_exit(n != SYSLET_MAX_HEADS);
		}
		waitpid(third, &status, 0);
		EXPECT_EQ(0, status) TH_LOG("rings of an exited process still count");
	}
	write_long(USER_MAX, old);
}

/* ------------------------------------------------ 6: unregister busy */

struct busy_chain {
	struct test_ring *r;
	struct pipe_read pr;
	long rc;
};

static void *run_blocking_sync(void *arg)
{
	struct busy_chain *b = arg;

	b->rc = async_exec(&b->pr.atom, &b->r->head, HSZ);
	return NULL;
}

/*
 * A SYSLET_SYNC chain that names a ring runs (blocked in a read) in
 * another thread: async_unregister() is -EBUSY until it has ended.
 */
TEST(unregister_busy_while_cached_chain_runs)
{
	static struct test_ring r;
	struct busy_chain b = { .r = &r };
	pthread_t t;

	ASSERT_EQ(0, ring_setup(&r, 8, 0));
	ASSERT_EQ(0, pipe_read_init(&b.pr, SYSLET_SYNC));
	b.pr.reader = 0;
	ASSERT_EQ(0, pthread_create(&t, NULL, run_blocking_sync, &b));
	usleep(300000);
	EXPECT_EQ(-1, async_unregister(&r.head, HSZ));
	EXPECT_EQ(EBUSY, errno);
	ASSERT_EQ(4, write(b.pr.p[1], "done", 4));
	pthread_join(t, NULL);
	EXPECT_EQ((long)&b.pr.atom, b.rc);
	EXPECT_EQ(4, b.pr.ret);
	EXPECT_EQ(0, async_unregister(&r.head, HSZ));
	pipe_read_close(&b.pr);
}

/* --------------------------------------------------------- 7: SUD */

static atomic_char sud_selector;
static atomic_int sud_sigsys;

static void on_sud_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	sud_selector = SYSCALL_DISPATCH_FILTER_ALLOW;
	sud_sigsys++;
}

/*
 * Syscall User Dispatch is on, the selector at ALLOW.  The chain's first
 * atom reads BLOCK into the selector; the next atom, which dispatch
 * would send to the SIGSYS handler, ends the chain with the no-such-call
 * errno and no SIGSYS; async_exec() returns normally with that atom.
 */
TEST(sud_blocked_atom_ends_chain_without_sigsys)
{
	struct sigaction sa = { .sa_sigaction = on_sud_sigsys,
				.sa_flags = SA_SIGINFO };
	struct syslet_uatom a[3];
	int64_t ra = SENTINEL, rb = SENTINEL, rc = SENTINEL;
	uint64_t fd, buf = PTR(&sud_selector), len = 1;
	int p[2];
	char block = SYSCALL_DISPATCH_FILTER_BLOCK;
	long r;

	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(1, write(p[1], &block, 1));
	fd = p[0];
	ASSERT_EQ(0, sigaction(SIGSYS, &sa, NULL));
	init_atom(&a[0], __NR_read, &fd, &buf, &len, NULL, NULL, NULL, &ra,
		  0, &a[1]);
	init_atom(&a[1], __NR_getppid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &rb, 0, &a[2]);
	init_atom(&a[2], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &rc, 0, NULL);
	sud_selector = SYSCALL_DISPATCH_FILTER_ALLOW;
	ASSERT_EQ(0, prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON,
			   0, 0, &sud_selector));
	r = async_exec(&a[0], NULL, 0);
	/* no system call until the selector allows them again */
	sud_selector = SYSCALL_DISPATCH_FILTER_ALLOW;
	prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0);
	EXPECT_EQ((long)&a[1], r);
	EXPECT_EQ(1, ra);
	EXPECT_EQ(-no_such_syscall, rb);
	EXPECT_EQ(SENTINEL, rc);
	EXPECT_EQ(0, sud_sigsys);
}

/* -------------------------------------------------------- 8: PKRU */

static int cpu_has_pku(void)
{
	unsigned int a = 7, b, c = 0, d;

	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return !!(c & (1 << 4));	/* OSPKE: the OS enabled PKRU */
}

static inline unsigned int rdpkru(void)
{
	unsigned int eax, edx, ecx = 0;

	__asm__ volatile(".byte 0x0f,0x01,0xee" : "=a"(eax), "=d"(edx) : "c"(ecx));
	return eax;
}

static inline void wrpkru(unsigned int pkru)
{
	unsigned int ecx = 0, edx = 0;

	__asm__ volatile(".byte 0x0f,0x01,0xef" : : "a"(pkru), "c"(ecx), "d"(edx));
}

/*
 * A thread that revoked its access to a protection key gets -EFAULT from
 * write() and read() on memory with that key; so do the same calls as
 * SYSLET_ASYNC atoms, in a pool thread made (and parked) while the
 * access was still granted.
 */
TEST(pkru_applies_to_async_chains)
{
	static struct test_ring r;
	char *secret;
	struct syslet_uatom a;
	int64_t ret = SENTINEL;
	uint64_t fd, buf, len = 8;
	int pkey, p[2];
	unsigned int pkru;
	char tmp[8];

	if (!cpu_has_pku())
		SKIP(return, "the CPU has no protection keys (no OSPKE)");
	pkey = syscall(__NR_pkey_alloc, 0, 0);
	ASSERT_LE(0, pkey) TH_LOG("pkey_alloc: %s", strerror(errno));
	secret = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, secret);
	memcpy(secret, "secret!", sizeof("secret!"));
	ASSERT_EQ(0, syscall(__NR_pkey_mprotect, secret, PAGE,
			     PROT_READ | PROT_WRITE, pkey));
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, ring_setup(&r, 8, 0));

	/* a pool thread, made and parked with access granted */
	fd = p[1];
	buf = PTR(secret);
	init_atom(&a, __NR_write, &fd, &buf, &len, NULL, NULL, NULL, &ret,
		  SYSLET_ASYNC, NULL);
	ASSERT_EQ(0, async_exec(&a, &r.head, HSZ));
	ASSERT_EQ(1, async_wait(1, &r.head, &ten_seconds));
	ASSERT_EQ(PTR(&a), test_ring_reap(&r));
	ASSERT_EQ(8, ret);
	ASSERT_EQ(8, read(p[0], tmp, 8));

	pkru = rdpkru();
	wrpkru(pkru | (3u << (2 * pkey)));	/* access and write disabled */
	EXPECT_EQ(-1, write(p[1], secret, 8));
	EXPECT_EQ(EFAULT, errno);

	ret = SENTINEL;
	EXPECT_EQ(0, async_exec(&a, &r.head, HSZ));
	EXPECT_EQ(1, async_wait(1, &r.head, &ten_seconds));
	EXPECT_EQ(PTR(&a), test_ring_reap(&r));
	EXPECT_EQ(-EFAULT, ret) TH_LOG("the pool thread read protected memory");

	/* a read() atom into protected memory */
	ASSERT_EQ(8, write(p[1], "intruder", 8));
	fd = p[0];
	ret = SENTINEL;
	init_atom(&a, __NR_read, &fd, &buf, &len, NULL, NULL, NULL, &ret,
		  SYSLET_ASYNC, NULL);
	EXPECT_EQ(0, async_exec(&a, &r.head, HSZ));
	EXPECT_EQ(1, async_wait(1, &r.head, &ten_seconds));
	EXPECT_EQ(PTR(&a), test_ring_reap(&r));
	EXPECT_EQ(-EFAULT, ret) TH_LOG("the pool thread wrote protected memory");
	wrpkru(pkru);
	EXPECT_STREQ("secret!", secret);
}

/* ---------------------------------------------- 9: index wrap-around */

/* Indices that start at 2^64 - 2 wrap; counts stay right. */
TEST(ring_indices_wrap)
{
	static struct test_ring r;
	struct syslet_uatom a[3];
	int64_t rets[3];

	test_ring_init(&r, 8, 0);
	r.head.kernel_ring_idx = -2ULL;
	r.head.user_ring_idx = -2ULL;
	ASSERT_EQ(0, async_register(&r.head, HSZ));
	for (int i = 0; i < 3; i++) {
		init_atom(&a[i], __NR_getpid, NULL, NULL, NULL, NULL, NULL,
			  NULL, &rets[i], SYSLET_ASYNC, NULL);
		ASSERT_EQ(0, async_exec(&a[i], &r.head, HSZ));
		ASSERT_EQ(i + 1, async_wait(i + 1, &r.head, &ten_seconds));
	}
	EXPECT_EQ(1, r.head.kernel_ring_idx);
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(PTR(&a[i]), test_ring_reap(&r));
	EXPECT_EQ(1, r.head.user_ring_idx);
	EXPECT_EQ(0, async_wait(1, &r.head, &ten_seconds));
}

TEST_HARNESS_MAIN
