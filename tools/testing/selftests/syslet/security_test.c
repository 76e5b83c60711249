// SPDX-License-Identifier: GPL-2.0
/*
 * Syslet selftests: security boundaries.
 *
 * An atom's system call is a system call of the process that submitted
 * it, wherever it runs: in the caller's context (cached), in a pool
 * thread (SYSLET_ASYNC) or in a cachemiss worker (after a hand-off).
 * So seccomp filters, credentials, ptrace and resource limits apply to
 * it as to a direct call, and nothing in the ABI names anything outside
 * the caller's own process and address space.
 *
 * Where a direct call's behaviour cannot be reproduced in a thread that
 * has no user context of its own (a pool thread or cachemiss worker
 * cannot take a signal), the kernel fails closed; the tests assert
 * exactly what Documentation/syslet-design.txt ("Security") documents.
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
static unsigned long map_last_user_page(void)
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

static void on_alarm(int sig)
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
static long run_chain(enum mode m, struct syslet_uatom *a,
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
static int run_child(int (*fn)(void *), void *arg, int ms)
{
	pid_t pid = fork();

	if (pid < 0)
		return -2;
	if (!pid)
		_exit(fn(arg));
	return wait_exit(pid, ms);
}

/* Memory a child writes its findings to (and atoms and results live in). */
static void *shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* ------------------------------------------------------------ seccomp */

/*
 * One case: a filter answers getppid() with @action; a chain of
 * getppid, getpid runs in @mode in a child process.
 */
struct sec_case {
	uint32_t action;
	enum mode mode;
	/* written by the child */
	int stage;		/* 1: chain submitted, 2: it ended, 3: done */
	pid_t pid;
	long exec_ret, end;
	int64_t ret_denied, ret_next;
	int sigsys, sigsys_nr, sigsys_code;
	int handler_kept;
	long direct, direct_errno;
	long later_end;		/* a SYSLET_ASYNC getpid submitted after */
	int64_t later_ret;
	int notif_nr, notif_seen, notif_after_chain;
	struct syslet_uatom atoms[3];
};

static struct sec_case *sc;
static int notif_fd = -1;

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	sc->sigsys++;
	sc->sigsys_nr = si->si_syscall;
	sc->sigsys_code = si->si_code;
}

