// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded fuzzer for syslets: random chains with random flags, allowed
 * and refused system call numbers, hostile pointers (NULL, unmapped,
 * kernel, pointing into the atom itself), cyclic chains, rings that are
 * unmapped while workers run, atoms that another thread rewrites while
 * they run, from several threads of several processes at once, with
 * fork, exec, exit, exit_group and SIGKILL interleaved.
 *
 *   syslet_fuzz [-s seed] [-p processes] [-t threads] [-n iterations] [-e] [-r]
 *
 * -e: every process exec()s at a moment of its own while its threads
 * run chains and hand off (de_thread() meets workers in every state).
 * -r: races against the hand-off (issue 13) in every process: its
 * leader hands off in a loop while a racing thread creates threads that
 * call setpgid(), getpgid(), prlimit() and arm per-thread CPU timers and
 * leave by return, pthread_exit() or raw SYS_exit; arms and deletes
 * process CPU timers; forks children that setsid() and exec(); and
 * PTRACE_SEIZEs random threads of the process from forked tracers.  A
 * process that ends by exit() then leaves with all its user threads at
 * once (raw SYS_exit).  Unscribbled processes fail on a wrong
 * getpid()/gettid(), a failing setpgid()/prlimit()/timer_delete(), an
 * exec that does not work, or a traced pool thread.
 *
 * Every system call an atom may run here is bounded in time (no atom can
 * block forever), so a run ends.  It passes when every process it
 * started ended as it was told to; the kernel's side (no splat, no hang,
 * no leak) is judged from the console by the caller.  Prints one KTAP
 * result per process (kselftest.h) and the counts.
 *
 * Rewritten atoms may run any system call with any argument the atoms'
 * own bytes make up: those processes run under a seccomp filter (which
 * atoms obey like any system call) that refuses signals to other
 * processes and calls that change the system, in a session of their
 * own, and they pass if they end at all, however they end.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include "kselftest.h"
#include "syslet.h"
#include "handoff.h"

#define MAX_ATOMS	6
#define NR_RINGS	3

struct fuzz_thread {
	uint64_t rng;
	unsigned long iterations, atoms, async, cached, errors, forks, hung;
};

/* Shared by the threads of one process. */
static struct async_head_user *heads[NR_RINGS];
static uint64_t *rings[NR_RINGS];
static size_t ring_bytes = 64 * sizeof(uint64_t);
static int pipe_fds[2];
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;

/* Atoms that the scribbler thread rewrites while chains run from them. */
#define SCRIBBLE_ATOMS	(4096 / sizeof(struct syslet_uatom))
static struct syslet_uatom *scribble;
static uint64_t *scribble_vals;		/* argument values, a page apart */
static atomic_int scribbling;

/* -r: racing the hand-off (see the top of the file). */
static atomic_int race_stop, race_raw_exit, race_err, threads_done;
static unsigned long race_ops;

