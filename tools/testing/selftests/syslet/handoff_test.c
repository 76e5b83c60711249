// SPDX-License-Identifier: GPL-2.0
/*
 * Syslet selftests: the hand-off under attack (issue 13).
 *
 * A cachemiss hand-off moves a thread's identity -- its TID, and for the
 * group leader the leadership -- between two live tasks.  Each test here
 * is what a hostile thread of the same process (or a tracer, or the
 * cgroup freezer) can do between the scheduler hook and the spare taking
 * over, one per defect of issue 13; each runs in a child process and
 * fails on a wrong result, a hang, or (judged from the console by make
 * check) a kernel splat.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "syslet.h"
#include "handoff.h"

/* TCG, KASAN and lockdep are slow; the racing tests run for a while. */
#undef TEST_TIMEOUT_DEFAULT
#define TEST_TIMEOUT_DEFAULT 300

#define HSZ sizeof(struct async_head_user)

/* Iterations of the racing tests (HANDOFF_REPS in the environment). */
static int reps(int dflt)
{
	const char *r = getenv("HANDOFF_REPS");

	return r ? atoi(r) * dflt / 10 + 1 : dflt;
}

/* Run @fn in a child process: its status (0 fine), or -1 if it hung. */
static int run_child(int (*fn)(void *), void *arg, int ms)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (!pid)
		_exit(fn(arg));
	return wait_exit(pid, ms);
}

/* Wait up to @ms for *@p to become non-zero. */
static int wait_flag(atomic_int *p, int ms)
{
	for (int i = 0; i < ms && !*p; i++)
		usleep(1000);
	return *p;
}

/* Wait up to @ms for thread @tid of this process to be gone. */
static int wait_thread_gone(pid_t tid, int ms)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d", tid);
	for (int i = 0; i < ms; i++) {
		if (access(path, F_OK))
			return 1;
		usleep(1000);
	}
	return 0;
}

/*
 * Reap @r for up to @ms until @want completions came; count how often
 * each of @atoms[@n] came, and others in *@other.
 */
static void reap_counting(struct test_ring *r, int want, int ms,
			  uint64_t *atoms, int *seen, int n, int *other)
{
	struct __kernel_timespec t = { 0, 50000000 };
	int got = 0;

	for (int i = 0; i < ms / 50 + 1 && got < want; i++) {
		uint64_t a;

		async_wait(1, &r->head, &t);
		while ((a = test_ring_reap(r))) {
			int j;

			got++;
			for (j = 0; j < n && atoms[j] != a; j++)
				;
			if (j < n)
				seen[j]++;
			else
				(*other)++;
		}
	}
	/* And a little longer: a duplicate comes late. */
	usleep(100000);
	for (uint64_t a; (a = test_ring_reap(r));) {
		int j;

		for (j = 0; j < n && atoms[j] != a; j++)
			;
		if (j < n)
			seen[j]++;
		else
			(*other)++;
	}
}

/*
 * ---------------------------------------------------------------------
 * 1. A double hand-off from a user-space cachemiss context.
 *
 * The ring's owner hands off; its worker completes the chain and enters
 * the head_ip context; that context calls async_exec() with an atom that
 * blocks, so the same task hands off a second time.  Then a user thread
 * leaves.  Every completion must come exactly once, SYSLET_ASYNC must
 * still go asynchronous, and the chain of the second hand-off must not
 * be cut short.  (On 1a5ec20 the task has two worker records: the pool
 * is killed while the main thread lives, and after the task exits, the
 * next pool kill writes to its freed task_struct.)
 */
static struct test_ring dh_ring;
static struct pipe_read dh_a, dh_b;
static atomic_long dh_exec_ret = 1, dh_thread_ret = 1;
static atomic_int dh_entered, dh_exec_done, dh_bystander_go;
static atomic_int dh_first_done, dh_owner_go;
static atomic_long dh_first_ret = 1;
static alignas(16) char dh_stack[65536];

#define RAW_SYSCALL3(nr, a, b, c) ({					\
	long __ret;							\
	asm volatile("syscall" : "=a"(__ret)				\
		     : "a"((long)(nr)), "D"((long)(a)), "S"((long)(b)),	\
		       "d"((long)(c))					\
		     : "rcx", "r11", "memory");				\
	__ret; })

/* No TLS, no libc: rdi = the completed atom, rsi = the head. */
__noreturn __attribute__((optimize("no-stack-protector")))
static void dh_entry(uint64_t atom, uint64_t head)
{
	long ret;

	(void)atom;
	dh_entered = 1;
	/* A second blocking atom from the cachemiss context itself. */
	ret = RAW_SYSCALL3(__NR_async_exec, &dh_b.atom, head, HSZ);
	dh_exec_ret = ret;
	dh_exec_done = 1;
	/*
	 * Back into the pool.  Returns only if this thread is no cachemiss
	 * context to the kernel (the spare that took the context over): a
	 * user thread then, which may leave like any other.
	 */
	ret = RAW_SYSCALL3(__NR_async_thread, 0, head, 0);
	dh_thread_ret = ret;
	for (;;)
		RAW_SYSCALL3(__NR_exit, 0, 0, 0);
}

