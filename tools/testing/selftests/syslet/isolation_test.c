// SPDX-License-Identifier: GPL-2.0
/*
 * Syslet selftests: isolation.
 *
 * Nothing in the syslet ABI names anything outside the caller's own
 * process and address space: a forked child cannot reach its parent's
 * ring, kernel addresses are refused wherever a user pointer goes.
 * What runs off the caller's context (pool threads, cachemiss workers)
 * is limited to what needs no context of its own (no driver ioctls, no
 * CLOSE_RANGE_UNSHARE), and a pool thread or spare made before the
 * submitter changed its credentials, files, namespaces, seccomp filter,
 * syscall user dispatch, no_new_privs, parent-death signal or CPU timers
 * never runs the submitter's atoms with the state it had before.
 *
 * The seccomp, credential, ptrace and resource-limit boundaries are in
 * security_test.c; both share security.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/seccomp.h>

#include <sys/personality.h>
#include <sys/mount.h>
#include <sys/file.h>
#include <termios.h>
#include <time.h>

#include "security.h"

/* ------------------------------------------- no cross-process reach */

/*
 * Heads are named by user address in the caller's own process: a child
 * after fork() that uses the same address has its own ring, and can
 * neither wait on, unregister nor complete into the parent's.
 */
static struct test_ring xp_ring;

static int xp_child(void *arg)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct syslet_uatom a;
	int64_t ret = SENTINEL;
	long n;

	(void)arg;
	/* The parent's ring has a chain in flight: waiting on it blocks. */
	sigaction(SIGALRM, &sa, NULL);
	alarm(3);
	n = async_wait(1, &xp_ring.head, NULL);
	alarm(0);
	if (n != 0)
		return 10;
	if (async_unregister(&xp_ring.head, HSZ) != -1 || errno != ENOENT)
		return 11;
	/* Our own ring at the same address, in our copy of the memory. */
	init_atom(&a, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL, &ret,
		  SYSLET_ASYNC, NULL);
	if (async_exec(&a, &xp_ring.head, HSZ) != 0)
		return 12;
	if (async_wait(1, &xp_ring.head, &ten_seconds) != 1)
		return 13;
	if (ret != getpid())
		return 14;
	return 0;
}

TEST(forked_child_cannot_reach_parent_ring)
{
	struct pipe_read pr;
	uint64_t idx, slot;

	test_ring_init(&xp_ring, 8, 0);
	ASSERT_EQ(0, pipe_read_init(&pr, SYSLET_ASYNC));
	ASSERT_EQ(0, async_exec(&pr.atom, &xp_ring.head, HSZ));
	/* The child's ring state is a copy: it starts where ours was. */
	ASSERT_EQ(0, run_child(xp_child, NULL, 20000))
		TH_LOG("10: waited on the parent's ring, 11: unregistered it, 12-14: own ring");
	/* Nothing of the child's reached our ring. */
	idx = xp_ring.head.kernel_ring_idx;
	slot = xp_ring.slots[0];
	ASSERT_EQ(0, idx);
	ASSERT_EQ(0, slot);
	ASSERT_EQ(-1, async_unregister(&xp_ring.head, HSZ));
	ASSERT_EQ(EBUSY, errno);
	ASSERT_EQ(1, write(pr.p[1], "x", 1));
	ASSERT_EQ(1, async_wait(1, &xp_ring.head, &ten_seconds));
	ASSERT_EQ(PTR(&pr.atom), test_ring_reap(&xp_ring));
	ASSERT_EQ(1, xp_ring.head.kernel_ring_idx);
	ASSERT_EQ(0, async_unregister(&xp_ring.head, HSZ));
	pipe_read_close(&pr);
}

TEST(async_wait_on_a_head_never_used)
{
	static struct test_ring r;

	test_ring_init(&r, 8, 0);
	/* Nothing in flight, no ring set up: returns at once with 0. */
	ASSERT_EQ(0, async_wait(1, &r.head, NULL));
	ASSERT_EQ(-1, async_unregister(&r.head, HSZ));
	ASSERT_EQ(ENOENT, errno);
	/* ...and did not set one up either. */
	ASSERT_EQ(0, async_register(&r.head, HSZ));
	ASSERT_EQ(0, async_unregister(&r.head, HSZ));
}

/* Kernel addresses are never user pointers, wherever they appear. */
TEST(kernel_addresses_as_heads)
{
	static struct test_ring r;
	unsigned long end = map_last_user_page();
	struct syslet_uatom a;
	int64_t ret;

	init_atom(&a, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL, &ret,
		  0, NULL);
	ASSERT_EQ(-1, async_register(KERNEL_ADDR, HSZ));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, async_exec(&a, KERNEL_ADDR, HSZ));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, async_wait(1, KERNEL_ADDR, NULL));
	ASSERT_EQ(EFAULT, errno) TH_LOG("async_wait() on a kernel address");
	ASSERT_EQ(-1, async_unregister(KERNEL_ADDR, HSZ));
	ASSERT_EQ(EFAULT, errno) TH_LOG("async_unregister() of a kernel address");
	/* A head straddling the end of user space. */
	ASSERT_EQ(-1, async_register((void *)(end - 64), HSZ));
	ASSERT_EQ(EFAULT, errno);
	/* Ring pointer in the kernel, or straddling the end of user space. */
	test_ring_init(&r, 8, 0);
	r.head.completion_ring = PTR(KERNEL_ADDR);
	ASSERT_EQ(-1, async_exec(&a, &r.head, HSZ));
	ASSERT_EQ(EFAULT, errno);
	r.head.completion_ring = end - 32;
	ASSERT_EQ(-1, async_register(&r.head, HSZ));
	ASSERT_EQ(EFAULT, errno);
	/* Timeout pointer */
	test_ring_init(&r, 8, 0);
	ASSERT_EQ(0, async_register(&r.head, HSZ));
	ASSERT_EQ(-1, async_wait(1, &r.head, KERNEL_ADDR));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(0, async_unregister(&r.head, HSZ));
}