static uint64_t next_rand(uint64_t *s)
{
	/* xorshift64*: reproducible from the seed */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static unsigned int pick(uint64_t *s, unsigned int n)
{
	return next_rand(s) % n;
}

/* A pointer a hostile caller might pass, or a good one (@good). */
static uint64_t hostile_ptr(uint64_t *s, void *good, void *self)
{
	switch (pick(s, 10)) {
	case 0:
		return 0;
	case 1:
		return PTR(KERNEL_ADDR) + pick(s, 4096);
	case 2:
		return 0x1000;			/* unmapped low page */
	case 3:
		return PTR(good) + 1;		/* misaligned */
	case 4:
		return PTR(self);		/* into the atom itself */
	case 5:
		return ~0ULL - pick(s, 64);
	default:
		return PTR(good);
	}
}

/* Argument values: each atom owns a small table its pointers point to. */
struct atom_args {
	uint64_t v[6];
	struct timespec ts;
	struct stat st;
	char buf[64];
	struct pollfd pfd;
};

/* Fill @a with a system call whose blocking is bounded, or a refused one. */
static void random_call(uint64_t *s, struct syslet_uatom *a,
			struct atom_args *args)
{
	static const long refused[] = {
		__NR_fork, __NR_vfork, __NR_clone, __NR_execve, __NR_exit,
		__NR_exit_group, __NR_rt_sigreturn, __NR_arch_prctl,
		__NR_setuid, __NR_rt_sigprocmask, __NR_async_exec,
		__NR_io_uring_setup, __NR_seccomp, __NR_prctl,
	};
	int i;

	memset(args, 0, sizeof(*args));
	for (i = 0; i < 6; i++)
		a->arg_ptr[i] = PTR(&args->v[i]);
	switch (pick(s, 12)) {
	case 0:
		a->nr = __NR_getpid;
		a->arg_ptr[0] = 0;
		break;
	case 1:	/* a short sleep: blocks, so it may hand off */
		a->nr = __NR_nanosleep;
		args->ts.tv_nsec = pick(s, 2000000);
		args->v[0] = PTR(&args->ts);
		args->v[1] = 0;
		a->arg_ptr[2] = 0;
		break;
	case 2:	/* a pipe with data or without: O_NONBLOCK, bounded */
		a->nr = __NR_read;
		args->v[0] = pipe_fds[0];
		args->v[1] = PTR(args->buf);
		args->v[2] = pick(s, sizeof(args->buf));
		a->arg_ptr[3] = 0;
		break;
	case 3:
		a->nr = __NR_write;
		args->v[0] = pipe_fds[1];
		args->v[1] = PTR("fuzz");
		args->v[2] = 4;
		a->arg_ptr[3] = 0;
		break;
	case 4:
		a->nr = __NR_stat;
		args->v[0] = pick(s, 2) ? PTR("/proc/self/stat") :
					  hostile_ptr(s, "/", a);
		args->v[1] = pick(s, 4) ? PTR(&args->st) :
					  hostile_ptr(s, &args->st, a);
		a->arg_ptr[2] = 0;
		break;
	case 5:	/* poll with a timeout: blocks, bounded */
		a->nr = __NR_poll;
		args->pfd.fd = pipe_fds[0];
		args->pfd.events = POLLIN;
		args->v[0] = PTR(&args->pfd);
		args->v[1] = 1;
		args->v[2] = pick(s, 3);
		a->arg_ptr[3] = 0;
		break;
	case 6:
		a->nr = __NR_close;
		args->v[0] = -1;
		a->arg_ptr[1] = 0;
		break;
	case 7:
		a->nr = refused[pick(s, ARRAY_SIZE(refused))];
		break;
	case 8:	/* a number past the table, or negative */
		a->nr = pick(s, 2) ? 470 + pick(s, 2000) : -(long)pick(s, 5);
		break;
	case 9:	/* hostile argument pointers */
		a->nr = __NR_getppid;
		for (i = 0; i < 6; i++)
			a->arg_ptr[i] = hostile_ptr(s, &args->v[i], a);
		break;
	case 10:
		a->nr = __NR_umem_add;
		args->v[0] = hostile_ptr(s, &args->v[5], a);
		args->v[1] = 1;
		a->arg_ptr[2] = 0;
		break;
	default:
		a->nr = __NR_getppid;
		a->arg_ptr[0] = 0;
		break;
	}
}

/* Calls a scribbled atom is set to; its bytes may make it any call. */
static const long scribble_calls[] = {
	__NR_getpid, __NR_getppid, __NR_stat, __NR_umem_add, __NR_nanosleep,
	__NR_close, __NR_read, __NR_write,
};

static uint64_t scribble_ptr(uint64_t *s, struct syslet_uatom *a)
{
	switch (pick(s, 4)) {
	case 0:
		return PTR(&scribble[pick(s, SCRIBBLE_ATOMS)]);
	case 1:
		return PTR(&scribble_vals[pick(s, 512)]);
	default:
		return hostile_ptr(s, &scribble_vals[pick(s, 512)], a);
	}
}

/* Rewrite one field of one shared atom, as a racing user thread would. */
static void scribble_once(uint64_t *s)
{
	struct syslet_uatom *a = &scribble[pick(s, SCRIBBLE_ATOMS)];

	switch (pick(s, 5)) {
	case 0:
		a->nr = scribble_calls[pick(s, ARRAY_SIZE(scribble_calls))];
		break;
	case 1:
		a->flags = next_rand(s) & (pick(s, 4) ? 0xff : ~0ULL);
		break;
	case 2:
		a->next = pick(s, 3) ? scribble_ptr(s, a) : 0;
		break;
	case 3:
		a->ret_ptr = scribble_ptr(s, a);
		break;
	default:
		a->arg_ptr[pick(s, 6)] = pick(s, 3) ? scribble_ptr(s, a) : 0;
		break;
	}
}

/*
 * End every cycle: each atom is read when the chain gets to it, so a
 * chain running around the page stops at the next atom it reads.
 */
static void scribble_heal(void)
{
	for (unsigned int i = 0; i < SCRIBBLE_ATOMS; i++) {
		__atomic_store_n(&scribble[i].next, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&scribble[i].nr, __NR_getpid,
				 __ATOMIC_RELAXED);
	}
}

static void *scribbler(void *arg)
{
	uint64_t s = (uintptr_t)arg | 1;

	while (scribbling) {
		for (int i = 0; i < 200; i++)
			scribble_once(&s);
		usleep(200);
		if (!pick(&s, 8)) {
			scribble_heal();
			usleep(2000);
		}
	}
	scribble_heal();
	return NULL;
}

/*
 * Scribbled atoms run whatever their bytes say.  Keep them to this
 * process: no signals to others, nothing that changes the system.
 */
static int confine(void)
{
	static const int deny[] = {
		__NR_kill, __NR_tkill, __NR_tgkill, __NR_rt_sigqueueinfo,
		__NR_rt_tgsigqueueinfo, __NR_pidfd_send_signal, __NR_reboot,
		__NR_kexec_load, __NR_kexec_file_load, __NR_mount,
		__NR_umount2, __NR_pivot_root, __NR_chroot, __NR_swapon,
		__NR_swapoff, __NR_init_module, __NR_finit_module,
		__NR_delete_module, __NR_unlink, __NR_unlinkat, __NR_rmdir,
		__NR_rename, __NR_renameat, __NR_renameat2, __NR_truncate,
		__NR_sethostname, __NR_setdomainname, __NR_settimeofday,
		__NR_clock_settime, __NR_adjtimex, __NR_clock_adjtime,
		__NR_syslog, __NR_acct, __NR_quotactl, __NR_ioperm, __NR_iopl,
		__NR_setpriority, __NR_sched_setscheduler, __NR_sched_setattr,
		__NR_ptrace, __NR_process_vm_writev, __NR_mknod, __NR_mknodat,
		__NR_alarm, __NR_setitimer,
	};
	struct sock_filter f[3 + ARRAY_SIZE(deny)];
	struct sock_fprog prog = { ARRAY_SIZE(f), f };
	unsigned int i, n = ARRAY_SIZE(deny);

	f[0] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					    offsetof(struct seccomp_data, nr));
	for (i = 0; i < n; i++)
		f[1 + i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ |
							BPF_K, deny[i],
							n - i, 0);
	f[1 + n] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
						SECCOMP_RET_ALLOW);
	f[2 + n] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
						SECCOMP_RET_ERRNO | EPERM);
	if (setsid() < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* A chain of the shared, scribbled atoms: any entry point will do. */
static long scribble_chain(struct fuzz_thread *ft, void *head, size_t size)
{
	struct syslet_uatom *a = &scribble[pick(&ft->rng, SCRIBBLE_ATOMS)];

	ft->atoms++;
	return async_exec(a, head, size);
}

static void reap(int r)
{
	unsigned int n = ring_bytes / sizeof(uint64_t);
	struct async_head_user *h = heads[r];
	uint64_t *ring;

	pthread_mutex_lock(&ring_lock);
	ring = rings[r];	/* under the lock: another thread unmaps it */
	while (ring && __atomic_load_n(&ring[h->user_ring_idx % n],
				       __ATOMIC_ACQUIRE)) {
		ring[h->user_ring_idx % n] = 0;
		h->user_ring_idx++;
	}
	pthread_mutex_unlock(&ring_lock);
}

static void one_chain(struct fuzz_thread *ft);

/*
 * fork() while this process' chains run in workers and pool threads: the
 * child has none of them, and runs a few chains of its own on the rings
 * it inherited (its own, by their addresses in its own memory).
 */
static void fork_during_chains(struct fuzz_thread *ft)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return;
	if (!pid) {
		struct fuzz_thread child = { .rng = ft->rng ^ 0xf0f0 };

		/* Only this thread came along: no lock holder, no scribbler. */
		pthread_mutex_init(&ring_lock, NULL);
		scribble = NULL;

		for (int i = 0; i < 4; i++)
			one_chain(&child);
		_exit(0);
	}
	ft->forks++;
	/* A child killed by a scribbled atom is fine; a hung one is not. */
	st = wait_exit(pid, 60000);
	if (st < 0)
		ft->hung++;
}

