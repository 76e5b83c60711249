// SPDX-License-Identifier: GPL-2.0
/*
 * Syslet selftests: the cachemiss hand-off.  An atom that blocks in the
 * caller's context hands the caller's user context to a spare thread:
 * async_exec() returns 0 at once, with every bit of the caller's state
 * intact, and the atom completes through the ring.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "syslet.h"

#define HSZ sizeof(struct async_head_user)

static pid_t sys_gettid(void)
{
	return syscall(SYS_gettid);
}

/* ------------------------------------------------------- the basics */

TEST(blocking_read_hands_off)
{
	static struct test_ring r;
	struct pipe_read pr;

	ASSERT_EQ(0, pipe_read_init(&pr, 0));
	ASSERT_EQ(0, ring_setup(&r, 8, 0));
	/* No flags: tried in our context, blocks, goes asynchronous. */
	ASSERT_EQ(0, async_exec(&pr.atom, &r.head, HSZ));
	/* The pipe is still empty and the read still pending. */
	ASSERT_EQ(12345, pr.ret);
	ASSERT_EQ(0, r.slots[0]);
	/* Work in flight: the ring cannot go away yet. */
	ASSERT_EQ(-1, async_unregister(&r.head, HSZ));
	ASSERT_EQ(EBUSY, errno);

	ASSERT_EQ(5, write(pr.p[1], "hello", 5));
	ASSERT_EQ(1, async_wait(1, &r.head, NULL));
	ASSERT_EQ(PTR(&pr.atom), test_ring_reap(&r));
	ASSERT_EQ(5, pr.ret);
	ASSERT_STREQ("hello", pr.data);
	ASSERT_EQ(0, async_unregister(&r.head, HSZ));
	pipe_read_close(&pr);
}

TEST(non_blocking_atom_stays_cached)
{
	static struct test_ring r;
	struct pipe_read pr;

	int threads = count_threads();

	ASSERT_EQ(0, pipe_read_init(&pr, 0));
	test_ring_init(&r, 8, 0);
	ASSERT_EQ(3, write(pr.p[1], "abc", 3));
	ASSERT_EQ((long)&pr.atom, async_exec(&pr.atom, &r.head, HSZ));
	ASSERT_EQ(3, pr.ret);
	ASSERT_EQ(0, r.slots[0]);
	/* A call that does not block costs no thread, set-up included. */
	ASSERT_EQ(threads, count_threads());
	pipe_read_close(&pr);
}

static void *write_later(void *arg);

/*
 * No spare yet: the process' first block completes in the caller, which
 * then keeps a spare ready, so the next block goes asynchronous.
 */
/*
 * write_later() from a child process: the caller stays the only thread
 * of its process (the main thread of a multi-threaded process sends its
 * chains to a pool thread at once).
 */
static pid_t write_later_process(struct pipe_read *pr)
{
	pid_t parent = getpid(), pid = fork();
	char path[64], buf[256], *p;
	FILE *f;

	if (pid)
		return pid;
	usleep(100000);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", parent,
		 pr->reader);
	for (int i = 0; i < 500; i++) {
		char st = 0;

		f = fopen(path, "r");
		if (f) {
			if (fgets(buf, sizeof(buf), f)) {
				p = strrchr(buf, ')');
				if (p)
					st = p[2];
			}
			fclose(f);
		}
		if (st == 'S')
			break;
		usleep(10000);
	}
	_exit(write(pr->p[1], "late", 4) == 4 ? 0 : 1);
}

TEST(first_block_of_a_process_completes_in_the_caller)
{
	static struct test_ring r;
	struct pipe_read pr;
	int threads = count_threads();
	pid_t w;

	ASSERT_EQ(0, pipe_read_init(&pr, 0));
	test_ring_init(&r, 8, 0);
	w = write_later_process(&pr);
	ASSERT_LT(0, w);
	ASSERT_EQ((long)&pr.atom, async_exec(&pr.atom, &r.head, HSZ));
	ASSERT_EQ(4, pr.ret);
	ASSERT_EQ(0, wait_exit(w, 5000));
	/* A spare is parked. */
	ASSERT_EQ(threads + 1, count_threads());
	ASSERT_EQ(1, count_pool_threads());

	pr.ret = 12345;
	ASSERT_EQ(0, async_exec(&pr.atom, &r.head, HSZ));
	ASSERT_EQ(12345, pr.ret);
	ASSERT_EQ(5, write(pr.p[1], "again", 5));
	ASSERT_EQ(1, async_wait(1, &r.head, NULL));
	ASSERT_EQ(PTR(&pr.atom), test_ring_reap(&r));
	ASSERT_EQ(5, pr.ret);
	pipe_read_close(&pr);
}

