// SPDX-License-Identifier: GPL-2.0
/*
 * Syslet selftests: the ABI, cached execution, chains, rings, waiting,
 * pool threads, and every bad input we can think of.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/ptrace.h>

#include "kselftest_harness.h"
#include "syslet.h"

#define HSZ sizeof(struct async_head_user)

/* ---------------------------------------------------------------- ABI */

TEST(abi_structs_flags_and_numbers_are_as_documented)
{
	ASSERT_EQ(88, sizeof(struct syslet_uatom));
	ASSERT_EQ(SYSLET_HEAD_SIZE_VER0, sizeof(struct async_head_user));
	ASSERT_EQ(0x1, SYSLET_ASYNC);
	ASSERT_EQ(0x80, SYSLET_SKIP_TO_NEXT_ON_STOP);
	ASSERT_EQ(463, __NR_async_register);
	ASSERT_EQ(468, __NR_umem_add);
}

TEST(every_syslet_syscall_is_wired_up)
{
	uint64_t v = 41;

	/* Every syslet syscall is wired up: none answers "no such call". */
	ASSERT_NE(0, no_such_syscall);
	ASSERT_EQ(42, umem_add(&v, 1));
	ASSERT_EQ(-1, async_register(NULL, HSZ));
	ASSERT_NE(no_such_syscall, errno);
	ASSERT_EQ(-1, async_unregister(NULL, HSZ));
	ASSERT_NE(no_such_syscall, errno);
	ASSERT_EQ(-1, async_exec(NULL, NULL, 0));
	ASSERT_NE(no_such_syscall, errno);
	ASSERT_EQ(-1, async_wait(0, NULL, NULL));
	ASSERT_NE(no_such_syscall, errno);
}

TEST(compat_int80_has_no_syslet_syscalls)
{
	long ret;

	/* The ia32 entry has no syslet syscalls. */
	asm volatile("int $0x80" : "=a"(ret) : "a"(465L), "b"(0L), "c"(0L),
		     "d"(0L) : "memory");
	ASSERT_EQ(-no_such_syscall, ret);
}

/* ------------------------------------------------------------ umem_add */

TEST(umem_add_stores_and_returns_the_sum)
{
	uint64_t v = 10;

	ASSERT_EQ(15, umem_add(&v, 5));
	ASSERT_EQ(15, v);
	ASSERT_EQ(14, umem_add(&v, (uint64_t)-1));
	ASSERT_EQ(14, v);
}

TEST(umem_add_refuses_misaligned_and_bad_pointers)
{
	uint64_t v[2] = { 0, 0 };
	void *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);

	ASSERT_EQ(-1, umem_add((uint64_t *)((char *)v + 4), 1));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, umem_add(NULL, 1));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, umem_add(unmapped_page(), 1));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, umem_add(KERNEL_ADDR, 1));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, umem_add(ro, 1));
	ASSERT_EQ(EFAULT, errno);
	munmap(ro, 4096);
}

struct adder {
	uint64_t *word;
	int n;
};

static void *add_many(void *arg)
{
	struct adder *a = arg;

	for (int i = 0; i < a->n; i++)
		umem_add(a->word, 1);
	return NULL;
}

TEST(umem_add_is_atomic)
{
	uint64_t word = 0;
	struct adder a = { &word, 20000 };
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, add_many, &a));
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ASSERT_EQ(80000, word);
}

/* --------------------------------------------------- cached execution */

TEST(cached_atom_returns_its_own_address_and_result)
{
	struct syslet_uatom atom;
	int64_t ret = 0;

	init_atom(&atom, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &ret, 0, NULL);
	ASSERT_EQ((long)&atom, async_exec(&atom, NULL, 0));
	ASSERT_EQ(getpid(), ret);
}

TEST(cached_chain_runs_in_the_callers_context)
{
	struct test_ring r;
	struct syslet_uatom a[3];
	int64_t ret[3] = { -1, -1, -1 };
	uint64_t fd = open("/dev/null", O_WRONLY), buf = PTR("xyz"), len = 3;
	struct rusage before, after;

	test_ring_init(&r, 8, 0);
	init_atom(&a[0], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &ret[0], 0, &a[1]);
	init_atom(&a[1], __NR_gettid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &ret[1], 0, &a[2]);
	init_atom(&a[2], __NR_write, &fd, &buf, &len, NULL, NULL, NULL,
		  &ret[2], 0, NULL);
	/* Set up the ring first: the set-up itself may allocate. */
	ASSERT_EQ((long)&a[2], async_exec(&a[2], &r.head, HSZ));

	ASSERT_EQ(0, getrusage(RUSAGE_THREAD, &before));
	ASSERT_EQ((long)&a[2], async_exec(&a[0], &r.head, HSZ));
	ASSERT_EQ(0, getrusage(RUSAGE_THREAD, &after));

	ASSERT_EQ(getpid(), ret[0]);
	ASSERT_EQ(gettid(), ret[1]);
	ASSERT_EQ(3, ret[2]);
	/* In the caller's context: no sleep, no switch to another thread. */
	ASSERT_EQ(before.ru_nvcsw, after.ru_nvcsw);
	/* Nothing went to the ring. */
	ASSERT_EQ(0, r.slots[0]);
	ASSERT_EQ(0, r.head.kernel_ring_idx);
}

