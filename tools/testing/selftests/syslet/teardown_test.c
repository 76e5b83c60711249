// SPDX-License-Identifier: GPL-2.0
/*
 * Syslet selftests: teardown under fire.
 *
 * A child process gets chains blocked in cachemiss workers and in
 * SYSLET_ASYNC pool threads -- asleep, in a pipe read, in disk I/O, or
 * with hand-offs under way all the time -- and then is killed, calls
 * exit_group(), execs, or tries to unregister its ring; many times over:
 * the full grid of four kinds of work in flight by four ways to go.
 * Every time the child must end promptly with the status it asked for.
 * After each scenario the kernel's task_struct, signal and sighand
 * objects (/proc/slabinfo) are back where they started, counted over the
 * threads and processes that exist: no thread, no task and no process
 * state is leaked.
 *
 * TEARDOWN_REPS (environment) sets the repetitions per scenario; the
 * disk scenarios need a block device, TEARDOWN_DISK (default /dev/vda),
 * which make check gives the guest as a throttled virtio disk.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "syslet.h"

/* Each scenario is TEARDOWN_REPS rounds of seconds each under TCG. */
#undef TEST_TIMEOUT_DEFAULT
#define TEST_TIMEOUT_DEFAULT 900

#define HSZ		sizeof(struct async_head_user)
#define NR_BLOCKED	8	/* chains blocked per child */
#define DISK_CHAIN	16	/* O_DIRECT reads per disk chain */
#define FOREVER_READS	24	/* pipe reads beside the hand-offs */
#define MAX_CHAINS	FOREVER_READS

enum block_kind { BLOCK_SLEEP, BLOCK_PIPE, BLOCK_DISK, BLOCK_HANDOFFS };
enum teardown { BY_SIGKILL, BY_EXIT_GROUP, BY_EXEC, BY_UNREGISTER };

static const char *const kind_name[] = {
	"sleep", "pipe", "disk", "hand-offs under way",
};

/*
 * One blocked chain: its atoms and their argument values.  A disk chain
 * is DISK_CHAIN reads, then a pipe read, so that it stays in flight until
 * released, however fast the disk turns out to be.
 */
struct blocked {
	struct syslet_uatom atom[DISK_CHAIN + 1];
	uint64_t arg[4], pipe_arg[3], zero;
	struct __kernel_timespec ts;
	int64_t ret;
	int pipe[2];
	char *buf;
};

static const char *disk_path(void)
{
	const char *p = getenv("TEARDOWN_DISK");

	return p ? p : "/dev/vda";
}

static int reps(void)
{
	const char *r = getenv("TEARDOWN_REPS");

	return r ? atoi(r) : 10;
}

/*
 * Chain @i of the child: odd ones SYSLET_ASYNC (a pool thread runs it),
 * even ones tried in the caller (the block hands the caller off).
 */