/*
 * Atom pointers (ret_ptr, arg_ptr, next) and the system calls' own
 * pointer arguments, in every mode: a kernel address is -EFAULT and
 * nothing is read from or written to it.
 */
TEST(kernel_addresses_in_atoms_every_mode)
{
	static struct test_ring r;
	unsigned long uend = map_last_user_page();
	int p[2], mfd = memfd_create("syslet-sec", 0);
	uint64_t mfd_v, kbuf = PTR(KERNEL_ADDR), eight = 8, zero = 0, wfd;
	char c;

	ASSERT_LE(0, mfd);
	ASSERT_EQ(8, write(mfd, "abcdefgh", 8));
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	mfd_v = mfd;
	wfd = p[1];
	ASSERT_EQ(0, ring_setup(&r, 16, 0));
	for (int m = 0; m < NR_MODES; m++) {
		const char *mn = mode_name[m];
		struct syslet_uatom a[2];
		int64_t ret[2];
		long end, exec_ret;

		/* pread() into, write() from kernel memory */
		ret[0] = SENTINEL;
		ret[1] = SENTINEL;
		init_atom(&a[0], __NR_pread64, &mfd_v, &kbuf, &eight, &zero,
			  NULL, NULL, &ret[0], 0, &a[1]);
		init_atom(&a[1], __NR_write, &wfd, &kbuf, &eight, NULL, NULL,
			  NULL, &ret[1], 0, NULL);
		EXPECT_EQ(PTR(&a[1]), run_chain(m, &a[0], &r, NULL)) TH_LOG("%s", mn);
		EXPECT_EQ(-EFAULT, ret[0]) TH_LOG("%s: pread", mn);
		EXPECT_EQ(-EFAULT, ret[1]) TH_LOG("%s: write", mn);
		EXPECT_EQ(-1, read(p[0], &c, 1)) TH_LOG("%s: the pipe got data", mn);

		/* ret_ptr in the kernel and at the end of user space */
		for (int k = 0; k < 2; k++) {
			init_atom(&a[0], __NR_getpid, NULL, NULL, NULL, NULL,
				  NULL, NULL, NULL, 0, NULL);
			a[0].ret_ptr = k ? uend - 4 : PTR(KERNEL_ADDR);
			end = run_chain(m, &a[0], &r, &exec_ret);
			if (m == CACHED) {
				EXPECT_EQ(RUN_EXEC_ERR, end) TH_LOG("%s %d", mn, k);
				EXPECT_EQ(-EFAULT, exec_ret) TH_LOG("%s %d", mn, k);
			} else {
				/* The fault ends the chain; it still completes. */
				EXPECT_EQ(PTR(&a[0]), end) TH_LOG("%s %d", mn, k);
			}
		}

		/* next and an argument pointer in the kernel */
		for (int k = 0; k < 2; k++) {
			ret[0] = SENTINEL;
			ret[1] = SENTINEL;
			init_atom(&a[0], __NR_getpid, NULL, NULL, NULL, NULL,
				  NULL, NULL, &ret[0], 0, &a[1]);
			init_atom(&a[1], __NR_close, KERNEL_ADDR, NULL, NULL,
				  NULL, NULL, NULL, &ret[1], 0, NULL);
			if (k)
				a[0].next = PTR(KERNEL_ADDR);
			end = run_chain(m, &a[0], &r, &exec_ret);
			if (m == CACHED) {
				EXPECT_EQ(RUN_EXEC_ERR, end) TH_LOG("%s %d", mn, k);
				EXPECT_EQ(-EFAULT, exec_ret) TH_LOG("%s %d", mn, k);
			} else {
				EXPECT_EQ(PTR(&a[0]), end) TH_LOG("%s %d", mn, k);
			}
			EXPECT_EQ(getpid(), ret[0]) TH_LOG("%s %d", mn, k);
			EXPECT_EQ(SENTINEL, ret[1]) TH_LOG("%s %d", mn, k);
		}
	}
	close(mfd);
	close(p[0]);
	close(p[1]);
}

/*
 * A user-space cachemiss context at a kernel address is never entered:
 * the worker parks and leaves the stack word alone.
 */
static int kernel_ip_child(void *arg)
{
	static alignas(16) char stack[16384];
	static struct test_ring r;
	struct syslet_uatom a;
	int64_t ret = SENTINEL;

	(void)arg;
	if (ring_setup(&r, 8, 0))
		return 9;
	r.head.head_ip = PTR(KERNEL_ADDR);
	r.head.head_stack = PTR(stack + sizeof(stack));
	r.head.new_thread_ip = PTR(KERNEL_ADDR);
	r.head.new_thread_stack = PTR(stack + sizeof(stack));
	init_atom(&a, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL, &ret,
		  0, NULL);
	if (run_chain(WORKER, &a, &r, NULL) != PTR(&a) || ret != getpid())
		return 10;
	usleep(100000);
	if (r.head.head_stack != PTR(stack + sizeof(stack)) ||
	    r.head.new_thread_stack != PTR(stack + sizeof(stack)))
		return 11;
	/* The worker parked: a second hand-off uses it. */
	ret = SENTINEL;
	if (run_chain(WORKER, &a, &r, NULL) != PTR(&a) || ret != getpid())
		return 12;
	return 0;
}