TEST(sync_flag_never_hands_off)
{
	static struct test_ring r;
	struct pipe_read pr;
	pthread_t t;

	ASSERT_EQ(0, pipe_read_init(&pr, SYSLET_SYNC));
	test_ring_init(&r, 8, 0);
	ASSERT_EQ(0, pthread_create(&t, NULL, write_later, &pr));
	/* Blocks right here until the other thread writes. */
	ASSERT_EQ((long)&pr.atom, async_exec(&pr.atom, &r.head, HSZ));
	ASSERT_EQ(4, pr.ret);
	ASSERT_EQ(0, r.slots[0]);
	pthread_join(t, NULL);
	pipe_read_close(&pr);
}

TEST(no_ring_no_hand_off)
{
	struct pipe_read pr;
	pthread_t t;

	ASSERT_EQ(0, pipe_read_init(&pr, 0));
	ASSERT_EQ(0, pthread_create(&t, NULL, write_later, &pr));
	/* Nowhere to complete to: the caller waits. */
	ASSERT_EQ((long)&pr.atom, async_exec(&pr.atom, NULL, 0));
	ASSERT_EQ(4, pr.ret);
	pthread_join(t, NULL);
	pipe_read_close(&pr);
}

TEST(chain_continues_in_worker)
{
	static struct test_ring r;
	struct pipe_read pr;
	struct syslet_uatom second;
	int64_t pid = 0;

	ASSERT_EQ(0, pipe_read_init(&pr, SYSLET_STOP_ON_NON_POSITIVE));
	pr.atom.next = PTR(&second);
	init_atom(&second, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &pid, 0, NULL);
	ASSERT_EQ(0, ring_setup(&r, 8, 0));
	ASSERT_EQ(0, async_exec(&pr.atom, &r.head, HSZ));
	ASSERT_EQ(0, pid);
	ASSERT_EQ(2, write(pr.p[1], "ok", 2));
	ASSERT_EQ(1, async_wait(1, &r.head, NULL));
	/* The chain's last atom is what completes. */
	ASSERT_EQ(PTR(&second), test_ring_reap(&r));
	ASSERT_EQ(2, pr.ret);
	ASSERT_EQ(getpid(), pid);
	pipe_read_close(&pr);
}

TEST(max_nr_threads_makes_the_caller_wait)
{
	static struct test_ring r;
	struct pipe_read a, b;
	pthread_t t;

	ASSERT_EQ(0, pipe_read_init(&a, 0));
	ASSERT_EQ(0, pipe_read_init(&b, 0));
	ASSERT_EQ(0, ring_setup(&r, 8, 1));
	ASSERT_EQ(0, async_exec(&a.atom, &r.head, HSZ));
	/* The ring's one thread is busy: b blocks in our context. */
	ASSERT_EQ(0, pthread_create(&t, NULL, write_later, &b));
	ASSERT_EQ((long)&b.atom, async_exec(&b.atom, &r.head, HSZ));
	ASSERT_EQ(4, b.ret);
	pthread_join(t, NULL);
	ASSERT_EQ(1, write(a.p[1], "x", 1));
	ASSERT_EQ(1, async_wait(1, &r.head, NULL));
	ASSERT_EQ(PTR(&a.atom), test_ring_reap(&r));
	pipe_read_close(&a);
	pipe_read_close(&b);
}

/* ------------------------------------- the caller's state survives */

static __thread int tls_var = 0x5151;

/*
 * async_exec() with the vector registers loaded before the syscall
 * instruction and stored right after it: nothing but the kernel (and
 * the hand-off) runs in between.
 */
