// SPDX-License-Identifier: GPL-2.0
/*
 * async_cancel(): a chain in flight, named by its ring and first atom,
 * stops; it completes to the ring exactly once either way.
 *
 * Every chain here is two atoms: the one that blocks (or would run
 * first), then a "marker" that writes one byte to a pipe.  A cancelled
 * chain never runs its marker.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include "kselftest_harness.h"
#include "syslet.h"

static inline long async_cancel(struct syslet_uatom *atom,
				struct async_head_user *ahu, unsigned int flags)
{
	return syscall(__NR_async_cancel, atom, ahu, flags);
}

/* A chain: @first (set up by the test), then a one-byte write. */
struct chain {
	struct syslet_uatom first, marker;
	uint64_t a[3], m[3];
	int64_t ret, marker_ret;
	char buf[16];
	int mark[2];		/* the marker writes to mark[1] */
};

static void chain_init(struct chain *c, long nr, int nargs, uint64_t flags)
{
	void *p[3] = { NULL, NULL, NULL };

	for (int i = 0; i < nargs; i++)
		p[i] = &c->a[i];
	c->ret = 12345;
	c->marker_ret = 12345;
	c->m[0] = c->mark[1];
	c->m[1] = PTR("m");
	c->m[2] = 1;
	init_atom(&c->marker, __NR_write, &c->m[0], &c->m[1], &c->m[2], NULL,
		  NULL, NULL, &c->marker_ret, 0, NULL);
	init_atom(&c->first, nr, p[0], p[1], p[2], NULL, NULL, NULL, &c->ret,
		  flags, &c->marker);
}

/* Did the marker run?  (Its pipe is non-blocking.) */
static int marker_ran(struct chain *c)
{
	char b;

	return read(c->mark[0], &b, 1) == 1;
}

/* Wait up to 5 s for one completion; returns the atom posted or 0. */
static uint64_t reap_one(struct test_ring *r)
{
	struct __kernel_timespec ts = { 5, 0 };

	if (async_wait(1, &r->head, &ts) < 1)
		return 0;
	return test_ring_reap(r);
}

/* Nothing more is posted within 50 ms. */
static int nothing_more(struct test_ring *r)
{
	struct __kernel_timespec ts = { 0, 50000000 };

	async_wait(1, &r->head, &ts);
	return test_ring_reap(r) == 0;
}

/* Is thread @tid asleep in the kernel ('S')?  Up to 2 s. */
static int sleeping(pid_t tid)
{
	for (int i = 0; i < 2000; i++) {
		if (thread_state(tid) == 'S')
			return 1;
		usleep(1000);
	}
	return 0;
}

FIXTURE(cancel) {
	struct test_ring ring;
	struct chain c;
	int p[2];		/* the pipe the first atom reads */
};

FIXTURE_SETUP(cancel)
{
	ASSERT_EQ(0, ring_setup(&self->ring, 16, 64));
	ASSERT_EQ(0, pipe(self->p));
	ASSERT_EQ(0, pipe2(self->c.mark, O_NONBLOCK));
}

FIXTURE_TEARDOWN(cancel)
{
	close(self->p[0]);
	close(self->p[1]);
	close(self->c.mark[0]);
	close(self->c.mark[1]);
}

/* The first atom reads one byte from the empty pipe. */
static void read_chain(FIXTURE_DATA(cancel) *self, uint64_t flags)
{
	chain_init(&self->c, __NR_read, 3, flags);
	self->c.a[0] = self->p[0];
	self->c.a[1] = PTR(self->c.buf);
	self->c.a[2] = 1;
}

/* The pool thread (or cachemiss worker) that runs the chain, asleep. */
static pid_t blocked_thread(void)
{
	for (int i = 0; i < 2000; i++) {
		pid_t tids[64];
		int n = find_pool_threads(tids, 64);

		for (int j = 0; j < n; j++)
			if (thread_state(tids[j]) == 'S')
				return tids[j];
		usleep(1000);
	}
	return 0;
}

/*
 * A chain blocked in its first atom: a pool thread's (SYSLET_ASYNC) or
 * a cachemiss worker's (cached mode, handed off), in a pipe read or a
 * FIFO open, both interruptible sleeps.  Cancelled, the atom gets
 * -ECANCELED, the marker never runs, the chain completes once, and
 * then there is nothing left to cancel.
 */
FIXTURE(blocked) {
	struct test_ring ring;
	struct chain c;
	int p[2];
	char fifo[64];
};

