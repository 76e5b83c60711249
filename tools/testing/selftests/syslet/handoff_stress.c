// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrency stress of the cachemiss hand-off (issue 13).
 *
 *   handoff_stress [-s seed] [-d seconds] [-w world-seconds] [-h threads]
 *
 * For -d seconds, "worlds" run one after the other: processes whose
 * leader and -h other threads hand off in a loop (short sleeps, each
 * chain reaped before the next), while racing threads of the same
 * process create threads that call setpgid(), getpgid() and prlimit()
 * and leave by return, pthread_exit() or raw SYS_exit; arm and delete
 * per-thread CPU timers of threads that just handed off (and may exit
 * right after) and process CPU timers; fork children that setsid() and
 * exec().  Meanwhile this process attaches to random threads of the
 * world with PTRACE_SEIZE from forked tracers and freezes and thaws the
 * world's cgroup (cgroup v2, when the kernel has it).  A world ends
 * after -w seconds by exec() from a thread made during the races, by
 * exit_group(), or by all its user threads leaving with raw SYS_exit.
 *
 * It fails on any inconsistency it can see: gettid()/getpid() of the
 * leader or of another thread, a completion lost, duplicated or foreign,
 * setpgid()/prlimit()/setsid()/timer_delete() failing, exec() failing or
 * the exec'd program not being the process, a traced TID that is not the
 * traced task or a traced pool thread, a cgroup that does not freeze
 * within 10 s, a world or child that does not exit.  The kernel's side
 * (KASAN, lockdep, WARN, hung tasks) is judged from the console by make
 * check.  Prints the figures and one KTAP line.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "syslet.h"
#include "handoff.h"

#define HSZ sizeof(struct async_head_user)
#define MAX_HANDOFF_THREADS 8
#define TIMER_SLOTS 16

/* Figures, shared between the driver and its worlds. */
struct stats {
	long worlds, handoffs, cached, chains, threads_made, raw_exits,
	     pthread_exits, setpgids, prlimits, fork_execs, world_execs,
	     thread_timers, timers_deleted, proc_timers, ptrace_probes,
	     freezes, ends[3];
	int err;
	char msg[200];
};

static struct stats *st;

#define STAT(f) __atomic_add_fetch(&st->f, 1, __ATOMIC_RELAXED)

static void fail(int code, const char *fmt, ...)
	__printf(2, 3);