TEST(kernel_address_as_cachemiss_context_ip)
{
	ASSERT_EQ(0, run_child(kernel_ip_child, NULL, 30000))
		TH_LOG("10/12: chain, 11: a stack was taken for a kernel ip");
}

/* ------------------------------------------- ioctl, close_range, fput */

/* A tty whose driver answers TCGETS (and has a break to send), or -1. */
static int open_tty(void)
{
	static const char *const ttys[] = { "/dev/ttyS0", "/dev/console",
					    "/dev/ptmx" };

	for (unsigned int i = 0; i < ARRAY_SIZE(ttys); i++) {
		struct termios t;
		int fd = open(ttys[i], O_RDWR | O_NOCTTY | O_NONBLOCK);

		if (fd >= 0 && !ioctl(fd, TCGETS, &t))
			return fd;
		if (fd >= 0)
			close(fd);
	}
	return -1;
}

/*
 * A driver's ioctl never runs off the caller's context (KVM_RUN in a
 * pool thread entered the guest with another process' FPU registers);
 * the generic VFS commands do, and everything runs in the caller's own.
 * TCGETS on a tty is a driver command; FIONREAD and FIOCLEX are the VFS's.
 */
TEST(ioctl_driver_commands_only_in_the_callers_context)
{
	static struct test_ring r;
	static struct termios tio;
	static int nread;
	static uint64_t tfd, tcgets = TCGETS, tiop, pfd, fionread = FIONREAD,
		np, fioclex = FIOCLEX;
	static int64_t ret[3];
	struct syslet_uatom a[3];
	int tty = open_tty(), p[2];
	long end;

	if (tty < 0)
		SKIP(return, "no tty");
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(3, write(p[1], "abc", 3));
	tfd = tty;
	pfd = p[0];
	tiop = PTR(&tio);
	np = PTR(&nread);
	ASSERT_EQ(0, ring_setup(&r, 16, 0));
	for (int m = 0; m < NR_MODES; m++) {
		ret[0] = SENTINEL;
		ret[1] = SENTINEL;
		ret[2] = SENTINEL;
		nread = 0;
		init_atom(&a[0], __NR_ioctl, &pfd, &fionread, &np, NULL, NULL,
			  NULL, &ret[0], 0, &a[1]);
		init_atom(&a[1], __NR_ioctl, &pfd, &fioclex, NULL, NULL, NULL,
			  NULL, &ret[1], 0, &a[2]);
		init_atom(&a[2], __NR_ioctl, &tfd, &tcgets, &tiop, NULL, NULL,
			  NULL, &ret[2], 0, NULL);
		end = run_chain(m, &a[0], &r, NULL);
		TH_LOG("%s: FIONREAD %lld (%d), FIOCLEX %lld, TCGETS %lld",
		       mode_name[m], (long long)ret[0], nread,
		       (long long)ret[1], (long long)ret[2]);
		ASSERT_EQ(PTR(&a[2]), end);
		ASSERT_EQ(0, ret[0]);
		ASSERT_EQ(3, nread);
		ASSERT_EQ(0, ret[1]);
		ASSERT_EQ(m == CACHED ? 0 : -no_such_syscall, ret[2])
			TH_LOG("%s: a driver ioctl ran off the caller's context",
			       mode_name[m]);
	}
	close(tty);
	close(p[0]);
	close(p[1]);
}

/*
 * In the caller's context a driver ioctl that sleeps does not hand off:
 * the driver keeps seeing the thread that called it (a vCPU's KVM_RUN
 * would otherwise go on in a PF_USER_WORKER whose FPU is not saved).
 * TCSBRK 0 sleeps 250 ms in send_break() on a serial port.
 */
TEST(ioctl_driver_command_never_hands_off)
{
	static struct test_ring r;
	static uint64_t tfd, tcsbrk = TCSBRK, zero;
	static int64_t ret;
	struct syslet_uatom a;
	int tty = open("/dev/ttyS0", O_RDWR | O_NOCTTY | O_NONBLOCK);
	long rc;

	if (tty < 0)
		SKIP(return, "no serial port");
	tfd = tty;
	ASSERT_EQ(0, ring_setup(&r, 16, 0));
	ret = SENTINEL;
	init_atom(&a, __NR_ioctl, &tfd, &tcsbrk, &zero, NULL, NULL, NULL,
		  &ret, 0, NULL);
	rc = async_exec(&a, &r.head, HSZ);
	if (rc == 0 && async_wait(1, &r.head, &ten_seconds) == 1)
		test_ring_reap(&r);
	TH_LOG("async_exec %ld, TCSBRK %lld", rc, (long long)ret);
	ASSERT_EQ(PTR(&a), rc)
		TH_LOG("the sleeping driver ioctl handed off");
	ASSERT_EQ(0, ret);
	close(tty);
}