static void *dh_bystander(void *arg)
{
	*(atomic_int *)arg = raw_gettid();
	while (!dh_bystander_go)
		usleep(1000);
	raw_thread_exit(0);
}

/*
 * The ring's owner (it sets the ring up): not the group leader, whose
 * hand-off a multi-threaded process may refuse.  Its context, on the
 * spare after the hand-off, leaves when told to.
 */
static void *dh_owner(void *arg)
{
	*(atomic_int *)arg = raw_gettid();
	if (async_register(&dh_ring.head, HSZ)) {
		dh_first_ret = -1000;
		dh_first_done = 1;
		return NULL;
	}
	/* First hand-off: the owner's atom blocks. */
	dh_first_ret = async_exec(&dh_a.atom, &dh_ring.head, HSZ);
	dh_first_done = 1;
	while (!dh_owner_go)
		usleep(1000);
	raw_thread_exit(0);
}

static int double_handoff_child(void *arg)
{
	struct syslet_uatom g;
	int64_t gret = 12345;
	atomic_int bystander = 0, owner = 0;
	uint64_t atoms[3];
	int seen[3] = { 0 }, other = 0;
	pthread_t t;
	long ret;

	(void)arg;
	if (pipe_read_init(&dh_a, 0) || pipe_read_init(&dh_b, 0))
		return 10;
	test_ring_init(&dh_ring, 16, 0);
	dh_ring.head.head_ip = PTR(dh_entry);
	dh_ring.head.head_stack = PTR(dh_stack + sizeof(dh_stack) - 8);
	if (pthread_create(&t, NULL, dh_bystander, (void *)&bystander) ||
	    pthread_create(&t, NULL, dh_owner, (void *)&owner))
		return 10;
	while (!bystander || !owner)
		usleep(1000);
	wait_flag(&dh_first_done, 2000);
	if (write(dh_a.p[1], "a", 1) != 1)
		return 10;
	if (!wait_flag(&dh_first_done, 10000) || dh_first_ret != 0) {
		fprintf(stderr, "# the owner's atom did not hand off: %ld\n",
			dh_first_ret);
		return 11;
	}
	/* Its worker completes and enters head_ip, which hands off again. */
	if (!wait_flag(&dh_entered, 10000))
		return 12;
	wait_flag(&dh_exec_done, 1000);

	/*
	 * User threads leave while the second chain is in flight: the
	 * bystander and the owner's context.  We are the last one.
	 */
	dh_bystander_go = 1;
	dh_owner_go = 1;
	if (!wait_thread_gone(bystander, 5000) || !wait_thread_gone(owner, 5000))
		return 13;
	usleep(200000);

	/* SYSLET_ASYNC still goes to a pool thread. */
	init_atom(&g, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL, &gret,
		  SYSLET_ASYNC, NULL);
	ret = async_exec(&g, &dh_ring.head, HSZ);
	if (ret != 0) {
		fprintf(stderr, "# SYSLET_ASYNC went synchronous (%ld)\n", ret);
		return 14;
	}
	/* Let the second chain end. */
	if (write(dh_b.p[1], "b", 1) != 1)
		return 10;
	if (!wait_flag(&dh_exec_done, 10000))
		return 15;

	atoms[0] = PTR(&dh_a.atom);
	atoms[1] = PTR(&dh_b.atom);
	atoms[2] = PTR(&g);
	reap_counting(&dh_ring, dh_exec_ret == 0 ? 3 : 2, 5000, atoms, seen,
		      3, &other);
	fprintf(stderr, "# second async_exec: %ld (atom %p), async_thread: %ld\n",
		dh_exec_ret, &dh_b.atom, dh_thread_ret);
	fprintf(stderr, "# completions a %d b %d async %d other %d\n",
		seen[0], seen[1], seen[2], other);
	if (seen[0] != 1 || seen[2] != 1 || other)
		return 16;
	if (dh_exec_ret == 0) {
		if (seen[1] != 1)
			return 17;	/* the second chain lost (or twice) */
	} else if (dh_exec_ret == (long)PTR(&dh_b.atom)) {
		if (seen[1])
			return 18;	/* cached, and posted too */
	} else {
		return 19;
	}
	if (dh_b.ret != 1 || dh_a.ret != 1 || gret != getpid())
		return 20;
	if (raw_gettid() != getpid())
		return 21;
	/* The worker's task exits; the pool kill at our exit follows. */
	usleep(300000);
	return 0;
}

