// SPDX-License-Identifier: GPL-2.0
/*
 * Syslet selftests: an atom's system call is interrupted as the direct
 * call would be, and no more.
 *
 * A chain [read(pipe) -> getpid] runs in a child, in one of three places:
 * the caller's own context (SYSLET_SYNC), a cachemiss worker (the read
 * blocks and hands the caller's context to a spare) or a pool thread
 * (SYSLET_ASYNC).  While the read waits, the parent does one thing to
 * the child, then writes the byte:
 *
 *  - stops it (SIGSTOP, or SIGTSTP as Ctrl-Z does) and continues it;
 *  - lets an io_uring timeout of the child's complete, which queues task
 *    work with TIF_NOTIFY_SIGNAL on the task that submitted it (the
 *    caller; off the caller, the user thread);
 *  - attaches with PTRACE_SEIZE and interrupts it (as "strace -p" and
 *    debuggers do), then continues it;
 *  - sends SIGUSR1, which has a handler, with or without SA_RESTART.
 *
 * None of the first three runs a handler: a direct read() returns the
 * byte, so the atom must too and the chain go on.  A handler in the
 * caller's context ends the chain with -EINTR in the atom (documented:
 * the chain cannot resume after the handler ran); a worker or pool
 * thread does not run handlers and finishes the chain.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <linux/io_uring.h>

#include "kselftest_harness.h"
#include "syslet.h"

#define HSZ sizeof(struct async_head_user)
#define UNTOUCHED 777

enum where { IN_CALLER, IN_WORKER, IN_POOL };
enum event { EV_STOP, EV_TSTP, EV_TASK_WORK, EV_PTRACE, EV_SA_RESTART,
	     EV_HANDLER };

/* What the child saw, in memory shared with the parent. */
struct outcome {
	int64_t read_ret, pid_ret;
	long exec_ret, exec_errno;
	uint64_t completed;		/* atom posted to the ring */
	int handlers;			/* SIGUSR1 handler runs */
	int cqes;			/* io_uring completions */
	int step;			/* child failure, 0 if none */
};

static struct outcome *out;
static struct syslet_uatom chain[2];

static void on_usr1(int sig)
{
	__atomic_add_fetch(&out->handlers, 1, __ATOMIC_RELAXED);
}

/* An io_uring of the calling task with one timeout of @ms queued. */
struct uring {
	int fd;
	unsigned int *cq_tail;
	struct __kernel_timespec ts;
};

static int uring_timeout(struct uring *u, long ms)
{
	struct io_uring_params p;
	struct io_uring_sqe *sqe;
	unsigned int *tail, *array;
	char *sq, *cq;

	memset(&p, 0, sizeof(p));
	u->fd = syscall(__NR_io_uring_setup, 4, &p);
	if (u->fd < 0)
		return -1;
	sq = mmap(NULL, p.sq_off.array + p.sq_entries * sizeof(unsigned int),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd,
		  IORING_OFF_SQ_RING);
	cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd,
		  IORING_OFF_CQ_RING);
	sqe = mmap(NULL, p.sq_entries * sizeof(*sqe), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_POPULATE, u->fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqe == MAP_FAILED)
		return -1;
	u->ts.tv_sec = ms / 1000;
	u->ts.tv_nsec = (ms % 1000) * 1000000;
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_TIMEOUT;
	sqe->addr = PTR(&u->ts);
	sqe->len = 1;
	array = (unsigned int *)(sq + p.sq_off.array);
	tail = (unsigned int *)(sq + p.sq_off.tail);
	array[0] = 0;
	__atomic_store_n(tail, 1, __ATOMIC_RELEASE);
	u->cq_tail = (unsigned int *)(cq + p.cq_off.tail);
	return syscall(__NR_io_uring_enter, u->fd, 1, 0, 0, NULL, 0) == 1 ?
	       0 : -1;
}

/* The child: run the chain where @where says, record what happened. */
static void __noreturn
run_child(enum where where, enum event ev, int rfd, int sfd)
{
	static struct test_ring r;
	static uint64_t fd, buf, len = 1;
	static char c;
	struct syslet_uatom *a = chain;
	struct uring u = { .fd = -1 };
	uint64_t flags = 0;
	long ret;

	/* Not orphaned: SIGTSTP with its default action stops us. */
	setpgid(0, 0);
	if (ev == EV_SA_RESTART || ev == EV_HANDLER) {
		struct sigaction sa = { .sa_handler = on_usr1 };

		sa.sa_flags = ev == EV_SA_RESTART ? SA_RESTART : 0;
		if (sigaction(SIGUSR1, &sa, NULL))
			_exit(out->step = 1);
	}
	if (ring_setup(&r, 8, 0))
		_exit(out->step = 2);
	/*
	 * A task with an io_uring never hands off (its io_uring context is
	 * per task), and pool threads make no io_uring calls: only the
	 * caller itself can get io_uring task work.  Off the caller, the
	 * user thread gets it after the chain went asynchronous, and the
	 * test checks that it does not disturb the worker.
	 */
	if (ev == EV_TASK_WORK && where == IN_CALLER && uring_timeout(&u, 300))
		_exit(out->step = 3);

	fd = rfd;
	buf = PTR(&c);
	if (where == IN_CALLER)
		flags = SYSLET_SYNC;
	else if (where == IN_POOL)
		flags = SYSLET_ASYNC;
	init_atom(&a[0], __NR_read, &fd, &buf, &len, NULL, NULL, NULL,
		  &out->read_ret, flags, &a[1]);
	init_atom(&a[1], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &out->pid_ret, 0, NULL);

	if (write(sfd, "r", 1) != 1)
		_exit(out->step = 4);
	errno = 0;
	ret = async_exec(&a[0], &r.head, HSZ);
	out->exec_ret = ret;
	out->exec_errno = errno;
	if (where != IN_CALLER) {
		if (ret != 0)
			_exit(out->step = 5);
		/* Went asynchronous: the parent may go on. */
		if (ev == EV_TASK_WORK && uring_timeout(&u, 300))
			_exit(out->step = 3);
		if (write(sfd, "a", 1) != 1)
			_exit(out->step = 6);
		do {
			ret = async_wait(1, &r.head, NULL);
		} while (ret < 0 && errno == EINTR);
		if (ret != 1)
			_exit(out->step = 7);
		out->completed = test_ring_reap(&r);
	}
	if (u.fd >= 0)
		out->cqes = __atomic_load_n(u.cq_tail, __ATOMIC_ACQUIRE);
	_exit(0);
}