static int blocked_init(struct blocked *b, int i, enum block_kind kind,
			int disk_fd, long sleep_ms)
{
	uint64_t flags = (i & 1) ? SYSLET_ASYNC : 0;

	memset(b, 0, sizeof(*b));
	b->ret = -12345;
	switch (kind) {
	case BLOCK_SLEEP:
		b->ts.tv_sec = sleep_ms / 1000;
		b->ts.tv_nsec = sleep_ms % 1000 * 1000000;
		b->arg[0] = PTR(&b->ts);
		init_atom(&b->atom[0], __NR_nanosleep, &b->arg[0], &b->zero,
			  NULL, NULL, NULL, NULL, &b->ret, flags, NULL);
		return 0;
	case BLOCK_PIPE:
		if (pipe(b->pipe))
			return -1;
		b->arg[0] = b->pipe[0];
		b->arg[1] = PTR(&b->arg[3]);
		b->arg[2] = 1;
		init_atom(&b->atom[0], __NR_read, &b->arg[0], &b->arg[1],
			  &b->arg[2], NULL, NULL, NULL, &b->ret, flags, NULL);
		return 0;
	case BLOCK_DISK:
		/* Uncached reads of the disk, one after the other. */
		if (posix_memalign((void **)&b->buf, 4096, 4096) ||
		    pipe(b->pipe))
			return -1;
		b->arg[0] = disk_fd;
		b->arg[1] = PTR(b->buf);
		b->arg[2] = 4096;
		b->arg[3] = (uint64_t)i * DISK_CHAIN * 4096;
		b->pipe_arg[0] = b->pipe[0];
		b->pipe_arg[1] = PTR(b->buf);
		b->pipe_arg[2] = 1;
		init_atom(&b->atom[DISK_CHAIN], __NR_read, &b->pipe_arg[0],
			  &b->pipe_arg[1], &b->pipe_arg[2], NULL, NULL, NULL,
			  &b->ret, 0, NULL);
		for (int j = DISK_CHAIN - 1; j >= 0; j--)
			init_atom(&b->atom[j], __NR_pread64, &b->arg[0],
				  &b->arg[1], &b->arg[2], &b->arg[3], NULL,
				  NULL, &b->ret, j ? 0 : flags, &b->atom[j + 1]);
		return 0;
	case BLOCK_HANDOFFS:
		break;		/* not one chain: see start_handoffs() */
	}
	return -1;
}

/* Let every blocked chain finish (unregister scenario). */
static int blocked_release(struct blocked *b, enum block_kind kind)
{
	if (kind != BLOCK_SLEEP && write(b->pipe[1], "x", 1) != 1)
		return -1;
	return 0;
}

/* The chain's last atom: what the ring must give back for it. */
static uint64_t blocked_last(struct blocked *b, enum block_kind kind)
{
	return PTR(&b->atom[kind == BLOCK_DISK ? DISK_CHAIN : 0]);
}

/*
 * Reap @n completions of @r, each of which must be the last atom of one
 * of the chains, exactly once.  Return: 0 or a failure code.
 */
static int reap_all(struct test_ring *r, struct blocked *b, int n,
		    enum block_kind kind)
{
	char seen[MAX_CHAINS] = { 0 };
	int reaped = 0;

	while (reaped < n) {
		uint64_t atom = test_ring_reap(r);
		int i;

		if (!atom) {
			if (async_wait(1, &r->head, NULL) < 0)
				return 30;
			continue;
		}
		for (i = 0; i < n; i++)
			if (atom == blocked_last(&b[i], kind))
				break;
		if (i == n || seen[i]++)
			return 31;	/* unknown or reaped twice */
		if (b[i].ret < 0)
			return 32;
		reaped++;
	}
	return 0;
}

/*
 * Hand-offs under way.  A parked spare is woken to take over the context
 * of a thread whose atom blocked, and the group's SIGKILL (exit, or an
 * exec()'s de_thread()) can reach it in between.  Threads here keep that
 * window open all the time: HANDOFF_THREADS threads each submit 100 us
 * sleeps in their own context, one after the other, and one thread gives
 * parked spares SYSLET_ASYNC pipe reads that only the teardown can end.
 */
#define HANDOFF_THREADS	3

struct handoff_thread {
	struct test_ring ring;
	struct syslet_uatom atom;
	struct __kernel_timespec ts;
	uint64_t ts_ptr, zero;
	int64_t ret;
};

static void *handoff_loop(void *arg)
{
	struct handoff_thread *t = arg;

	t->ts.tv_nsec = 100000;
	t->ts_ptr = PTR(&t->ts);
	test_ring_init(&t->ring, 64, 4);
	for (;;) {
		init_atom(&t->atom, __NR_nanosleep, &t->ts_ptr, &t->zero, NULL,
			  NULL, NULL, NULL, &t->ret, 0, NULL);
		if (async_exec(&t->atom, &t->ring.head, HSZ))
			continue;	/* completed here */
		/* The atom is ours again once its completion is reaped. */
		while (!test_ring_reap(&t->ring))
			async_wait(1, &t->ring.head, NULL);
	}
	return NULL;
}

/* The child's ring and chains (the hand-off threads keep their own). */
static struct test_ring child_ring;
static struct blocked child_chains[MAX_CHAINS];