TEST(args_read_up_to_first_null)
{
	struct syslet_uatom atom;
	int64_t ret = -1;
	uint64_t fd, whence = SEEK_END;
	char buf[100] = { 0 };

	fd = memfd_create("t", 0);
	ASSERT_EQ(100, write(fd, buf, sizeof(buf)));
	/* lseek(fd, <NULL: 0>, <ignored: SEEK_END>) must be lseek(fd, 0, 0). */
	init_atom(&atom, __NR_lseek, &fd, NULL, &whence, NULL, NULL, NULL,
		  &ret, 0, NULL);
	ASSERT_EQ((long)&atom, async_exec(&atom, NULL, 0));
	ASSERT_EQ(0, ret);
	close(fd);
}

TEST(ret_ptr_optional_and_errno_results)
{
	struct syslet_uatom atom;
	uint64_t path = PTR("/nonexistent"), flags = O_RDONLY;
	int64_t ret = 0;

	init_atom(&atom, __NR_open, &path, &flags, NULL, NULL, NULL, NULL,
		  NULL, 0, NULL);
	ASSERT_EQ((long)&atom, async_exec(&atom, NULL, 0));
	atom.ret_ptr = PTR(&ret);
	ASSERT_EQ((long)&atom, async_exec(&atom, NULL, 0));
	ASSERT_EQ(-ENOENT, ret);
}

/* ------------------------------------------------------------- chains */

struct stop_case {
	uint64_t flag;
	int64_t result;		/* what the first atom returns */
	int stops;
};

TEST(each_stop_flag_ends_the_chain_on_its_condition)
{
	/* getppid returns > 0; open of a missing file returns -ENOENT. */
	static const struct stop_case cases[] = {
		{ SYSLET_STOP_ON_NONZERO, 1, 1 },
		{ SYSLET_STOP_ON_NONZERO, -ENOENT, 1 },
		{ SYSLET_STOP_ON_ZERO, 1, 0 },
		{ SYSLET_STOP_ON_NEGATIVE, -ENOENT, 1 },
		{ SYSLET_STOP_ON_NEGATIVE, 1, 0 },
		{ SYSLET_STOP_ON_NON_POSITIVE, -ENOENT, 1 },
		{ SYSLET_STOP_ON_NON_POSITIVE, 1, 0 },
		{ 0, -ENOENT, 0 },
	};
	uint64_t path = PTR("/nonexistent"), oflags = O_RDONLY;

	for (unsigned int i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct stop_case *c = &cases[i];
		struct syslet_uatom a[2];
		int64_t ret[2] = { 12345, 12345 };

		if (c->result > 0)
			init_atom(&a[0], __NR_getppid, NULL, NULL, NULL, NULL,
				  NULL, NULL, &ret[0], c->flag, &a[1]);
		else
			init_atom(&a[0], __NR_open, &path, &oflags, NULL, NULL,
				  NULL, NULL, &ret[0], c->flag, &a[1]);
		init_atom(&a[1], __NR_getpid, NULL, NULL, NULL, NULL, NULL,
			  NULL, &ret[1], 0, NULL);
		EXPECT_EQ((long)(c->stops ? &a[0] : &a[1]),
			  async_exec(&a[0], NULL, 0)) TH_LOG("case %u", i);
		EXPECT_EQ(c->stops ? 12345 : getpid(), ret[1])
			TH_LOG("case %u", i);
	}
	/* STOP_ON_ZERO on a zero result. */
	{
		struct syslet_uatom a[2];
		int64_t ret[2] = { -1, 12345 };
		uint64_t zero = 0;

		init_atom(&a[1], __NR_getpid, NULL, NULL, NULL, NULL, NULL,
			  NULL, &ret[1], 0, NULL);
		init_atom(&a[0], __NR_umask, &zero, NULL, NULL, NULL, NULL,
			  NULL, &ret[0], 0, &a[1]);
		ASSERT_EQ((long)&a[1], async_exec(&a[0], NULL, 0));
		init_atom(&a[0], __NR_umask, &zero, NULL, NULL, NULL, NULL,
			  NULL, &ret[0], SYSLET_STOP_ON_ZERO, &a[1]);
		ret[1] = 12345;
		ASSERT_EQ((long)&a[0], async_exec(&a[0], NULL, 0));
		ASSERT_EQ(0, ret[0]);
		ASSERT_EQ(12345, ret[1]);
	}
}

