/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by handoff_test, handoff_stress and syslet_fuzz -r: the
 * operations a hostile thread of the same process (or a tracer, or the
 * cgroup freezer) can do to a thread while its atom blocks and a spare
 * takes over its thread ID.  Include after syslet.h.
 */
#ifndef SYSLET_HANDOFF_H
#define SYSLET_HANDOFF_H

#include <pthread.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "kselftest.h"

/*
 * "PROG --handoff-exec-check PID": what a thread exec()s.  The new
 * program must be process PID, with gettid() == getpid(), and exits 0
 * (1 otherwise) before main() runs.
 */
#define HANDOFF_EXEC_ARG "--handoff-exec-check"

__attribute__((constructor))
static void handoff_exec_check(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], HANDOFF_EXEC_ARG))
		_exit(getpid() == atoi(argv[2]) &&
		      syscall(SYS_gettid) == getpid() ? 0 : 1);
}

/* exec() this program in its check mode; returns only on failure. */
static inline void handoff_exec_self(void)
{
	char pid[16];

	snprintf(pid, sizeof(pid), "%d", getpid());
	execl("/proc/self/exe", "handoff-exec", HANDOFF_EXEC_ARG, pid,
	      (char *)NULL);
}

static inline pid_t raw_gettid(void)
{
	return syscall(SYS_gettid);
}

/* Leave this thread only, behind glibc's back (no exit_group at the end). */
static inline void __noreturn raw_thread_exit(int code)
{
	for (;;)
		syscall(SYS_exit, code);
}

/* Start a detached thread; 0 or an errno. */
static inline int start_detached(void *(*fn)(void *), void *arg)
{
	pthread_attr_t at;
	pthread_t t;
	int err;

	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 128 * 1024);
	err = pthread_create(&t, &at, fn, arg);
	pthread_attr_destroy(&at);
	return err;
}

/*
 * The identity checks every thread of a process that hands off can make
 * at any time: 0 or a failure code (>= 40).  @pid: the process' PID;
 * @leader: the caller is the thread that started the process.
 */
static inline int identity_check(pid_t pid, int leader)
{
	int is_leader = raw_gettid() == pid;

	if (syscall(SYS_getpid) != pid)
		return 40;
	if (leader != is_leader)
		return 41;
	return 0;
}

/*
 * What a freshly created thread of a process whose leader hands off may
 * do with the leader: setpgid(0, 0) (always allowed: the caller is not a
 * session leader), getpgid(), prlimit() on itself and on the process.
 * Return 0 or a failure code (>= 40).
 */
static inline int group_leader_ops(pid_t pid)
{
	struct rlimit old, got;
	int rc = identity_check(pid, 0);

	if (rc)
		return rc;
	if (setpgid(0, 0))
		return 42;		/* -EINVAL: a stale group_leader */
	if (getpgid(0) != pid)
		return 43;
	if (prlimit(0, RLIMIT_NOFILE, NULL, &old) ||
	    prlimit(0, RLIMIT_NOFILE, &old, &got) ||
	    prlimit(pid, RLIMIT_NOFILE, NULL, &got))
		return 44;
	if (got.rlim_cur != old.rlim_cur || got.rlim_max != old.rlim_max)
		return 45;
	return 0;
}

/* Burn about @ms of this thread's CPU time. */
static inline void burn_cpu_ms(int ms)
{
	struct timespec a, b;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	do {
		/* An empty asm the compiler cannot see through. */
		for (int i = 0; i < 10000; i++)
			asm volatile("" : : "r"(i));
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	} while ((b.tv_sec - a.tv_sec) * 1000 +
		 (b.tv_nsec - a.tv_nsec) / 1000000 < ms);
}

/*
 * A CPU-time timer on @clock (CLOCK_THREAD_CPUTIME_ID: this thread's
 * task; CLOCK_PROCESS_CPUTIME_ID) armed @secs ahead, so that it is
 * queued on a task but never fires.  Its signal is SIGURG (ignored by
 * default).  0 or -1.
 */
static inline int arm_cpu_timer(clockid_t clock, timer_t *t, int secs)
{
	struct sigevent sev = {
		.sigev_notify = SIGEV_SIGNAL,
		.sigev_signo = SIGURG,
	};
	struct itimerspec its = { .it_value.tv_sec = secs };

	if (timer_create(clock, &sev, t))
		return -1;
	return timer_settime(*t, 0, &its, NULL);
}

/* TracerPid of thread @tid of process @pid: >= 0, or -1 if it is gone. */
static inline int tracer_of(pid_t pid, pid_t tid)
{
	char line[256];
	int tracer = -1;
	FILE *f;

	snprintf(line, sizeof(line), "/proc/%d/task/%d/status", pid, tid);
	f = fopen(line, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "TracerPid: %d", &tracer) == 1)
			break;
	fclose(f);
	return tracer;
}

/* Is thread @tid of @pid a pool thread (named syslet-PID)? */
static inline int is_pool_thread_of(pid_t pid, pid_t tid)
{
	char path[128], comm[64] = "", want[32];
	int f, n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
	f = open(path, O_RDONLY);
	if (f < 0)
		return 0;
	n = read(f, comm, sizeof(comm) - 1);
	close(f);
	snprintf(want, sizeof(want), "syslet-%d\n", pid);
	return n > 0 && !strcmp(comm, want);
}