TEST(double_handoff_from_user_cachemiss_context)
{
	int rc = run_child(double_handoff_child, NULL, 60000);

	ASSERT_EQ(0, rc) {
		TH_LOG("11/12: no hand-off or no head_ip context");
		TH_LOG("13: user threads did not exit");
		TH_LOG("14: SYSLET_ASYNC went synchronous");
		TH_LOG("15: second chain never ended");
		TH_LOG("16: a completion missing or twice");
		TH_LOG("17: the second hand-off's chain lost");
		TH_LOG("18/19: bad async_exec result, 20: results, 21: gettid");
	}
}

/*
 * ---------------------------------------------------------------------
 * 2. Leadership moved while threads are created.
 *
 * The leader's chains hand off in a loop while other threads create
 * threads; each new thread calls setpgid(0, 0), getpgid(), prlimit()
 * and checks getpid()/gettid(); one of them finally exec()s, which must
 * work.  (On 1a5ec20 a new thread may get the old leader, a pool thread
 * by then: setpgid() fails with EINVAL, exec() is a use-after-free.)
 */
struct lc_state {
	pid_t pid;
	atomic_int stop, err, exec_now, created;
};

static void lc_fail(struct lc_state *s, int code)
{
	if (!s->err) {
		fprintf(stderr, "# new thread %d: failure %d, errno %d (%s)\n",
			raw_gettid(), code, errno, strerror(errno));
		s->err = code;
	}
}

static void *lc_new_thread(void *arg)
{
	struct lc_state *s = arg;
	int rc = group_leader_ops(s->pid);

	if (rc)
		lc_fail(s, rc);
	if (__atomic_exchange_n(&s->exec_now, 0, __ATOMIC_SEQ_CST)) {
		handoff_exec_self();
		lc_fail(s, 48);
	}
	return NULL;
}