static long async_exec_vectors(struct syslet_uatom *atom,
			       struct async_head_user *head, int ymm,
			       const uint8_t *in, uint8_t *out)
{
	register long rax asm("rax") = __NR_async_exec;
	register long rdi asm("rdi") = (long)atom;
	register long rsi asm("rsi") = (long)head;
	register long rdx asm("rdx") = HSZ;

	if (ymm)
		asm volatile("vmovdqu 0(%[in]), %%ymm0\n\t"
			     "vmovdqu 32(%[in]), %%ymm1\n\t"
			     "vmovdqu 64(%[in]), %%ymm2\n\t"
			     "vmovdqu 96(%[in]), %%ymm3\n\t"
			     "vmovdqu 128(%[in]), %%ymm4\n\t"
			     "vmovdqu 160(%[in]), %%ymm5\n\t"
			     "vmovdqu 192(%[in]), %%ymm6\n\t"
			     "vmovdqu 224(%[in]), %%ymm7\n\t"
			     "vmovdqu 256(%[in]), %%ymm8\n\t"
			     "vmovdqu 288(%[in]), %%ymm9\n\t"
			     "vmovdqu 320(%[in]), %%ymm10\n\t"
			     "vmovdqu 352(%[in]), %%ymm11\n\t"
			     "vmovdqu 384(%[in]), %%ymm12\n\t"
			     "vmovdqu 416(%[in]), %%ymm13\n\t"
			     "vmovdqu 448(%[in]), %%ymm14\n\t"
			     "vmovdqu 480(%[in]), %%ymm15\n\t"
			     "syscall\n\t"
			     "vmovdqu %%ymm0, 0(%[out])\n\t"
			     "vmovdqu %%ymm1, 32(%[out])\n\t"
			     "vmovdqu %%ymm2, 64(%[out])\n\t"
			     "vmovdqu %%ymm3, 96(%[out])\n\t"
			     "vmovdqu %%ymm4, 128(%[out])\n\t"
			     "vmovdqu %%ymm5, 160(%[out])\n\t"
			     "vmovdqu %%ymm6, 192(%[out])\n\t"
			     "vmovdqu %%ymm7, 224(%[out])\n\t"
			     "vmovdqu %%ymm8, 256(%[out])\n\t"
			     "vmovdqu %%ymm9, 288(%[out])\n\t"
			     "vmovdqu %%ymm10, 320(%[out])\n\t"
			     "vmovdqu %%ymm11, 352(%[out])\n\t"
			     "vmovdqu %%ymm12, 384(%[out])\n\t"
			     "vmovdqu %%ymm13, 416(%[out])\n\t"
			     "vmovdqu %%ymm14, 448(%[out])\n\t"
			     "vmovdqu %%ymm15, 480(%[out])\n\t"
			     : "+r"(rax)
			     : "r"(rdi), "r"(rsi), "r"(rdx), [in] "r"(in),
			       [out] "r"(out)
			     : "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2",
			       "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
			       "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
			       "xmm14", "xmm15");
	else
		asm volatile("movdqu 0(%[in]), %%xmm0\n\t"
			     "movdqu 16(%[in]), %%xmm1\n\t"
			     "movdqu 32(%[in]), %%xmm2\n\t"
			     "movdqu 48(%[in]), %%xmm3\n\t"
			     "movdqu 64(%[in]), %%xmm4\n\t"
			     "movdqu 80(%[in]), %%xmm5\n\t"
			     "movdqu 96(%[in]), %%xmm6\n\t"
			     "movdqu 112(%[in]), %%xmm7\n\t"
			     "movdqu 128(%[in]), %%xmm8\n\t"
			     "movdqu 144(%[in]), %%xmm9\n\t"
			     "movdqu 160(%[in]), %%xmm10\n\t"
			     "movdqu 176(%[in]), %%xmm11\n\t"
			     "movdqu 192(%[in]), %%xmm12\n\t"
			     "movdqu 208(%[in]), %%xmm13\n\t"
			     "movdqu 224(%[in]), %%xmm14\n\t"
			     "movdqu 240(%[in]), %%xmm15\n\t"
			     "syscall\n\t"
			     "movdqu %%xmm0, 0(%[out])\n\t"
			     "movdqu %%xmm1, 16(%[out])\n\t"
			     "movdqu %%xmm2, 32(%[out])\n\t"
			     "movdqu %%xmm3, 48(%[out])\n\t"
			     "movdqu %%xmm4, 64(%[out])\n\t"
			     "movdqu %%xmm5, 80(%[out])\n\t"
			     "movdqu %%xmm6, 96(%[out])\n\t"
			     "movdqu %%xmm7, 112(%[out])\n\t"
			     "movdqu %%xmm8, 128(%[out])\n\t"
			     "movdqu %%xmm9, 144(%[out])\n\t"
			     "movdqu %%xmm10, 160(%[out])\n\t"
			     "movdqu %%xmm11, 176(%[out])\n\t"
			     "movdqu %%xmm12, 192(%[out])\n\t"
			     "movdqu %%xmm13, 208(%[out])\n\t"
			     "movdqu %%xmm14, 224(%[out])\n\t"
			     "movdqu %%xmm15, 240(%[out])\n\t"
			     : "+r"(rax)
			     : "r"(rdi), "r"(rsi), "r"(rdx), [in] "r"(in),
			       [out] "r"(out)
			     : "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2",
			       "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
			       "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
			       "xmm14", "xmm15");
	return rax;
}