/* SYSLET_ASYNC pipe reads, one every 2 ms, that only the teardown ends. */
static void *forever_reads(void *arg)
{
	(void)arg;
	for (int i = 0; i < FOREVER_READS; i++) {
		if (blocked_init(&child_chains[i], 1, BLOCK_PIPE, -1, 0))
			_exit(35);
		if (async_exec(&child_chains[i].atom[0], &child_ring.head, HSZ))
			_exit(22);
		usleep(2000);
	}
	return NULL;
}

/* Return: the thread submitting the pipe reads, to wait for. */
static pthread_t start_handoffs(void)
{
	static struct handoff_thread t[HANDOFF_THREADS];
	pthread_t tid, reader;

	/* Registered: spares are kept from the first block on. */
	if (ring_setup(&child_ring, 64, FOREVER_READS))
		_exit(19);
	for (int i = 0; i < HANDOFF_THREADS; i++)
		if (pthread_create(&tid, NULL, handoff_loop, &t[i]))
			_exit(36);
	if (pthread_create(&reader, NULL, forever_reads, NULL))
		_exit(36);
	return reader;
}

/*
 * The child: NR_BLOCKED chains blocked, tell the parent, then wait for
 * its word and tear down as told.  Exit codes other than the scenario's
 * own tell what went wrong.
 */
static void child(enum block_kind kind, enum teardown how, int ready,
		  int go)
{
	struct test_ring *r = &child_ring;
	struct blocked *b = child_chains;
	/* the chains to reap, and what they are blocked in */
	enum block_kind chains = kind;
	int nr = NR_BLOCKED;
	pthread_t reader;
	/*
	 * Unregister: the chains must still sleep when it is tried (-EBUSY),
	 * also on a loaded host where a guest second is slow; then they end
	 * by themselves.
	 */
	long sleep_ms = how == BY_UNREGISTER ? 3000 : 60000;
	int disk_fd = -1;
	char c;

	if (kind == BLOCK_HANDOFFS) {
		reader = start_handoffs();
		if (write(ready, "r", 1) != 1 || read(go, &c, 1) != 1)
			_exit(23);
		if (how == BY_UNREGISTER) {
			/* every pipe read in flight before unregistering */
			if (pthread_join(reader, NULL))
				_exit(36);
			chains = BLOCK_PIPE;
			nr = FOREVER_READS;
		}
		goto teardown;
	}
	if (kind == BLOCK_DISK) {
		disk_fd = open(disk_path(), O_RDONLY | O_DIRECT);
		if (disk_fd < 0)
			_exit(20);
	}
	/* Registered: the very first block hands off too. */
	if (ring_setup(r, 16, NR_BLOCKED))
		_exit(19);
	for (int i = 0; i < NR_BLOCKED; i++) {
		if (blocked_init(&b[i], i, kind, disk_fd, sleep_ms))
			_exit(21);
		/* 0: went asynchronous, blocked in a worker or pool thread */
		if (async_exec(&b[i].atom[0], &r->head, HSZ) != 0)
			_exit(22);
	}
	if (write(ready, "r", 1) != 1 || read(go, &c, 1) != 1)
		_exit(23);

teardown:
	switch (how) {
	case BY_SIGKILL:
		pause();
		_exit(24);
	case BY_EXIT_GROUP:
		syscall(SYS_exit_group, 7);
		_exit(25);
	case BY_EXEC:
		execl("/bin/busybox", "sh", "-c", "exit 5", NULL);
		_exit(26);
	case BY_UNREGISTER:
		/* Completions still to come: the ring stays. */
		if (async_unregister(&r->head, HSZ) != -1 || errno != EBUSY)
			_exit(27);
		for (int i = 0; i < nr; i++)
			if (blocked_release(&b[i], chains))
				_exit(28);
		c = reap_all(r, b, nr, chains);
		if (c)
			_exit(c);
		/*
		 * All reaped, but the last worker may not have left the
		 * ring's in-flight count yet (it posts first): as the
		 * header says, async_wait() until nothing is in flight.
		 */
		if (async_wait(1, &r->head, NULL) != 0)
			_exit(37);
		/* Now it goes, and is unknown afterwards. */
		if (async_unregister(&r->head, HSZ))
			_exit(29);
		if (async_wait(1, &r->head, NULL) != 0)
			_exit(33);
		_exit(0);
	}
	_exit(34);
}