static void *lc_creator(void *arg)
{
	struct lc_state *s = arg;

	while (!s->stop) {
		if (start_detached(lc_new_thread, s))
			usleep(1000);	/* EAGAIN: threads not gone yet */
		else
			__atomic_add_fetch(&s->created, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* One leader chain: 1 handed off, 0 completed in the caller, or < 0. */
static int lc_one(struct test_ring *r, struct lc_state *s)
{
	struct __kernel_timespec ts = { 0, 200000 };
	uint64_t tsp = PTR(&ts), zero = 0;
	struct syslet_uatom a;
	int64_t ret = 12345;
	int handed_off = 0;
	long rc;

	init_atom(&a, __NR_nanosleep, &tsp, &zero, NULL, NULL, NULL, NULL,
		  &ret, 0, NULL);
	rc = async_exec(&a, &r->head, HSZ);
	if (rc == 0) {
		handed_off = 1;
		while (!test_ring_reap(r))
			if (async_wait(1, &r->head, NULL) < 0)
				return -11;
	} else if (rc != (long)PTR(&a)) {
		return -12;
	}
	if (ret != 0)
		return -13;
	if (identity_check(s->pid, 1))
		return -14;
	if (s->err)
		return -s->err;
	return handed_off;
}

static int leader_child(void *arg)
{
	static struct test_ring r;
	static struct lc_state s;
	int rounds = *(int *)arg, handoffs = 0, rc;
	pthread_t t;

	s.pid = getpid();
	if (ring_setup(&r, 8, 8))
		return 10;
	/* Alone, the leader's blocking atoms go asynchronous. */
	for (int i = 0; i < 20; i++) {
		rc = lc_one(&r, &s);
		if (rc < 0)
			return -rc;
		handoffs += rc;
	}
	if (!handoffs)
		return 15;
	/* Now other threads make threads while the leader goes on. */
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t, NULL, lc_creator, &s))
			return 10;
	for (int i = 0; i < rounds; i++) {
		rc = lc_one(&r, &s);
		if (rc < 0)
			return -rc;
		handoffs += rc;
	}
	fprintf(stderr, "# %d leader hand-offs, %d threads made\n", handoffs,
		s.created);
	/* One of the new threads exec()s; we go on meanwhile. */
	s.exec_now = 1;
	for (;;) {
		rc = lc_one(&r, &s);
		if (rc < 0)
			return -rc;
	}
}

TEST(leader_handoff_races_thread_creation)
{
	int rounds = 300, n = reps(10);

	for (int i = 0; i < n; i++) {
		int rc = run_child(leader_child, &rounds, 60000);

		ASSERT_EQ(0, rc) {
			TH_LOG("round %d", i);
			TH_LOG("11-13: chains, 14: main thread's gettid/getpid");
			TH_LOG("15: the leader of a single-threaded process never handed off");
			TH_LOG("40/41: a new thread's getpid/gettid");
			TH_LOG("42: setpgid(0,0) failed, 43: getpgid, 44/45: prlimit");
			TH_LOG("48: exec failed, 1: exec'd program's getpid/gettid");
			TH_LOG("-1: hung");
		}
	}
}

/*
 * ---------------------------------------------------------------------
 * 3. Per-thread CPU timers across a hand-off.
 *
 * A CLOCK_THREAD_CPUTIME_ID timer is queued on the task of the thread it
 * measures.  When that thread's TID moves to a spare and the thread that
 * then has the TID exits, timer_delete() must still find and dequeue it.
 * (On 1a5ec20 the timer stays queued on the old task: a WARN in
 * timer_lock_sighand(), then a use-after-free in timerqueue_del() when
 * that task exits.)  Variant pool_thread_timer: the timer is created by
 * a SYSLET_ASYNC atom in a pool thread, which then takes over a context.
 */
FIXTURE(cpu_timer) {
	struct test_ring *r;
};

FIXTURE_VARIANT(cpu_timer) {
	int in_pool_thread;
};

FIXTURE_VARIANT_ADD(cpu_timer, armed_then_handoff) {
	.in_pool_thread = 0,
};

FIXTURE_VARIANT_ADD(cpu_timer, pool_thread_timer) {
	.in_pool_thread = 1,
};

FIXTURE_SETUP(cpu_timer)
{
	self->r = calloc(1, sizeof(*self->r));
	ASSERT_NE(NULL, self->r);
	signal(SIGURG, SIG_IGN);
}

FIXTURE_TEARDOWN(cpu_timer)
{
	free(self->r);
}

struct ct_state {
	struct test_ring *r;
	struct pipe_read pr;
	timer_t timer;
	atomic_int armed, exec_done, go_exit, err;
	atomic_long exec_ret;
	struct itimerspec left;
};

/* The thread that arms a timer on itself, then hands off and leaves. */
static void *ct_arm_and_block(void *arg)
{
	struct ct_state *s = arg;

	/* Our task has run longer than the spare that takes our TID. */
	burn_cpu_ms(100);
	if (arm_cpu_timer(CLOCK_THREAD_CPUTIME_ID, &s->timer, 100)) {
		s->err = 30;
		return NULL;
	}
	s->pr.reader = raw_gettid();
	s->armed = 1;
	s->exec_ret = async_exec(&s->pr.atom, &s->r->head, HSZ);
	s->exec_done = 1;
	/* It cannot have more time left than it was set for. */
	if (timer_gettime(s->timer, &s->left))
		s->err = 31;
	return NULL;		/* the thread that now has our TID exits */
}

static int ct_user_thread(struct test_ring *r)
{
	static struct ct_state s;
	pthread_t t;

	s.r = r;
	if (ring_setup(r, 8, 4) || pipe_read_init(&s.pr, 0))
		return 10;
	if (pthread_create(&t, NULL, ct_arm_and_block, &s))
		return 10;
	wait_flag(&s.armed, 5000);
	/* Handed off: returns at once; else it waits for the pipe. */
	if (!wait_flag(&s.exec_done, 2000) && write(s.pr.p[1], "x", 1) != 1)
		return 10;
	pthread_join(t, NULL);
	if (s.err)
		return s.err;
	if (s.exec_ret != 0 && s.exec_ret != (long)PTR(&s.pr.atom))
		return 11;
	fprintf(stderr, "# async_exec %s; timer left after it: %ld.%09ld s of 100\n",
		s.exec_ret ? "completed in the caller" : "handed off",
		(long)s.left.it_value.tv_sec, s.left.it_value.tv_nsec);
	/* The thread that had the TID is gone: delete its timer. */
	if (timer_delete(s.timer))
		return 12;
	if (!s.exec_ret) {
		if (write(s.pr.p[1], "x", 1) != 1)
			return 10;
		if (async_wait(1, &r->head, NULL) != 1 ||
		    test_ring_reap(r) != PTR(&s.pr.atom))
			return 13;
	}
	/* The old task exits at our exit, after an RCU grace period. */
	usleep(200000);
	if (s.left.it_value.tv_sec > 100 ||
	    (s.left.it_value.tv_sec == 100 && s.left.it_value.tv_nsec))
		return 14;
	return 0;
}

static void *ct_block_in_context(void *arg)
{
	struct ct_state *s = arg;

	s->pr.reader = raw_gettid();
	s->armed = 1;
	s->exec_ret = async_exec(&s->pr.atom, &s->r->head, HSZ);
	s->exec_done = 1;
	while (!s->go_exit)
		usleep(1000);
	return NULL;		/* the pool thread that took us over exits */
}

static int ct_pool_thread(struct test_ring *r)
{
	static struct ct_state s;
	struct itimerspec its = { .it_value.tv_sec = 100 };
	struct sigevent sev = {
		.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGURG,
	};
	struct __kernel_timespec sleeps[2] = { { 0, 50000000 }, { 0, 600000000 } };
	uint64_t clk = CLOCK_THREAD_CPUTIME_ID, sevp = PTR(&sev),
		 tp = PTR(&s.timer), slp[2] = { PTR(&sleeps[0]), PTR(&sleeps[1]) },
		 zero = 0;
	struct syslet_uatom tc, sl[2];
	int64_t ret = 12345, sret[2];
	pid_t spare = 0;
	pthread_t t;

	s.r = r;
	if (ring_setup(r, 16, 8) || pipe_read_init(&s.pr, 0))
		return 10;
	if (find_pool_threads(&spare, 1) != 1)
		return 20;
	/* The spare makes a timer that measures itself ... */
	init_atom(&tc, __NR_timer_create, &clk, &sevp, &tp, NULL, NULL, NULL,
		  &ret, SYSLET_ASYNC, NULL);
	if (async_exec(&tc, &r->head, HSZ) != 0)
		return 21;
	if (async_wait(1, &r->head, NULL) != 1 || test_ring_reap(r) != PTR(&tc))
		return 22;
	/*
	 * A pool thread may not make a timer on its own CPU clock (allow.c:
	 * it would measure, and be queued on, a thread that is not the
	 * submitter's): the chain ends with the no-such-call errno and
	 * nothing is queued.
	 */
	if (ret == -no_such_syscall)
		return 0;
	if (ret != 0)
		return 22;
	/* ... armed, so it is queued on the spare's task ... */
	if (timer_settime(s.timer, 0, &its, NULL))
		return 23;
	/* ... which then takes over this thread's context. */
	if (pthread_create(&t, NULL, ct_block_in_context, &s))
		return 10;
	wait_flag(&s.armed, 5000);
	wait_flag(&s.exec_done, 2000);
	if (write(s.pr.p[1], "x", 1) != 1)
		return 10;
	if (!wait_flag(&s.exec_done, 5000))
		return 24;
	if (!s.exec_ret) {
		if (async_wait(1, &r->head, NULL) != 1 ||
		    test_ring_reap(r) != PTR(&s.pr.atom))
			return 25;
		/*
		 * The spare's old TID is the worker's now.  Make it exit: it
		 * runs a short chain, a new thread a long one, so it is the
		 * first idle one to time out while another is parked.
		 */
		for (int i = 0; i < 2; i++) {
			init_atom(&sl[i], __NR_nanosleep, &slp[i], &zero, NULL,
				  NULL, NULL, NULL, &sret[i], SYSLET_ASYNC, NULL);
			if (async_exec(&sl[i], &r->head, HSZ) != 0)
				return 26;
		}
		for (int got = 0; got < 2;) {
			if (async_wait(1, &r->head, NULL) < 0)
				return 27;
			while (test_ring_reap(r))
				got++;
		}
		if (!wait_thread_gone(spare, 8000))
			fprintf(stderr, "# thread %d (the spare's old TID) still there\n",
				spare);
	}
	/* Nobody has the TID the timer measures: delete it. */
	if (timer_delete(s.timer))
		return 28;
	usleep(100000);
	/* The pool thread that holds the old queue exits now. */
	s.go_exit = 1;
	pthread_join(t, NULL);
	usleep(200000);
	return 0;
}

struct ct_arg {
	struct test_ring *r;
	int in_pool;
};

static int cpu_timer_child(void *arg)
{
	struct ct_arg *a = arg;

	return a->in_pool ? ct_pool_thread(a->r) : ct_user_thread(a->r);
}

TEST_F(cpu_timer, delete_after_tid_owner_exits)
{
	struct ct_arg arg = { self->r, variant->in_pool_thread };

	ASSERT_EQ(0, run_child(cpu_timer_child, &arg, 60000)) {
		TH_LOG("10: set-up, 30/31: timer_create/settime/gettime");
		TH_LOG("11: async_exec, 12/28: timer_delete, 13/25: completion");
		TH_LOG("14: the timer had more time left than it was set for");
		TH_LOG("20-27: pool thread chains");
	}
}

/*
 * ---------------------------------------------------------------------
 * 4. Exit accounting.
 *
 * The last user thread to leave must take the pool down, however the
 * user threads leave: here with raw SYS_exit, all at once, or just as
 * idle pool threads time out and exit (spares exit after 5 s idle).  The
 * process must then exit.  (On 1a5ec20 threads that leave together may
 * each see another user thread: nobody kills the pool, the kept spare
 * parks for ever and the process never exits.)
 */
FIXTURE(exit_race) {
	int dummy;
};

FIXTURE_VARIANT(exit_race) {
	int idle_exit;		/* race the pool threads' idle exit */
};

FIXTURE_VARIANT_ADD(exit_race, user_threads_exit_together) {
	.idle_exit = 0,
};

FIXTURE_VARIANT_ADD(exit_race, last_thread_exits_as_spares_time_out) {
	.idle_exit = 1,
};

FIXTURE_SETUP(exit_race) { }
FIXTURE_TEARDOWN(exit_race) { }

#define EXIT_THREADS 2
static atomic_int ex_go;

static void *ex_leaver(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&ex_go, __ATOMIC_ACQUIRE))
		;
	raw_thread_exit(0);
}