TEST(skip_to_next_on_stop_branches_to_the_linear_next)
{
	struct syslet_uatom a[3];
	int64_t ret[3] = { 0, 0, 0 };
	uint64_t path = PTR("/nonexistent"), oflags = O_RDONLY;

	/* a[0] fails and stops: branch to a[1] (linear), not to a[2] (next). */
	init_atom(&a[0], __NR_open, &path, &oflags, NULL, NULL, NULL, NULL,
		  &ret[0], SYSLET_STOP_ON_NEGATIVE | SYSLET_SKIP_TO_NEXT_ON_STOP,
		  &a[2]);
	init_atom(&a[1], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &ret[1], 0, NULL);
	init_atom(&a[2], __NR_getppid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &ret[2], 0, NULL);
	ASSERT_EQ((long)&a[1], async_exec(&a[0], NULL, 0));
	ASSERT_EQ(-ENOENT, ret[0]);
	ASSERT_EQ(getpid(), ret[1]);
	ASSERT_EQ(0, ret[2]);

	/* Without a stop, next is followed. */
	path = PTR("/");
	ASSERT_EQ((long)&a[2], async_exec(&a[0], NULL, 0));
	ASSERT_GE(ret[0], 0);
	close(ret[0]);
	ASSERT_EQ(getppid(), ret[2]);
}

TEST(atom_reused_after_kernel_moved_on)
{
	/* Each atom is fetched once: the chain can rewrite an atom it ran. */
	struct syslet_uatom a[2];
	int64_t ret[2] = { 0, 0 };
	uint64_t fd = memfd_create("t", 0), buf, len = 8;
	uint64_t newnr = __NR_getppid;

	buf = PTR(&newnr);
	/* a[0]: pread of 8 bytes into a[1].nr (getpid -> getppid). */
	init_atom(&a[1], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &ret[1], 0, NULL);
	ASSERT_EQ(8, write(fd, &newnr, 8));
	buf = PTR(&a[1].nr);
	{
		uint64_t off = 0;

		init_atom(&a[0], __NR_pread64, &fd, &buf, &len, &off, NULL,
			  NULL, &ret[0], 0, &a[1]);
		a[1].nr = __NR_getpid;
		ASSERT_EQ((long)&a[1], async_exec(&a[0], NULL, 0));
	}
	ASSERT_EQ(8, ret[0]);
	ASSERT_EQ(getppid(), ret[1]);
	close(fd);
}

/* ----------------------------------------------------- refused calls */

TEST(refused_syscalls_end_the_chain_as_unknown_calls)
{
	static const long refused[] = {
		__NR_fork, __NR_vfork, __NR_clone, __NR_execve, __NR_exit,
		__NR_exit_group, __NR_rt_sigreturn, __NR_arch_prctl,
		__NR_set_tid_address, __NR_rseq, __NR_sigaltstack,
		__NR_rt_sigprocmask, __NR_setuid, __NR_setresuid,
		__NR_io_uring_setup, __NR_async_exec, __NR_async_wait,
		__NR_umem_add, __NR_clone3, __NR_prctl, __NR_seccomp,
		__NR_unshare, __NR_ptrace, 469, 1000, 0x40000000 | 39,
		-1,
	};

	for (unsigned int i = 0; i < ARRAY_SIZE(refused); i++) {
		struct syslet_uatom a[2];
		int64_t ret[2] = { 0, 12345 };

		init_atom(&a[0], refused[i], NULL, NULL, NULL, NULL, NULL,
			  NULL, &ret[0], 0, &a[1]);
		init_atom(&a[1], __NR_getpid, NULL, NULL, NULL, NULL, NULL,
			  NULL, &ret[1], 0, NULL);
		EXPECT_EQ((long)&a[0], async_exec(&a[0], NULL, 0))
			TH_LOG("nr %ld", refused[i]);
		EXPECT_EQ(-no_such_syscall, ret[0]) TH_LOG("nr %ld", refused[i]);
		EXPECT_EQ(12345, ret[1]) TH_LOG("nr %ld: chain went on",
						refused[i]);
	}
}

TEST(pi_futex_operations_are_refused)
{
	struct syslet_uatom atom;
	uint32_t word = 0;
	uint64_t uaddr = PTR(&word), op = 6 /* FUTEX_LOCK_PI */;
	int64_t ret = 0;

	init_atom(&atom, __NR_futex, &uaddr, &op, NULL, NULL, NULL, NULL,
		  &ret, 0, NULL);
	ASSERT_EQ((long)&atom, async_exec(&atom, NULL, 0));
	ASSERT_EQ(-no_such_syscall, ret);
	ASSERT_EQ(0, word);
}

/* ------------------------------------------------------- bad atoms */

TEST(bad_atom_pointers_are_refused)
{
	alignas(8) char buf[2 * sizeof(struct syslet_uatom)];
	struct syslet_uatom *mis = (void *)(buf + 4);

	ASSERT_EQ(-1, async_exec(NULL, NULL, 0));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, async_exec(unmapped_page(), NULL, 0));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, async_exec(KERNEL_ADDR, NULL, 0));
	ASSERT_EQ(EFAULT, errno);
	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(-1, async_exec(mis, NULL, 0));
	ASSERT_EQ(EINVAL, errno);
}