/* A seccomp supervisor: every notification gets 4242. */
static void *supervisor(void *arg)
{
	struct seccomp_notif req;
	struct seccomp_notif_resp resp;

	(void)arg;
	for (;;) {
		memset(&req, 0, sizeof(req));
		if (ioctl(notif_fd, SECCOMP_IOCTL_NOTIF_RECV, &req)) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		sc->notif_nr = req.data.nr;
		sc->notif_seen++;
		memset(&resp, 0, sizeof(resp));
		resp.id = req.id;
		resp.val = 4242;
		ioctl(notif_fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
	}
}

struct chain_call {
	enum mode m;
	struct syslet_uatom *a;
	struct test_ring *r;
	long *exec_ret;
	long end;
};

static void *chain_call_fn(void *arg)
{
	struct chain_call *c = arg;

	c->end = run_chain(c->m, c->a, c->r, c->exec_ret);
	return NULL;
}

/*
 * The main thread of a multi-threaded process does not hand off (the
 * group's leadership moves only while no other thread runs user code)
 * and sends its chains to a pool thread instead: a CACHED or WORKER
 * chain there is submitted from a second thread.
 */
static long run_chain_in_thread(enum mode m, struct syslet_uatom *a,
				struct test_ring *r, long *exec_ret)
{
	struct chain_call c = { m, a, r, exec_ret, RUN_SETUP };
	pthread_t t;

	if (pthread_create(&t, NULL, chain_call_fn, &c))
		return RUN_SETUP;
	pthread_join(t, NULL);
	return c.end;
}

static int seccomp_child(void *arg)
{
	static struct test_ring r;
	struct sigaction sa = {
		.sa_sigaction = on_sigsys,
		.sa_flags = SA_SIGINFO,
	}, cur;
	struct syslet_uatom *a = sc->atoms;
	int kill = sc->action == SECCOMP_RET_KILL_PROCESS ||
		   sc->action == SECCOMP_RET_KILL_THREAD;
	pthread_t t;
	int fd;

	(void)arg;
	sc->pid = getpid();
	sc->ret_denied = sc->ret_next = sc->later_ret = SENTINEL;
	if (sigaction(SIGSYS, &sa, NULL))
		return 10;
	fd = seccomp_filter_nr(__NR_getppid, sc->action,
			       sc->action == SECCOMP_RET_USER_NOTIF ?
			       SECCOMP_FILTER_FLAG_NEW_LISTENER : 0);
	if (fd < 0)
		return 11;
	/* After the filter: the spare it makes must fit us. */
	if (ring_setup(&r, 16, 0))
		return 9;
	if (sc->action == SECCOMP_RET_USER_NOTIF) {
		notif_fd = fd;
		if (pthread_create(&t, NULL, supervisor, NULL))
			return 12;
	}

	init_atom(&a[0], __NR_getppid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &sc->ret_denied, 0, &a[1]);
	init_atom(&a[1], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &sc->ret_next, 0, NULL);
	sc->stage = 1;
	if (sc->action == SECCOMP_RET_USER_NOTIF && sc->mode != POOL)
		sc->end = run_chain_in_thread(sc->mode, &a[0], &r,
					      &sc->exec_ret);
	else
		sc->end = run_chain(sc->mode, &a[0], &r, &sc->exec_ret);
	sc->stage = 2;
	/*
	 * A kill that did not happen must not be papered over by the
	 * direct call below: stop here.
	 */
	if (kill)
		return 0;
	sigaction(SIGSYS, NULL, &cur);
	sc->handler_kept = cur.sa_sigaction == on_sigsys &&
			   (cur.sa_flags & SA_SIGINFO);
	sc->notif_after_chain = sc->notif_seen;
	if (sc->action != SECCOMP_RET_TRAP) {
		sc->direct = syscall(__NR_getppid);
		sc->direct_errno = errno;
	}
	/* The pool still works: a later chain still goes asynchronous. */
	init_atom(&a[2], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &sc->later_ret, 0, NULL);
	sc->later_end = run_chain(POOL, &a[2], &r, NULL);
	sc->stage = 3;
	return 0;
}

/*
 * The seccomp grid: a filter answers getppid() with one action (one test
 * each), the chain runs in one mode (one variant each).  The set-up makes
 * the shared record; each test runs the child with its action.
 */
FIXTURE(seccomp) {
	int status;
};

FIXTURE_VARIANT(seccomp) {
	enum mode mode;
};

FIXTURE_VARIANT_ADD(seccomp, cached) {
	.mode = CACHED,
};

FIXTURE_VARIANT_ADD(seccomp, pool_thread) {
	.mode = POOL,
};

FIXTURE_VARIANT_ADD(seccomp, cachemiss_worker) {
	.mode = WORKER,
};

FIXTURE_SETUP(seccomp)
{
	sc = shared_alloc(sizeof(*sc));
	ASSERT_NE(NULL, sc);
	memset(sc, 0, sizeof(*sc));
	sc->mode = variant->mode;
	self->status = -1;
}

FIXTURE_TEARDOWN(seccomp)
{
	if (sc)
		munmap(sc, sizeof(*sc));
	sc = NULL;
}

/* Run the chain under a filter that answers getppid() with @action. */
static void seccomp_run(struct __test_metadata *_metadata,
			FIXTURE_DATA(seccomp) *self, uint32_t action)
{
	sc->action = action;
	self->status = run_child(seccomp_child, NULL, 30000);
	TH_LOG("%s: status %d, stage %d, async_exec %ld, chain ended on %#lx (atoms %p %p), denied atom %lld, next atom %lld, SIGSYS x%d",
	       mode_name[sc->mode], self->status, sc->stage, sc->exec_ret,
	       sc->end, &sc->atoms[0], &sc->atoms[1],
	       (long long)sc->ret_denied, (long long)sc->ret_next,
	       sc->sigsys);
}

/*
 * The chain went on past the denied atom, and a SYSLET_ASYNC chain
 * submitted afterwards still completes through the ring.
 */
static void seccomp_chain_went_on(struct __test_metadata *_metadata)
{
	ASSERT_EQ(PTR(&sc->atoms[1]), sc->end);
	ASSERT_EQ(sc->pid, sc->ret_next);
	ASSERT_EQ(0, sc->sigsys);
	ASSERT_EQ(PTR(&sc->atoms[2]), sc->later_end);
	ASSERT_EQ(sc->pid, sc->later_ret);
}

TEST_F(seccomp, errno_answers_the_atom_as_a_direct_call)
{
	seccomp_run(_metadata, self, SECCOMP_RET_ERRNO | DENY_ERRNO);
	ASSERT_EQ(0, self->status);
	ASSERT_EQ(3, sc->stage);
	ASSERT_EQ(-DENY_ERRNO, sc->ret_denied);
	ASSERT_EQ(-1, sc->direct);
	ASSERT_EQ(DENY_ERRNO, sc->direct_errno);
	seccomp_chain_went_on(_metadata);
}

/* No tracer: the atom fails as a direct call does, the chain goes on. */
TEST_F(seccomp, trace_without_tracer_fails_the_atom_as_a_direct_call)
{
	seccomp_run(_metadata, self, SECCOMP_RET_TRACE);
	ASSERT_EQ(0, self->status);
	ASSERT_EQ(3, sc->stage);
	ASSERT_EQ(-ENOSYS, sc->ret_denied);
	ASSERT_EQ(-1, sc->direct);
	ASSERT_EQ(ENOSYS, sc->direct_errno);
	seccomp_chain_went_on(_metadata);
}

TEST_F(seccomp, user_notif_supervisor_answers_the_atom)
{
	seccomp_run(_metadata, self, SECCOMP_RET_USER_NOTIF);
	ASSERT_EQ(0, self->status);
	ASSERT_EQ(3, sc->stage);
	ASSERT_EQ(4242, sc->ret_denied);
	ASSERT_EQ(1, sc->notif_after_chain);
	ASSERT_EQ(__NR_getppid, sc->notif_nr);
	ASSERT_EQ(4242, sc->direct);
	seccomp_chain_went_on(_metadata);
}

/*
 * In the caller's context, as for a direct call: SIGSYS, delivered on
 * the way out of async_exec(); the pending signal ends the chain between
 * atoms (-EINTR).  In a pool thread or cachemiss worker no handler of
 * the process may run: fail closed, no signal, -ENOSYS, as documented.
 */
TEST_F(seccomp, trap_raises_sigsys_only_in_the_callers_context)
{
	const char *mn = mode_name[variant->mode];

	seccomp_run(_metadata, self, SECCOMP_RET_TRAP);
	ASSERT_EQ(0, self->status);
	ASSERT_EQ(3, sc->stage);
	ASSERT_TRUE(sc->handler_kept)
		TH_LOG("%s: the process' SIGSYS handler was changed", mn);
	if (variant->mode == CACHED) {
		ASSERT_EQ(1, sc->sigsys);
		ASSERT_EQ(__NR_getppid, sc->sigsys_nr);
		ASSERT_EQ(1 /* SYS_SECCOMP */, sc->sigsys_code);
		ASSERT_EQ(-EINTR, sc->exec_ret);
		/* What rax would hold: the number (rolled back). */
		ASSERT_EQ(__NR_getppid, sc->ret_denied);
		ASSERT_EQ(SENTINEL, sc->ret_next);
	} else {
		ASSERT_EQ(0, sc->sigsys)
			TH_LOG("%s: SIGSYS reached a handler", mn);
		ASSERT_EQ(-ENOSYS, sc->ret_denied);
		ASSERT_EQ(PTR(&sc->atoms[1]), sc->end);
		ASSERT_EQ(sc->pid, sc->ret_next);
	}
	ASSERT_EQ(PTR(&sc->atoms[2]), sc->later_end)
		TH_LOG("%s: a later SYSLET_ASYNC chain did not complete through the ring",
		       mn);
	ASSERT_EQ(sc->pid, sc->later_ret);
}

/*
 * A kill: the chain ends there.  (A direct call in a single-threaded
 * process is killed by SIGSYS; a pool thread or cachemiss worker cannot
 * die alone without losing the chain: the process dies.)
 */
static void seccomp_killed(struct __test_metadata *_metadata, int status)
{
	const char *mn = mode_name[sc->mode];

	ASSERT_EQ(128 + SIGSYS, status)
		TH_LOG("%s: the process was not killed by SIGSYS", mn);
	ASSERT_EQ(1, sc->stage)
		TH_LOG("%s: async_exec()'s chain ended before the kill", mn);
	ASSERT_EQ(SENTINEL, sc->ret_next)
		TH_LOG("%s: the atom after the killing call ran", mn);
}

TEST_F(seccomp, kill_process_kills_the_process)
{
	seccomp_run(_metadata, self, SECCOMP_RET_KILL_PROCESS);
	seccomp_killed(_metadata, self->status);
}

TEST_F(seccomp, kill_thread_kills_the_process)
{
	seccomp_run(_metadata, self, SECCOMP_RET_KILL_THREAD);
	seccomp_killed(_metadata, self->status);
}

/* KILL_THREAD in the caller's context kills the calling thread only. */
static void *kill_thread_fn(void *arg)
{
	static struct test_ring r;
	struct syslet_uatom *a = sc->atoms;

	(void)arg;
	if (ring_setup(&r, 8, 0))
		return NULL;
	init_atom(&a[0], __NR_getppid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &sc->ret_denied, 0, &a[1]);
	init_atom(&a[1], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &sc->ret_next, 0, NULL);
	sc->end = run_chain(CACHED, &a[0], &r, &sc->exec_ret);
	sc->stage = 2;		/* never: the thread died */
	return NULL;
}

static int kill_thread_child(void *arg)
{
	pthread_t t;

	(void)arg;
	sc->ret_denied = sc->ret_next = SENTINEL;
	if (seccomp_filter_nr(__NR_getppid, SECCOMP_RET_KILL_THREAD, 0))
		return 10;
	if (pthread_create(&t, NULL, kill_thread_fn, NULL))
		return 11;
	pthread_join(t, NULL);
	sc->stage = sc->stage == 2 ? 2 : 3;
	return 0;
}

TEST(seccomp_kill_thread_cached_kills_only_the_calling_thread)
{
	int status;

	sc = shared_alloc(sizeof(*sc));
	ASSERT_NE(NULL, sc);
	memset(sc, 0, sizeof(*sc));
	status = run_child(kill_thread_child, NULL, 30000);
	ASSERT_EQ(0, status) TH_LOG("the process did not survive its thread");
	ASSERT_EQ(3, sc->stage) TH_LOG("the killed thread went on");
	ASSERT_EQ(SENTINEL, sc->ret_next);
	munmap(sc, sizeof(*sc));
}

/*
 * A spare made before a filter is installed must never take over the
 * context of a caller that has the filter: the caller would lose it.
 */
static int spare_before_filter_child(void *arg)
{
	static struct test_ring r;
	struct syslet_uatom a;
	int64_t ret = SENTINEL;
	long end;

	(void)arg;
	if (ring_setup(&r, 8, 0))
		return 9;
	init_atom(&a, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL, &ret,
		  0, NULL);
	/* Unfiltered spares: a hand-off, and the worker parks as a spare. */
	if (run_chain(WORKER, &a, &r, NULL) != PTR(&a))
		return 10;
	usleep(300000);		/* the worker has parked as a spare */
	if (seccomp_filter_nr(__NR_getppid, SECCOMP_RET_ERRNO | DENY_ERRNO, 0))
		return 11;
	/*
	 * Hand-off or not, the context we continue in has the filter.  The
	 * parked spares do not fit: this one completes synchronously...
	 */
	ret = SENTINEL;
	end = run_chain(WORKER, &a, &r, NULL);
	if (end != PTR(&a) && end != RUN_NO_ASYNC)
		return 12;
	if (syscall(__NR_getppid) != -1 || errno != DENY_ERRNO)
		return 13;
	/* ...but then a fitting spare is made: hand-offs resume. */
	ret = SENTINEL;
	if (run_chain(WORKER, &a, &r, NULL) != PTR(&a) || ret != getpid())
		return 14;
	if (syscall(__NR_getppid) != -1 || errno != DENY_ERRNO)
		return 15;
	return 0;
}

TEST(seccomp_spare_made_before_filter_never_takes_over)
{
	ASSERT_EQ(0, run_child(spare_before_filter_child, NULL, 30000))
		TH_LOG("10: no hand-off, 11: filter, 12: chain, 13/15: the caller lost its filter, 14: no hand-off after the filter, ever");
}

/* -------------------------------------------------------- credentials */

static int set_cap_effective(int cap, int on)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];

	if (syscall(__NR_capget, &h, d))
		return -1;
	if (on)
		d[cap / 32].effective |= 1U << (cap % 32);
	else
		d[cap / 32].effective &= ~(1U << (cap % 32));
	return syscall(__NR_capset, &h, d);
}