/* One round: fork, block, tear down; the child's exit status or -1. */
static int one_round(enum block_kind kind, enum teardown how)
{
	int ready[2], go[2], status;
	char c = 0;
	pid_t pid;

	if (pipe(ready) || pipe(go))
		return -2;
	pid = fork();
	if (!pid) {
		close(ready[0]);
		close(go[1]);
		child(kind, how, ready[1], go[0]);
	}
	close(ready[1]);
	close(go[0]);
	if (read(ready[0], &c, 1) != 1) {
		status = wait_exit(pid, 10000);
		goto out;
	}
	if (kind == BLOCK_HANDOFFS) {
		/* Hand-offs go on all the time: strike at varying moments. */
		static unsigned int round;

		usleep(1000 * (round++ * 7 % 40));
	} else {
		/* SYSLET_ASYNC chains' pool threads may still be starting. */
		for (int i = 0; i < 1000 &&
		     count_threads_of(pid) < 1 + NR_BLOCKED; i++)
			usleep(1000);
	}
	if (how == BY_SIGKILL)
		kill(pid, SIGKILL);
	else if (write(go[1], "g", 1) != 1)
		kill(pid, SIGKILL);
	status = wait_exit(pid, 20000);
out:
	close(ready[0]);
	close(go[1]);
	return status;
}

/*
 * Objects in use in a slab cache, or -1 if it is not listed.  SLUB counts
 * objects cached per CPU as in use: have it flush those back first.
 */
static long slab_objects(const char *cache)
{
	char line[512], name[64];
	long active = -1, n;
	FILE *f;

	snprintf(line, sizeof(line), "/sys/kernel/slab/%s/shrink", cache);
	f = fopen(line, "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	f = fopen("/proc/slabinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld", name, &n) == 2 &&
		    !strcmp(name, cache)) {
			active = n;
			break;
		}
	fclose(f);
	return active;
}

static const char *const caches[] = {
	"task_struct", "signal_cache", "sighand_cache",
};

/* Processes in the system (kernel threads each count as one). */
static int count_processes(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc");
	int n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] >= '0' && de->d_name[0] <= '9';
	if (d)
		closedir(d);
	return n;
}

/*
 * Kernel worker threads come and go on their own, each with a task,
 * signal and sighand of its own: what must come back is the number of
 * objects over the threads and processes that exist.
 */
struct census {
	int threads, processes;
	long objs[ARRAY_SIZE(caches)];
};

static void take_census(struct census *c)
{
	c->threads = count_system_threads();
	c->processes = count_processes();
	for (size_t i = 0; i < ARRAY_SIZE(caches); i++)
		c->objs[i] = slab_objects(caches[i]);
}

static int census_equal(struct census *a, struct census *b)
{
	return a->objs[0] - a->threads == b->objs[0] - b->threads &&
	       a->objs[1] - a->processes == b->objs[1] - b->processes &&
	       a->objs[2] - a->processes == b->objs[2] - b->processes;
}

/*
 * Tasks are freed after an RCU grace period, by a worker: a census is
 * only taken once it has stood still for a while.
 */
static void take_settled_census(struct census *c)
{
	struct census prev;

	take_census(&prev);
	for (int still = 0, tries = 0; still < 5 && tries < 100; tries++) {
		usleep(50000);
		take_census(c);
		still = census_equal(c, &prev) ? still + 1 : 0;
		prev = *c;
	}
}

/* Back where we started?  (Allowing the last round's frees some time.) */
static int census_settles(struct census *before, struct census *after)
{
	for (int tries = 0; tries < 100; tries++) {
		take_census(after);
		if (census_equal(before, after))
			return 1;
		usleep(50000);
	}
	return 0;
}