/* A child with pool threads: @n SYSLET_ASYNC sleeps, reaped. */
static int ex_make_pool(int n)
{
	static struct test_ring r;
	static struct syslet_uatom a[16];
	static struct __kernel_timespec ts = { 0, 20000000 };
	static uint64_t tsp, zero;
	static int64_t ret[16];

	tsp = PTR(&ts);
	if (ring_setup(&r, 32, 32))
		return -1;
	for (int i = 0; i < n; i++) {
		init_atom(&a[i], __NR_nanosleep, &tsp, &zero, NULL, NULL, NULL,
			  NULL, &ret[i], SYSLET_ASYNC, NULL);
		if (async_exec(&a[i], &r.head, HSZ) != 0)
			return -1;
	}
	for (int got = 0; got < n;) {
		if (async_wait(1, &r.head, NULL) < 0)
			return -1;
		while (test_ring_reap(&r))
			got++;
	}
	return 0;
}

static void ex_together_child(void)
{
	pthread_t t;

	if (ex_make_pool(3))
		_exit(10);
	for (int i = 1; i < EXIT_THREADS; i++)
		if (pthread_create(&t, NULL, ex_leaver, NULL))
			_exit(10);
	usleep(20000);
	__atomic_store_n(&ex_go, 1, __ATOMIC_RELEASE);
	raw_thread_exit(0);
}