static int cap_effective(int cap)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];

	if (syscall(__NR_capget, &h, d))
		return -1;
	return !!(d[cap / 32].effective & (1U << (cap % 32)));
}

/*
 * Each setid-family call, as an atom, in each mode: -ENOSYS, the chain
 * ends there, and no credential changed anywhere.
 */
TEST(credential_calls_refused_in_atoms)
{
	static struct test_ring r;
	struct __user_cap_header_struct caph = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct capd[2] = { { 0 } };
	static uint64_t nobody = NOBODY, one = 1, zero = 0, m1 = -1;
	static uint64_t groups_ptr, caph_ptr, capd_ptr, keepcaps = PR_SET_KEEPCAPS;
	static uint64_t capdrop = PR_CAPBSET_DROP, setuid_cap = CAP_SETUID;
	static uint64_t newuser = CLONE_NEWUSER, seccomp_strict = SECCOMP_SET_MODE_STRICT;
	static uint64_t pers = 0x0008 /* ADDR_NO_RANDOMIZE */, tmp_ptr;
	static gid_t groups[1] = { 4321 };
	static const struct {
		long nr;
		uint64_t *args[4];
	} calls[] = {
		{ __NR_setuid, { &nobody } },
		{ __NR_setgid, { &nobody } },
		{ __NR_setreuid, { &nobody, &nobody } },
		{ __NR_setregid, { &nobody, &nobody } },
		{ __NR_setresuid, { &nobody, &nobody, &nobody } },
		{ __NR_setresgid, { &nobody, &nobody, &nobody } },
		{ __NR_setfsuid, { &nobody } },
		{ __NR_setfsgid, { &nobody } },
		{ __NR_setgroups, { &one, &groups_ptr } },
		{ __NR_capset, { &caph_ptr, &capd_ptr } },
		{ __NR_prctl, { &keepcaps, &one } },
		{ __NR_prctl, { &capdrop, &setuid_cap } },
		{ __NR_seccomp, { &seccomp_strict, &zero, &zero } },
		{ __NR_unshare, { &newuser } },
		{ __NR_personality, { &pers } },
		{ __NR_setsid, { NULL } },
		{ __NR_setpgid, { &zero, &zero } },
		{ __NR_setpriority, { &zero, &zero, &one } },
		{ __NR_chroot, { &tmp_ptr } },
		{ __NR_ptrace, { &zero } },
		{ __NR_setns, { &m1, &zero } },
	};
	gid_t groups_before[64], groups_after[64];
	int ngroups = getgroups(64, groups_before);
	pid_t pgid = getpgid(0), sid = getsid(0);
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	groups_ptr = PTR(groups);
	caph_ptr = PTR(&caph);
	capd_ptr = PTR(capd);
	tmp_ptr = PTR("/tmp");
	ASSERT_LE(0, ngroups);
	ASSERT_EQ(1, cap_effective(CAP_SETUID)) TH_LOG("needs root");
	ASSERT_EQ(0, ring_setup(&r, 16, 0));
	for (int m = 0; m < NR_MODES; m++) {
		for (unsigned int i = 0; i < ARRAY_SIZE(calls); i++) {
			struct syslet_uatom a[2];
			int64_t ret = SENTINEL, next = SENTINEL;
			long end;

			init_atom(&a[0], calls[i].nr, calls[i].args[0],
				  calls[i].args[1], calls[i].args[2],
				  calls[i].args[3], NULL, NULL, &ret, 0, &a[1]);
			init_atom(&a[1], __NR_getpid, NULL, NULL, NULL, NULL,
				  NULL, NULL, &next, 0, NULL);
			end = run_chain(m, &a[0], &r, NULL);
			EXPECT_EQ(PTR(&a[0]), end)
				TH_LOG("%s: nr %ld: the chain did not end on it",
				       mode_name[m], calls[i].nr);
			EXPECT_EQ(-ENOSYS, ret)
				TH_LOG("%s: nr %ld ran", mode_name[m],
				       calls[i].nr);
			EXPECT_EQ(SENTINEL, next)
				TH_LOG("%s: nr %ld: the chain went on",
				       mode_name[m], calls[i].nr);
		}
	}
	ASSERT_EQ(0, getresuid(&ru, &eu, &su));
	ASSERT_EQ(0, getresgid(&rg, &eg, &sg));
	ASSERT_EQ(0, ru | eu | su | rg | eg | sg);
	ASSERT_EQ(0, getuid());
	ASSERT_EQ(ngroups, getgroups(64, groups_after));
	ASSERT_EQ(1, cap_effective(CAP_SETUID));
	ASSERT_EQ(1, prctl(PR_CAPBSET_READ, CAP_SETUID, 0, 0, 0));
	ASSERT_EQ(0, prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
	ASSERT_EQ(0, prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	ASSERT_EQ(0, personality(0xffffffff) & 0x0008);
	ASSERT_EQ(pgid, getpgid(0)) TH_LOG("setpgid ran");
	ASSERT_EQ(sid, getsid(0)) TH_LOG("setsid ran");
}

/*
 * After a credential change of the caller, atoms run with the new
 * credentials in every mode, though pool threads and spares made with
 * the old ones are still around; and after a hand-off the caller's
 * context (now in a spare) still has the new ones.
 */
struct cred_case {
	int what;		/* CRED_* */
	int failed_mode, failed_step;
	int64_t val[NR_MODES][3];
	char path[64];
};

enum { CRED_SETRESUID, CRED_CAPSET, CRED_SETGROUPS };

static struct cred_case *cc;

static int cred_child(void *arg)
{
	static struct test_ring r;
	static gid_t gbuf[NR_MODES][16];
	static uint64_t path, rdonly = O_RDONLY, sixteen = 16, gptr;
	struct syslet_uatom a[3];
	gid_t g = 4321;
	int fd, m;

	(void)arg;
	cc->failed_mode = -1;
	snprintf(cc->path, sizeof(cc->path), "/tmp/syslet-secret-%d", getpid());
	path = PTR(cc->path);
	fd = open(cc->path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	if (fd < 0 || write(fd, "secret", 6) != 6)
		return 10;
	close(fd);
	/* Owned by someone else: root reads it only by CAP_DAC_OVERRIDE. */
	if (cc->what == CRED_CAPSET && chown(cc->path, 1234, 1234))
		return 11;
	if (ring_setup(&r, 16, 0))
		return 9;

	/* Old credentials: a pool thread and a spare are made and park. */
	init_atom(&a[0], __NR_open, &path, &rdonly, NULL, NULL, NULL, NULL,
		  &cc->val[0][0], 0, NULL);
	if (run_chain(POOL, &a[0], &r, NULL) != PTR(&a[0]) || cc->val[0][0] < 0)
		return 12;
	close(cc->val[0][0]);
	if (run_chain(WORKER, &a[0], &r, NULL) != PTR(&a[0]) || cc->val[0][0] < 0)
		return 13;
	close(cc->val[0][0]);

	switch (cc->what) {
	case CRED_SETRESUID:
		if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(NOBODY, NOBODY, NOBODY))
			return 14;
		break;
	case CRED_CAPSET:
		if (set_cap_effective(CAP_DAC_OVERRIDE, 0) ||
		    set_cap_effective(CAP_DAC_READ_SEARCH, 0))
			return 14;
		break;
	case CRED_SETGROUPS:
		if (syscall(__NR_setgroups, 1, &g))
			return 14;
		break;
	}

	/* Cached first, then a fresh pool thread, then a hand-off. */
	for (m = 0; m < NR_MODES; m++) {
		int64_t *v = cc->val[m];

		gptr = PTR(gbuf[m]);
		v[0] = v[1] = v[2] = SENTINEL;
		init_atom(&a[0], __NR_geteuid, NULL, NULL, NULL, NULL, NULL,
			  NULL, &v[0], 0, &a[1]);
		init_atom(&a[1], __NR_open, &path, &rdonly, NULL, NULL, NULL,
			  NULL, &v[1], 0, &a[2]);
		init_atom(&a[2], __NR_getgroups, &sixteen, &gptr, NULL, NULL,
			  NULL, NULL, &v[2], 0, NULL);
		if (run_chain(m, &a[0], &r, NULL) != PTR(&a[2])) {
			cc->failed_mode = m;
			cc->failed_step = 1;
			return 20;
		}
		if (v[1] >= 0)
			close(v[1]);
		switch (cc->what) {
		case CRED_SETRESUID:
			if (v[0] != NOBODY || v[1] != -EACCES || v[2] != 0)
				goto bad;
			break;
		case CRED_CAPSET:
			if (v[0] != 0 || v[1] != -EACCES)
				goto bad;
			break;
		case CRED_SETGROUPS:
			if (v[0] != 0 || v[1] < 0 || v[2] != 1 ||
			    gbuf[m][0] != 4321)
				goto bad;
			break;
		}
	}
	/* The caller's context, now in the spare, kept the change. */
	fd = open(cc->path, O_RDONLY);
	switch (cc->what) {
	case CRED_SETRESUID:
		if (geteuid() != NOBODY || fd >= 0 || errno != EACCES ||
		    setresuid(0, 0, 0) != -1 || errno != EPERM)
			return 30;
		break;
	case CRED_CAPSET:
		if (fd >= 0 || errno != EACCES ||
		    cap_effective(CAP_DAC_OVERRIDE) != 0)
			return 30;
		break;
	case CRED_SETGROUPS:
		if (getgroups(0, NULL) != 1)
			return 30;
		break;
	}
	return 0;
bad:
	cc->failed_mode = m;
	cc->failed_step = 2;
	return 21;
}

static void cred_case(struct __test_metadata *_metadata, int what)
{
	int status;

	cc = shared_alloc(sizeof(*cc));
	ASSERT_NE(NULL, cc);
	memset(cc, 0, sizeof(*cc));
	cc->what = what;
	status = run_child(cred_child, NULL, 60000);
	unlink(cc->path);
	for (int m = 0; m < NR_MODES; m++)
		TH_LOG("%s: geteuid %lld, open %lld, getgroups %lld",
		       mode_name[m], (long long)cc->val[m][0],
		       (long long)cc->val[m][1], (long long)cc->val[m][2]);
	ASSERT_EQ(0, status)
		TH_LOG("failed in mode %d (%s), step %d; 1x: set-up, 20: chain did not complete, 21: old credentials used, 30: the caller's context lost the change",
		       cc->failed_mode,
		       cc->failed_mode >= 0 ? mode_name[cc->failed_mode] : "-",
		       cc->failed_step);
	munmap(cc, sizeof(*cc));
}

TEST(atoms_after_setresuid_run_as_the_new_user)
{
	cred_case(_metadata, CRED_SETRESUID);
}

TEST(atoms_after_capset_lose_the_capability)
{
	cred_case(_metadata, CRED_CAPSET);
}

TEST(atoms_after_setgroups_see_the_new_groups)
{
	cred_case(_metadata, CRED_SETGROUPS);
}

/*
 * After a credential change, the spares parked with the old credentials
 * never fit; a fitting one is made, so blocking atoms hand off again
 * (at the latest from the second one on), with the new credentials.
 */
static int resume_child(void *arg)
{
	static struct test_ring r;
	struct syslet_uatom a;
	int64_t ret = SENTINEL;
	long end;

	(void)arg;
	if (ring_setup(&r, 8, 0))
		return 9;
	init_atom(&a, __NR_geteuid, NULL, NULL, NULL, NULL, NULL, NULL, &ret,
		  0, NULL);
	if (run_chain(WORKER, &a, &r, NULL) != PTR(&a) || ret != 0)
		return 10;
	usleep(300000);		/* the worker has parked as a spare */
	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		return 11;
	ret = SENTINEL;
	end = run_chain(WORKER, &a, &r, NULL);
	if (end == PTR(&a) && ret != NOBODY)
		return 12;
	if (end != PTR(&a) && end != RUN_NO_ASYNC)
		return 13;
	ret = SENTINEL;
	if (run_chain(WORKER, &a, &r, NULL) != PTR(&a))
		return 14;
	if (ret != NOBODY || geteuid() != NOBODY)
		return 15;
	return 0;
}

TEST(hand_offs_resume_after_setresuid)
{
	ASSERT_EQ(0, run_child(resume_child, NULL, 30000))
		TH_LOG("10/11: set-up, 12/15: old credentials, 13: chain, 14: no hand-off after the change, ever");
}

/*
 * A signal that an atom's system call raises on the thread running it
 * (SIGPIPE for a write to a pipe without readers, as here; SIGXFSZ) is
 * the process' to take, as after a direct call: at once, not when the
 * pool thread that ran the atom later takes over a caller's context.
 */
static atomic_int sigpipes;

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static int sigpipe_child(void *arg)
{
	static struct test_ring r;
	struct sigaction sa = { .sa_handler = on_sigpipe };
	uint64_t fd, buf = PTR("x"), one = 1;
	struct syslet_uatom a;
	int64_t ret = SENTINEL;
	int p[2], early;

	(void)arg;
	if (sigaction(SIGPIPE, &sa, NULL) || pipe(p))
		return 10;
	close(p[0]);
	fd = p[1];
	if (ring_setup(&r, 8, 0))
		return 9;
	init_atom(&a, __NR_write, &fd, &buf, &one, NULL, NULL, NULL, &ret, 0,
		  NULL);
	if (run_chain(POOL, &a, &r, NULL) != PTR(&a) || ret != -EPIPE)
		return 11;
	for (int i = 0; i < 100 && !sigpipes; i++)
		usleep(10000);
	early = sigpipes;
	/* That pool thread parks and takes over our context next. */
	init_atom(&a, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL, &ret,
		  0, NULL);
	if (run_chain(WORKER, &a, &r, NULL) != PTR(&a))
		return 13;
	usleep(100000);
	if (early == 0 && sigpipes == 1)
		return 14;	/* late, with the hand-off */
	if (early != 1 || sigpipes != 1)
		return 12;
	return 0;
}

TEST(signal_raised_by_pool_thread_atom_reaches_the_process)
{
	ASSERT_EQ(0, run_child(sigpipe_child, NULL, 30000))
		TH_LOG("11: the write, 12: not one SIGPIPE right after the atom's EPIPE, 13: hand-off, 14: the SIGPIPE came late, with a hand-off to the pool thread");
}

/*
 * A signal sent to a parked pool thread's own thread ID (tgkill on a TID
 * from /proc/PID/task) waits there, since pool threads block signals as
 * io_uring's io-wq threads do; but it is the process' signal, not that of
 * whichever caller's context the thread later takes over.  Here the
 * caller blocks SIGUSR1 and a second thread does not: the signal must
 * reach the second thread once the spare took over the caller.
 */
static atomic_int usr1_taken_by;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_taken_by = gettid();
}

static void *usr1_taker(void *arg)
{
	sigset_t usr1;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
	*(atomic_int *)arg = gettid();
	for (int i = 0; i < 1000 && !usr1_taken_by; i++)
		usleep(10000);
	return NULL;
}

static int tid_signal_child(void *arg)
{
	static struct test_ring r;
	struct sigaction sa = { .sa_handler = on_usr1 };
	atomic_int taker = 0;
	struct syslet_uatom a;
	int64_t ret = SENTINEL;
	sigset_t usr1;
	pthread_t t;
	pid_t spare;

	(void)arg;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	if (pthread_create(&t, NULL, usr1_taker, (void *)&taker))
		return 10;
	if (ring_setup(&r, 8, 4))	/* registered: makes the spare */
		return 10;
	while (!taker)
		usleep(1000);
	if (find_pool_threads(&spare, 1) != 1 ||
	    syscall(SYS_tgkill, getpid(), spare, SIGUSR1))
		return 11;
	usleep(100000);
	/*
	 * The spare takes over the submitting thread's context when the
	 * chain blocks (a second thread, which blocks SIGUSR1 too: this
	 * one, the leader of a multi-threaded process, does not hand off).
	 */
	init_atom(&a, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL, &ret,
		  0, NULL);
	if (run_chain_in_thread(WORKER, &a, &r, NULL) != PTR(&a) ||
	    ret != getpid())
		return 12;
	pthread_join(t, NULL);
	if (usr1_taken_by != taker)
		return 13;
	return 0;
}

TEST(signal_to_pool_thread_tid_reaches_the_process)
{
	ASSERT_EQ(0, run_child(tid_signal_child, NULL, 30000))
		TH_LOG("10/11: set-up, 12: the hand-off chain, 13: SIGUSR1 not taken by the thread that does not block it");
}

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
		ret[0] = ret[1] = SENTINEL;
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
			ret[0] = ret[1] = SENTINEL;
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
	static _Alignas(16) char stack[16384];
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

/* ------------------------------------------------------------- ptrace */

/*
 * A tracer that follows clone() (PTRACE_O_TRACECLONE, strace -f) is told
 * about a SYSLET_ASYNC pool thread and sees the atom's system call in
 * it; the caller shows none.
 */
TEST(ptrace_traceclone_follows_pool_thread)
{
	int status, clones = 0, pool_getppid = 0, caller_getppid = 0;
	pid_t pid = fork(), new_tid = 0, getppid_tid = 0, w;

	if (!pid) {
		static struct test_ring r;
		struct syslet_uatom atom;
		int64_t ret = 0;

		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		test_ring_init(&r, 8, 0);
		init_atom(&atom, __NR_getppid, NULL, NULL, NULL, NULL, NULL,
			  NULL, &ret, SYSLET_ASYNC, NULL);
		if (async_exec(&atom, &r.head, HSZ) != 0)
			_exit(1);
		if (async_wait(1, &r.head, &ten_seconds) != 1)
			_exit(2);
		_exit(ret == getppid() ? 0 : 3);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSTOPPED(status));
	ASSERT_EQ(0, ptrace(PTRACE_SETOPTIONS, pid, 0,
			    PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE |
			    PTRACE_O_EXITKILL));
	ASSERT_EQ(0, ptrace(PTRACE_SYSCALL, pid, 0, 0));
	for (;;) {
		struct ptrace_syscall_info info;
		int sig = 0;

		w = waitpid(-1, &status, __WALL);
		ASSERT_LT(0, w);
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			if (w == pid)
				break;
			continue;
		}
		if (!WIFSTOPPED(status))
			continue;
		if (WSTOPSIG(status) == SIGTRAP &&
		    status >> 16 == PTRACE_EVENT_CLONE) {
			unsigned long msg;

			ASSERT_EQ(0, ptrace(PTRACE_GETEVENTMSG, w, 0, &msg));
			new_tid = msg;
			clones++;
		} else if (WSTOPSIG(status) == (SIGTRAP | 0x80)) {
			ASSERT_LT(0, ptrace(PTRACE_GET_SYSCALL_INFO, w,
					    sizeof(info), &info));
			if (info.op == PTRACE_SYSCALL_INFO_ENTRY &&
			    info.entry.nr == __NR_getppid) {
				if (w == pid) {
					caller_getppid++;
				} else {
					pool_getppid++;
					getppid_tid = w;
				}
			}
		} else if (WSTOPSIG(status) != SIGSTOP) {
			sig = WSTOPSIG(status);
		}
		/* A new thread's initial SIGSTOP is swallowed (sig 0). */
		ptrace(PTRACE_SYSCALL, w, 0, sig);
	}
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(1, clones) TH_LOG("no PTRACE_EVENT_CLONE for the pool thread");
	ASSERT_EQ(1, pool_getppid) TH_LOG("the atom's getppid not seen in the pool thread");
	ASSERT_EQ(new_tid, getppid_tid);
	ASSERT_NE(pid, new_tid);
	/* Only the caller's own direct getppid() before _exit. */
	ASSERT_EQ(1, caller_getppid);
}