static int cpu_has_avx(void)
{
	unsigned int a, b, c, d, lo, hi;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_AVX) ||
	    !(c & bit_OSXSAVE))
		return 0;
	asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 6) == 6;
}

static atomic_int signalled_tid;

static void on_usr1(int sig)
{
	signalled_tid = sys_gettid();
}

/*
 * Hand off from the calling thread and check everything the caller can
 * see of itself.  Returns 0 or the number of the first check that
 * failed, so it can run in a pthread too.
 */
static int check_state_across_hand_off(void)
{
	static uint8_t in[16 * 32], out[16 * 32];
	struct sigaction sa = { .sa_handler = on_usr1 };
	static char altstack[65536];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	stack_t ss_after;
	sigset_t set, mask_before = { 0 }, mask_after = { 0 };
	struct test_ring *r = calloc(1, sizeof(*r));
	struct pipe_read pr;
	pid_t tid = sys_gettid();
	int *tls_addr = &tls_var;
	int ymm = cpu_has_avx();
	long ret;

	if (!r || pipe_read_init(&pr, 0))
		return 1;
	if (ring_setup(r, 8, 0))
		return 1;
	for (unsigned int i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 3);
	tls_var = 0x1234 + tid;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) ||
	    pthread_sigmask(SIG_SETMASK, NULL, &mask_before))
		return 2;
	if (sigaltstack(&ss, NULL))
		return 3;
	errno = 4242;

	ret = async_exec_vectors(&pr.atom, &r->head, ymm, in, out);

	if (errno != 4242)
		return 4;
	if (ret != 0)
		return 5;	/* did not hand off */
	if (pr.ret != 12345)
		return 6;	/* the read cannot have completed yet */
	if (memcmp(in, out, ymm ? 16 * 32 : 16 * 16))
		return 7;
	if (sys_gettid() != tid)
		return 8;
	if (&tls_var != tls_addr || tls_var != 0x1234 + tid)
		return 9;
	if (pthread_sigmask(SIG_SETMASK, NULL, &mask_after))
		return 10;
	for (int sig = 1; sig < SIGRTMAX; sig++)
		if (sigismember(&mask_before, sig) !=
		    sigismember(&mask_after, sig))
			return 10;
	if (sigaltstack(NULL, &ss_after) || ss_after.ss_sp != altstack ||
	    ss_after.ss_size != sizeof(altstack))
		return 11;
	/* A signal for the caller's thread ID reaches the caller. */
	signalled_tid = 0;
	if (syscall(SYS_tgkill, getpid(), tid, SIGUSR1))
		return 12;
	if (signalled_tid != tid)
		return 13;
	/* And the worker finishes the read for us. */
	if (write(pr.p[1], "state", 5) != 5)
		return 14;
	if (async_wait(1, &r->head, NULL) != 1)
		return 15;
	if (test_ring_reap(r) != PTR(&pr.atom) || pr.ret != 5 ||
	    strcmp(pr.data, "state"))
		return 16;
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	pipe_read_close(&pr);
	free(r);
	return 0;
}

TEST(state_survives_hand_off_in_main_thread)
{
	/* Twice: the second hand-off goes to the first one's worker. */
	ASSERT_EQ(0, check_state_across_hand_off());
	ASSERT_EQ(0, check_state_across_hand_off());
	ASSERT_EQ(getpid(), sys_gettid());
}

static void *state_thread(void *arg)
{
	return (void *)(long)check_state_across_hand_off();
}

TEST(state_survives_hand_off_in_pthread)
{
	pthread_t t;
	void *res;

	ASSERT_EQ(0, pthread_create(&t, NULL, state_thread, NULL));
	ASSERT_EQ(0, pthread_join(t, &res));
	ASSERT_EQ(0, (long)res);
}

static int pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/*
 * The spare normally runs where the caller blocked and takes the CPU's
 * FPU registers over as they are.  A spare that may not run there
 * (its affinity is the caller's from its last hand-off) is woken on its
 * own CPU, where the registers are somebody else's: it must load the
 * caller's saved ones.  The vector registers survive either way.
 */