/* Wait (up to 5 s) until thread @tid of @pid sleeps. */
static void wait_sleeping(pid_t pid, pid_t tid)
{
	for (int i = 0; i < 500 && thread_state_of(pid, tid) != 'S'; i++)
		usleep(10000);
}

/* Wait for @pid to stop (group stop or ptrace stop); its status. */
static int wait_stopped(pid_t pid, int opts)
{
	int status;

	if (waitpid(pid, &status, opts) != pid)
		return -1;
	return WIFSTOPPED(status) ? status : -1;
}

/* Reap @pid, continuing it through ptrace stops if @traced. */
static int reap(pid_t pid, bool traced)
{
	int status;

	for (;;) {
		if (waitpid(pid, &status, __WALL) != pid)
			return -1;
		if (WIFEXITED(status))
			return WEXITSTATUS(status);
		if (WIFSIGNALED(status))
			return 128 + WTERMSIG(status);
		if (traced && WIFSTOPPED(status)) {
			int sig = WSTOPSIG(status);

			/* Group and event stops carry no signal to pass on. */
			if (status >> 16 || sig == SIGSTOP || sig == SIGTSTP)
				sig = 0;
			ptrace(PTRACE_CONT, pid, 0, sig);
		}
	}
}

FIXTURE(restart) {
	int data[2];
	int sync[2];
	pid_t child;
};

FIXTURE_VARIANT(restart) {
	enum where where;
	enum event ev;
};

FIXTURE_VARIANT_ADD(restart, caller_sigstop) {
	.where = IN_CALLER, .ev = EV_STOP,
};

FIXTURE_VARIANT_ADD(restart, caller_sigtstp) {
	.where = IN_CALLER, .ev = EV_TSTP,
};

FIXTURE_VARIANT_ADD(restart, caller_io_uring_task_work) {
	.where = IN_CALLER, .ev = EV_TASK_WORK,
};

FIXTURE_VARIANT_ADD(restart, caller_ptrace_interrupt) {
	.where = IN_CALLER, .ev = EV_PTRACE,
};

FIXTURE_VARIANT_ADD(restart, caller_sa_restart_handler) {
	.where = IN_CALLER, .ev = EV_SA_RESTART,
};

FIXTURE_VARIANT_ADD(restart, caller_handler) {
	.where = IN_CALLER, .ev = EV_HANDLER,
};

FIXTURE_VARIANT_ADD(restart, worker_sigstop) {
	.where = IN_WORKER, .ev = EV_STOP,
};

FIXTURE_VARIANT_ADD(restart, worker_sigtstp) {
	.where = IN_WORKER, .ev = EV_TSTP,
};

FIXTURE_VARIANT_ADD(restart, worker_io_uring_task_work) {
	.where = IN_WORKER, .ev = EV_TASK_WORK,
};

FIXTURE_VARIANT_ADD(restart, worker_ptrace_interrupt) {
	.where = IN_WORKER, .ev = EV_PTRACE,
};

FIXTURE_VARIANT_ADD(restart, worker_sa_restart_handler) {
	.where = IN_WORKER, .ev = EV_SA_RESTART,
};

FIXTURE_VARIANT_ADD(restart, worker_handler) {
	.where = IN_WORKER, .ev = EV_HANDLER,
};

FIXTURE_VARIANT_ADD(restart, pool_sigstop) {
	.where = IN_POOL, .ev = EV_STOP,
};

FIXTURE_VARIANT_ADD(restart, pool_sigtstp) {
	.where = IN_POOL, .ev = EV_TSTP,
};

FIXTURE_VARIANT_ADD(restart, pool_io_uring_task_work) {
	.where = IN_POOL, .ev = EV_TASK_WORK,
};

FIXTURE_VARIANT_ADD(restart, pool_ptrace_interrupt) {
	.where = IN_POOL, .ev = EV_PTRACE,
};

FIXTURE_VARIANT_ADD(restart, pool_sa_restart_handler) {
	.where = IN_POOL, .ev = EV_SA_RESTART,
};

FIXTURE_VARIANT_ADD(restart, pool_handler) {
	.where = IN_POOL, .ev = EV_HANDLER,
};

/* Shared memory for the outcome, the data and sync pipes. */
static void child_setup(struct __test_metadata *_metadata, int data[2],
			int sync[2], pid_t *child)
{
	out = mmap(NULL, sizeof(*out), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, out);
	memset(out, 0, sizeof(*out));
	out->read_ret = UNTOUCHED;
	out->pid_ret = UNTOUCHED;
	ASSERT_EQ(0, pipe(data));
	ASSERT_EQ(0, pipe(sync));
	*child = -1;
}

static void child_teardown(pid_t child)
{
	if (child > 0)
		wait_exit(child, 1);
	munmap(out, sizeof(*out));
}

FIXTURE_SETUP(restart)
{
	child_setup(_metadata, self->data, self->sync, &self->child);
}