/*
 * A tracer may rewrite an atom's system call number at its entry stop;
 * the new number is checked against the allowlist again, so it cannot
 * make an atom run exit_group() (or setuid(), fork(), ...).
 */
TEST(tracer_cannot_rewrite_atom_into_refused_call)
{
	int status, rewritten = 0, in_async_exec = 0;
	pid_t pid = fork();

	if (!pid) {
		struct syslet_uatom atom;
		int64_t ret = SENTINEL;

		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		init_atom(&atom, __NR_getppid, NULL, NULL, NULL, NULL, NULL,
			  NULL, &ret, 0, NULL);
		if (async_exec(&atom, NULL, 0) != (long)&atom)
			_exit(1);
		_exit(ret == -ENOSYS ? 0 : 2);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSTOPPED(status));
	ASSERT_EQ(0, ptrace(PTRACE_SETOPTIONS, pid, 0,
			    PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL));
	for (;;) {
		struct ptrace_syscall_info info;

		ASSERT_EQ(0, ptrace(PTRACE_SYSCALL, pid, 0, 0));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		if (WIFEXITED(status) || WIFSIGNALED(status))
			break;
		if (!WIFSTOPPED(status) || WSTOPSIG(status) != (SIGTRAP | 0x80))
			continue;
		ASSERT_LT(0, ptrace(PTRACE_GET_SYSCALL_INFO, pid,
				    sizeof(info), &info));
		if (info.op != PTRACE_SYSCALL_INFO_ENTRY)
			continue;
		if (info.entry.nr == __NR_async_exec)
			in_async_exec++;
		if (info.entry.nr == __NR_getppid && in_async_exec == 1 &&
		    !rewritten) {
			ASSERT_EQ(0, ptrace(PTRACE_POKEUSER, pid,
					    offsetof(struct user_regs_struct, orig_rax),
					    __NR_exit_group));
			ASSERT_EQ(0, ptrace(PTRACE_POKEUSER, pid,
					    offsetof(struct user_regs_struct, rdi),
					    77));
			rewritten = 1;
		}
	}
	ASSERT_EQ(1, rewritten);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_NE(77, WEXITSTATUS(status)) TH_LOG("the atom ran exit_group()");
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("the atom did not get -ENOSYS");
}