/* close_range(CLOSE_RANGE_UNSHARE) would give a pool thread its own table. */
TEST(close_range_unshare_refused_in_atoms)
{
	static struct test_ring r;
	static uint64_t lo = 1000, hi = 1001, unsh = CLOSE_RANGE_UNSHARE,
		none = 0;
	static int64_t ret[2];
	struct syslet_uatom a[2];

	ASSERT_EQ(0, ring_setup(&r, 16, 0));
	for (int m = 0; m < NR_MODES; m++) {
		ret[0] = SENTINEL;
		ret[1] = SENTINEL;
		init_atom(&a[0], __NR_close_range, &lo, &hi, &none, NULL, NULL,
			  NULL, &ret[0], 0, &a[1]);
		init_atom(&a[1], __NR_close_range, &lo, &hi, &unsh, NULL, NULL,
			  NULL, &ret[1], 0, NULL);
		ASSERT_EQ(PTR(&a[1]), run_chain(m, &a[0], &r, NULL));
		ASSERT_EQ(0, ret[0]);
		ASSERT_EQ(-no_such_syscall, ret[1])
			TH_LOG("%s: CLOSE_RANGE_UNSHARE ran", mode_name[m]);
	}
}

/*
 * A file an atom closes is closed before the next atom runs, as between
 * two direct calls: its flock() is gone.  (fput()'s task work used to
 * wait for the return to user space, which a pool thread or cachemiss
 * worker makes only when its chain is over, or never.  close() itself
 * puts the file synchronously; close_range() and dup2() defer it.)
 */
TEST(file_closed_by_an_atom_is_closed_for_the_next)
{
	static struct test_ring r;
	static char path[64];
	static uint64_t fd, pathp, flags = O_RDWR, lk = LOCK_EX | LOCK_NB,
		zero;
	static int64_t ret[3], fd2;
	struct syslet_uatom a[3];

	snprintf(path, sizeof(path), "/tmp/syslet-flock-%d", getpid());
	pathp = PTR(path);
	ASSERT_EQ(0, ring_setup(&r, 16, 0));
	for (int m = 0; m < NR_MODES; m++) {
		int f = open(path, O_CREAT | O_RDWR, 0600);

		ASSERT_LE(0, f);
		ASSERT_EQ(0, flock(f, LOCK_EX));
		fd = f;
		ret[0] = SENTINEL;
		ret[2] = SENTINEL;
		fd2 = SENTINEL;
		init_atom(&a[0], __NR_close_range, &fd, &fd, &zero, NULL, NULL,
			  NULL, &ret[0], 0, &a[1]);
		init_atom(&a[1], __NR_open, &pathp, &flags, NULL, NULL, NULL,
			  NULL, &fd2, 0, &a[2]);
		init_atom(&a[2], __NR_flock, &fd2, &lk, NULL, NULL, NULL, NULL,
			  &ret[2], 0, NULL);
		ASSERT_EQ(PTR(&a[2]), run_chain(m, &a[0], &r, NULL));
		TH_LOG("%s: close %lld, open %lld, flock %lld", mode_name[m],
		       (long long)ret[0], (long long)fd2, (long long)ret[2]);
		ASSERT_EQ(0, ret[0]);
		ASSERT_LE(0, fd2);
		ASSERT_EQ(0, ret[2])
			TH_LOG("%s: the closed file still held its lock",
			       mode_name[m]);
		close(fd2);
	}
	unlink(path);
}

/* -------------------------------- the pool's boundaries, as a table */

/*
 * {where the atom runs} x {what the submitting thread changed}.  An atom
 * is exactly the system call it names, made by the thread that submitted
 * it: after the change, wherever it runs, it sees what a direct call of
 * that thread would see -- or, if it was in flight across the change and
 * runs off the caller's context, it does not run at all (-EPERM).  Each
 * case first makes pool threads and spares with the old state, so that a
 * pool that only compares credentials would reuse them.
 *
 *  cached:	the caller's own context (ring registered, spares parked)
 *  worker:	behind an atom that blocks: a cachemiss worker runs it
 *  pool:	SYSLET_ASYNC
 *  uctx:	the worker then enters the ring owner's user-space cachemiss
 *		context (head_ip): only with the owner's current state
 */
enum { BM_CACHED, BM_WORKER, BM_POOL, BM_UCTX };
enum {
	BC_CREDS, BC_FILES, BC_SETNS, BC_SUD, BC_SECCOMP, BC_NNP,
	BC_PDEATHSIG, BC_CPUTIMER,
};

#define BFD 77		/* an fd that the change closes */

/* What a probe chain saw; SENTINEL where an atom did not run. */
struct bprobe {
	int64_t euid, secret, ppid, fdflags, cwd, marker, status_fd, status_len;
	char cwdbuf[64];
	char status[4096];
};

struct bshared {
	int mode, what;
	int stage, code;
	long exec_ret, exec_ret2;
	struct bprobe inflight, fresh, ctx;
	int ctx_runs;
	char secret[64], dir[64], marker[80];
	atomic_uchar sud_sel;
	int sigsys;
};

static struct bshared *bs;

/* A raw system call, expanded in place: no call into libc, no TLS. */
#define rawsc(n, a, b, c, d, e) ({					\
	register long __r10 asm("r10") = (long)(d);			\
	register long __r8 asm("r8") = (long)(e);			\
	long __ret;							\
									\
	asm volatile("syscall" : "=a"(__ret)				\
		     : "a"((long)(n)), "D"((long)(a)), "S"((long)(b)),	\
		       "d"((long)(c)), "r"(__r10), "r"(__r8)		\
		     : "rcx", "r11", "memory");				\
	__ret;								\
})

static alignas(16) char bctx_stack[65536];