static void one_chain(struct fuzz_thread *ft)
{
	/*
	 * Atoms and arguments live as long as the process: workers may
	 * still run them after async_exec() returned.
	 */
	struct syslet_uatom *atoms = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct atom_args *args = malloc(MAX_ATOMS * sizeof(*args));
	static const uint64_t flag_bits[] = {
		SYSLET_ASYNC, SYSLET_SYNC, SYSLET_NO_COMPLETE,
		SYSLET_STOP_ON_NONZERO, SYSLET_STOP_ON_ZERO,
		SYSLET_STOP_ON_NEGATIVE, SYSLET_STOP_ON_NON_POSITIVE,
		SYSLET_SKIP_TO_NEXT_ON_STOP, 0x100, 1ULL << 63,
	};
	uint64_t *s = &ft->rng;
	int n = 1 + pick(s, MAX_ATOMS), r = pick(s, NR_RINGS), i;
	int64_t *rets = (int64_t *)(atoms + MAX_ATOMS);
	void *head = heads[r];
	size_t size = sizeof(struct async_head_user);
	long ret;

	if (atoms == MAP_FAILED || !args) {
		ft->errors++;
		return;
	}
	for (i = 0; i < n; i++) {
		struct syslet_uatom *a = &atoms[i];

		memset(a, 0, sizeof(*a));
		random_call(s, a, &args[i]);
		for (int b = 0; b < 3; b++)
			if (!pick(s, 3))
				a->flags |= flag_bits[pick(s, 10)];
		a->ret_ptr = pick(s, 8) ? PTR(&rets[i]) :
					  hostile_ptr(s, &rets[i], a);
		if (i + 1 < n)
			a->next = PTR(&atoms[i + 1]);
		/* A cycle, stopped by close(-1) failing. */
		if (i + 1 == n && n > 1 && !pick(s, 6)) {
			a->next = PTR(&atoms[0]);
			atoms[0].nr = __NR_close;
			atoms[0].arg_ptr[0] = PTR(&args[0].v[0]);
			atoms[0].arg_ptr[1] = 0;
			args[0].v[0] = -1;
			atoms[0].flags = SYSLET_STOP_ON_NEGATIVE;
		}
	}
	switch (pick(s, 10)) {
	case 0:
		head = NULL;
		break;
	case 1:
		head = (void *)hostile_ptr(s, heads[r], atoms);
		break;
	case 2:
		size = pick(s, 2 * 4096);
		break;
	}
	if (scribble && !pick(s, 4))
		ret = scribble_chain(ft, head, size);
	else
		ret = async_exec(pick(s, 16) ? &atoms[0] :
				 (void *)hostile_ptr(s, &atoms[0], atoms),
				 head, size);
	ft->iterations++;
	ft->atoms += n;
	if (ret == 0)
		ft->async++;
	else if (ret > 0)
		ft->cached++;
	else
		ft->errors++;

	if (!pick(s, 4)) {
		struct __kernel_timespec t = { 0, pick(s, 3000000) };

		async_wait(pick(s, 3), heads[r], &t);
	}
	reap(r);
	if (!pick(s, 50))	/* EBUSY while in flight, else gone */
		async_unregister(heads[r], sizeof(struct async_head_user));
	if (!pick(s, 200)) {	/* pull a ring away under the workers */
		pthread_mutex_lock(&ring_lock);
		munmap(rings[r], ring_bytes);
		rings[r] = NULL;
		pthread_mutex_unlock(&ring_lock);
	}
	if (!pick(s, 150))
		fork_during_chains(ft);
}