/* ---------------------------------------------------- resource limits */

struct limit_case {
	int async, sync, errors, lost, bad_ret, max_threads;
	long first_error;
};

static struct limit_case *lc;

/*
 * Submit @n chains of one 150 ms nanosleep each: SYSLET_ASYNC ones
 * (pool threads), or cached ones that block and hand off.  Each either
 * goes asynchronous (0) or completes synchronously (its address); all
 * must complete, none lost.
 */
static void submit_sleeps(struct test_ring *r, int n, int async)
{
	static struct timespec ts = { .tv_nsec = 150000000 };
	static uint64_t tsp;
	struct syslet_uatom a[16];
	int64_t ret[16];
	int went_async = 0, reaped = 0;

	tsp = PTR(&ts);
	for (int i = 0; i < n && i < 16; i++) {
		long rc;
		int t;

		ret[i] = SENTINEL;
		init_atom(&a[i], __NR_nanosleep, &tsp, NULL, NULL, NULL, NULL,
			  NULL, &ret[i], async ? SYSLET_ASYNC : 0, NULL);
		rc = async_exec(&a[i], &r->head, HSZ);
		if (rc == 0) {
			went_async++;
		} else if (rc == (long)&a[i]) {
			lc->sync++;
		} else {
			if (!lc->errors++)
				lc->first_error = rc < 0 ? -errno : rc;
		}
		t = count_threads();
		if (t > lc->max_threads)
			lc->max_threads = t;
	}
	lc->async += went_async;
	while (reaped < went_async) {
		if (async_wait(went_async - reaped, &r->head, &ten_seconds) < 1)
			break;
		while (test_ring_reap(r))
			reaped++;
	}
	lc->lost += went_async - reaped;
	for (int i = 0; i < n && i < 16; i++)
		if (ret[i] != 0)
			lc->bad_ret++;
}