/* The user-space context: no TLS, no libc; raw calls only. */
__noreturn __attribute__((optimize("no-stack-protector")))
static void bctx_entry(uint64_t atom, uint64_t head)
{
	struct bprobe *p = &bs->ctx;

	(void)atom;
	p->euid = rawsc(__NR_geteuid, 0, 0, 0, 0, 0);
	p->ppid = rawsc(__NR_getppid, 0, 0, 0, 0, 0);
	p->fdflags = rawsc(__NR_fcntl, BFD, F_GETFD, 0, 0, 0);
	p->cwd = rawsc(__NR_getcwd, (long)p->cwdbuf, sizeof(p->cwdbuf), 0, 0, 0);
	p->marker = rawsc(__NR_access, (long)bs->marker, F_OK, 0, 0, 0);
	p->status_len = rawsc(__NR_prctl, PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	if (bs->what == BC_SUD)
		rawsc(__NR_prctl, PR_SET_SYSCALL_USER_DISPATCH,
		      PR_SYS_DISPATCH_ON, 0, 0, (long)&bs->sud_sel);
	__atomic_add_fetch(&bs->ctx_runs, 1, __ATOMIC_SEQ_CST);
	rawsc(__NR_async_thread, 0, head, 0, 0, 0);
	for (;;)
		rawsc(__NR_exit, 3, 0, 0, 0, 0);
}

static void on_bsigsys(int sig)
{
	(void)sig;
	bs->sigsys++;
	bs->sud_sel = SYSCALL_DISPATCH_FILTER_ALLOW;
}

/* Does this thread have Syscall User Dispatch on?  (SIGSYS when blocked.) */
static int sud_on(void)
{
	int before = bs->sigsys;

	bs->sud_sel = SYSCALL_DISPATCH_FILTER_BLOCK;
	syscall(__NR_getppid);
	bs->sud_sel = SYSCALL_DISPATCH_FILTER_ALLOW;
	return bs->sigsys != before;
}

/* The probe chain: every boundary a call can see, one atom each. */
static struct syslet_uatom pa[10];
static uint64_t p_path, p_rdonly = O_RDONLY, p_bfd = BFD, p_getfd = F_GETFD,
	p_cwdbuf, p_cwdlen = 64, p_marker, p_fok = F_OK, p_status,
	p_statbuf, p_statlen = 4095;

static struct syslet_uatom *build_probe(struct bprobe *p)
{
	memset(p, 0, sizeof(*p));
	p->euid = SENTINEL;
	p->secret = SENTINEL;
	p->ppid = SENTINEL;
	p->fdflags = SENTINEL;
	p->cwd = SENTINEL;
	p->marker = SENTINEL;
	p->status_fd = SENTINEL;
	p->status_len = SENTINEL;
	p_path = PTR(bs->secret);
	p_cwdbuf = PTR(p->cwdbuf);
	p_marker = PTR(bs->marker);
	p_status = PTR("/proc/thread-self/status");
	p_statbuf = PTR(p->status);
	init_atom(&pa[0], __NR_geteuid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &p->euid, 0, &pa[1]);
	init_atom(&pa[1], __NR_open, &p_path, &p_rdonly, NULL, NULL, NULL,
		  NULL, &p->secret, 0, &pa[2]);
	init_atom(&pa[2], __NR_getppid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &p->ppid, 0, &pa[3]);
	init_atom(&pa[3], __NR_fcntl, &p_bfd, &p_getfd, NULL, NULL, NULL,
		  NULL, &p->fdflags, 0, &pa[4]);
	init_atom(&pa[4], __NR_getcwd, &p_cwdbuf, &p_cwdlen, NULL, NULL, NULL,
		  NULL, &p->cwd, 0, &pa[5]);
	init_atom(&pa[5], __NR_access, &p_marker, &p_fok, NULL, NULL, NULL,
		  NULL, &p->marker, 0, &pa[6]);
	init_atom(&pa[6], __NR_open, &p_status, &p_rdonly, NULL, NULL, NULL,
		  NULL, &p->status_fd, 0, &pa[7]);
	/* The fd the open returned is the read's argument. */
	init_atom(&pa[7], __NR_read, &p->status_fd, &p_statbuf, &p_statlen,
		  NULL, NULL, NULL, &p->status_len, 0, &pa[8]);
	init_atom(&pa[8], __NR_close, &p->status_fd, NULL, NULL, NULL, NULL,
		  NULL, NULL, 0, NULL);
	return &pa[0];
}

static void probe_done(struct bprobe *p)
{
	if (p->secret >= 0 && p->secret != SENTINEL)
		close(p->secret);
}

static int status_nnp(const struct bprobe *p)
{
	const char *l = strstr(p->status, "NoNewPrivs:");

	return l ? atoi(l + 11) : -1;
}

static uint64_t p_sleep_ts[2] = { 0, 150000000 };
static uint64_t p_sleep_ptr = PTR(p_sleep_ts);

/*
 * Run the probe once in @m (BM_UCTX: like BM_WORKER).  A worker chain
 * sleeps 150 ms first: it hands off if a spare fits, else completes in
 * the caller.  Return async_exec()'s result (0: went asynchronous).
 */
static long run_probe(int m, struct bprobe *p, struct test_ring *r)
{
	static struct syslet_uatom sl;
	struct syslet_uatom *first = build_probe(p);
	long rc;

	if (m == BM_WORKER || m == BM_UCTX) {
		init_atom(&sl, __NR_nanosleep, &p_sleep_ptr, NULL, NULL, NULL,
			  NULL, NULL, NULL, 0, first);
		first = &sl;
	} else if (m == BM_POOL) {
		first->flags |= SYSLET_ASYNC;
	}
	rc = async_exec(first, &r->head, HSZ);
	if (rc == 0) {
		do
			rc = async_wait(1, &r->head, &ten_seconds);
		while (rc < 0 && errno == EINTR);
		test_ring_reap(r);
		rc = 0;
	} else if (rc < 0) {
		rc = -errno;
	}
	probe_done(p);
	return rc;
}

static int b_timer_made;
static timer_t b_timer;

/* The change under test, made by the submitting thread. */
static int b_change(int what, int nsfd)
{
	struct sigevent sev = { .sigev_notify = SIGEV_NONE };
	struct itimerspec its = { .it_value.tv_sec = 1000 };
	int fd;

	switch (what) {
	case BC_CREDS:
		return setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
		       setresuid(NOBODY, NOBODY, NOBODY);
	case BC_FILES:
		if (unshare(CLONE_FILES | CLONE_FS))
			return 1;
		close(BFD);
		return chdir("/proc");
	case BC_SETNS:
		return unshare(CLONE_FS) || setns(nsfd, CLONE_NEWNS);
	case BC_SUD:
		return prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON,
			     0, 0, &bs->sud_sel);
	case BC_SECCOMP:
		fd = seccomp_filter_nr(__NR_getppid,
				       SECCOMP_RET_ERRNO | DENY_ERRNO, 0);
		return fd < 0;
	case BC_NNP:
		return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	case BC_CPUTIMER:
		if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &b_timer) ||
		    timer_settime(b_timer, 0, &its, NULL))
			return 1;
		b_timer_made = 1;
		return 0;
	}
	return 0;	/* BC_PDEATHSIG: the child was made before */
}