TEST(unknown_and_conflicting_flags_are_refused)
{
	struct syslet_uatom atom;
	int64_t ret = 12345;

	init_atom(&atom, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &ret, 0x100, NULL);
	ASSERT_EQ(-1, async_exec(&atom, NULL, 0));
	ASSERT_EQ(EINVAL, errno);
	atom.flags = 1ULL << 63;
	ASSERT_EQ(-1, async_exec(&atom, NULL, 0));
	ASSERT_EQ(EINVAL, errno);
	atom.flags = SYSLET_ASYNC | SYSLET_SYNC;
	ASSERT_EQ(-1, async_exec(&atom, NULL, 0));
	ASSERT_EQ(EINVAL, errno);
	/* ASYNC needs a ring. */
	atom.flags = SYSLET_ASYNC;
	ASSERT_EQ(-1, async_exec(&atom, NULL, 0));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(12345, ret);
}

TEST(bad_ret_and_arg_pointers_are_refused)
{
	struct syslet_uatom a[2];
	int64_t ret = 0;
	uint64_t fd = 0;

	init_atom(&a[0], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  (int64_t *)unmapped_page(), 0, NULL);
	ASSERT_EQ(-1, async_exec(&a[0], NULL, 0));
	ASSERT_EQ(EFAULT, errno);
	a[0].ret_ptr = PTR(KERNEL_ADDR);
	ASSERT_EQ(-1, async_exec(&a[0], NULL, 0));
	ASSERT_EQ(EFAULT, errno);

	init_atom(&a[0], __NR_close, KERNEL_ADDR, NULL, NULL, NULL, NULL,
		  NULL, &ret, 0, NULL);
	ASSERT_EQ(-1, async_exec(&a[0], NULL, 0));
	ASSERT_EQ(EFAULT, errno);
	a[0].arg_ptr[0] = PTR(unmapped_page());
	ASSERT_EQ(-1, async_exec(&a[0], NULL, 0));
	ASSERT_EQ(EFAULT, errno);

	/* A bad second atom: the first one ran, the chain is aborted. */
	init_atom(&a[0], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &ret, 0, unmapped_page());
	ASSERT_EQ(-1, async_exec(&a[0], NULL, 0));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(getpid(), ret);
	(void)fd;
}

/* ------------------------------------------------------------- heads */

TEST(bad_heads_are_refused)
{
	alignas(8) char big[8192];
	struct test_ring r;
	struct syslet_uatom atom;
	int64_t ret;

	init_atom(&atom, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &ret, 0, NULL);
	test_ring_init(&r, 8, 0);
	/* misaligned */
	ASSERT_EQ(-1, async_exec(&atom, (void *)((char *)&r.head + 4), HSZ));
	ASSERT_EQ(EINVAL, errno);
	/* too small, too big */
	ASSERT_EQ(-1, async_exec(&atom, &r.head, HSZ - 8));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, async_exec(&atom, &r.head, 8192));
	ASSERT_EQ(E2BIG, errno);
	/* larger than we know, non-zero tail */
	memset(big, 0, sizeof(big));
	memcpy(big, &r.head, HSZ);
	big[HSZ + 8] = 1;
	ASSERT_EQ(-1, async_exec(&atom, (void *)big, HSZ + 64));
	ASSERT_EQ(E2BIG, errno);
	/* larger than we know, zero tail: fine */
	big[HSZ + 8] = 0;
	ASSERT_EQ((long)&atom, async_exec(&atom, (void *)big, HSZ + 64));
	/* unmapped and kernel heads */
	ASSERT_EQ(-1, async_exec(&atom, unmapped_page(), HSZ));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, async_exec(&atom, KERNEL_ADDR, HSZ));
	ASSERT_EQ(EFAULT, errno);
	/* reserved fields */
	test_ring_init(&r, 8, 0);
	r.head.__reserved[3] = 1;
	ASSERT_EQ(-1, async_exec(&atom, &r.head, HSZ));
	ASSERT_EQ(EINVAL, errno);
	/* ring sizes */
	test_ring_init(&r, 8, 0);
	r.head.ring_size_bytes = 0;
	ASSERT_EQ(-1, async_register(&r.head, HSZ));
	ASSERT_EQ(EINVAL, errno);
	r.head.ring_size_bytes = 12;
	ASSERT_EQ(-1, async_register(&r.head, HSZ));
	ASSERT_EQ(EINVAL, errno);
	r.head.ring_size_bytes = 1ULL << 40;
	ASSERT_EQ(-1, async_register(&r.head, HSZ));
	ASSERT_EQ(EINVAL, errno);
	r.head.ring_size_bytes = 64;
	r.head.completion_ring = PTR(KERNEL_ADDR);
	ASSERT_EQ(-1, async_register(&r.head, HSZ));
	ASSERT_EQ(EFAULT, errno);
	/* thread bound */
	test_ring_init(&r, 8, 100000);
	ASSERT_EQ(-1, async_register(&r.head, HSZ));
	ASSERT_EQ(EINVAL, errno);
	/* indices */
	test_ring_init(&r, 8, 0);
	r.head.user_ring_idx = 1;
	ASSERT_EQ(-1, async_register(&r.head, HSZ));
	ASSERT_EQ(EINVAL, errno);
}