FIXTURE_TEARDOWN(restart)
{
	child_teardown(self->child);
}

/* The same, without variants: tests that need one child, once. */
FIXTURE(chain_child) {
	int data[2];
	int sync[2];
	pid_t child;
};

FIXTURE_SETUP(chain_child)
{
	child_setup(_metadata, self->data, self->sync, &self->child);
}

FIXTURE_TEARDOWN(chain_child)
{
	child_teardown(self->child);
}

TEST_F_TIMEOUT(restart, interrupted_read_ends_as_the_direct_call_would, 60)
{
	bool traced = false;
	char c;
	pid_t pid;
	uint64_t ended;
	int st;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(self->data[1]);
		close(self->sync[0]);
		run_child(variant->where, variant->ev, self->data[0],
			  self->sync[1]);
	}
	self->child = pid;
	setpgid(pid, pid);
	close(self->sync[1]);

	/* The chain is about to run; then off the caller, it went async. */
	ASSERT_EQ(1, read(self->sync[0], &c, 1));
	if (variant->where == IN_CALLER) {
		wait_sleeping(pid, pid);
	} else {
		ASSERT_EQ(1, read(self->sync[0], &c, 1)) {
			TH_LOG("child failed at step %d", out->step);
		}
	}
	/* Let the read block (in a pool thread it may start late). */
	usleep(200000);

	switch (variant->ev) {
	case EV_STOP:
	case EV_TSTP:
		ASSERT_EQ(0, kill(pid, variant->ev == EV_STOP ? SIGSTOP :
				       SIGTSTP));
		ASSERT_LT(0, wait_stopped(pid, WUNTRACED));
		usleep(200000);
		ASSERT_EQ(0, kill(pid, SIGCONT));
		break;
	case EV_TASK_WORK:
		/* The timeout (300 ms after the chain began) completes. */
		usleep(400000);
		break;
	case EV_PTRACE:
		ASSERT_EQ(0, ptrace(PTRACE_SEIZE, pid, 0, 0));
		traced = true;
		ASSERT_EQ(0, ptrace(PTRACE_INTERRUPT, pid, 0, 0));
		st = wait_stopped(pid, __WALL);
		ASSERT_EQ(PTRACE_EVENT_STOP, st >> 16);
		usleep(100000);
		ASSERT_EQ(0, ptrace(PTRACE_CONT, pid, 0, 0));
		break;
	case EV_SA_RESTART:
	case EV_HANDLER:
		ASSERT_EQ(0, kill(pid, SIGUSR1));
		break;
	}
	usleep(200000);
	ASSERT_EQ(1, write(self->data[1], "x", 1));
	ASSERT_EQ(0, reap(pid, traced)) {
		TH_LOG("child failed at step %d", out->step);
	}
	self->child = -1;

	if (variant->ev == EV_SA_RESTART || variant->ev == EV_HANDLER)
		ASSERT_EQ(1, out->handlers);
	if (variant->ev == EV_TASK_WORK)
		ASSERT_EQ(1, out->cqes);

	if (variant->where == IN_CALLER &&
	    (variant->ev == EV_SA_RESTART || variant->ev == EV_HANDLER)) {
		/* A handler ran: the atom says -EINTR, the chain ended. */
		ASSERT_EQ(-EINTR, out->read_ret);
		ASSERT_EQ(UNTOUCHED, out->pid_ret);
		ASSERT_EQ((long)PTR(&chain[0]), out->exec_ret);
		return;
	}
	/* As the direct read(): the byte, and the chain went on. */
	ASSERT_EQ(1, out->read_ret);
	ASSERT_EQ(pid, out->pid_ret);
	/* In the caller, async_exec() says where it ended; else the ring. */
	ended = variant->where == IN_CALLER ? (uint64_t)out->exec_ret :
					      out->completed;
	ASSERT_EQ(PTR(&chain[1]), ended);
}

/* ------------------------------------------- restart_block, boundaries */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * [nanosleep(1 s) -> getpid], stopped 200 ms in for 2 s.  nanosleep()
 * returns -ERESTART_RESTARTBLOCK; its restart_block sleeps only what is
 * left (none, by then), as restart_syscall() does after a direct one.
 * Making the call again would sleep a full second more.
 */
static void nanosleep_across_stop(struct __test_metadata *_metadata,
				  FIXTURE_DATA(chain_child) *self,
				  uint64_t flags)
{
	static struct test_ring r;
	struct syslet_uatom a[2];
	struct __kernel_timespec req = { .tv_sec = 1 };
	uint64_t reqp = PTR(&req), zero = 0;
	int64_t t0, elapsed;
	int started[2];
	int status;
	pid_t pid;
	char c;

	ASSERT_EQ(0, pipe(started));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		long ret;

		if (ring_setup(&r, 8, 0))
			_exit(1);
		init_atom(&a[0], __NR_nanosleep, &reqp, &zero, NULL, NULL,
			  NULL, NULL, &out->read_ret, flags, &a[1]);
		init_atom(&a[1], __NR_getpid, NULL, NULL, NULL, NULL, NULL,
			  NULL, &out->pid_ret, 0, NULL);
		t0 = now_ms();
		/* The stop must come while the sleep runs, not before it. */
		if (write(started[1], "s", 1) != 1)
			_exit(3);
		ret = async_exec(&a[0], &r.head, HSZ);
		/* async_wait() itself fails with EINTR after a stop. */
		while (ret == 0 && (ret = async_wait(1, &r.head, NULL)) < 0 &&
		       errno == EINTR)
			ret = 0;
		if (ret < 0)
			_exit(2);
		out->exec_ret = now_ms() - t0;
		_exit(0);
	}
	self->child = pid;
	ASSERT_EQ(1, read(started[0], &c, 1));
	close(started[0]);
	close(started[1]);
	usleep(200000);
	ASSERT_EQ(0, kill(pid, SIGSTOP));
	ASSERT_LT(0, wait_stopped(pid, WUNTRACED));
	usleep(2000000);
	ASSERT_EQ(0, kill(pid, SIGCONT));
	status = wait_exit(pid, 20000);
	self->child = -1;
	ASSERT_EQ(0, status);
	elapsed = out->exec_ret;
	ASSERT_EQ(0, out->read_ret);
	ASSERT_EQ(pid, out->pid_ret);
	/* ~2.2 s if resumed; 3.2 s or more if slept again in full. */
	ASSERT_GE(elapsed, 2000);
	ASSERT_LT(elapsed, 2900) {
		TH_LOG("nanosleep took %lld ms: slept again in full?",
		       (long long)elapsed);
	}
}

