// SPDX-License-Identifier: GPL-2.0
/*
 * Syslet selftests: security boundaries.
 *
 * An atom's system call is a system call of the process that submitted
 * it, wherever it runs: in the caller's context (cached), in a pool
 * thread (SYSLET_ASYNC) or in a cachemiss worker (after a hand-off).
 * So seccomp filters, credentials, signals, ptrace and resource limits
 * apply to it as to a direct call.  What an atom can reach, and the
 * boundaries a pool thread must not cross, are in isolation_test.c.
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

#include "security.h"

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
	sc->ret_denied = SENTINEL;
	sc->ret_next = SENTINEL;
	sc->later_ret = SENTINEL;
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
	TH_LOG("%s: status %d, stage %d, async_exec %ld",
	       mode_name[sc->mode], self->status, sc->stage, sc->exec_ret);
	TH_LOG("chain ended on %#lx (atoms %p %p)",
	       sc->end, &sc->atoms[0], &sc->atoms[1]);
	TH_LOG("denied atom %lld, next atom %lld, SIGSYS x%d",
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
	ASSERT_EQ(-no_such_syscall, sc->ret_denied);
	ASSERT_EQ(-1, sc->direct);
	ASSERT_EQ(no_such_syscall, sc->direct_errno);
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
 * the process may run: fail closed, no signal, the no-such-call errno,
 * as documented.
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
		ASSERT_EQ(-no_such_syscall, sc->ret_denied);
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
	sc->ret_denied = SENTINEL;
	sc->ret_next = SENTINEL;
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
	ASSERT_EQ(0, run_child(spare_before_filter_child, NULL, 30000)) {
		TH_LOG("10: no hand-off, 11: filter, 12: chain");
		TH_LOG("13/15: the caller lost its filter");
		TH_LOG("14: no hand-off after the filter, ever");
	}
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
 * Each setid-family call, as an atom, in each mode: the no-such-call
 * errno, the chain ends there, and no credential changed anywhere.
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
			EXPECT_EQ(-no_such_syscall, ret)
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
		v[0] = SENTINEL;
		v[1] = SENTINEL;
		v[2] = SENTINEL;
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
	ASSERT_EQ(0, status) {
		TH_LOG("failed in mode %d (%s), step %d", cc->failed_mode,
		       cc->failed_mode >= 0 ? mode_name[cc->failed_mode] : "-",
		       cc->failed_step);
		TH_LOG("1x: set-up, 20: chain did not complete");
		TH_LOG("21: old credentials used");
		TH_LOG("30: the caller's context lost the change");
	}
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
	ASSERT_EQ(0, run_child(resume_child, NULL, 30000)) {
		TH_LOG("10/11: set-up, 12/15: old credentials, 13: chain");
		TH_LOG("14: no hand-off after the change, ever");
	}
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
	ASSERT_EQ(0, run_child(sigpipe_child, NULL, 30000)) {
		TH_LOG("11: the write, 13: hand-off");
		TH_LOG("12: not one SIGPIPE right after the atom's EPIPE");
		TH_LOG("14: the SIGPIPE came late, with a hand-off to the pool thread");
	}
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
	ASSERT_EQ(0, run_child(tid_signal_child, NULL, 30000)) {
		TH_LOG("10/11: set-up, 12: the hand-off chain");
		TH_LOG("13: SIGUSR1 not taken by the thread that does not block it");
	}
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
		_exit(ret == -no_such_syscall ? 0 : 2);
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
	ASSERT_EQ(0, WEXITSTATUS(status))
		TH_LOG("the atom did not get the no-such-call errno");
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
	TH_LOG("async %d, sync %d, errors %d (first %ld)",
	       lc->async, lc->sync, lc->errors, lc->first_error);
	TH_LOG("lost %d, bad results %d, threads at most %d",
	       lc->lost, lc->bad_ret, lc->max_threads);
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
	TH_LOG("async %d, sync %d, errors %d (first %ld)",
	       lc->async, lc->sync, lc->errors, lc->first_error);
	TH_LOG("lost %d, bad results %d, threads at most %d",
	       lc->lost, lc->bad_ret, lc->max_threads);
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

TEST_HARNESS_MAIN