FIXTURE_VARIANT(blocked) {
	uint64_t flags;		/* SYSLET_ASYNC: a pool thread */
	int fifo;		/* open a FIFO rather than read a pipe */
};

FIXTURE_VARIANT_ADD(blocked, pool_thread_in_a_pipe_read) {
	.flags = SYSLET_ASYNC,
};

FIXTURE_VARIANT_ADD(blocked, cachemiss_worker_in_a_pipe_read) {
	.flags = 0,
};

FIXTURE_VARIANT_ADD(blocked, pool_thread_in_a_fifo_open) {
	.flags = SYSLET_ASYNC,
	.fifo = 1,
};

FIXTURE_SETUP(blocked)
{
	ASSERT_EQ(0, ring_setup(&self->ring, 16, 64));
	ASSERT_EQ(0, pipe(self->p));
	ASSERT_EQ(0, pipe2(self->c.mark, O_NONBLOCK));
	snprintf(self->fifo, sizeof(self->fifo), "/tmp/cancel-fifo-%d",
		 getpid());
	unlink(self->fifo);
	ASSERT_EQ(0, mkfifo(self->fifo, 0600));
}

FIXTURE_TEARDOWN(blocked)
{
	unlink(self->fifo);
}

TEST_F(blocked, gets_ecanceled_and_completes_once)
{
	pid_t tid = syscall(SYS_gettid);

	if (variant->fifo) {
		chain_init(&self->c, __NR_openat, 3, variant->flags);
		self->c.a[0] = (uint64_t)(int64_t)AT_FDCWD;
		self->c.a[1] = PTR(self->fifo);
		self->c.a[2] = O_RDONLY;
	} else {
		chain_init(&self->c, __NR_read, 3, variant->flags);
		self->c.a[0] = self->p[0];
		self->c.a[1] = PTR(self->c.buf);
		self->c.a[2] = 1;
	}
	ASSERT_EQ(0, async_exec(&self->c.first, &self->ring.head,
				sizeof(self->ring.head)));
	/* A hand-off keeps our thread ID. */
	ASSERT_EQ(tid, syscall(SYS_gettid));
	usleep(50000);
	ASSERT_EQ(0, async_cancel(&self->c.first, &self->ring.head, 0));
	ASSERT_EQ(PTR(&self->c.first), reap_one(&self->ring));
	EXPECT_EQ(-ECANCELED, self->c.ret);
	EXPECT_FALSE(marker_ran(&self->c));
	EXPECT_TRUE(nothing_more(&self->ring));
	EXPECT_EQ(-1, async_cancel(&self->c.first, &self->ring.head, 0));
	EXPECT_EQ(ENOENT, errno);
}

/*
 * A chain not started yet never starts.  The process and its pool
 * thread run on one CPU, the pool thread SCHED_IDLE: woken for the chain
 * it never preempts the submitter, which cancels first.  The chain's
 * first atom writes to the marker pipe, the second reads the empty pipe:
 * had it started, the marker would hold a byte.
 */
TEST_F(cancel, chain_not_started_never_starts)
{
	uint64_t w[3] = { self->c.mark[1], PTR("f"), 1 };
	int64_t wret, rret;
	struct syslet_uatom first, second;
	int n, never_started = 0;
	cpu_set_t one;
	pid_t tids[64];

	CPU_ZERO(&one);
	CPU_SET(0, &one);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(one), &one));
	n = find_pool_threads(tids, 64);
	ASSERT_LT(0, n);	/* the registered ring's spare */
	for (int j = 0; j < n; j++) {
		ASSERT_EQ(0, sched_setaffinity(tids[j], sizeof(one), &one));
		struct sched_param sp = { 0 };

		ASSERT_EQ(0, sched_setscheduler(tids[j], SCHED_IDLE, &sp));
	}
	self->c.a[0] = self->p[0];
	self->c.a[1] = PTR(self->c.buf);
	self->c.a[2] = 1;
	for (int i = 0; i < 20; i++) {
		uint64_t posted;

		init_atom(&second, __NR_read, &self->c.a[0], &self->c.a[1],
			  &self->c.a[2], NULL, NULL, NULL, &rret, 0, NULL);
		init_atom(&first, __NR_write, &w[0], &w[1], &w[2], NULL, NULL,
			  NULL, &wret, SYSLET_ASYNC, &second);
		wret = 12345;
		rret = 12345;
		ASSERT_EQ(0, async_exec(&first, &self->ring.head,
					sizeof(self->ring.head)));
		ASSERT_EQ(0, async_cancel(&first, &self->ring.head, 0));
		posted = reap_one(&self->ring);
		if (posted == PTR(&first)) {
			/* Never started: nothing ran, nothing was written. */
			ASSERT_EQ(-ECANCELED, wret);
			ASSERT_EQ(12345, rret);
			ASSERT_FALSE(marker_ran(&self->c));
			never_started++;
		} else {
			/* Started after all: stopped in the read. */
			ASSERT_EQ(PTR(&second), posted);
			ASSERT_EQ(1, wret);
			ASSERT_EQ(-ECANCELED, rret);
			ASSERT_TRUE(marker_ran(&self->c));
		}
		usleep(20000);
	}
	/*
	 * The pool thread cannot preempt the submitter, so it normally
	 * finds the chain cancelled; a tick may still let it in first.
	 */
	TH_LOG("%d of 20 never started", never_started);
	EXPECT_LE(10, never_started);
}