static int nproc_child(void *arg)
{
	static struct test_ring r;
	struct rlimit rl = { 3, 3 };

	(void)arg;
	/* Root is exempt from RLIMIT_NPROC: become nobody, 3 tasks max. */
	if (setrlimit(RLIMIT_NPROC, &rl) || setgroups(0, NULL) ||
	    setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		return 10;
	if (ring_setup(&r, 64, 0))
		return 9;
	submit_sleeps(&r, 8, 1);
	submit_sleeps(&r, 8, 0);
	return 0;
}

TEST(rlimit_nproc_bounds_pool_and_degrades_to_sync)
{
	lc = shared_alloc(sizeof(*lc));
	ASSERT_NE(NULL, lc);
	memset(lc, 0, sizeof(*lc));
	ASSERT_EQ(0, run_child(nproc_child, NULL, 60000));
	TH_LOG("async %d, sync %d, errors %d (first %ld), lost %d, bad results %d, threads at most %d",
	       lc->async, lc->sync, lc->errors, lc->first_error, lc->lost,
	       lc->bad_ret, lc->max_threads);
	ASSERT_EQ(0, lc->errors) TH_LOG("an error instead of synchronous completion");
	ASSERT_EQ(16, lc->async + lc->sync);
	ASSERT_EQ(0, lc->lost) TH_LOG("completions lost");
	ASSERT_EQ(0, lc->bad_ret);
	ASSERT_LE(lc->max_threads, 3) TH_LOG("RLIMIT_NPROC exceeded");
	ASSERT_LT(0, lc->sync) TH_LOG("the limit was never hit");
	ASSERT_LT(0, lc->async) TH_LOG("nothing went asynchronous");
	munmap(lc, sizeof(*lc));
}

static int max_threads_child(void *arg)
{
	static struct test_ring r;

	(void)arg;
	if (ring_setup(&r, 64, 2))
		return 9;
	submit_sleeps(&r, 8, 1);
	submit_sleeps(&r, 8, 0);
	return 0;
}

TEST(max_nr_threads_bounds_cachemiss_and_async)
{
	lc = shared_alloc(sizeof(*lc));
	ASSERT_NE(NULL, lc);
	memset(lc, 0, sizeof(*lc));
	ASSERT_EQ(0, run_child(max_threads_child, NULL, 60000));
	TH_LOG("async %d, sync %d, errors %d (first %ld), lost %d, bad results %d, threads at most %d",
	       lc->async, lc->sync, lc->errors, lc->first_error, lc->lost,
	       lc->bad_ret, lc->max_threads);
	ASSERT_EQ(0, lc->errors);
	ASSERT_EQ(16, lc->async + lc->sync);
	ASSERT_EQ(0, lc->lost);
	ASSERT_EQ(0, lc->bad_ret);
	/* The process' one thread plus at most max_nr_threads. */
	ASSERT_LE(lc->max_threads, 3);
	ASSERT_LT(0, lc->sync);
	ASSERT_LT(0, lc->async);
	munmap(lc, sizeof(*lc));
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
		ret[0] = ret[1] = ret[2] = SENTINEL;
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
		ASSERT_EQ(m == CACHED ? 0 : -ENOSYS, ret[2])
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
		ret[0] = ret[1] = SENTINEL;
		init_atom(&a[0], __NR_close_range, &lo, &hi, &none, NULL, NULL,
			  NULL, &ret[0], 0, &a[1]);
		init_atom(&a[1], __NR_close_range, &lo, &hi, &unsh, NULL, NULL,
			  NULL, &ret[1], 0, NULL);
		ASSERT_EQ(PTR(&a[1]), run_chain(m, &a[0], &r, NULL));
		ASSERT_EQ(0, ret[0]);
		ASSERT_EQ(-ENOSYS, ret[1])
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
		ret[0] = ret[2] = fd2 = SENTINEL;
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

static _Alignas(16) char bctx_stack[65536];

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
	p->euid = p->secret = p->ppid = p->fdflags = p->cwd = p->marker =
		p->status_fd = p->status_len = SENTINEL;
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
		r.head.head_ip = r.head.new_thread_ip = PTR(bctx_entry);
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
		if (m == BM_POOL && tc_ret != -ENOSYS)
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
	TH_LOG("stage %d, async_exec %ld; in flight: euid %lld open %lld ppid %lld fd %lld cwd %lld '%s' marker %lld nnp %d; fresh: euid %lld open %lld ppid %lld fd %lld cwd %lld '%s' marker %lld nnp %d; context runs %d euid %lld",
	       bs->stage, bs->exec_ret,
	       (long long)bs->inflight.euid, (long long)bs->inflight.secret,
	       (long long)bs->inflight.ppid, (long long)bs->inflight.fdflags,
	       (long long)bs->inflight.cwd, bs->inflight.cwdbuf,
	       (long long)bs->inflight.marker, status_nnp(&bs->inflight),
	       (long long)bs->fresh.euid, (long long)bs->fresh.secret,
	       (long long)bs->fresh.ppid, (long long)bs->fresh.fdflags,
	       (long long)bs->fresh.cwd, bs->fresh.cwdbuf,
	       (long long)bs->fresh.marker, status_nnp(&bs->fresh),
	       bs->ctx_runs, (long long)bs->ctx.euid);
	ASSERT_EQ(0, status)
		TH_LOG("1x: set-up; 18: did not go async; 3x: an in-flight atom ran with the old state (field); 40: a user-space context was entered with the old state; 5x: SUD / 5[4-7]: CPU timer; 60: PR_SET_PDEATHSIG fired; 7x: a fresh chain saw the old state");
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