TEST(register_and_unregister_pair_up)
{
	struct test_ring r, r2;

	test_ring_init(&r, 8, 4);
	test_ring_init(&r2, 8, 4);
	ASSERT_EQ(-1, async_unregister(&r.head, HSZ));
	ASSERT_EQ(ENOENT, errno);
	ASSERT_EQ(0, async_register(&r.head, HSZ));
	ASSERT_EQ(-1, async_register(&r.head, HSZ));
	ASSERT_EQ(EBUSY, errno);
	ASSERT_EQ(0, async_register(&r2.head, HSZ));
	ASSERT_EQ(0, async_unregister(&r.head, HSZ));
	ASSERT_EQ(-1, async_unregister(&r.head, HSZ));
	ASSERT_EQ(ENOENT, errno);
	ASSERT_EQ(0, async_unregister(&r2.head, HSZ));
	/* A "no ring" head is fine for cached execution. */
	memset(&r.head, 0, sizeof(r.head));
	ASSERT_EQ(0, async_register(&r.head, HSZ));
	ASSERT_EQ(0, async_unregister(&r.head, HSZ));
}

/* -------------------------------------------- asynchronous execution */

TEST(hello_syslet_world_completes_in_the_ring)
{
	static struct test_ring r;
	const char *msg = "Hello Syslet World!\n";
	int p[2];
	uint64_t fd, buf = PTR(msg), len = strlen(msg);
	struct syslet_uatom atom;
	int64_t written = 0;
	char got[64] = { 0 };

	ASSERT_EQ(0, pipe(p));
	fd = p[1];
	test_ring_init(&r, 8, 0);
	init_atom(&atom, __NR_write, &fd, &buf, &len, NULL, NULL, NULL,
		  &written, SYSLET_ASYNC, NULL);
	ASSERT_EQ(0, async_exec(&atom, &r.head, HSZ));
	ASSERT_EQ(1, async_wait(1, &r.head, NULL));
	ASSERT_EQ(PTR(&atom), test_ring_reap(&r));
	ASSERT_EQ(1, r.head.kernel_ring_idx);
	ASSERT_EQ((int64_t)len, written);
	ASSERT_EQ((ssize_t)len, read(p[0], got, sizeof(got)));
	ASSERT_STREQ(msg, got);
}

TEST(async_pipe_read_completes_through_ring)
{
	static struct test_ring r;
	struct __kernel_timespec short_wait = { 0, 50 * 1000 * 1000 };
	struct pipe_read pr;

	ASSERT_EQ(0, pipe_read_init(&pr, SYSLET_ASYNC));
	test_ring_init(&r, 8, 0);
	ASSERT_EQ(0, async_exec(&pr.atom, &r.head, HSZ));
	/* Still blocked: the wait times out with nothing. */
	ASSERT_EQ(0, async_wait(1, &r.head, &short_wait));
	ASSERT_EQ(12345, pr.ret);
	ASSERT_EQ(0, r.slots[0]);
	/* In flight: cannot unregister. */
	ASSERT_EQ(-1, async_unregister(&r.head, HSZ));
	ASSERT_EQ(EBUSY, errno);

	ASSERT_EQ(5, write(pr.p[1], "hello", 5));
	ASSERT_EQ(1, async_wait(1, &r.head, NULL));
	ASSERT_EQ(PTR(&pr.atom), test_ring_reap(&r));
	ASSERT_EQ(5, pr.ret);
	ASSERT_STREQ("hello", pr.data);
	ASSERT_EQ(0, async_unregister(&r.head, HSZ));
}

TEST(async_wait_returns_early_when_idle)
{
	static struct test_ring r;

	test_ring_init(&r, 8, 0);
	/* Unknown ring: nothing pending. */
	ASSERT_EQ(0, async_wait(5, &r.head, NULL));
	ASSERT_EQ(0, async_register(&r.head, HSZ));
	ASSERT_EQ(0, async_wait(5, &r.head, NULL));
	ASSERT_EQ(0, async_unregister(&r.head, HSZ));
}

static void on_alarm(int sig)
{
	(void)sig;
}