static void ex_idle_child(int delay_us)
{
	if (ex_make_pool(8))
		_exit(10);
	/* The pool threads parked just now; time out in 5 s. */
	usleep(delay_us);
	raw_thread_exit(0);
}

TEST_F(exit_race, process_exits)
{
	int n = reps(variant->idle_exit ? 32 : 200);
	int batch = variant->idle_exit ? 8 : 1, hung = 0;

	for (int i = 0; i < n; i += batch) {
		pid_t pid[8];

		for (int j = 0; j < batch; j++) {
			pid[j] = fork();
			ASSERT_LE(0, pid[j]);
			if (!pid[j]) {
				if (variant->idle_exit)
					/* 4.90 s .. 5.15 s after parking */
					ex_idle_child(4900000 + ((i + j) * 7919) % 250000);
				else
					ex_together_child();
			}
		}
		for (int j = 0; j < batch; j++) {
			int rc = wait_exit(pid[j], 10000);

			if (rc)
				TH_LOG("round %d: child status %d%s", i + j, rc,
				       rc < 0 ? " (did not exit within 10 s)" : "");
			hung += rc != 0;
		}
		if (hung >= 3)
			break;
	}
	ASSERT_EQ(0, hung);
}

/*
 * ---------------------------------------------------------------------
 * 5. The cgroup freezer.
 *
 * A cgroup whose process hands off in a loop must freeze: cgroup.events
 * reports frozen 1 within seconds; after the thaw every chain finishes.
 * (On 1a5ec20 a frozen spare may be picked: the blocked task then waits
 * uninterruptibly for it until the thaw, and the group never freezes.)
 */
struct fz_shared {
	atomic_int stop;
	atomic_long submitted, async, reaped, err;
};

static void *fz_loop(void *arg)
{
	struct fz_shared *sh = arg;
	struct test_ring *r = calloc(1, sizeof(*r));
	struct __kernel_timespec ts = { 0, 100000 };
	uint64_t tsp = PTR(&ts), zero = 0;
	struct syslet_uatom a;
	int64_t ret;

	test_ring_init(r, 8, 4);
	while (!sh->stop) {
		long rc;

		init_atom(&a, __NR_nanosleep, &tsp, &zero, NULL, NULL, NULL,
			  NULL, &ret, 0, NULL);
		ret = 12345;
		rc = async_exec(&a, &r->head, HSZ);
		__atomic_add_fetch(&sh->submitted, 1, __ATOMIC_RELAXED);
		if (rc == 0) {
			__atomic_add_fetch(&sh->async, 1, __ATOMIC_RELAXED);
			while (!test_ring_reap(r))
				async_wait(1, &r->head, NULL);
			__atomic_add_fetch(&sh->reaped, 1, __ATOMIC_RELAXED);
		} else if (rc != (long)PTR(&a)) {
			sh->err = 1;
		}
		if (ret != 0 && ret != -EINTR)
			sh->err = 2;
	}
	return NULL;
}

static int fz_child(struct fz_shared *sh, int go)
{
	pthread_t t[3];
	char c;

	if (read(go, &c, 1) != 1)
		return 10;
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, fz_loop, sh))
			return 10;
	fz_loop(sh);	/* the leader hands off too */
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	if (sh->err)
		return 11;
	if (sh->async != sh->reaped)
		return 12;
	return identity_check(getpid(), 1);
}