static void *fuzz_thread(void *arg)
{
	struct fuzz_thread *ft = arg;
	unsigned long n = ft->iterations;

	ft->iterations = 0;
	while (ft->iterations < n)
		one_chain(ft);
	__atomic_add_fetch(&threads_done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

enum fuzz_end { END_EXIT_GROUP, END_EXIT, END_SIGKILL, END_EXEC, NR_ENDS };

static const char *const end_name[] = {
	[END_EXIT_GROUP] = "exit_group",
	[END_EXIT] = "exit",
	[END_SIGKILL] = "sigkill",
	[END_EXEC] = "exec",
};

static void race_fail(int code)
{
	/* Scribbled processes are in a session of their own: no setpgid. */
	if (!scribble && !race_err)
		race_err = code;
}

static void *race_probe(void *arg)
{
	uint64_t s = (uintptr_t)arg | 1;
	timer_t t;
	int rc = scribble ? identity_check(getpid(), 0) :
			    group_leader_ops(getpid());

	if (rc)
		race_fail(rc);
	if (!pick(&s, 2) && !arm_cpu_timer(CLOCK_THREAD_CPUTIME_ID, &t, 100) &&
	    !pick(&s, 2) && timer_delete(t))
		race_fail(46);
	switch (pick(&s, 3)) {
	case 0:
		return NULL;
	case 1:
		pthread_exit(NULL);
	default:
		raw_thread_exit(0);
	}
}

/* A random thread of this process other than the caller, or 0. */
static pid_t random_own_thread(uint64_t *s)
{
	pid_t tids[64];
	struct dirent *de;
	DIR *d = opendir("/proc/self/task");
	int n = 0;

	while (d && (de = readdir(d)) && n < 64) {
		pid_t tid = atoi(de->d_name);

		if (tid > 0 && tid != raw_gettid())
			tids[n++] = tid;
	}
	if (d)
		closedir(d);
	return n ? tids[pick(s, n)] : 0;
}

static void *racer(void *arg)
{
	uint64_t s = (uintptr_t)arg | 1;
	timer_t t;

	while (!race_stop) {
		switch (pick(&s, 12)) {
		case 0 ... 5:
			if (start_detached(race_probe, (void *)(uintptr_t)next_rand(&s)))
				usleep(1000);
			break;
		case 6:
			if (!arm_cpu_timer(CLOCK_PROCESS_CPUTIME_ID, &t, 100)) {
				usleep(pick(&s, 1000));
				if (timer_delete(t))
					race_fail(46);
			}
			break;
		case 7:
			if (!pick(&s, 4)) {
				pid_t tid = random_own_thread(&s);
				int rc = tid ? ptrace_probe(getpid(), tid,
							    pick(&s, 2000)) : 0;

				if (rc == 50 || rc >= 60 || rc < 0)
					race_fail(50);
			}
			break;
		case 8:
			if (!pick(&s, 8)) {
				pid_t pid = fork();

				if (!pid) {
					if (setsid() != getpid())
						_exit(20);
					handoff_exec_self();
					_exit(21);
				}
				if (pid > 0 && wait_exit(pid, 30000))
					race_fail(47);
			}
			break;
		default:
			usleep(pick(&s, 500));
			break;
		}
		race_ops++;
	}
	if (race_raw_exit)
		raw_thread_exit(0);
	return NULL;
}

/* The leader hands off in a loop until the fuzz threads are done. */
static void leader_handoffs(int nr_threads)
{
	static struct test_ring r;
	struct __kernel_timespec ts = { 0, 100000 };
	uint64_t tsp = PTR(&ts), zero = 0;
	struct syslet_uatom a;
	int64_t ret;

	if (ring_setup(&r, 8, 4) && !scribble) {
		race_fail(48);
		return;
	}
	while (threads_done < nr_threads) {
		long rc;

		init_atom(&a, __NR_nanosleep, &tsp, &zero, NULL, NULL, NULL,
			  NULL, &ret, 0, NULL);
		rc = async_exec(&a, &r.head, sizeof(r.head));
		if (identity_check(getpid(), 1))
			race_fail(41);
		if (rc == 0)
			while (!test_ring_reap(&r))
				if (async_wait(1, &r.head, NULL) < 0)
					break;
	}
}

static int setup_scribble(uint64_t seed, pthread_t *tid)
{
	scribble = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (scribble == MAP_FAILED || confine())
		return -1;
	/*
	 * Scribbled atoms may write anything anywhere: not to the test's
	 * output.  Our own lines go out through a descriptor of their own.
	 */
	fflush(stdout);
	if (dup2(STDOUT_FILENO, 77) != 77 || !freopen("/dev/null", "w", stderr) ||
	    dup2(STDERR_FILENO, STDOUT_FILENO) != STDOUT_FILENO)
		return -1;
	stdout = fdopen(77, "w");
	if (!stdout)
		return -1;
	scribble_vals = (uint64_t *)((char *)scribble + 4096);
	scribble_heal();
	scribbling = 1;
	return pthread_create(tid, NULL, scribbler, (void *)(uintptr_t)seed);
}

/* One process: its rings, its threads; ends the way it is told to. */
static int fuzz_process(uint64_t seed, int nr_threads, unsigned long n,
			enum fuzz_end how, int scribbled, int racing)
{
	struct fuzz_thread *ft = calloc(nr_threads, sizeof(*ft));
	pthread_t *tid = calloc(nr_threads, sizeof(*tid)), scribble_tid, racer_tid;
	unsigned long totals[7] = { 0 };
	int i;

	/* A hang is a failure, not a stuck run. */
	alarm(120);
	if (pipe2(pipe_fds, O_NONBLOCK))
		return 2;
	if (scribbled && setup_scribble(seed, &scribble_tid))
		return 2;
	for (i = 0; i < NR_RINGS; i++) {
		heads[i] = calloc(1, 4096);
		rings[i] = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		heads[i]->completion_ring = PTR(rings[i]);
		heads[i]->ring_size_bytes = ring_bytes;
		heads[i]->max_nr_threads = 1 + i * 8;
		if (i == 0)
			async_register(heads[i], sizeof(*heads[i]));
	}
	for (i = 0; i < nr_threads; i++) {
		ft[i].rng = seed * 0x9E3779B97F4A7C15ULL + i + 1;
		ft[i].iterations = n;
		pthread_create(&tid[i], NULL, fuzz_thread, &ft[i]);
	}
	if (racing) {
		signal(SIGURG, SIG_IGN);
		pthread_create(&racer_tid, NULL, racer,
			       (void *)(uintptr_t)(seed * 31 + 7));
	}
	if (how == END_EXEC) {
		/* exec while the chains run: de_thread() meets them all. */
		usleep(1000 * (seed * 53 % 400));
		execl("/bin/busybox", "true", NULL);
		return 4;
	}
	if (racing)
		leader_handoffs(nr_threads);
	for (i = 0; i < nr_threads; i++) {
		pthread_join(tid[i], NULL);
		totals[0] += ft[i].iterations;
		totals[1] += ft[i].atoms;
		totals[2] += ft[i].async;
		totals[3] += ft[i].cached;
		totals[4] += ft[i].errors;
		totals[5] += ft[i].forks;
		totals[6] += ft[i].hung;
	}
	if (scribbled) {
		scribbling = 0;
		pthread_join(scribble_tid, NULL);
	}
	ksft_print_msg("seed %llu%s: %lu chains, %lu atoms: %lu async, %lu cached\n",
		       (unsigned long long)seed, scribbled ? " (scribbled)" : "",
		       totals[0], totals[1], totals[2], totals[3]);
	ksft_print_msg("seed %llu: %lu errors; %lu forks\n",
		       (unsigned long long)seed, totals[4], totals[5]);
	fflush(stdout);
	if (racing) {
		if (how == END_EXIT) {
			/* Every user thread leaves at once: the racer and us. */
			race_raw_exit = 1;
			race_stop = 1;
			if (race_err)
				syscall(__NR_exit, 5);
			syscall(__NR_exit, 0);
		}
		race_stop = 1;
		pthread_join(racer_tid, NULL);
		ksft_print_msg("seed %llu: %lu racing operations\n",
			       (unsigned long long)seed, race_ops);
		if (race_err)
			ksft_print_msg("seed %llu: race check %d failed\n",
				       (unsigned long long)seed, race_err);
		fflush(stdout);
		if (race_err)
			return 5;
	}
	if (totals[6]) {
		ksft_print_msg("seed %llu: %lu forked children hung\n",
			       (unsigned long long)seed, totals[6]);
		return 3;
	}
	switch (how) {
	case END_EXIT_GROUP:
		return 0;		/* exit_group with workers about */
	case END_EXIT:
		syscall(__NR_exit, 0);	/* only the main thread leaves */
		return 0;
	default:
		pause();		/* the parent kills us */
		return 0;
	}
}

/* Print one file of /proc, each line behind "# ". */
static void tell_file(const char *path)
{
	char line[256];
	FILE *f = fopen(path, "r");

	while (f && fgets(line, sizeof(line), f))
		ksft_print_msg("  %s", line);
	if (f)
		fclose(f);
}

/*
 * Wait for @pid.  One that is still there after 100 s is about to be
 * taken by its own alarm as hung: first tell where each of its threads
 * is, from /proc, so the hang can be understood from the log.
 */
static pid_t wait_or_tell(pid_t pid, int *status)
{
	char path[300];
	struct dirent *de;
	DIR *d;

	for (int i = 0; i < 10000; i++) {
		pid_t got = waitpid(pid, status, WNOHANG);

		if (got)
			return got;
		usleep(10000);
	}
	ksft_print_msg("process %d still runs after 100 s; its threads:\n", pid);
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", pid,
			 de->d_name);
		tell_file(path);
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stack", pid,
			 de->d_name);
		tell_file(path);
	}
	if (d)
		closedir(d);
	fflush(stdout);
	return waitpid(pid, status, 0);
}