TEST(async_wait_bad_input_and_eintr)
{
	static struct test_ring r;
	struct __kernel_timespec bad = { 0, 2000000000 };
	struct sigaction sa = { .sa_handler = on_alarm };
	struct pipe_read pr;

	ASSERT_EQ(-1, async_wait(1, NULL, NULL));
	ASSERT_EQ(EINVAL, errno);
	test_ring_init(&r, 8, 0);
	ASSERT_EQ(0, async_register(&r.head, HSZ));
	ASSERT_EQ(-1, async_wait(1, &r.head, &bad));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, async_wait(1, &r.head, unmapped_page()));
	ASSERT_EQ(EFAULT, errno);

	ASSERT_EQ(0, pipe_read_init(&pr, SYSLET_ASYNC));
	ASSERT_EQ(0, async_exec(&pr.atom, &r.head, HSZ));
	sigaction(SIGALRM, &sa, NULL);	/* no SA_RESTART */
	alarm(1);
	ASSERT_EQ(-1, async_wait(1, &r.head, NULL));
	ASSERT_EQ(EINTR, errno);
	ASSERT_EQ(1, write(pr.p[1], "x", 1));
	ASSERT_EQ(1, async_wait(1, &r.head, NULL));
	ASSERT_EQ(1, pr.ret);
}

TEST(ring_full_holds_completions_back)
{
	static struct test_ring r;
	struct syslet_uatom a[3];
	int64_t ret[3];
	int tries = 0;

	test_ring_init(&r, 2, 0);
	for (int i = 0; i < 3; i++) {
		init_atom(&a[i], __NR_getpid, NULL, NULL, NULL, NULL, NULL,
			  NULL, &ret[i], SYSLET_ASYNC, NULL);
		ASSERT_EQ(0, async_exec(&a[i], &r.head, HSZ));
		/* in order: let each complete before the next */
		while (r.head.kernel_ring_idx < (uint64_t)(i < 2 ? i + 1 : 2) &&
		       tries++ < 1000)
			usleep(1000);
	}
	while (!(__atomic_load_n(&r.head.status, __ATOMIC_ACQUIRE) &
		 SYSLET_HEAD_RING_OVERFLOW) && tries++ < 2000)
		usleep(1000);
	ASSERT_EQ(SYSLET_HEAD_RING_OVERFLOW, r.head.status);
	ASSERT_EQ(-1, async_wait(1, &r.head, NULL));
	ASSERT_EQ(EOVERFLOW, errno);
	ASSERT_EQ(PTR(&a[0]), test_ring_reap(&r));
	ASSERT_EQ(PTR(&a[1]), test_ring_reap(&r));
	/* Room again: the held-back completion comes out, nothing lost. */
	ASSERT_EQ(1, async_wait(1, &r.head, NULL));
	ASSERT_EQ(PTR(&a[2]), test_ring_reap(&r));
	ASSERT_EQ(0, r.head.status);
	ASSERT_EQ(3, r.head.kernel_ring_idx);
}

static void *write_byte_later(void *arg)
{
	usleep(100000);
	return (void *)(long)write(*(int *)arg, "x", 1);
}

/*
 * A process that submits and never reaps must not make the kernel hold
 * back completions without bound (each is a kernel allocation): once a
 * ring overflows, new chains for it complete in the caller.
 */
TEST(ring_overflow_bounds_held_back_completions)
{
	static struct test_ring r;
	struct syslet_uatom a[3], rd;
	int64_t ret[3], rd_ret = 0;
	uint64_t fd, buf, len = 1;
	int tries = 0, p[2];
	pthread_t writer;
	char c;

	test_ring_init(&r, 1, 0);
	for (int i = 0; i < 2; i++) {
		init_atom(&a[i], __NR_getpid, NULL, NULL, NULL, NULL, NULL,
			  NULL, &ret[i], SYSLET_ASYNC, NULL);
		ASSERT_EQ(0, async_exec(&a[i], &r.head, HSZ));
		while (!r.slots[0] && tries++ < 1000)
			usleep(1000);
	}
	while (!(__atomic_load_n(&r.head.status, __ATOMIC_ACQUIRE) &
		 SYSLET_HEAD_RING_OVERFLOW) && tries++ < 2000)
		usleep(1000);
	ASSERT_EQ(SYSLET_HEAD_RING_OVERFLOW, r.head.status);

	/* SYSLET_ASYNC: runs in the caller now, the return value tells. */
	init_atom(&a[2], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &ret[2], SYSLET_ASYNC, NULL);
	ASSERT_EQ((long)&a[2], async_exec(&a[2], &r.head, HSZ));
	ASSERT_EQ(getpid(), ret[2]);

	/* An atom that blocks is not handed off: the caller waits for it. */
	ASSERT_EQ(0, pipe(p));
	fd = p[0];
	buf = PTR(&c);
	init_atom(&rd, __NR_read, &fd, &buf, &len, NULL, NULL, NULL, &rd_ret,
		  0, NULL);
	ASSERT_EQ(0, pthread_create(&writer, NULL, write_byte_later, &p[1]));
	ASSERT_EQ((long)&rd, async_exec(&rd, &r.head, HSZ));
	ASSERT_EQ(1, rd_ret);
	ASSERT_EQ(0, pthread_join(writer, NULL));
	close(p[0]);
	close(p[1]);

	/* The two that went asynchronous come out in order, none lost. */
	ASSERT_EQ(PTR(&a[0]), test_ring_reap(&r));
	ASSERT_EQ(1, async_wait(1, &r.head, NULL));
	ASSERT_EQ(PTR(&a[1]), test_ring_reap(&r));
	ASSERT_EQ(0, r.head.status);
	ASSERT_EQ(2, r.head.kernel_ring_idx);

	/* Reaped: the ring takes asynchronous work again. */
	ASSERT_EQ(0, async_exec(&a[0], &r.head, HSZ));
	ASSERT_EQ(1, async_wait(1, &r.head, NULL));
	ASSERT_EQ(PTR(&a[0]), test_ring_reap(&r));
}