static void fail(int code, const char *fmt, ...)
{
	va_list ap;
	int zero = 0;

	if (!__atomic_compare_exchange_n(&st->err, &zero, code, 0,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return;
	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
	va_end(ap);
}

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static unsigned int pick(uint64_t *s, unsigned int n)
{
	return next_rand(s) % n;
}

/* ------------------------------------------------------ the world */

enum world_end { END_EXEC, END_EXIT_GROUP, END_RAW_EXITS };

static pid_t world_pid;
static atomic_int stop, exec_req, raw_end;
static atomic_int handoff_alive;
static uint64_t world_seed;
static timer_t timer_slot[TIMER_SLOTS];
static atomic_int timer_full[TIMER_SLOTS];

struct ho_thread {
	struct test_ring ring;
	struct syslet_uatom atom[8];
	struct __kernel_timespec ts[8];
	uint64_t tsp[8], zero;
	int64_t ret[8];
	uint64_t rng;
	int leader;
};

/* Run one chain; returns when it is complete (reaped), or on failure. */
static int ho_one(struct ho_thread *h, unsigned long i)
{
	struct __kernel_timespec t = { 10, 0 };
	int k = i % 8;
	timer_t timer;
	int armed = 0;
	uint64_t got;
	long rc;

	h->ts[k].tv_sec = 0;
	h->ts[k].tv_nsec = 20000 + pick(&h->rng, 400000);
	h->tsp[k] = PTR(&h->ts[k]);
	h->ret[k] = 12345;
	init_atom(&h->atom[k], __NR_nanosleep, &h->tsp[k], &h->zero, NULL,
		  NULL, NULL, NULL, &h->ret[k], 0, NULL);
	/* A timer on this thread's task, deleted by a racer after we hand off. */
	if (!pick(&h->rng, 8) &&
	    !arm_cpu_timer(CLOCK_THREAD_CPUTIME_ID, &timer, 100)) {
		armed = 1;
		STAT(thread_timers);
	}
	rc = async_exec(&h->atom[k], &h->ring.head, HSZ);
	STAT(chains);
	if (identity_check(world_pid, h->leader)) {
		fail(2, "%s: gettid %d getpid %ld after async_exec",
		     h->leader ? "leader" : "thread", raw_gettid(),
		     syscall(SYS_getpid));
		return -1;
	}
	if (armed) {
		int j = pick(&h->rng, TIMER_SLOTS);

		if (!__atomic_exchange_n(&timer_full[j], 1, __ATOMIC_ACQUIRE))
			timer_slot[j] = timer, __atomic_store_n(&timer_full[j], 2,
							     __ATOMIC_RELEASE);
		else if (timer_delete(timer))
			fail(3, "timer_delete of our own timer: %m");
	}
	if (rc == (long)PTR(&h->atom[k])) {
		STAT(cached);
	} else if (rc == 0) {
		STAT(handoffs);
		/*
		 * async_wait() returns 0 at once when nothing is in flight:
		 * the completion is lost.  (Or after 10 s: a freeze may last
		 * that long, so give it a minute.)
		 */
		for (int zero = 0;;) {
			long n;

			got = test_ring_reap(&h->ring);
			if (got)
				break;
			n = async_wait(1, &h->ring.head, &t);
			if (n < 0 && errno != EINTR) {
				fail(4, "async_wait: %m");
				return -1;
			}
			if (!n && ++zero == 6) {
				fail(4, "completion of atom %d lost", k);
				return -1;
			}
		}
		if (got != PTR(&h->atom[k])) {
			fail(5, "foreign or duplicated completion %#llx, want atom %d",
			     (unsigned long long)got, k);
			return -1;
		}
	} else {
		fail(6, "async_exec: %ld", rc);
		return -1;
	}
	if (h->ret[k] != 0 && h->ret[k] != -EINTR) {
		fail(7, "nanosleep atom returned %lld", (long long)h->ret[k]);
		return -1;
	}
	if (test_ring_reap(&h->ring)) {
		fail(5, "a completion came twice");
		return -1;
	}
	return 0;
}

static void *ho_thread_fn(void *arg)
{
	struct ho_thread *h = arg;

	h->ring.head.completion_ring = PTR(h->ring.slots);
	h->ring.head.ring_size_bytes = 8 * sizeof(uint64_t);
	h->ring.head.max_nr_threads = 4;
	for (unsigned long i = 0; !stop; i++) {
		if (ho_one(h, i))
			break;
		/* Now and then leave behind glibc's back, just after a hand-off. */
		if (!h->leader && !pick(&h->rng, 64)) {
			__atomic_sub_fetch(&handoff_alive, 1, __ATOMIC_SEQ_CST);
			STAT(raw_exits);
			raw_thread_exit(0);
		}
	}
	if (h->leader)
		return NULL;
	__atomic_sub_fetch(&handoff_alive, 1, __ATOMIC_SEQ_CST);
	if (raw_end) {
		STAT(raw_exits);
		raw_thread_exit(0);
	}
	return NULL;
}

static void start_ho_thread(uint64_t seed)
{
	struct ho_thread *h = calloc(1, sizeof(*h));

	h->rng = seed | 1;
	__atomic_add_fetch(&handoff_alive, 1, __ATOMIC_SEQ_CST);
	if (start_detached(ho_thread_fn, h))
		__atomic_sub_fetch(&handoff_alive, 1, __ATOMIC_SEQ_CST);
}

/* A thread made while the leader hands off: what it may do with it. */
static void *probe_thread(void *arg)
{
	uint64_t s = (uintptr_t)arg | 1;
	timer_t t;
	int rc = group_leader_ops(world_pid);

	if (rc)
		fail(rc, "new thread: %s", rc == 42 ? "setpgid(0, 0) failed" :
		     rc == 43 ? "getpgid() is not the PID" :
		     rc >= 44 ? "prlimit() failed" : "getpid()/gettid() wrong");
	STAT(setpgids);
	STAT(prlimits);
	if (__atomic_exchange_n(&exec_req, 0, __ATOMIC_SEQ_CST)) {
		STAT(world_execs);
		fflush(stdout);
		handoff_exec_self();
		fail(8, "exec from a new thread: %m");
	}
	if (!pick(&s, 2) && !arm_cpu_timer(CLOCK_THREAD_CPUTIME_ID, &t, 100)) {
		STAT(thread_timers);
		if (!pick(&s, 2) && timer_delete(t))
			fail(3, "timer_delete: %m");
	}
	switch (pick(&s, 3)) {
	case 0:
		return NULL;
	case 1:
		STAT(pthread_exits);
		pthread_exit(NULL);
	default:
		STAT(raw_exits);
		raw_thread_exit(0);
	}
}

/* fork(): the child is a new process with no syslet state. */
static void fork_setsid_exec(void)
{
	pid_t pid = fork();
	int rc;

	if (pid < 0)
		return;
	if (!pid) {
		if (setsid() != getpid())
			_exit(20);
		handoff_exec_self();
		_exit(21);
	}
	STAT(fork_execs);
	rc = wait_exit(pid, 30000);
	if (rc)
		fail(9, "forked child: setsid/exec status %d", rc);
}

static void *racer(void *arg)
{
	uint64_t s = (uintptr_t)arg | 1;
	struct rlimit rl;
	timer_t t;

	while (!stop || exec_req) {
		switch (pick(&s, 16)) {
		case 0 ... 6:
			if (!start_detached(probe_thread,
					    (void *)(uintptr_t)next_rand(&s)))
				STAT(threads_made);
			break;
		case 7:
			if (!arm_cpu_timer(CLOCK_PROCESS_CPUTIME_ID, &t, 100)) {
				STAT(proc_timers);
				usleep(pick(&s, 2000));
				if (timer_delete(t))
					fail(3, "timer_delete (process timer): %m");
			}
			break;
		case 8 ... 10:
			for (int j = 0; j < TIMER_SLOTS; j++) {
				int two = 2;

				if (__atomic_compare_exchange_n(&timer_full[j], &two, 3, 0,
								__ATOMIC_ACQUIRE,
								__ATOMIC_RELAXED)) {
					if (timer_delete(timer_slot[j]))
						fail(3, "timer_delete after a hand-off: %m");
					STAT(timers_deleted);
					__atomic_store_n(&timer_full[j], 0, __ATOMIC_RELEASE);
				}
			}
			break;
		case 11:
			if (!pick(&s, 4))
				fork_setsid_exec();
			break;
		case 12:
			if (prlimit(world_pid, RLIMIT_NOFILE, NULL, &rl) ||
			    prlimit(0, RLIMIT_NOFILE, &rl, NULL))
				fail(44, "racing thread: prlimit: %m");
			STAT(prlimits);
			break;
		case 13:
			if (setpgid(0, 0))
				fail(42, "racing thread: setpgid(0, 0): %m");
			STAT(setpgids);
			break;
		default:
			if (handoff_alive < MAX_HANDOFF_THREADS / 2 && !stop)
				start_ho_thread(next_rand(&s));
			else
				usleep(pick(&s, 1000));
			break;
		}
		if (raw_end && stop)
			raw_thread_exit(0);
	}
	return NULL;
}

static int world(uint64_t seed, int secs, int nr_ho, int go)
{
	struct ho_thread *lead = calloc(1, sizeof(*lead));
	uint64_t s = seed | 1;
	enum world_end how = pick(&s, 3);
	struct timespec t0, now;
	pthread_t t;
	char c;

	if (read(go, &c, 1) != 1)
		return 30;
	world_pid = getpid();
	world_seed = seed;
	signal(SIGURG, SIG_IGN);
	if (ring_setup(&lead->ring, 8, 4))
		return 31;
	lead->leader = 1;
	lead->rng = next_rand(&s) | 1;
	for (int i = 0; i < nr_ho; i++)
		start_ho_thread(next_rand(&s));
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t, NULL, racer, (void *)(uintptr_t)next_rand(&s)))
			return 31;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned long i = 0;; i++) {
		if (ho_one(lead, i))
			return 32;
		if (st->err)
			return 33;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= secs)
			break;
	}
	__atomic_add_fetch(&st->ends[how], 1, __ATOMIC_RELAXED);
	switch (how) {
	case END_EXEC:
		/* A thread made from now on exec()s; we hand off meanwhile. */
		exec_req = 1;
		for (unsigned long i = 0;; i++) {
			if (ho_one(lead, i))
				return 32;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - t0.tv_sec >= secs + 30) {
				fail(8, "no thread exec()ed in 30 s");
				return 34;
			}
		}
	case END_EXIT_GROUP:
		stop = 1;
		for (int i = 0; i < 20000 && handoff_alive; i++)
			usleep(1000);
		if (handoff_alive) {
			fail(10, "%d hand-off threads did not finish in 20 s",
			     handoff_alive);
			return 35;
		}
		return st->err ? 36 : 0;
	default:
		/* Every user thread leaves by raw SYS_exit, the leader too. */
		raw_end = 1;
		stop = 1;
		raw_thread_exit(0);
	}
}