/* Did process @p end as told?  A scribbled one may end any way but hung. */
static int ended_well(enum fuzz_end how, int scribbled, int status)
{
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		return 0;		/* its alarm: it hung */
	if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
		return 0;		/* a forked child hung */
	if (scribbled)
		return 1;
	if (how == END_SIGKILL)
		return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
	return WIFEXITED(status) && !WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	unsigned long seed = time(NULL), n = 200;
	int procs = 4, threads = 4, opt, only_exec = 0, racing = 0;

	while ((opt = getopt(argc, argv, "s:p:t:n:er")) != -1) {
		switch (opt) {
		case 's':
			seed = strtoul(optarg, NULL, 0);
			break;
		case 'p':
			procs = atoi(optarg);
			break;
		case 't':
			threads = atoi(optarg);
			break;
		case 'n':
			n = strtoul(optarg, NULL, 0);
			break;
		case 'e':	/* every process exec()s mid-run, none scribbled */
			only_exec = 1;
			break;
		case 'r':	/* race the hand-off (issue 13) */
			racing = 1;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-s seed] [-p procs] [-t threads] [-n n] [-e] [-r]\n",
				argv[0]);
			return 2;
		}
	}
	ksft_print_header();
	ksft_set_plan(procs);
	ksft_print_msg("syslet_fuzz -s %lu -p %d -t %d -n %lu%s%s\n", seed,
		       procs, threads, n, only_exec ? " -e" : "",
		       racing ? " -r" : "");
	fflush(stdout);
	/* Atoms that wander into zeroed memory read fd 0: make that EOF. */
	if (!freopen("/dev/null", "r", stdin))
		ksft_exit_fail_perror("freopen /dev/null");
	for (int p = 0; p < procs; p++) {
		enum fuzz_end how = only_exec ? END_EXEC : p % NR_ENDS;
		int scribbled = !only_exec && p % 3 == 2, status = 0, well;
		pid_t pid;

		fflush(stdout);	/* or the child prints our buffer again */
		pid = fork();

		if (!pid)
			_exit(fuzz_process(seed + p, threads, n, how,
					   scribbled, racing));
		if (how == END_SIGKILL) {
			/* Killed while its chains run, or a little later. */
			usleep(1000 * (p * 37 % 300));
			kill(pid, SIGKILL);
		}
		well = wait_or_tell(pid, &status) == pid &&
		       ended_well(how, scribbled, status);
		if (!well)
			ksft_print_msg("process %d (%s%s) ended with status 0x%x\n",
				       p, end_name[how],
				       scribbled ? ", scribbled" : "", status);
		ksft_test_result(well, "syslet_fuzz.%s%sseed_%lu.process_%d_%s%s\n",
				 only_exec ? "exec_" : "",
				 racing ? "racing_" : "", seed, p,
				 end_name[how], scribbled ? "_scribbled" : "");
	}
	ksft_finished();
}