TEST(state_survives_hand_off_to_a_spare_on_another_cpu)
{
	pid_t pid;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "needs two CPUs");
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		if (pin_to_cpu(0))
			_exit(20);
		/* The task that blocks parks as the spare, bound to CPU 0. */
		if (check_state_across_hand_off())
			_exit(21);
		usleep(100000);
		if (pin_to_cpu(1))
			_exit(22);
		_exit(check_state_across_hand_off());
	}
	ASSERT_EQ(0, wait_exit(pid, 10000))
		TH_LOG("20-22: set-up; 1-16: check_state_across_hand_off()");
}

/*
 * The spare takes the caller's affinity over before it takes the FPU
 * registers: a caller moved to another CPU while its chain ran (here by
 * another thread, while an atom polls in a loop) makes the spare move
 * too, after it was woken where the registers still were.  They must
 * survive that (review of ad77e59: the registers were taken over live,
 * then lost when the spare, still a pool thread, was migrated).
 */
static struct {
	struct test_ring ring;
	struct syslet_uatom atoms[2];
	uint64_t pfd, n, to, fd, buf, len;
	struct pollfd poll;
	int64_t ret[2];
	char data[4];
	uint8_t in[16 * 32], out[16 * 32];
	atomic_int go;
	atomic_int tid;
	long exec_ret;
} mv;

static void *moved_submitter(void *arg)
{
	(void)arg;
	mv.tid = sys_gettid();
	if (pin_to_cpu(1) || ring_setup(&mv.ring, 8, 0))
		return (void *)1L;
	usleep(50000);
	mv.go = 1;
	mv.exec_ret = async_exec_vectors(&mv.atoms[0], &mv.ring.head,
					 cpu_has_avx(), mv.in, mv.out);
	return NULL;
}

TEST(state_survives_hand_off_of_a_caller_moved_to_another_cpu)
{
	pid_t pid;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "needs two CPUs");
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int p1[2], p2[2];
		cpu_set_t zero;
		pthread_t t;
		void *res;

		if (pipe(p1) || pipe(p2) || pin_to_cpu(0))
			_exit(20);
		for (unsigned int i = 0; i < sizeof(mv.in); i++)
			mv.in[i] = (uint8_t)(i * 5 + 1);
		mv.poll.fd = p2[0];
		mv.poll.events = POLLIN;
		mv.pfd = PTR(&mv.poll);
		mv.n = 1;
		mv.fd = p1[0];
		mv.buf = PTR(mv.data);
		mv.len = 1;
		/* poll(p2, 0 ms) until it has input, then read(p1): blocks */
		init_atom(&mv.atoms[0], __NR_poll, &mv.pfd, &mv.n, &mv.to, NULL,
			  NULL, NULL, &mv.ret[0],
			  SYSLET_STOP_ON_NONZERO | SYSLET_SKIP_TO_NEXT_ON_STOP,
			  &mv.atoms[0]);
		init_atom(&mv.atoms[1], __NR_read, &mv.fd, &mv.buf, &mv.len,
			  NULL, NULL, NULL, &mv.ret[1], 0, NULL);
		if (pthread_create(&t, NULL, moved_submitter, NULL))
			_exit(21);
		while (!mv.go)
			;
		usleep(50000);
		CPU_ZERO(&zero);
		CPU_SET(0, &zero);
		if (sched_setaffinity(mv.tid, sizeof(zero), &zero))
			_exit(22);
		usleep(50000);
		if (write(p2[1], "x", 1) != 1 || pthread_join(t, &res) || res)
			_exit(23);
		if (mv.exec_ret != 0)
			_exit(24);	/* no hand-off */
		if (memcmp(mv.in, mv.out, cpu_has_avx() ? 16 * 32 : 16 * 16))
			_exit(25);	/* the registers were lost */
		if (write(p1[1], "y", 1) != 1 ||
		    async_wait(1, &mv.ring.head, NULL) != 1)
			_exit(26);
		_exit(0);
	}
	ASSERT_EQ(0, wait_exit(pid, 10000))
		TH_LOG("20-23: set-up, 24: no hand-off, 25: vector registers lost, 26: completion");
}

TEST(parent_sees_the_process_after_leader_hand_off)
{
	pid_t pid = fork();

	if (!pid) {
		/* The group leader hands off, then the process exits. */
		if (check_state_across_hand_off())
			_exit(1);
		if (sys_gettid() != getpid())
			_exit(2);
		_exit(42);
	}
	/* wait() still finds the child by its PID, with its status. */
	ASSERT_EQ(42, wait_exit(pid, 5000));
}