/*
 * Did @p see the change?  @inflight: it was submitted before the change
 * and ran off the caller's context: refusing the atom (-EPERM) is right
 * too.  Return 0, or the number of the field that saw the old state.
 */
static int b_saw_change(int what, const struct bprobe *p, int inflight)
{
	int eperm = inflight;

#define RAN(x) ((x) != SENTINEL)
	/* The first atom refused, so none of the others ran. */
	if (p->euid == -EPERM)
		return eperm ? 0 : 8;
	switch (what) {
	case BC_CREDS:
		if (p->euid == 0)
			return 1;
		if (p->secret >= 0 && RAN(p->secret))
			return 2;
		break;
	case BC_FILES:
		if (p->fdflags >= 0 && RAN(p->fdflags))
			return 3;
		if (p->cwd > 0 && RAN(p->cwd) && strcmp(p->cwdbuf, "/proc"))
			return 4;
		break;
	case BC_SETNS:
		if (p->marker == 0)
			return 5;
		break;
	case BC_SECCOMP:
		if (p->ppid > 0 && RAN(p->ppid))
			return 6;
		break;
	case BC_NNP:
		if (p->status_len > 0 && RAN(p->status_len) &&
		    status_nnp(p) != 1)
			return 7;
		break;
	}
	/* Nothing ran at all where something had to? */
	if (!eperm && p->euid == SENTINEL && what != BC_SUD)
		return 9;
	return 0;
#undef RAN
}

/* A grandchild with PR_SET_PDEATHSIG: writes to @wfd if it gets it. */
static int pd_pipe[2];

static void on_pdeath(int sig)
{
	(void)sig;
	if (write(pd_pipe[1], "D", 1) != 1)
		_exit(2);
	_exit(1);
}

static pid_t make_pdeath_child(void)
{
	pid_t pid;

	if (pipe(pd_pipe))
		return -1;
	pid = fork();
	if (pid == 0) {
		signal(SIGUSR1, on_pdeath);
		if (prctl(PR_SET_PDEATHSIG, SIGUSR1))
			_exit(3);
		sleep(20);
		_exit(0);
	}
	close(pd_pipe[1]);
	fcntl(pd_pipe[0], F_SETFL, O_NONBLOCK);
	return pid;
}

/* In the image bounds_child() exec()s for BC_PDEATHSIG. */
__attribute__((constructor)) static void pdeath_check(void)
{
	const char *e = getenv("SYSLET_PDEATH_CHECK");
	int fd, pid;
	char c;

	if (!e || sscanf(e, "%d:%d", &fd, &pid) != 2)
		return;
	usleep(500000);
	c = read(fd, &c, 1) == 1;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	_exit(c ? 60 : 0);
}