/*
 * Run in a tracer process (a child of ours, not of @pid): every pool
 * thread of @pid is untraced by us.  0, or 60 + the number traced.
 */
static inline int no_pool_thread_traced_by_me(pid_t pid, pid_t except)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int bad = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		pid_t tid = atoi(de->d_name);

		/*
		 * Not the TID we attached to: a spare that has just taken
		 * it over is named syslet-PID until it takes the caller's
		 * name too.  A pool thread wrongly traced has another TID.
		 */
		if (tid > 0 && tid != except && is_pool_thread_of(pid, tid) &&
		    tracer_of(pid, tid) == getpid()) {
			fprintf(stderr,
				"# tracer %d: pool thread %d of %d is traced (attached to %d)\n",
				getpid(), tid, pid, except);
			bad++;
		}
	}
	closedir(d);
	return bad ? 60 + (bad > 9 ? 9 : bad) : 0;
}

/*
 * A tracer: PTRACE_SEIZE thread @tid of @pid after @delay_us, let a
 * hand-off in flight settle, then check that the thread that has @tid
 * is the one we trace and that no pool thread is; exit (which detaches).
 * Returns the tracer's verdict: 0 fine, 1 not attached (the thread is
 * gone or a pool thread: not an error), 50 @tid not traced by us, 60+ pool threads traced,
 * -1 the tracer hung.
 */
static inline int ptrace_probe(pid_t pid, pid_t tid, int delay_us)
{
	pid_t tracer = fork();
	int rc;

	if (tracer < 0)
		return 0;
	if (!tracer) {
		if (delay_us)
			usleep(delay_us);
		/*
		 * A pool thread's TID stays a pool thread's (and a user
		 * context's TID a user context's): we attach only to the
		 * latter, so a traced pool thread is always wrong.
		 */
		if (is_pool_thread_of(pid, tid) ||
		    ptrace(PTRACE_SEIZE, tid, 0, 0))
			_exit(1);
		usleep(20000);
		rc = tracer_of(pid, tid);
		if (rc >= 0 && rc != getpid()) {
			fprintf(stderr, "# tracer %d: TID %d of %d has TracerPid %d\n",
				getpid(), tid, pid, rc);
			_exit(50);
		}
		_exit(no_pool_thread_traced_by_me(pid, tid));
	}
	return wait_exit(tracer, 20000);
}

/* ------------------------------------------------ cgroup v2 freezer */

#define CGROUP_ROOT "/sys/fs/cgroup"

/* Does the kernel have cgroup v2 (CONFIG_CGROUPS)? */
static inline int have_cgroup2(void)
{
	char line[128];
	FILE *f = fopen("/proc/filesystems", "r");
	int found = 0;

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "\tcgroup2\n"))
			found = 1;
	if (f)
		fclose(f);
	return found;
}

/*
 * Mount cgroup2 if it is not there yet and make the group @name: 0,
 * or -1 with errno (ENODEV: the kernel has no cgroup2).
 */
static inline int cg_make(const char *name, char *path, size_t len)
{
	struct stat st;

	if (!have_cgroup2()) {
		errno = ENODEV;
		return -1;
	}
	if (stat(CGROUP_ROOT "/cgroup.procs", &st)) {
		mkdir(CGROUP_ROOT, 0755);
		if (mount("cgroup2", CGROUP_ROOT, "cgroup2", 0, NULL))
			return -1;
	}
	snprintf(path, len, CGROUP_ROOT "/%s", name);
	if (mkdir(path, 0755) && errno != EEXIST)
		return -1;
	return 0;
}

static inline int cg_write(const char *cg, const char *file, const char *val)
{
	char path[256];
	int f, n;

	snprintf(path, sizeof(path), "%s/%s", cg, file);
	f = open(path, O_WRONLY);
	if (f < 0)
		return -1;
	n = write(f, val, strlen(val));
	close(f);
	return n == (int)strlen(val) ? 0 : -1;
}

static inline int cg_move(const char *cg, pid_t pid)
{
	char v[16];

	snprintf(v, sizeof(v), "%d", pid);
	return cg_write(cg, "cgroup.procs", v);
}

/* "frozen" of cgroup.events: 0, 1, or -1. */
static inline int cg_frozen(const char *cg)
{
	char path[256], line[64];
	int v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.events", cg);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "frozen %d", &v) == 1)
			break;
	fclose(f);
	return v;
}

/*
 * Freeze (1) or thaw (0) @cg and wait up to @ms for cgroup.events to
 * say so: the milliseconds it took, or -1 if it did not.
 */
static inline int cg_freeze(const char *cg, int freeze, int ms)
{
	struct timespec t0, t;
	int el;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (cg_write(cg, "cgroup.freeze", freeze ? "1" : "0"))
		return -1;
	for (;;) {
		int frozen = cg_frozen(cg);

		clock_gettime(CLOCK_MONOTONIC, &t);
		el = (t.tv_sec - t0.tv_sec) * 1000 +
		     (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (frozen == freeze)
			return el;
		if (el > ms)
			return -1;
		usleep(5000);
	}
}

#endif