static void run_scenario(struct __test_metadata *_metadata,
			 enum block_kind kind, enum teardown how, int expect)
{
	static const char *const how_name[] = {
		"SIGKILL", "exit_group", "exec", "async_unregister",
	};
	const char *during = kind == BLOCK_HANDOFFS ? "with" :
						      "chains blocked in";
	struct census before, after;
	/* Hand-off races are short: give them more chances. */
	int n = reps() * (kind == BLOCK_HANDOFFS ? 4 : 1), ok = 0;

	/* A first round outside the census: first-use allocations. */
	ASSERT_EQ(expect, one_round(kind, how));
	take_settled_census(&before);
	ASSERT_LT(0, before.objs[0])
		TH_LOG("/proc/slabinfo lists no task_struct cache");
	for (int i = 0; i < n; i++) {
		int status = one_round(kind, how);

		EXPECT_EQ(expect, status)
			TH_LOG("%s, %s %s, round %d: status %d (-1: hung)",
			       how_name[how], during, kind_name[kind], i,
			       status);
		ok += status == expect;
	}
	EXPECT_TRUE(census_settles(&before, &after)) {
		TH_LOG("threads %d -> %d, processes %d -> %d",
		       before.threads, after.threads, before.processes,
		       after.processes);
		TH_LOG("task_struct %ld -> %ld, signal %ld -> %ld, sighand %ld -> %ld",
		       before.objs[0], after.objs[0], before.objs[1],
		       after.objs[1], before.objs[2], after.objs[2]);
	}
	TH_LOG("%s, %s %s: %d of %d rounds ended as expected",
	       how_name[how], during, kind_name[kind], ok, n);
}

/*
 * The teardown grid: what the child has in flight (one variant each) by
 * how the child goes (one test each).  Every round must end as told,
 * and the threads, processes and task slabs must come back to where
 * they were.
 *
 * The hand-offs variant is the regression test for "a spare that took
 * the group's SIGKILL in the pool then took over a context ran on in
 * user space": the exec()ing thread (de_thread()) or the parent's wait()
 * waited for it forever.  Found by syslet_fuzz -e.  Its ring holds the
 * SYSLET_ASYNC pipe reads; the hand-off threads keep rings of their own.
 */
FIXTURE(inflight) {
	int unused;
};

FIXTURE_VARIANT(inflight) {
	enum block_kind kind;
};

FIXTURE_VARIANT_ADD(inflight, sleep) {
	.kind = BLOCK_SLEEP,
};

FIXTURE_VARIANT_ADD(inflight, pipe) {
	.kind = BLOCK_PIPE,
};

FIXTURE_VARIANT_ADD(inflight, disk) {
	.kind = BLOCK_DISK,
};

FIXTURE_VARIANT_ADD(inflight, handoffs) {
	.kind = BLOCK_HANDOFFS,
};

FIXTURE_SETUP(inflight)
{
	(void)self;
	if (variant->kind == BLOCK_DISK && access(disk_path(), R_OK))
		SKIP(return, "no disk at %s (make check attaches one)",
		     disk_path());
}

FIXTURE_TEARDOWN(inflight)
{
	(void)self;
}

TEST_F(inflight, sigkill_ends_the_process_and_frees_its_tasks)
{
	run_scenario(_metadata, variant->kind, BY_SIGKILL, 128 + SIGKILL);
}

TEST_F(inflight, exit_group_ends_the_process_and_frees_its_tasks)
{
	run_scenario(_metadata, variant->kind, BY_EXIT_GROUP, 7);
}

TEST_F(inflight, exec_ends_the_chains_and_frees_their_tasks)
{
	run_scenario(_metadata, variant->kind, BY_EXEC, 5);
}

/* Refused with EBUSY while chains run; the ring goes once all are reaped. */
TEST_F(inflight, unregister_waits_for_every_completion)
{
	run_scenario(_metadata, variant->kind, BY_UNREGISTER, 0);
}

TEST_HARNESS_MAIN
