/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the syslet security and isolation selftests: running one
 * chain in each of the three places an atom runs (the caller's context,
 * a pool thread, a cachemiss worker), a child process to run a case in,
 * and memory it reports through.
 */
#ifndef SYSLET_SECURITY_H
#define SYSLET_SECURITY_H

#include <signal.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "syslet.h"

/* TCG, KASAN and lockdep are slow; children wait up to 60 s. */
#undef TEST_TIMEOUT_DEFAULT
#define TEST_TIMEOUT_DEFAULT 120

#define HSZ sizeof(struct async_head_user)
#define SENTINEL 12345
#define NOBODY 65534
/* Errno of the seccomp filters: distinctive in strace output. */
#define DENY_ERRNO EXFULL
/* End of user space (TASK_SIZE_MAX), 4- and 5-level paging. */
#define USER_END_4LEVEL 0x00007ffffffff000UL
#define USER_END_5LEVEL 0x00fffffffffff000UL

static const struct __kernel_timespec ten_seconds = { .tv_sec = 10 };

/*
 * The last page of user space, mapped if we can (then a pointer that
 * straddles the end has its first bytes in valid memory): returns the
 * end of user space.  -cpu max gives the guest 5-level paging.
 */
static inline unsigned long map_last_user_page(void)
{
	unsigned long end = USER_END_5LEVEL;
	void *p;

	p = mmap((void *)(end - 4096), 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED) {
		end = USER_END_4LEVEL;
		mmap((void *)(end - 4096), 4096, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	}
	return end;
}

/* ------------------------------------------- running a chain, 3 ways */

enum mode { CACHED, POOL, WORKER, NR_MODES };

static const char *const mode_name[] = {
	[CACHED] = "cached",
	[POOL] = "SYSLET_ASYNC pool thread",
	[WORKER] = "cachemiss worker",
};

/* run_chain() failures; anything >= 0 is an atom address. */
#define RUN_EXEC_ERR		-1001	/* async_exec() failed: exec_ret */
#define RUN_NO_ASYNC		-1002	/* did not go asynchronous */
#define RUN_NO_COMPLETION	-1003	/* nothing came to the ring */
#define RUN_SETUP		-1004

static inline void on_alarm(int sig)
{
	(void)sig;
}

/*
 * Run the chain that starts at @a, to its end:
 *   CACHED: in our context (with a ring, so that spares exist);
 *   POOL:   SYSLET_ASYNC, in a pool thread;
 *   WORKER: behind an atom that blocks on an empty pipe: the caller's
 *	     context goes to a spare, and the blocked task runs @a and the
 *	     rest of the chain as a cachemiss worker.
 * Return the address of the atom the chain ended on (async_exec()'s
 * return or the ring's completion), or a RUN_* code; @exec_ret gets
 * async_exec()'s return (-errno on failure).  The ring @r must have
 * been set up once (ring_setup(): registered, so that even the first
 * block hands off) and only be reaped by us.
 */
static inline long run_chain(enum mode m, struct syslet_uatom *a,
			     struct test_ring *r, long *exec_ret)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	struct pipe_read pr;
	long rc, dummy;

	if (!exec_ret)
		exec_ret = &dummy;
	switch (m) {
	case CACHED:
		a->flags &= ~SYSLET_ASYNC;
		rc = async_exec(a, &r->head, HSZ);
		*exec_ret = rc < 0 ? -errno : rc;
		return rc < 0 ? RUN_EXEC_ERR : rc;
	case POOL:
		a->flags |= SYSLET_ASYNC;
		rc = async_exec(a, &r->head, HSZ);
		break;
	case WORKER:
	default:
		a->flags &= ~SYSLET_ASYNC;
		if (pipe_read_init(&pr, SYSLET_STOP_ON_NON_POSITIVE))
			return RUN_SETUP;
		pr.atom.next = PTR(a);
		/* Without a hand-off the read blocks here: EINTR after 5 s. */
		sigaction(SIGALRM, &sa, &old);
		alarm(5);
		rc = async_exec(&pr.atom, &r->head, HSZ);
		alarm(0);
		sigaction(SIGALRM, &old, NULL);
		if (!rc && write(pr.p[1], "x", 1) != 1)
			return RUN_SETUP;
		break;
	}
	*exec_ret = rc < 0 ? -errno : rc;
	if (rc) {
		if (m == WORKER)
			pipe_read_close(&pr);
		return rc < 0 ? RUN_EXEC_ERR : RUN_NO_ASYNC;
	}
	/* A signal the atom raised (SIGPIPE, say) may interrupt the wait. */
	do
		rc = async_wait(1, &r->head, &ten_seconds);
	while (rc < 0 && errno == EINTR);
	if (rc < 1)
		rc = RUN_NO_COMPLETION;
	else
		rc = test_ring_reap(r);
	if (m == WORKER)
		pipe_read_close(&pr);
	return rc;
}

/* Run a child process; its status as wait_exit() gives it. */
static inline int run_child(int (*fn)(void *), void *arg, int ms)
{
	pid_t pid = fork();

	if (pid < 0)
		return -2;
	if (!pid)
		_exit(fn(arg));
	return wait_exit(pid, ms);
}

/* Memory a child writes its findings to (and atoms and results live in). */
static inline void *shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

#endif /* SYSLET_SECURITY_H */