/* ------------------------------------------------------- the driver */

/* A random thread of @pid, or 0. */
static pid_t random_thread(pid_t pid, uint64_t *s)
{
	pid_t tids[256];
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)) && n < 256)
		if (de->d_name[0] != '.')
			tids[n++] = atoi(de->d_name);
	closedir(d);
	return n ? tids[pick(s, n)] : 0;
}

static void tell_threads(pid_t pid)
{
	char path[300], line[256];
	struct dirent *de;
	DIR *d;

	printf("# world %d did not exit; its threads:\n", pid);
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stack", pid,
			 de->d_name);
		printf("#  thread %s:\n", de->d_name);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			printf("#    %s", line);
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	unsigned long seed = time(NULL);
	int secs = 150, wsecs = 4, nr_ho = 2, opt, failed = 0, have_cg;
	char cg[128], name[64];
	struct timespec t0, now;
	uint64_t s;

	while ((opt = getopt(argc, argv, "s:d:w:h:")) != -1) {
		switch (opt) {
		case 's':
			seed = strtoul(optarg, NULL, 0);
			break;
		case 'd':
			secs = atoi(optarg);
			break;
		case 'w':
			wsecs = atoi(optarg);
			break;
		case 'h':
			nr_ho = atoi(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: %s [-s seed] [-d secs] [-w world-secs] [-h threads]\n",
				argv[0]);
			return 2;
		}
	}
	if (nr_ho > MAX_HANDOFF_THREADS - 1)
		nr_ho = MAX_HANDOFF_THREADS - 1;
	s = seed * 0x9E3779B97F4A7C15ULL | 1;
	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (st == MAP_FAILED)
		return 2;
	snprintf(name, sizeof(name), "syslet-stress-%d", getpid());
	have_cg = !cg_make(name, cg, sizeof(cg));
	printf("# handoff_stress -s %lu -d %d -w %d -h %d%s\n", seed, secs,
	       wsecs, nr_ho, have_cg ? "" : " (no cgroup2: no freezer)");
	fflush(stdout);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		uint64_t wseed = next_rand(&s);
		struct timespec ws;
		int go[2], status = 0, done = 0;
		pid_t pid;

		if (pipe(go))
			return 2;
		fflush(stdout);
		pid = fork();
		if (!pid)
			_exit(world(wseed, wsecs, nr_ho, go[0]));
		close(go[0]);
		st->worlds++;
		if (have_cg && cg_move(cg, pid))
			have_cg = 0;
		if (write(go[1], "g", 1) != 1)
			return 2;
		close(go[1]);
		clock_gettime(CLOCK_MONOTONIC, &ws);
		while (!done) {
			pid_t got = waitpid(pid, &status, WNOHANG);

			if (got == pid)
				break;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - ws.tv_sec > wsecs + 60) {
				tell_threads(pid);
				fail(11, "world did not exit within %d s", wsecs + 60);
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
				break;
			}
			switch (pick(&s, 4)) {
			case 0: {
				pid_t tid = random_thread(pid, &s);
				long execs = st->world_execs;
				int rc = tid ? ptrace_probe(pid, tid, pick(&s, 3000)) : 1;

				st->ptrace_probes++;
				/* exec() gives the leader's TID to the exec'ing thread */
				if (rc == 50 && execs != st->world_execs)
					rc = 0;
				if (rc == 50)
					fail(12, "ptrace: TID %d is not the traced task", tid);
				else if (rc >= 60)
					fail(12, "ptrace: %d pool threads traced (TID %d)",
					     rc - 60, tid);
				else if (rc < 0)
					fail(12, "ptrace: the tracer hung");
				break;
			}
			case 1:
				/* without a cgroup to freeze: a pause */
				if (!have_cg) {
					usleep(50000 + pick(&s, 100000));
					break;
				}
				usleep(pick(&s, 100000));
				if (cg_freeze(cg, 1, 10000) < 0)
					fail(13, "cgroup not frozen within 10 s");
				st->freezes++;
				usleep(pick(&s, 20000));
				if (cg_freeze(cg, 0, 10000) < 0)
					fail(13, "cgroup not thawed within 10 s");
				break;
			default:
				usleep(50000 + pick(&s, 100000));
				break;
			}
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			if (!st->err)
				fail(14, "world ended with status %#x", status);
			failed = 1;
		}
		if (st->err) {
			printf("# world %ld (seed %#llx): error %d: %s\n",
			       st->worlds, (unsigned long long)wseed, st->err,
			       st->msg);
			failed = 1;
			st->err = 0;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - t0.tv_sec < secs);
	if (have_cg)
		rmdir(cg);

	printf("# %ld s, %ld worlds (ended by exec %ld, exit_group %ld, raw exits %ld)\n",
	       (long)(now.tv_sec - t0.tv_sec), st->worlds, st->ends[END_EXEC],
	       st->ends[END_EXIT_GROUP], st->ends[END_RAW_EXITS]);
	printf("# %ld chains: %ld hand-offs, %ld cached\n", st->chains,
	       st->handoffs, st->cached);
	printf("# races: %ld threads made (%ld pthread_exit, %ld raw SYS_exit)\n",
	       st->threads_made, st->pthread_exits, st->raw_exits);
	printf("# races: %ld setpgid, %ld prlimit, %ld fork+setsid+exec\n",
	       st->setpgids, st->prlimits, st->fork_execs);
	printf("# races: %ld exec from a racing thread\n", st->world_execs);
	printf("# races: %ld thread CPU timers (%ld deleted by another thread after a hand-off)\n",
	       st->thread_timers, st->timers_deleted);
	printf("# races: %ld process CPU timers, %ld ptrace attaches, %ld freezes\n",
	       st->proc_timers, st->ptrace_probes, st->freezes);
	printf("%sok 1 handoff_stress.seed_%lu\n", failed ? "not " : "", seed);
	return failed;
}