/*
 * Cancel races the completion: the pipe is written while the chain is
 * cancelled.  Exactly one completion each time, and the marker ran
 * exactly when the chain was done before the cancellation.
 */
struct racer {
	int fd;
	atomic_int go, stop;
};

static void *race_writer(void *arg)
{
	struct racer *r = arg;
	int seen = 0;

	while (!r->stop) {
		while (r->go == seen && !r->stop)
			;
		if (r->stop)
			break;
		seen = r->go;
		if (write(r->fd, "w", 1) != 1)
			break;
	}
	return NULL;
}

TEST_F(cancel, races_with_completion_without_losing_or_doubling_one)
{
	struct racer rc = { .fd = self->p[1] };
	int rounds = 1000, cancelled = 0, between = 0, completed = 0;
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, race_writer, &rc));
	for (int i = 0; i < rounds; i++) {
		uint64_t posted;
		long ret;

		read_chain(self, SYSLET_ASYNC);
		ASSERT_EQ(0, async_exec(&self->c.first, &self->ring.head,
					sizeof(self->ring.head)));
		rc.go = i + 1;
		if (i & 1)
			usleep(i % 7);
		ret = async_cancel(&self->c.first, &self->ring.head, 0);
		ASSERT_TRUE(ret == 0 || (ret == -1 && errno == ENOENT));
		/*
		 * The ring gets the atom the chain ended on: the read,
		 * cancelled (-ECANCELED) or completed just before the
		 * cancellation (its own result, and the marker never runs);
		 * or the marker, when the chain was done first.
		 */
		posted = reap_one(&self->ring);
		if (posted == PTR(&self->c.first)) {
			ASSERT_EQ(0, ret);
			ASSERT_FALSE(marker_ran(&self->c));
			ASSERT_EQ(12345, self->c.marker_ret);
			if (self->c.ret == -ECANCELED) {
				cancelled++;
				/* The writer's byte is still there: take it. */
				while (read(self->p[0], self->c.buf, 1) != 1)
					;
			} else {
				ASSERT_EQ(1, self->c.ret);
				between++;
			}
		} else {
			ASSERT_EQ(PTR(&self->c.marker), posted);
			ASSERT_EQ(1, self->c.ret);
			ASSERT_EQ(1, self->c.marker_ret);
			ASSERT_TRUE(marker_ran(&self->c));
			completed++;
		}
		ASSERT_EQ(0, test_ring_reap(&self->ring));
	}
	rc.stop = 1;
	pthread_join(t, NULL);
	EXPECT_TRUE(nothing_more(&self->ring));
	EXPECT_EQ(rounds, cancelled + between + completed);
	TH_LOG("%d cancelled in the read, %d after it, %d completed",
	       cancelled, between, completed);
}

/*
 * A cancelled chain on a ring being torn down: async_unregister() is
 * -EBUSY while it is in flight, and succeeds once it completed; then
 * the ring is unknown to async_cancel().
 */
TEST_F(cancel, on_a_ring_being_torn_down)
{
	read_chain(self, SYSLET_ASYNC);
	ASSERT_EQ(0, async_exec(&self->c.first, &self->ring.head,
				sizeof(self->ring.head)));
	ASSERT_EQ(-1, async_unregister(&self->ring.head,
				       sizeof(self->ring.head)));
	ASSERT_EQ(EBUSY, errno);
	ASSERT_EQ(0, async_cancel(&self->c.first, &self->ring.head, 0));
	ASSERT_EQ(PTR(&self->c.first), reap_one(&self->ring));
	EXPECT_EQ(-ECANCELED, self->c.ret);
	ASSERT_EQ(0, async_unregister(&self->ring.head,
				      sizeof(self->ring.head)));
	EXPECT_EQ(-1, async_cancel(&self->c.first, &self->ring.head, 0));
	EXPECT_EQ(ENOENT, errno);
}