TEST(traced_caller_never_hands_off)
{
	int status;
	pid_t pid = fork();

	if (!pid) {
		static struct test_ring r;
		struct pipe_read pr;
		pthread_t t;

		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		if (pipe_read_init(&pr, 0) ||
		    pthread_create(&t, NULL, write_later, &pr))
			_exit(1);
		test_ring_init(&r, 8, 0);
		/* A tracer must see the caller as it is: no hand-off. */
		if (async_exec(&pr.atom, &r.head, HSZ) != (long)&pr.atom)
			_exit(2);
		_exit(pr.ret == 4 ? 0 : 3);
	}
	for (;;) {
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		if (WIFEXITED(status) || WIFSIGNALED(status))
			break;
		ASSERT_EQ(0, ptrace(PTRACE_CONT, pid, 0, 0));
	}
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
}

/* ------------------------------------ user-space cachemiss contexts */

static struct test_ring ucm_ring;
static atomic_ulong ucm_atom, ucm_head, ucm_runs;
static atomic_long ucm_thread_ret = 1;

/*
 * Entered by a cachemiss worker after its chain completed: no TLS (so no
 * libc, no stack protector), rdi = the atom, rsi = the head.  It records
 * what it got and goes back into the pool with async_thread().
 */
__noreturn __attribute__((optimize("no-stack-protector")))
static void ucm_entry(uint64_t atom, uint64_t head)
{
	long ret;

	ucm_atom = atom;
	ucm_head = head;
	__atomic_add_fetch(&ucm_runs, 1, __ATOMIC_SEQ_CST);
	asm volatile("syscall"
		     : "=a"(ret)
		     : "a"((long)__NR_async_thread), "D"(0L), "S"(head)
		     : "rcx", "r11", "memory");
	/* Back here only with a taken-over context, which is not ours. */
	ucm_thread_ret = ret;
	for (;;)
		asm volatile("syscall" : : "a"((long)__NR_exit), "D"(3L)
			     : "rcx", "r11", "memory");
}

TEST(async_thread_outside_a_cachemiss_context)
{
	ASSERT_EQ(-1, syscall(__NR_async_thread, NULL, NULL));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, syscall(__NR_async_thread, (void *)8, NULL));
	ASSERT_EQ(EINVAL, errno);
}

TEST(worker_runs_a_user_context_then_returns_to_the_pool)
{
	static alignas(16) char stack[65536];
	struct pipe_read pr;
	int pool_before;

	ASSERT_EQ(0, pipe_read_init(&pr, 0));
	test_ring_init(&ucm_ring, 8, 0);
	/* We set the ring up, so as a worker we would use head_ip. */
	ucm_ring.head.head_ip = PTR(ucm_entry);
	ucm_ring.head.head_stack = PTR(stack + sizeof(stack) - 8);
	ASSERT_EQ(0, async_register(&ucm_ring.head, HSZ));
	ASSERT_EQ(0, async_exec(&pr.atom, &ucm_ring.head, HSZ));
	pool_before = count_pool_threads();

	ASSERT_EQ(4, write(pr.p[1], "user", 4));
	ASSERT_EQ(1, async_wait(1, &ucm_ring.head, NULL));
	ASSERT_EQ(PTR(&pr.atom), test_ring_reap(&ucm_ring));
	for (int i = 0; i < 2000 && !ucm_runs; i++)
		usleep(1000);
	ASSERT_EQ(1, ucm_runs);
	ASSERT_EQ(PTR(&pr.atom), ucm_atom);
	ASSERT_EQ(PTR(&ucm_ring.head), ucm_head);
	/* The stack was taken; the next worker has none and parks. */
	ASSERT_EQ(0, ucm_ring.head.head_stack);
	ASSERT_EQ(4, pr.ret);

	/* Back in the pool, it is the spare for the next hand-off. */
	for (int i = 0; i < 2000 && count_pool_threads() < pool_before; i++)
		usleep(1000);
	ASSERT_LE(pool_before, count_pool_threads());
	ASSERT_EQ(0, pipe_read_init(&pr, 0));
	ASSERT_EQ(0, async_exec(&pr.atom, &ucm_ring.head, HSZ));
	ASSERT_EQ(1, write(pr.p[1], "x", 1));
	ASSERT_EQ(1, async_wait(1, &ucm_ring.head, NULL));
	ASSERT_EQ(1, pr.ret);
	ASSERT_EQ(1, ucm_runs);
}

/* ----------------------------------------------------------- scale */

struct many {
	struct pipe_read *pr;
	int n;
	atomic_int done;
	int max_pool;
};