TEST(max_nr_threads_degrades_to_sync)
{
	static struct test_ring r;
	struct syslet_uatom rd[2], quick;
	int p[2][2];
	char c[2];
	uint64_t fd[2], buf[2], len = 1;
	int64_t ret[2], qret = 0;

	test_ring_init(&r, 8, 2);
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, pipe(p[i]));
		fd[i] = p[i][0];
		buf[i] = PTR(&c[i]);
		init_atom(&rd[i], __NR_read, &fd[i], &buf[i], &len, NULL, NULL,
			  NULL, &ret[i], SYSLET_ASYNC, NULL);
		ASSERT_EQ(0, async_exec(&rd[i], &r.head, HSZ));
	}
	/* Both pool slots busy: the third chain runs synchronously. */
	init_atom(&quick, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &qret, SYSLET_ASYNC, NULL);
	ASSERT_EQ((long)&quick, async_exec(&quick, &r.head, HSZ));
	ASSERT_EQ(getpid(), qret);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(1, write(p[i][1], "x", 1));
	ASSERT_EQ(2, async_wait(2, &r.head, NULL));
}

TEST(pool_threads_are_threads_of_the_process)
{
	static struct test_ring r;
	int before = count_threads();
	struct pipe_read pr;

	ASSERT_EQ(0, pipe_read_init(&pr, SYSLET_ASYNC));
	test_ring_init(&r, 8, 0);
	ASSERT_EQ(0, async_exec(&pr.atom, &r.head, HSZ));
	ASSERT_EQ(before + 1, count_threads());
	ASSERT_EQ(1, count_pool_threads());
	ASSERT_EQ(1, write(pr.p[1], "x", 1));
	ASSERT_EQ(1, async_wait(1, &r.head, NULL));
}

static int child_blocks_then(int how)
{
	static struct test_ring r;
	struct syslet_uatom atom;
	int p[2];
	char c;
	uint64_t fd, buf = PTR(&c), len = 1;
	int64_t ret;

	if (pipe(p))
		return 10;
	fd = p[0];
	test_ring_init(&r, 8, 0);
	for (int i = 0; i < 4; i++) {
		init_atom(&atom, __NR_read, &fd, &buf, &len, NULL, NULL, NULL,
			  &ret, SYSLET_ASYNC, NULL);
		if (async_exec(&atom, &r.head, HSZ) != 0)
			return 11;
	}
	switch (how) {
	case 0:
		syscall(__NR_exit_group, 7);
		break;
	case 1:
		syscall(__NR_exit, 7);	/* the only user thread leaves */
		break;
	case 2:
		execl("/bin/busybox", "true", NULL);
		execl("/bin/true", "true", NULL);
		return 12;
	}
	return 13;
}

TEST(exit_ends_blocked_pool_threads)
{
	for (int how = 0; how < 3; how++) {
		pid_t pid = fork();

		if (!pid)
			_exit(child_blocks_then(how));
		/* exec'd busybox "true" exits 0 */
		EXPECT_EQ(how == 2 ? 0 : 7, wait_exit(pid, 5000))
			TH_LOG("case %d", how);
	}
}

TEST(sigkill_ends_blocked_pool_threads)
{
	pid_t pid = fork();

	if (!pid) {
		child_blocks_then(3);
		pause();
		_exit(0);
	}
	usleep(200000);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(128 + SIGKILL, wait_exit(pid, 1000));
}

TEST(fork_child_has_no_pool_threads)
{
	static struct test_ring r;
	struct syslet_uatom atom;
	int64_t ret = 0;
	pid_t pid;

	test_ring_init(&r, 8, 0);
	init_atom(&atom, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &ret, SYSLET_ASYNC, NULL);
	ASSERT_EQ(0, async_exec(&atom, &r.head, HSZ));
	ASSERT_EQ(1, async_wait(1, &r.head, NULL));
	ASSERT_EQ(PTR(&atom), test_ring_reap(&r));
	pid = fork();
	if (!pid) {
		/* Only us: the parent's pool thread stayed with the parent. */
		if (count_threads() != 1)
			_exit(1);
		/* And syslets work in the child from scratch. */
		ret = 0;
		if (async_exec(&atom, &r.head, HSZ) != 0 ||
		    async_wait(1, &r.head, NULL) != 1 || ret != getpid())
			_exit(2);
		_exit(0);
	}
	ASSERT_EQ(0, wait_exit(pid, 5000));
}

/* --------------------------------------------- signals and killability */