TEST_F(chain_child, caller_nanosleep_resumes_after_stop)
{
	nanosleep_across_stop(_metadata, self, SYSLET_SYNC);
}

TEST_F(chain_child, pool_nanosleep_resumes_after_stop)
{
	nanosleep_across_stop(_metadata, self, SYSLET_ASYNC);
}

static struct syslet_uatom loop[3];

/*
 * loop[0] reads @rfd (non-blocking); on -EAGAIN the atom after it,
 * loop[1], yields and loops back; on a byte the chain ends at loop[2],
 * getpid.
 */
static void init_poll_loop(int rfd)
{
	static uint64_t fd, buf, len = 1;
	static char c;

	fd = rfd;
	buf = PTR(&c);
	init_atom(&loop[0], __NR_read, &fd, &buf, &len, NULL, NULL, NULL,
		  &out->read_ret,
		  SYSLET_SYNC | SYSLET_STOP_ON_NON_POSITIVE |
		  SYSLET_SKIP_TO_NEXT_ON_STOP, &loop[2]);
	init_atom(&loop[1], __NR_sched_yield, NULL, NULL, NULL, NULL, NULL,
		  NULL, NULL, 0, &loop[0]);
	init_atom(&loop[2], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &out->pid_ret, 0, NULL);
}

/*
 * Between two atoms: a chain that loops in the kernel, polling a
 * non-blocking pipe, [read -(-EAGAIN)-> sched_yield -> read ... -(1)->
 * getpid], is stopped or gets task work while it loops.  Neither runs
 * a handler, so the loop goes on until the byte comes.
 */
static void loop_across(struct __test_metadata *_metadata,
			FIXTURE_DATA(chain_child) *self, bool task_work)
{
	struct syslet_uatom *a = loop;
	struct uring u = { .fd = -1 };
	int status;
	pid_t pid;

	ASSERT_EQ(0, fcntl(self->data[0], F_SETFL, O_NONBLOCK));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		if (task_work && uring_timeout(&u, 200))
			_exit(1);
		init_poll_loop(self->data[0]);
		out->exec_ret = async_exec(&a[0], NULL, 0);
		out->exec_errno = errno;
		if (u.fd >= 0)
			out->cqes = __atomic_load_n(u.cq_tail,
						    __ATOMIC_ACQUIRE);
		_exit(0);
	}
	self->child = pid;
	usleep(100000);
	if (!task_work) {
		ASSERT_EQ(0, kill(pid, SIGSTOP));
		ASSERT_LT(0, wait_stopped(pid, WUNTRACED));
		usleep(100000);
		ASSERT_EQ(0, kill(pid, SIGCONT));
	}
	/*
	 * The io_uring timeout (200 ms) must have fired and its task work
	 * run in the loop before the byte ends it: leave it 1.5 s, a TCG
	 * guest on a loaded host fires timers late.
	 */
	usleep(task_work ? 1500000 : 400000);
	ASSERT_EQ(1, write(self->data[1], "x", 1));
	status = wait_exit(pid, 20000);
	self->child = -1;
	ASSERT_EQ(0, status);
	ASSERT_EQ((long)PTR(&a[2]), out->exec_ret) {
		TH_LOG("async_exec: %ld (errno %ld)", out->exec_ret,
		       out->exec_errno);
	}
	ASSERT_EQ(1, out->read_ret);
	ASSERT_EQ(pid, out->pid_ret);
	if (task_work)
		ASSERT_EQ(1, out->cqes);
}

TEST_F(chain_child, caller_chain_loop_goes_on_across_stop)
{
	loop_across(_metadata, self, false);
}

TEST_F(chain_child, caller_chain_loop_goes_on_across_task_work)
{
	loop_across(_metadata, self, true);
}

/*
 * A handler due between two atoms still ends the chain (-EINTR from
 * async_exec(), the next atom not run), as documented.
 */
TEST_F(chain_child, caller_chain_loop_ends_for_a_handler)
{
	struct syslet_uatom *a = loop;
	int status;
	pid_t pid;

	ASSERT_EQ(0, fcntl(self->data[0], F_SETFL, O_NONBLOCK));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct sigaction sa = { .sa_handler = on_usr1,
					.sa_flags = SA_RESTART };

		sigaction(SIGUSR1, &sa, NULL);
		init_poll_loop(self->data[0]);
		errno = 0;
		out->exec_ret = async_exec(&a[0], NULL, 0);
		out->exec_errno = errno;
		_exit(0);
	}
	self->child = pid;
	usleep(200000);
	ASSERT_EQ(0, kill(pid, SIGUSR1));
	status = wait_exit(pid, 20000);
	self->child = -1;
	ASSERT_EQ(0, status);
	ASSERT_EQ(-1, out->exec_ret);
	ASSERT_EQ(EINTR, out->exec_errno);
	ASSERT_EQ(1, out->handlers);
	ASSERT_EQ(UNTOUCHED, out->pid_ret);
}