static void *writer_and_counter(void *arg)
{
	struct many *m = arg;

	/* Let the pool fill up first (or give up waiting after 5 s). */
	for (int i = 0; i < 500 && count_threads() - 3 < 64; i++)
		usleep(10000);
	for (int i = 0; i < m->n; i++) {
		if (!(i % 32)) {
			/*
			 * Every thread but us three (main, submitter, this
			 * writer) is the pool's.  (Names are no good here: a
			 * hand-off renames two threads.)
			 */
			int pool = count_threads() - 3;

			if (pool > m->max_pool)
				m->max_pool = pool;
		}
		if (write(m->pr[i].p[1], "x", 1) != 1)
			return (void *)1;
	}
	return NULL;
}

struct many_submit {
	struct many *m;
	struct async_head_user *head;
	uint64_t *ring;
	int cached, reaped, err;
};

/*
 * Submit and reap from a thread other than the main one: the main thread
 * of a multi-threaded process completes its atoms in its own context
 * (the leadership moves only while no other thread runs user code).
 */
static void *submit_and_reap(void *arg)
{
	struct many_submit *s = arg;
	unsigned int idx = 0;

	for (int i = 0; i < s->m->n; i++) {
		long ret = async_exec(&s->m->pr[i].atom, s->head, HSZ);

		if (ret < 0) {
			s->err = errno;
			return NULL;
		}
		if (ret)
			s->cached++;
	}
	while (s->cached + s->reaped < s->m->n) {
		if (async_wait(1, s->head, NULL) < 0) {
			s->err = errno;
			return NULL;
		}
		while (s->ring[idx % 1024]) {
			s->ring[idx % 1024] = 0;
			idx++;
			s->reaped++;
		}
		s->head->user_ring_idx = idx;
	}
	return NULL;
}

TEST(thousand_blocked_reads_with_64_threads)
{
	const int n = 1000;
	struct rlimit rl = { 2 * n + 64, 2 * n + 64 };
	struct many m = { .n = n };
	struct async_head_user *head = calloc(1, 4096);
	uint64_t *ring = calloc(1024, sizeof(uint64_t));
	struct many_submit sub = { &m, head, ring, 0, 0, 0 };
	int cached, reaped;
	pthread_t t, s;

	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	m.pr = calloc(n, sizeof(*m.pr));
	ASSERT_NE(NULL, m.pr);
	head->completion_ring = PTR(ring);
	head->ring_size_bytes = 1024 * sizeof(uint64_t);
	head->max_nr_threads = 64;
	ASSERT_EQ(0, async_register(head, HSZ));
	for (int i = 0; i < n; i++)
		ASSERT_EQ(0, pipe_read_init(&m.pr[i], 0));
	ASSERT_EQ(0, pthread_create(&t, NULL, writer_and_counter, &m));
	ASSERT_EQ(0, pthread_create(&s, NULL, submit_and_reap, &sub));
	pthread_join(s, NULL);
	ASSERT_EQ(0, sub.err);
	cached = sub.cached;
	reaped = sub.reaped;
	pthread_join(t, NULL);
	for (int i = 0; i < n; i++) {
		ASSERT_EQ(1, m.pr[i].ret);
		pipe_read_close(&m.pr[i]);
	}
	TH_LOG("%d went asynchronous, %d completed in the caller, pool peaked at %d",
	       reaped, cached, m.max_pool);
	ASSERT_LE(64, reaped);
	ASSERT_GE(64, m.max_pool);
	ASSERT_GE(64, count_threads() - 1);
}

/* ------------------------------------------------------ life cycle */

static int block_many(int n)
{
	static struct test_ring r;
	struct pipe_read *pr = calloc(n, sizeof(*pr));

	if (ring_setup(&r, 64, 128))
		return -1;
	for (int i = 0; i < n; i++) {
		if (pipe_read_init(&pr[i], 0))
			return -1;
		if (async_exec(&pr[i].atom, &r.head, HSZ) != 0)
			return -1;
	}
	return 0;
}