static int bounds_child(void *arg)
{
	static struct test_ring r;
	static struct pipe_read pr;
	static struct syslet_uatom tc;
	static uint64_t clk = CLOCK_THREAD_CPUTIME_ID, tid_ptr;
	static int64_t tc_ret;
	static timer_t tc_tid;
	struct sigaction sa = { .sa_handler = on_bsigsys };
	int m = bs->mode, what = bs->what, nsfd = -1, fd, bad;
	pid_t pd = -1;
	long rc;

	(void)arg;
	sigaction(SIGSYS, &sa, NULL);
	snprintf(bs->secret, sizeof(bs->secret), "/tmp/bsecret-%d", getpid());
	snprintf(bs->dir, sizeof(bs->dir), "/tmp/bns-%d", getpid());
	snprintf(bs->marker, sizeof(bs->marker), "%s/marker", bs->dir);
	fd = open(bs->secret, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	if (fd < 0)
		return 10;
	close(fd);
	fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || dup2(fd, BFD) != BFD)
		return 11;
	close(fd);
	if (what == BC_SETNS) {
		/* Old namespace: no marker.  New one: a tmpfs with it. */
		nsfd = open("/proc/self/ns/mnt", O_RDONLY);
		if (nsfd < 0 || mkdir(bs->dir, 0755) ||
		    unshare(CLONE_NEWNS) ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("tmpfs", bs->dir, "tmpfs", 0, NULL))
			return 12;
		fd = open(bs->marker, O_CREAT | O_WRONLY, 0600);
		if (fd < 0)
			return 13;
		close(fd);
	}
	if (what == BC_PDEATHSIG) {
		pd = make_pdeath_child();
		if (pd < 0)
			return 14;
	}
	test_ring_init(&r, 16, 0);
	if (m == BM_UCTX) {
		/* The owner's and every other worker's: the same context. */
		r.head.head_ip = PTR(bctx_entry);
		r.head.new_thread_ip = PTR(bctx_entry);
		r.head.head_stack = PTR(bctx_stack + sizeof(bctx_stack) - 8);
	}
	if (async_register(&r.head, HSZ))
		return 15;

	/* Old state: a pool thread and a spare are made and park. */
	if (run_probe(BM_POOL, &bs->fresh, &r) != 0 ||
	    run_probe(BM_WORKER, &bs->fresh, &r) < 0)
		return 16;
	if (m == BM_UCTX) {
		/* That worker ran the context once already: a fresh stack. */
		for (int i = 0; i < 200 && !bs->ctx_runs; i++)
			usleep(10000);
		bs->ctx_runs = 0;
		/* One stack, one context at a time: the next worker's. */
		r.head.head_stack = 0;
		r.head.new_thread_stack =
			PTR(bctx_stack + sizeof(bctx_stack) - 8);
		memset(&bs->ctx, 0, sizeof(bs->ctx));
		bs->ctx.euid = SENTINEL;
	}
	bs->stage = 1;

	if (m != BM_CACHED && what != BC_SUD && what != BC_PDEATHSIG &&
	    what != BC_CPUTIMER) {
		/*
		 * In flight across the change: blocked on a pipe (in a
		 * pool thread, or in a worker behind our back), then the
		 * change, then the attacker's rewrite of the next atom.
		 */
		struct syslet_uatom *first;

		if (pipe_read_init(&pr, 0))
			return 17;
		first = build_probe(&bs->inflight);
		init_atom(&pa[1], __NR_getpid, NULL, NULL, NULL, NULL, NULL,
			  NULL, &bs->inflight.secret, 0, &pa[2]);
		pr.atom.next = PTR(first);
		if (m == BM_POOL)
			pr.atom.flags |= SYSLET_ASYNC;
		alarm(5);
		rc = async_exec(&pr.atom, &r.head, HSZ);
		alarm(0);
		if (rc != 0)
			return 18;	/* did not go asynchronous */
		if (b_change(what, nsfd))
			return 19;
		init_atom(&pa[1], __NR_open, &p_path, &p_rdonly, NULL, NULL,
			  NULL, NULL, &bs->inflight.secret, 0, &pa[2]);
		if (write(pr.p[1], "x", 1) != 1)
			return 20;
		if (async_wait(1, &r.head, &ten_seconds) != 1)
			return 21;
		test_ring_reap(&r);
		probe_done(&bs->inflight);
		bs->stage = 2;
		if (m == BM_UCTX) {
			for (int i = 0; i < 50 && !bs->ctx_runs; i++)
				usleep(10000);
			/* Entered only with the owner's current state. */
			if (bs->ctx_runs &&
			    (what == BC_NNP ? bs->ctx.status_len != 1 :
			     b_saw_change(what, &bs->ctx, 1)))
				return 40;
			return 0;
		}
		if (b_saw_change(what, &bs->inflight, 1))
			return 30 + b_saw_change(what, &bs->inflight, 1);
	} else if (b_change(what, nsfd)) {
		return 19;
	}
	bs->stage = 3;

	/* After the change: a fresh chain. */
	rc = run_probe(m == BM_UCTX ? BM_WORKER : m, &bs->fresh, &r);
	bs->exec_ret = rc;
	if (rc < 0)
		return 22;
	switch (what) {
	case BC_SUD:
		/*
		 * Never handed off (the spare has no SUD, and no pool thread
		 * can take the SIGSYS): the chain ran in the caller, and
		 * the caller still has SUD.  A context that turned SUD on
		 * for itself never lends it to ours.
		 */
		if (m != BM_CACHED && m != BM_UCTX && rc == 0)
			return 50;
		if (m == BM_UCTX) {
			if (!sud_on())
				return 51;
			prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF,
			      0, 0, 0);
			/* The context has SUD now: it must not become us. */
			for (int i = 0; i < 3; i++)
				run_probe(BM_WORKER, &bs->fresh, &r);
			if (sud_on())
				return 52;
			break;
		}
		if (!sud_on())
			return 53;
		break;
	case BC_CPUTIMER:
		/* A thread CPU timer stays with its thread: no hand-off. */
		if ((m == BM_WORKER || m == BM_UCTX) && rc == 0)
			return 54;
		if (m == BM_UCTX && bs->ctx_runs)
			return 55;
		/* A timer on the thread's own CPU clock: only the caller's. */
		tid_ptr = PTR(&tc_tid);
		tc_ret = SENTINEL;
		init_atom(&tc, __NR_timer_create, &clk, NULL, &tid_ptr, NULL,
			  NULL, NULL, &tc_ret, m == BM_POOL ? SYSLET_ASYNC : 0,
			  NULL);
		/* (NULL sevp stops the argument list: pass a zero one.) */
		{
			static uint64_t zero;

			tc.arg_ptr[1] = PTR(&zero);
		}
		rc = async_exec(&tc, &r.head, HSZ);
		if (rc == 0 && async_wait(1, &r.head, &ten_seconds) == 1)
			test_ring_reap(&r);
		if (m == BM_POOL && tc_ret != -no_such_syscall)
			return 56;
		if (m == BM_CACHED && tc_ret != 0)
			return 57;
		if (tc_ret == 0)
			timer_delete(tc_tid);
		break;
	case BC_PDEATHSIG: {
		char env[64];

		/*
		 * exec() kills every other thread, the tasks that handed
		 * off among them; the thread that forked the child lives
		 * on in the new image, which looks whether the child saw
		 * its parent die (pdeath_check()).
		 */
		snprintf(env, sizeof(env), "%d:%d", pd_pipe[0], pd);
		setenv("SYSLET_PDEATH_CHECK", env, 1);
		execl("/proc/self/exe", "security_test", (char *)NULL);
		return 61;
	}
	default:
		bad = b_saw_change(what, &bs->fresh, 0);
		if (bad)
			return 70 + bad;
	}
	bs->stage = 4;
	return 0;
}