/* ------------------------------------------------- review-19: attacks */

#include <pthread.h>
#include <sys/user.h>

#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK	0x420a
#define PTRACE_SETSIGMASK	0x420b
#endif

#define SIGBIT(s) (1ULL << ((s) - 1))

/* What an attacked child saw, shared with the parent. */
struct seen {
	int64_t read_ret;
	long exec_ret;
	uint64_t mask_after;		/* blocked mask after async_exec() */
	int handlers;
	int probed;
	int bad;			/* a check in the child failed */
	long bad_val;
	int loops;
	int step;
};

static struct seen *seen;

static void seen_usr1(int sig)
{
	__atomic_add_fetch(&seen->handlers, 1, __ATOMIC_RELAXED);
}

static uint64_t current_mask(void)
{
	sigset_t m;
	uint64_t v = 0;

	sigprocmask(SIG_BLOCK, NULL, &m);
	for (int s = 1; s <= 64; s++)
		if (sigismember(&m, s) == 1)
			v |= SIGBIT(s);
	return v;
}

/*
 * The child: SIGUSR1 has a handler and is not blocked; it reads one
 * byte from @rfd, either directly or as the first atom of a SYNC chain
 * [read -> getpid] in its own context, then records its blocked mask.
 */
static void __noreturn
mask_child(int rfd, int sfd, bool syslet)
{
	static struct syslet_uatom a[2];
	static uint64_t fd, buf, len = 1;
	static int64_t pid_ret;
	static char c;
	struct sigaction sa = { .sa_handler = seen_usr1 };
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (sigaction(SIGUSR1, &sa, NULL))
		_exit(1);
	fd = rfd;
	buf = PTR(&c);
	init_atom(&a[0], __NR_read, &fd, &buf, &len, NULL, NULL, NULL,
		  &seen->read_ret, SYSLET_SYNC, &a[1]);
	init_atom(&a[1], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &pid_ret, 0, NULL);
	if (write(sfd, "r", 1) != 1)
		_exit(2);
	if (syslet) {
		seen->exec_ret = async_exec(&a[0], NULL, 0);
	} else {
		seen->read_ret = read(rfd, &c, 1);
		seen->exec_ret = seen->read_ret;
	}
	seen->mask_after = current_mask();
	_exit(0);
}

/*
 * Seize @pid, interrupt it while its read() waits, and return with it
 * in the PTRACE_EVENT_STOP (0 on success).
 */
static int seize_and_interrupt(pid_t pid)
{
	int st;

	wait_sleeping(pid, pid);
	usleep(100000);
	if (ptrace(PTRACE_SEIZE, pid, 0, 0) ||
	    ptrace(PTRACE_INTERRUPT, pid, 0, 0))
		return -1;
	st = wait_stopped(pid, __WALL);
	return st > 0 && (st >> 16) == PTRACE_EVENT_STOP ? 0 : -1;
}

/*
 * Fork mask_child() (a SYSLET_SYNC chain, or a direct read() if not
 * @syslet, on the pipe @data), wait until it reads, seize it and stop it
 * with PTRACE_INTERRUPT.
 */
static void start_stopped_child(struct __test_metadata *_metadata,
				bool syslet, int data[2], pid_t *pid)
{
	int sync[2];
	char c;

	seen = mmap(NULL, sizeof(*seen), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, seen);
	ASSERT_EQ(0, pipe(data));
	ASSERT_EQ(0, pipe(sync));
	*pid = fork();
	ASSERT_LE(0, *pid);
	if (!*pid)
		mask_child(data[0], sync[1], syslet);
	ASSERT_EQ(1, read(sync[0], &c, 1));
	ASSERT_EQ(0, seize_and_interrupt(*pid));
}

static void tracer_mask(struct __test_metadata *_metadata, bool syslet,
			bool set)
{
	uint64_t m = ~0ULL;
	int data[2];
	pid_t pid;

	start_stopped_child(_metadata, syslet, data, &pid);

	/* What the program blocked: nothing. */
	ASSERT_EQ(0, ptrace(PTRACE_GETSIGMASK, pid, sizeof(m), &m));
	if (set) {
		m = SIGBIT(SIGUSR1);
		ASSERT_EQ(0, ptrace(PTRACE_SETSIGMASK, pid, sizeof(m), &m));
	}
	ASSERT_EQ(0, ptrace(PTRACE_CONT, pid, 0, 0));
	usleep(100000);
	ASSERT_EQ(1, write(data[1], "x", 1));
	ASSERT_EQ(0, reap(pid, true));
	ASSERT_EQ(1, seen->read_ret);
	if (set) {
		/* The tracer blocked SIGUSR1: it stays blocked. */
		ASSERT_EQ(SIGBIT(SIGUSR1), seen->mask_after) {
			TH_LOG("mask after: %#llx",
			       (unsigned long long)seen->mask_after);
		}
	} else {
		ASSERT_EQ(0, m) {
			TH_LOG("the tracer sees blocked %#llx, the program blocked nothing",
			       (unsigned long long)m);
		}
		ASSERT_EQ(0, seen->mask_after);
	}
	munmap(seen, sizeof(*seen));
}

/* Control: a direct read() stopped the same way. */
TEST(direct_read_tracer_setsigmask_kept)
{
	tracer_mask(_metadata, false, true);
}

/*
 * Documentation: "A tracer's PTRACE_SETSIGMASK made while the caller is
 * stopped there ... [is] kept".  One that blocks a signal that has a
 * handler (so is held back meanwhile) is silently undone.
 */