TEST(freezer_freezes_a_process_that_hands_off)
{
	struct fz_shared *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int go[2], cycles = reps(20), slow = 0, worst = 0;
	char cg[128], name[64];
	pid_t pid;

	snprintf(name, sizeof(name), "syslet-freeze-%d", getpid());
	if (!have_cgroup2())
		SKIP(return, "no cgroup2 in this kernel (CONFIG_CGROUPS=n)");
	ASSERT_EQ(0, cg_make(name, cg, sizeof(cg)));
	ASSERT_EQ(0, pipe(go));
	pid = fork();
	if (!pid)
		_exit(fz_child(sh, go[0]));
	ASSERT_EQ(0, cg_move(cg, pid));
	ASSERT_EQ(1, write(go[1], "g", 1));
	usleep(300000);
	for (int i = 0; i < cycles; i++) {
		int ms;

		usleep(20000 + (i * 7919) % 150000);
		ms = cg_freeze(cg, 1, 5000);
		if (ms < 0)
			slow++;
		else if (ms > worst)
			worst = ms;
		if (ms < 0)
			TH_LOG("cycle %d: not frozen within 5 s", i);
		ASSERT_LE(0, cg_freeze(cg, 0, 10000));
		if (slow >= 3)
			break;
	}
	sh->stop = 1;
	ASSERT_EQ(0, wait_exit(pid, 30000))
		TH_LOG("11: a chain's result, 12: %ld went async, %ld reaped",
		       sh->async, sh->reaped);
	TH_LOG("%d freezes, slowest %d ms; %ld chains, %ld went async",
	       cycles, worst, sh->submitted, sh->async);
	rmdir(cg);
	ASSERT_EQ(0, slow);
}

/*
 * ---------------------------------------------------------------------
 * 6. ptrace attach against the hand-off.
 *
 * A tracer attaches to a thread's TID while the thread's atoms block and
 * hand off.  Afterwards the task that has that TID must be the traced
 * one, and no pool thread may be traced.  (On 1a5ec20 the hook checks
 * ->ptrace without the lock the identity moves under: an attach in
 * between traces the pool thread while the TID goes untraced.)
 */
struct pt_shared {
	atomic_int tid;
	atomic_long handoffs;
};

static void *pt_handoff_loop(void *arg)
{
	struct pt_shared *sh = arg;
	struct test_ring *r = calloc(1, sizeof(*r));
	struct __kernel_timespec ts = { 0, 100000 };
	uint64_t tsp = PTR(&ts), zero = 0;
	struct syslet_uatom a;
	int64_t ret;

	if (ring_setup(r, 8, 4))
		_exit(10);
	sh->tid = raw_gettid();
	for (;;) {
		init_atom(&a, __NR_nanosleep, &tsp, &zero, NULL, NULL, NULL,
			  NULL, &ret, 0, NULL);
		if (async_exec(&a, &r->head, HSZ))
			continue;
		sh->handoffs++;
		while (!test_ring_reap(r))
			async_wait(1, &r->head, NULL);
	}
	return NULL;
}

TEST(ptrace_attach_during_handoff_traces_the_tid)
{
	struct pt_shared *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int n = reps(300), bad = 0, gone = 0;
	pid_t pid = fork();

	if (!pid) {
		pthread_t t;

		if (pthread_create(&t, NULL, pt_handoff_loop, sh))
			_exit(10);
		pause();
		_exit(0);
	}
	while (!sh->tid)
		usleep(1000);
	for (int i = 0; i < n; i++) {
		int rc = ptrace_probe(pid, sh->tid, (i * 389) % 3000);

		if (rc == 1) {
			gone++;
		} else if (rc) {
			TH_LOG("attempt %d: %s (%d)", i,
			       rc == 50 ? "the caller's TID is not traced" :
			       rc >= 60 ? "a pool thread is traced" :
			       "the tracer hung", rc);
			bad++;
		}
	}
	TH_LOG("%d attaches, %ld hand-offs, %d failed to attach", n,
	       sh->handoffs, gone);
	kill(pid, SIGKILL);
	ASSERT_EQ(128 + SIGKILL, wait_exit(pid, 10000));
	ASSERT_EQ(0, bad);
	ASSERT_GT(sh->handoffs, 0);
}

/*
 * ---------------------------------------------------------------------
 * 7. Signals sent to a fresh cachemiss worker's TID.
 *
 * Right after a hand-off the blocked task is a pool thread with the
 * spare's old TID.  A signal sent to that TID is the process' (design
 * document): it must reach a thread that does not block it, not be
 * forwarded into the caller's context under the caller's mask.
 */
static atomic_int usr1_taker;
static atomic_int usr1_taken;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_taker = raw_gettid();
	usr1_taken++;
}