TEST(cached_eintr_never_leaks_restart_codes)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct syslet_uatom a[2];
	int p[2];
	char c;
	uint64_t fd, buf = PTR(&c), len = 1;
	int64_t ret[2] = { 0, 12345 };

	ASSERT_EQ(0, pipe(p));
	fd = p[0];
	sigaction(SIGALRM, &sa, NULL);
	init_atom(&a[0], __NR_read, &fd, &buf, &len, NULL, NULL, NULL,
		  &ret[0], SYSLET_SYNC, &a[1]);
	init_atom(&a[1], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &ret[1], 0, NULL);
	alarm(1);
	ASSERT_EQ((long)&a[0], async_exec(&a[0], NULL, 0));
	ASSERT_EQ(-EINTR, ret[0]);
	ASSERT_EQ(12345, ret[1]);
}

TEST(endless_chain_is_killable)
{
	pid_t pid = fork();

	if (!pid) {
		struct syslet_uatom atom;

		init_atom(&atom, __NR_getpid, NULL, NULL, NULL, NULL, NULL,
			  NULL, NULL, 0, NULL);
		atom.next = PTR(&atom);
		async_exec(&atom, NULL, 0);
		_exit(1);
	}
	usleep(200000);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(128 + SIGKILL, wait_exit(pid, 2000));
}

/* ------------------------------------------------ seccomp and ptrace */

static int deny_getppid(void)
{
	return seccomp_filter_nr(__NR_getppid, SECCOMP_RET_ERRNO | 99, 0);
}

TEST(seccomp_filter_applies_to_atoms)
{
	static struct test_ring r;
	struct syslet_uatom atom;
	int64_t ret = 0;

	test_ring_init(&r, 8, 0);
	/* A pool thread that exists before the filter... */
	init_atom(&atom, __NR_getppid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &ret, SYSLET_ASYNC, NULL);
	ASSERT_EQ(0, async_exec(&atom, &r.head, HSZ));
	ASSERT_EQ(1, async_wait(1, &r.head, NULL));
	ASSERT_EQ(PTR(&atom), test_ring_reap(&r));
	ASSERT_EQ(getppid(), ret);

	ASSERT_EQ(0, deny_getppid());
	ASSERT_EQ(-1, syscall(__NR_getppid));
	ASSERT_EQ(99, errno);

	/* ...is not used for atoms submitted after it: all are filtered. */
	ret = 0;
	ASSERT_EQ(0, async_exec(&atom, &r.head, HSZ));
	ASSERT_EQ(1, async_wait(1, &r.head, NULL));
	ASSERT_EQ(PTR(&atom), test_ring_reap(&r));
	ASSERT_EQ(-99, ret);

	/* cached */
	atom.flags = 0;
	ret = 0;
	ASSERT_EQ((long)&atom, async_exec(&atom, &r.head, HSZ));
	ASSERT_EQ(-99, ret);
}

TEST(ptrace_sees_atom_syscalls)
{
	int status, nr_stops = 0, entries = 0, async_exec_entries = 0;
	int getppid_at = 0, expect_entry = 1;
	pid_t pid = fork();

	if (!pid) {
		struct syslet_uatom atom;
		int64_t ret;

		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		init_atom(&atom, __NR_getppid, NULL, NULL, NULL, NULL, NULL,
			  NULL, &ret, 0, NULL);
		async_exec(&atom, NULL, 0);
		_exit(ret == getppid() ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSTOPPED(status));
	ASSERT_EQ(0, ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD));
	for (;;) {
		struct ptrace_syscall_info info;

		ASSERT_EQ(0, ptrace(PTRACE_SYSCALL, pid, 0, 0));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		if (WIFEXITED(status))
			break;
		if (!WIFSTOPPED(status) || WSTOPSIG(status) != (SIGTRAP | 0x80))
			continue;
		ASSERT_LT(0, ptrace(PTRACE_GET_SYSCALL_INFO, pid,
				    sizeof(info), &info));
		nr_stops++;
		/* Entry and exit stops alternate, as tracers expect. */
		ASSERT_EQ(expect_entry, info.op == PTRACE_SYSCALL_INFO_ENTRY)
			TH_LOG("stop %d: op %d", nr_stops, info.op);
		expect_entry = !expect_entry;
		if (info.op != PTRACE_SYSCALL_INFO_ENTRY)
			continue;
		entries++;
		if (info.entry.nr == __NR_async_exec)
			async_exec_entries++;
		if (info.entry.nr == __NR_getppid && async_exec_entries == 1 &&
		    !getppid_at)
			getppid_at = entries;
	}
	ASSERT_EQ(0, WEXITSTATUS(status));
	/*
	 * async_exec, the atom's getppid, then async_exec again for its
	 * real return: "async_exec() = 0, getppid() = N, async_exec() = atom".
	 */
	ASSERT_EQ(2, async_exec_entries);
	ASSERT_NE(0, getppid_at);
}

TEST_HARNESS_MAIN