TEST(caller_tracer_setsigmask_kept)
{
	tracer_mask(_metadata, true, true);
}

TEST(direct_read_tracer_sees_programs_mask)
{
	tracer_mask(_metadata, false, false);
}

/* The held-back mask shows through PTRACE_GETSIGMASK (and /proc). */
TEST(caller_tracer_sees_programs_mask)
{
	tracer_mask(_metadata, true, false);
}

/*
 * A debugger's inferior call (gdb "call f()", CRIU's parasite): at the
 * stop, point rip at a function, orig_rax = -1 so the interrupted call
 * is not restarted, and continue.  A direct read() returns to user space
 * there at once.
 */
static void probe(void)
{
	seen->probed = 1;
	syscall(__NR_exit_group, 42);
}

static void tracer_redirect(struct __test_metadata *_metadata, bool syslet)
{
	struct user_regs_struct regs;
	int data[2], status = 0;
	pid_t pid, w = 0;

	start_stopped_child(_metadata, syslet, data, &pid);
	ASSERT_EQ(0, ptrace(PTRACE_GETREGS, pid, 0, &regs));
	TH_LOG("at the stop: orig_rax %lld rax %lld",
	       (long long)regs.orig_rax, (long long)regs.rax);
	regs.rip = (unsigned long)probe;
	regs.rsp = ((regs.rsp - 1024) & ~15ULL) - 8;
	regs.orig_rax = -1;
	ASSERT_EQ(0, ptrace(PTRACE_SETREGS, pid, 0, &regs));
	ASSERT_EQ(0, ptrace(PTRACE_CONT, pid, 0, 0));
	/* 2 s, the pipe still empty. */
	for (int i = 0; i < 200; i++) {
		w = waitpid(pid, &status, WNOHANG | __WALL);
		if (w == pid && WIFSTOPPED(status)) {
			ptrace(PTRACE_CONT, pid, 0, 0);
			w = 0;
		}
		if (w == pid)
			break;
		usleep(10000);
	}
	if (w != pid) {
		ASSERT_EQ(1, write(data[1], "x", 1));
		reap(pid, true);
	}
	EXPECT_EQ(pid, w) {
		TH_LOG("still in the kernel 2 s after the tracer moved rip");
		TH_LOG("probe ran %d, read %lld", seen->probed,
		       (long long)seen->read_ret);
	}
	if (w == pid) {
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(42, WEXITSTATUS(status));
	}
	munmap(seen, sizeof(*seen));
}

TEST(direct_read_tracer_redirect_runs_now)
{
	tracer_redirect(_metadata, false);
}

TEST(caller_tracer_redirect_runs_now)
{
	tracer_redirect(_metadata, true);
}

/*
 * exec() from another thread while the caller (with a ring: it counts
 * in ->running, current->syslet is set) sits in a ptrace stop inside
 * async_exec(): de_thread() kills it there.
 */
static int exec_rfd;
static struct test_ring exec_ring;

static void *exec_caller(void *arg)
{
	static struct syslet_uatom a;
	static uint64_t fd, buf, len = 1;
	static int64_t r;
	static char c;

	fd = exec_rfd;
	buf = PTR(&c);
	init_atom(&a, __NR_read, &fd, &buf, &len, NULL, NULL, NULL, &r,
		  SYSLET_SYNC, NULL);
	seen->step = syscall(__NR_gettid);
	async_exec(&a, &exec_ring.head, HSZ);
	seen->bad = 1;		/* must not return: exec() kills it */
	return NULL;
}

TEST_F_TIMEOUT(chain_child, caller_exec_while_stopped_in_kernel, 60)
{
	pid_t pid, tid;
	int go[2];
	char c;
	int st;

	ASSERT_EQ(0, pipe(go));
	seen = mmap(NULL, sizeof(*seen), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, seen);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		pthread_t t;

		exec_rfd = self->data[0];
		if (ring_setup(&exec_ring, 8, 0))
			_exit(1);
		pthread_create(&t, NULL, exec_caller, NULL);
		while (!__atomic_load_n(&seen->step, __ATOMIC_ACQUIRE))
			usleep(1000);
		if (write(self->sync[1], "r", 1) != 1)
			_exit(2);
		/* Go when the parent says so. */
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		execl("/bin/sh", "sh", "-c", "exit 7", NULL);
		_exit(4);
	}
	self->child = pid;
	ASSERT_EQ(1, read(self->sync[0], &c, 1));
	tid = seen->step;
	wait_sleeping(pid, tid);
	usleep(100000);
	ASSERT_EQ(0, ptrace(PTRACE_SEIZE, tid, 0, 0));
	ASSERT_EQ(0, ptrace(PTRACE_INTERRUPT, tid, 0, 0));
	st = wait_stopped(tid, __WALL);
	ASSERT_EQ(PTRACE_EVENT_STOP, st >> 16);
	ASSERT_EQ(1, write(go[1], "g", 1));
	/* The traced thread goes (its exit is reported to us), then exec. */
	for (int i = 0; i < 100; i++) {
		if (waitpid(tid, &st, __WALL | WNOHANG) == tid &&
		    !WIFSTOPPED(st))
			break;
		usleep(10000);
	}
	ASSERT_EQ(7, wait_exit(pid, 10000));
	self->child = -1;
	ASSERT_EQ(0, seen->bad);
	munmap(seen, sizeof(*seen));
}

/*
 * A storm: the caller loops SYNC chains [nanosleep(1 ms) -> getpid]
 * with SIGUSR2 blocked; a sibling thread flips SIGUSR1 (handler <->
 * SIG_IGN), SIGTSTP and SIGCONT (handler, SA_RESETHAND <-> SIG_DFL);
 * the parent sends SIGSTOP, SIGTSTP, SIGCONT, SIGUSR1 and SIGUSR2 at
 * random.  After every async_exec(): the mask is exactly {SIGUSR2}, no
 * restart code or unexpected value reached memory, and the process
 * neither hangs nor dies.
 */