TEST(sigkill_with_100_blocked_workers)
{
	int before = count_system_threads();
	int sync[2];
	char c;
	pid_t pid;

	ASSERT_EQ(0, pipe(sync));
	pid = fork();
	if (!pid) {
		c = block_many(100) ? 'e' : 'k';
		if (write(sync[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(1, read(sync[0], &c, 1));
	ASSERT_EQ('k', c);
	ASSERT_LE(before + 100, count_system_threads());
	ASSERT_EQ(0, kill(pid, SIGKILL));
	/* Gone within a second, every thread with it. */
	ASSERT_EQ(128 + SIGKILL, wait_exit(pid, 1000));
	ASSERT_EQ(before, count_system_threads());
}

static void *exec_true(void *arg)
{
	usleep(50000);
	execl("/bin/busybox", "true", NULL);
	execl("/bin/true", "true", NULL);
	return NULL;
}

TEST(exec_from_second_thread_with_blocked_workers)
{
	int before = count_system_threads();
	pid_t pid = fork();

	if (!pid) {
		pthread_t t;

		if (block_many(10))
			_exit(1);
		if (pthread_create(&t, NULL, exec_true, NULL))
			_exit(2);
		pause();
		_exit(3);
	}
	ASSERT_EQ(0, wait_exit(pid, 5000));
	ASSERT_EQ(before, count_system_threads());
}

TEST(exit_of_last_user_thread_with_blocked_workers)
{
	pid_t pid = fork();

	if (!pid) {
		if (block_many(10))
			_exit(1);
		syscall(__NR_exit, 9);
	}
	ASSERT_EQ(9, wait_exit(pid, 5000));
}

/* A child with blocked workers; they complete once told to go on. */
static int child_stop_resume(int go_fd)
{
	static struct test_ring r;
	struct pipe_read pr[4];
	char c;

	if (ring_setup(&r, 8, 0))
		return 1;
	for (int i = 0; i < 4; i++)
		if (pipe_read_init(&pr[i], 0) ||
		    async_exec(&pr[i].atom, &r.head, HSZ) != 0)
			return 1;
	if (read(go_fd, &c, 1) != 1)
		return 2;
	for (int i = 0; i < 4; i++)
		if (write(pr[i].p[1], "y", 1) != 1)
			return 3;
	if (async_wait(4, &r.head, NULL) != 4)
		return 4;
	for (int i = 0; i < 4; i++)
		if (pr[i].ret != 1)
			return 5;
	return 0;
}

TEST(group_stop_and_continue_with_blocked_workers)
{
	int go[2], status;
	pid_t pid;

	ASSERT_EQ(0, pipe(go));
	pid = fork();
	if (!pid)
		_exit(child_stop_resume(go[0]));
	usleep(300000);
	ASSERT_EQ(0, kill(pid, SIGSTOP));
	ASSERT_EQ(pid, waitpid(pid, &status, WUNTRACED));
	ASSERT_TRUE(WIFSTOPPED(status));
	ASSERT_EQ(0, kill(pid, SIGCONT));
	ASSERT_EQ(pid, waitpid(pid, &status, WCONTINUED));
	ASSERT_TRUE(WIFCONTINUED(status));
	/* The workers' reads were interrupted by the stop and reissued. */
	ASSERT_EQ(1, write(go[1], "g", 1));
	ASSERT_EQ(0, wait_exit(pid, 5000));
}

TEST(coredump_with_blocked_workers)
{
	pid_t pid = fork();

	if (!pid) {
		struct rlimit core = { RLIM_INFINITY, RLIM_INFINITY };

		if (chdir("/tmp") || setrlimit(RLIMIT_CORE, &core) ||
		    block_many(8))
			_exit(1);
		abort();
	}
	ASSERT_EQ(128 + SIGABRT, wait_exit(pid, 10000));
}

TEST(fork_after_hand_off)
{
	static struct test_ring r;
	struct pipe_read pr;
	pid_t pid;

	ASSERT_EQ(0, pipe_read_init(&pr, 0));
	ASSERT_EQ(0, ring_setup(&r, 8, 0));
	ASSERT_EQ(0, async_exec(&pr.atom, &r.head, HSZ));
	pid = fork();
	if (!pid) {
		struct pipe_read cpr;

		/* Nothing of the parent's pool came along. */
		if (count_threads() != 1)
			_exit(1);
		/*
		 * And hand-offs work in the child from scratch: its rings
		 * are its own, set up anew (registered: a spare at once).
		 */
		if (pipe_read_init(&cpr, 0) ||
		    async_register(&r.head, HSZ) != 0 ||
		    async_exec(&cpr.atom, &r.head, HSZ) != 0 ||
		    write(cpr.p[1], "c", 1) != 1 ||
		    async_wait(1, &r.head, NULL) != 1 || cpr.ret != 1)
			_exit(2);
		_exit(0);
	}
	ASSERT_EQ(0, wait_exit(pid, 5000));
	ASSERT_EQ(1, write(pr.p[1], "p", 1));
	ASSERT_EQ(1, async_wait(1, &r.head, NULL));
	ASSERT_EQ(1, pr.ret);
	pipe_read_close(&pr);
}

TEST_HARNESS_MAIN