/* A process exits with a cancelled chain and one not cancelled. */
TEST_F(cancel, process_exits_with_chains_cancelled_and_not)
{
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (!pid) {
		static struct chain other;

		read_chain(self, SYSLET_ASYNC);
		other = self->c;
		other.first.next = 0;
		if (async_exec(&self->c.first, &self->ring.head,
			       sizeof(self->ring.head)) ||
		    async_exec(&other.first, &self->ring.head,
			       sizeof(self->ring.head)))
			_exit(1);
		if (!sleeping(blocked_thread()))
			_exit(2);
		if (async_cancel(&self->c.first, &self->ring.head, 0) &&
		    errno != ENOENT)
			_exit(3);
		_exit(42);
	}
	ASSERT_EQ(42, wait_exit(pid, 10000));
}

/* A call that fails with -EINTR itself (epoll_wait) reports -ECANCELED. */
TEST_F(cancel, epoll_wait_gets_ecanceled_too)
{
	struct epoll_event ev = { .events = EPOLLIN }, got;
	static uint64_t forever = (uint64_t)-1;
	int ep = epoll_create1(0);

	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->p[0], &ev));
	chain_init(&self->c, __NR_epoll_wait, 3, SYSLET_ASYNC);
	self->c.a[0] = ep;
	self->c.a[1] = PTR(&got);
	self->c.a[2] = 1;
	self->c.first.arg_ptr[3] = PTR(&forever);	/* timeout -1 */
	ASSERT_EQ(0, async_exec(&self->c.first, &self->ring.head,
				sizeof(self->ring.head)));
	usleep(50000);
	ASSERT_EQ(0, async_cancel(&self->c.first, &self->ring.head, 0));
	ASSERT_EQ(PTR(&self->c.first), reap_one(&self->ring));
	EXPECT_EQ(-ECANCELED, self->c.ret);
	close(ep);
}

TEST_F(cancel, bad_arguments_and_unknown_chains)
{
	struct test_ring other;

	read_chain(self, SYSLET_ASYNC);
	EXPECT_EQ(-1, async_cancel(&self->c.first, &self->ring.head, 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, async_cancel(NULL, &self->ring.head, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, async_cancel(&self->c.first, NULL, 0));
	EXPECT_EQ(EINVAL, errno);
	/* Never submitted. */
	EXPECT_EQ(-1, async_cancel(&self->c.first, &self->ring.head, 0));
	EXPECT_EQ(ENOENT, errno);
	/* A ring the kernel does not know. */
	test_ring_init(&other, 8, 8);
	EXPECT_EQ(-1, async_cancel(&self->c.first, &other.head, 0));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, async_cancel(&self->c.first, KERNEL_ADDR, 0));
	EXPECT_TRUE(errno == EFAULT || errno == EINVAL || errno == ENOENT);

	/* In flight: once 0, then -EALREADY or (done by now) -ENOENT. */
	ASSERT_EQ(0, async_exec(&self->c.first, &self->ring.head,
				sizeof(self->ring.head)));
	ASSERT_EQ(0, async_cancel(&self->c.first, &self->ring.head, 0));
	EXPECT_EQ(-1, async_cancel(&self->c.first, &self->ring.head, 0));
	EXPECT_TRUE(errno == EALREADY || errno == ENOENT);
	ASSERT_EQ(PTR(&self->c.first), reap_one(&self->ring));
	/* A completed chain's atom in cached mode never was in flight. */
	EXPECT_EQ(-1, async_cancel(&self->c.marker, &self->ring.head, 0));
	EXPECT_EQ(ENOENT, errno);
}

/* Another process cannot cancel our chains: the ring is per process. */
TEST_F(cancel, another_process_cannot_cancel)
{
	pid_t pid;

	read_chain(self, SYSLET_ASYNC);
	ASSERT_EQ(0, async_exec(&self->c.first, &self->ring.head,
				sizeof(self->ring.head)));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(async_cancel(&self->c.first, &self->ring.head, 0) == -1 &&
		      errno == ENOENT ? 0 : 1);
	ASSERT_EQ(0, wait_exit(pid, 5000));
	/* Still in flight here: complete it the normal way. */
	ASSERT_EQ(1, write(self->p[1], "z", 1));
	ASSERT_EQ(PTR(&self->c.marker), reap_one(&self->ring));
	EXPECT_EQ(1, self->c.ret);
	EXPECT_TRUE(marker_ran(&self->c));
}

TEST_HARNESS_MAIN