static atomic_int storm_stop;

static void storm_handler(int sig)
{
	__atomic_add_fetch(&seen->handlers, 1, __ATOMIC_RELAXED);
}

static void *storm_flipper(void *arg)
{
	static const int sigs[] = { SIGUSR1, SIGTSTP, SIGCONT };
	unsigned int seed = 1;

	while (!storm_stop) {
		int sig = sigs[rand_r(&seed) % 3];
		struct sigaction sa = { .sa_handler = storm_handler };

		if (rand_r(&seed) & 1) {
			sa.sa_handler = sig == SIGUSR1 ? SIG_IGN : SIG_DFL;
		} else if (sig != SIGUSR1 && (rand_r(&seed) & 1)) {
			/* SIGUSR1 never gets SIG_DFL: it would kill. */
			sa.sa_flags = SA_RESETHAND;
		}
		sigaction(sig, &sa, NULL);
		if (rand_r(&seed) % 4 == 0)
			sched_yield();
	}
	return NULL;
}

/* The storm children's set-up: a SIGUSR1 handler, SIGUSR2 blocked. */
static void storm_signals(void)
{
	struct sigaction sa = { .sa_handler = storm_handler };
	sigset_t m;

	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	sigprocmask(SIG_SETMASK, &m, NULL);
}

/* [nanosleep(@reqp) -> getpid] into @a, results in @r0 and @r1. */
static void storm_chain(struct syslet_uatom *a, uint64_t *reqp,
			int64_t *r0, int64_t *r1, uint64_t flags)
{
	static uint64_t zero;

	*r0 = *r1 = UNTOUCHED;
	init_atom(&a[0], __NR_nanosleep, reqp, &zero, NULL, NULL, NULL, NULL,
		  r0, flags, &a[1]);
	init_atom(&a[1], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL, r1,
		  0, NULL);
}

/*
 * What async_exec() returned (@ret, errno) against what the chain @a
 * left in @r0 and @r1: the whole chain ran, it ended at a[0] for a
 * handler, or a handler was due between the atoms.  Else record the
 * failure in seen and return true.
 */
static bool storm_bad(long ret, struct syslet_uatom *a, int64_t r0,
		      int64_t r1)
{
	int err = errno;

	if (ret == (long)PTR(&a[1])) {
		if (r0 == 0 && r1 == getpid())
			return false;
		seen->bad = 2;
		seen->bad_val = r0;
	} else if (ret == (long)PTR(&a[0])) {
		if (r0 == -EINTR && r1 == UNTOUCHED)
			return false;
		seen->bad = 3;
		seen->bad_val = r0;
	} else {
		if (ret == -1 && err == EINTR)
			return false;
		seen->bad = 4;
		seen->bad_val = ret;
	}
	return true;
}

static void __noreturn storm_child(int ms)
{
	static struct syslet_uatom a[2];
	static struct __kernel_timespec req = { .tv_nsec = 1000000 };
	static uint64_t reqp;
	static int64_t r0, r1;
	int64_t t0 = now_ms();
	pthread_t t;

	storm_signals();
	pthread_create(&t, NULL, storm_flipper, NULL);
	reqp = PTR(&req);
	__atomic_store_n(&seen->step, 1, __ATOMIC_RELEASE);
	while (now_ms() - t0 < ms) {
		long ret;
		uint64_t mask;

		storm_chain(a, &reqp, &r0, &r1, SYSLET_SYNC);
		errno = 0;
		ret = async_exec(&a[0], NULL, 0);
		mask = current_mask();
		seen->loops++;
		if (mask != SIGBIT(SIGUSR2)) {
			seen->bad = 1;
			seen->bad_val = mask;
			break;
		}
		if (storm_bad(ret, a, r0, r1))
			break;
	}
	storm_stop = 1;
	pthread_join(t, NULL);
	_exit(0);
}

TEST_F_TIMEOUT(chain_child, caller_signal_storm, 120)
{
	static const int sigs[] = { SIGSTOP, SIGTSTP, SIGCONT, SIGCONT,
				    SIGUSR1, SIGUSR2 };
	unsigned int seed = 7;
	int64_t t0;
	pid_t pid;
	int st, rc;

	seen = mmap(NULL, sizeof(*seen), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, seen);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		setpgid(0, 0);
		storm_child(6000);
	}
	self->child = pid;
	setpgid(pid, pid);
	while (!__atomic_load_n(&seen->step, __ATOMIC_ACQUIRE))
		usleep(1000);
	t0 = now_ms();
	while (now_ms() - t0 < 5000) {
		kill(pid, sigs[rand_r(&seed) % ARRAY_SIZE(sigs)]);
		usleep(rand_r(&seed) % 3000);
		while (waitpid(pid, &st, WNOHANG | WUNTRACED) == pid)
			;
	}
	/* Let it finish: keep it running until it exits. */
	for (int i = 0; i < 3000; i++) {
		kill(pid, SIGCONT);
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		usleep(10000);
	}
	rc = waitpid(pid, &st, WNOHANG);
	if (rc == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		self->child = -1;
		ASSERT_TRUE(false) {
			TH_LOG("child hung after %d loops", seen->loops);
		}
	}
	self->child = -1;
	TH_LOG("%d chains, %d handler runs", seen->loops, seen->handlers);
	ASSERT_TRUE(WIFEXITED(st)) {
		TH_LOG("killed by %d", WTERMSIG(st));
	}
	ASSERT_EQ(0, seen->bad) {
		TH_LOG("check %d failed: %#lx", seen->bad, seen->bad_val);
	}
	munmap(seen, sizeof(*seen));
}