/*
 * The caller: blocks SIGUSR1, hands off, signals the worker's new TID,
 * lets the chain end.  Not the leader (a multi-threaded process may
 * refuse the leader's hand-off).  Returns 0 or a failure code.
 */
static int ws_delay_us;
static atomic_int ws_went_to_caller;

static void *ws_caller(void *arg)
{
	static struct test_ring r;
	struct pipe_read pr;
	sigset_t usr1, pending;
	pid_t spare = 0, now[8];
	long rc = 0;

	(void)arg;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	if (ring_setup(&r, 8, 4) || pipe_read_init(&pr, 0))
		return (void *)10L;
	if (find_pool_threads(&spare, 1) != 1)
		return (void *)10L;
	if (async_exec(&pr.atom, &r.head, HSZ) != 0)
		return (void *)11L;
	/* The blocked task has the spare's TID now, and is a pool thread. */
	if (find_pool_threads(now, 8) < 1)
		return (void *)12L;
	if (ws_delay_us) {
		/* Past an RCU grace period of the move, surely. */
		syscall(__NR_membarrier, 1 /* MEMBARRIER_CMD_GLOBAL */, 0, 0);
		usleep(ws_delay_us);
	}
	if (syscall(SYS_tgkill, getpid(), spare, SIGUSR1))
		return (void *)13L;
	usleep(50000);
	if (write(pr.p[1], "x", 1) != 1)
		return (void *)10L;
	if (async_wait(1, &r.head, NULL) != 1 || test_ring_reap(&r) != PTR(&pr.atom))
		return (void *)14L;
	for (int i = 0; i < 300 && !usr1_taken; i++)
		usleep(10000);
	sigpending(&pending);
	fprintf(stderr, "# SIGUSR1 to TID %d: taken by %d (caller %d), pending on the caller: %d\n",
		spare, usr1_taker, raw_gettid(), sigismember(&pending, SIGUSR1));
	if (sigismember(&pending, SIGUSR1)) {
		/*
		 * Stuck under the caller's mask.  Within one RCU grace
		 * period of the move, a signal on the old task cannot be
		 * told from a straggler sent to the caller's TID before it
		 * moved, and goes to the caller (Documentation/syslet-
		 * design.txt, "Cachemiss"): allowed only then, and only
		 * once.
		 */
		if (ws_delay_us)
			rc = 15;
		else
			ws_went_to_caller = 1;
	}
	pipe_read_close(&pr);
	return (void *)rc;
}

static int worker_signal_child(void *arg)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigset_t usr1;
	pthread_t t;
	void *res;

	(void)arg;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	/* We take SIGUSR1; the caller blocks it. */
	sigprocmask(SIG_UNBLOCK, &usr1, NULL);
	if (pthread_create(&t, NULL, ws_caller, NULL))
		return 10;
	while (pthread_tryjoin_np(t, &res)) {
		if (usr1_taken)
			/* Seen the signal; let the caller finish. */
			return pthread_join(t, &res) ? 10 :
			       (long)res ? (long)res :
			       usr1_taken != 1 || usr1_taker != getpid() ? 16 : 0;
		usleep(1000);
	}
	if ((long)res)
		return (long)res;
	if (ws_went_to_caller)
		return usr1_taken ? 17 : 0;	/* delivered twice */
	return usr1_taken != 1 || usr1_taker != getpid() ? 16 : 0;
}

FIXTURE(worker_signal) {
	int dummy;
};

FIXTURE_VARIANT(worker_signal) {
	int delay_us;
};

/*
 * The literal attack: tgkill as soon as async_exec() returned 0.  Inside
 * the documented grace period the signal may go to the caller, but
 * exactly once.
 */
FIXTURE_VARIANT_ADD(worker_signal, right_after_handoff) {
	.delay_us = 0,
};

/* After the grace period in which stragglers for the caller may come. */
FIXTURE_VARIANT_ADD(worker_signal, after_a_grace_period) {
	.delay_us = 200000,
};

FIXTURE_SETUP(worker_signal) { }
FIXTURE_TEARDOWN(worker_signal) { }

TEST_F(worker_signal, tgkill_to_fresh_worker_tid_reaches_the_process)
{
	int n = reps(10);

	ws_delay_us = variant->delay_us;
	for (int i = 0; i < n; i++) {
		int rc = run_child(worker_signal_child, NULL, 30000);

		ASSERT_EQ(0, rc) {
			TH_LOG("round %d", i);
			TH_LOG("10: set-up, 11: no hand-off, 12: no pool thread");
			TH_LOG("13: tgkill, 14: completion");
			TH_LOG("15: the signal went to the caller, under its mask,");
			TH_LOG("    after the grace period");
			TH_LOG("16: not taken once by the thread that does not block it");
			TH_LOG("17: taken and also pending on the caller");
		}
	}
}

TEST_HARNESS_MAIN