/*
 * The boundary grid: where the probe chain runs (one variant each), what
 * the submitter changes while it is in flight (one test each).
 */
FIXTURE(bounds) {
	int unused;
};

FIXTURE_VARIANT(bounds) {
	int mode;
};

FIXTURE_VARIANT_ADD(bounds, cached) {
	.mode = BM_CACHED,
};

FIXTURE_VARIANT_ADD(bounds, worker) {
	.mode = BM_WORKER,
};

FIXTURE_VARIANT_ADD(bounds, pool) {
	.mode = BM_POOL,
};

FIXTURE_VARIANT_ADD(bounds, uctx) {
	.mode = BM_UCTX,
};

FIXTURE_SETUP(bounds)
{
	(void)self;
}

FIXTURE_TEARDOWN(bounds)
{
	(void)self;
}

/* The submitter changes @what while a chain runs in @mode. */
/* What one probe chain saw, for the log of a failed case. */
static void log_probe(struct __test_metadata *_metadata, const char *which,
		      const struct bprobe *p)
{
	TH_LOG("%s: euid %lld open %lld ppid %lld fd %lld", which,
	       (long long)p->euid, (long long)p->secret, (long long)p->ppid,
	       (long long)p->fdflags);
	TH_LOG("%s: cwd %lld '%s' marker %lld nnp %d", which,
	       (long long)p->cwd, p->cwdbuf, (long long)p->marker,
	       status_nnp(p));
}

static void bounds_run(struct __test_metadata *_metadata, int mode, int what)
{
	int status;

	if (geteuid())
		SKIP(return, "needs root");
	bs = shared_alloc(sizeof(*bs));
	ASSERT_NE(NULL, bs);
	memset(bs, 0, sizeof(*bs));
	bs->mode = mode;
	bs->what = what;
	status = run_child(bounds_child, NULL, 60000);
	unlink(bs->secret);
	umount2(bs->dir, MNT_DETACH);
	rmdir(bs->dir);
	TH_LOG("stage %d, async_exec %ld; context runs %d euid %lld",
	       bs->stage, bs->exec_ret, bs->ctx_runs, (long long)bs->ctx.euid);
	log_probe(_metadata, "in flight", &bs->inflight);
	log_probe(_metadata, "fresh", &bs->fresh);
	ASSERT_EQ(0, status) {
		TH_LOG("1x: set-up; 18: did not go async");
		TH_LOG("3x: an in-flight atom ran with the old state (field)");
		TH_LOG("40: a user-space context was entered with the old state");
		TH_LOG("5x: SUD / 5[4-7]: CPU timer; 60: PR_SET_PDEATHSIG fired");
		TH_LOG("7x: a fresh chain saw the old state");
	}
	munmap(bs, sizeof(*bs));
}

TEST_F_TIMEOUT(bounds, creds_drop_is_a_boundary, 120)
{
	bounds_run(_metadata, variant->mode, BC_CREDS);
}

TEST_F_TIMEOUT(bounds, unshare_files_fs_is_a_boundary, 120)
{
	bounds_run(_metadata, variant->mode, BC_FILES);
}

TEST_F_TIMEOUT(bounds, setns_is_a_boundary, 120)
{
	bounds_run(_metadata, variant->mode, BC_SETNS);
}

TEST_F_TIMEOUT(bounds, sud_is_a_boundary, 120)
{
	bounds_run(_metadata, variant->mode, BC_SUD);
}

TEST_F_TIMEOUT(bounds, seccomp_is_a_boundary, 120)
{
	bounds_run(_metadata, variant->mode, BC_SECCOMP);
}

TEST_F_TIMEOUT(bounds, nnp_is_a_boundary, 120)
{
	bounds_run(_metadata, variant->mode, BC_NNP);
}

TEST_F_TIMEOUT(bounds, pdeathsig_is_a_boundary, 120)
{
	bounds_run(_metadata, variant->mode, BC_PDEATHSIG);
}

TEST_F_TIMEOUT(bounds, cpu_timer_is_a_boundary, 120)
{
	bounds_run(_metadata, variant->mode, BC_CPUTIMER);
}

TEST_HARNESS_MAIN