/*
 * As the storm, with a ring: the nanosleep may hand off, before or after
 * it was interrupted (restart_syscall() made by the caller may hand off,
 * and the blocked task then runs the restart_block as a worker).  The
 * completed atom says 0 (a worker runs no handler), the caller's TID
 * and mask are its own after every async_exec().
 */
static void __noreturn handoff_storm_child(int ms)
{
	static struct test_ring r;
	static struct syslet_uatom a[2];
	static struct __kernel_timespec req = { .tv_nsec = 3000000 };
	static uint64_t reqp;
	static int64_t r0, r1;
	int64_t t0 = now_ms();
	pid_t tid = syscall(__NR_gettid);

	storm_signals();
	if (ring_setup(&r, 8, 0))
		_exit(1);
	reqp = PTR(&req);
	__atomic_store_n(&seen->step, 1, __ATOMIC_RELEASE);
	while (now_ms() - t0 < ms) {
		long ret;
		uint64_t mask;

		storm_chain(a, &reqp, &r0, &r1, 0);
		errno = 0;
		ret = async_exec(&a[0], &r.head, HSZ);
		if (ret == 0) {
			long w;

			do {
				w = async_wait(1, &r.head, NULL);
			} while (w < 0 && errno == EINTR);
			if (w != 1 || test_ring_reap(&r) != PTR(&a[1]) ||
			    r0 != 0 || r1 != getpid()) {
				seen->bad = 5;
				seen->bad_val = r0;
				break;
			}
			seen->probed++;		/* hand-offs */
		} else if (storm_bad(ret, a, r0, r1)) {
			break;
		}
		mask = current_mask();
		seen->loops++;
		if (mask != SIGBIT(SIGUSR2)) {
			seen->bad = 1;
			seen->bad_val = mask;
			break;
		}
		if (syscall(__NR_gettid) != tid) {
			seen->bad = 6;
			seen->bad_val = syscall(__NR_gettid);
			break;
		}
	}
	_exit(0);
}

TEST_F_TIMEOUT(chain_child, handoff_signal_storm, 120)
{
	static const int sigs[] = { SIGSTOP, SIGCONT, SIGCONT, SIGUSR1 };
	unsigned int seed = 11;
	int64_t t0;
	pid_t pid;
	int st = 0, rc;

	seen = mmap(NULL, sizeof(*seen), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, seen);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		handoff_storm_child(6000);
	self->child = pid;
	while (!__atomic_load_n(&seen->step, __ATOMIC_ACQUIRE))
		usleep(1000);
	t0 = now_ms();
	while (now_ms() - t0 < 5000) {
		kill(pid, sigs[rand_r(&seed) % ARRAY_SIZE(sigs)]);
		usleep(rand_r(&seed) % 4000);
	}
	for (int i = 0; i < 3000; i++) {
		kill(pid, SIGCONT);
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		usleep(10000);
	}
	rc = waitpid(pid, &st, WNOHANG);
	self->child = -1;
	if (rc == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		ASSERT_TRUE(false) {
			TH_LOG("child hung after %d loops", seen->loops);
		}
	}
	TH_LOG("%d chains, %d handed off, %d handler runs", seen->loops,
	       seen->probed, seen->handlers);
	ASSERT_TRUE(WIFEXITED(st)) {
		TH_LOG("killed by %d", WTERMSIG(st));
	}
	ASSERT_EQ(0, seen->bad) {
		TH_LOG("check %d failed: %#lx", seen->bad, seen->bad_val);
	}
	munmap(seen, sizeof(*seen));
}

/*
 * A tracer single-stepping over async_exec() (gdb's stepi, PTRACE_SINGLESTEP)
 * stepped one instruction: it gets one trap for it, after the whole chain,
 * not one more for each atom's exit in between (each of those was a
 * SIGTRAP at the same user address while the chain still ran, which a
 * tracer that passes signals on cut the chain with).
 */
TEST(single_step_over_a_chain_traps_once)
{
	static struct syslet_uatom a[3];
	static int64_t r[3];
	int st, traps_in_call = 0, steps = 0;
	unsigned long long call_ip = 0;
	pid_t pid;

	init_atom(&a[0], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &r[0], SYSLET_SYNC, &a[1]);
	init_atom(&a[1], __NR_getppid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &r[1], 0, &a[2]);
	init_atom(&a[2], __NR_getuid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &r[2], 0, NULL);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		long ret;

		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		ret = async_exec(a, NULL, 0);
		_exit(ret == (long)&a[2] && r[0] == getpid() &&
		      r[1] == getppid() && r[2] == getuid() ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFSTOPPED(st));
	ASSERT_EQ(0, ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_EXITKILL));
	for (;;) {
		struct user_regs_struct regs;

		ASSERT_EQ(0, ptrace(PTRACE_SINGLESTEP, pid, 0, 0));
		ASSERT_EQ(pid, waitpid(pid, &st, 0));
		if (!WIFSTOPPED(st))
			break;
		ASSERT_EQ(SIGTRAP, WSTOPSIG(st));
		ASSERT_GT(200000, ++steps);
		ASSERT_EQ(0, ptrace(PTRACE_GETREGS, pid, 0, &regs));
		/* Stopped right after async_exec()'s syscall instruction. */
		if (regs.orig_rax == __NR_async_exec) {
			if (!call_ip)
				call_ip = regs.rip;
			if (regs.rip == call_ip)
				traps_in_call++;
		}
	}
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
	EXPECT_EQ(1, traps_in_call);
}

TEST_HARNESS_MAIN
