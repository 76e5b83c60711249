/* SPDX-License-Identifier: GPL-2.0 */
/* Raw syscall wrappers and atom helpers for the syslet selftests. */
#ifndef SYSLET_SELFTEST_H
#define SYSLET_SELFTEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/syslet.h>
#include <linux/time_types.h>

/* Syscall user dispatch, for C libraries whose headers lack it. */
#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH	59
#define PR_SYS_DISPATCH_OFF		0
#define PR_SYS_DISPATCH_ON		1
#define SYSCALL_DISPATCH_FILTER_ALLOW	0
#define SYSCALL_DISPATCH_FILTER_BLOCK	1
#endif

/*
 * The errno of a system call number the kernel does not have, learned
 * once at start-up from syscall(-1).  An atom naming a call that atoms
 * may not run gets the same answer (the allowlist refuses it as if it
 * did not exist), so the tests compare with what the kernel says rather
 * than with a constant.
 */
static int no_such_syscall;

__attribute__((constructor)) static void learn_no_such_syscall(void)
{
	int saved = errno;

	if (syscall(-1) == -1)
		no_such_syscall = errno;
	errno = saved;
}

/* An address in the kernel half: never a valid user pointer. */
#define KERNEL_ADDR ((void *)0xffffffff81000000UL)

static inline long async_register(struct async_head_user *ahu, size_t size)
{
	return syscall(__NR_async_register, ahu, size);
}

static inline long async_unregister(struct async_head_user *ahu, size_t size)
{
	return syscall(__NR_async_unregister, ahu, size);
}

static inline long async_exec(struct syslet_uatom *atom,
			      struct async_head_user *ahu, size_t size)
{
	return syscall(__NR_async_exec, atom, ahu, size);
}

static inline long async_wait(unsigned long min_events,
			      struct async_head_user *ahu,
			      const struct __kernel_timespec *timeout)
{
	return syscall(__NR_async_wait, min_events, ahu, timeout);
}

static inline long umem_add(uint64_t *uptr, uint64_t inc)
{
	return syscall(__NR_umem_add, uptr, inc);
}

#define PTR(p) ((__u64)(uintptr_t)(p))

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* Fill an atom; args is a NULL-terminated list of up to 6 pointers. */
static inline void init_atom(struct syslet_uatom *atom, long nr,
			     void *a0, void *a1, void *a2, void *a3,
			     void *a4, void *a5, int64_t *ret_ptr,
			     uint64_t flags, struct syslet_uatom *next)
{
	memset(atom, 0, sizeof(*atom));
	atom->nr = nr;
	atom->arg_ptr[0] = PTR(a0);
	atom->arg_ptr[1] = PTR(a1);
	atom->arg_ptr[2] = PTR(a2);
	atom->arg_ptr[3] = PTR(a3);
	atom->arg_ptr[4] = PTR(a4);
	atom->arg_ptr[5] = PTR(a5);
	atom->ret_ptr = PTR(ret_ptr);
	atom->flags = flags;
	atom->next = PTR(next);
}

/* A completion ring with its head, for tests. */
struct test_ring {
	struct async_head_user head;
	uint64_t slots[64];
};

static inline void test_ring_init(struct test_ring *r, unsigned int nr_slots,
				  unsigned int max_threads)
{
	memset(r, 0, sizeof(*r));
	r->head.completion_ring = PTR(r->slots);
	r->head.ring_size_bytes = nr_slots * sizeof(uint64_t);
	r->head.max_nr_threads = max_threads;
}

/* Reap one completion; returns the atom address or 0 if the slot is empty. */
static inline uint64_t test_ring_reap(struct test_ring *r)
{
	unsigned int nr_slots = r->head.ring_size_bytes / sizeof(uint64_t);
	uint64_t *slot = &r->slots[r->head.user_ring_idx % nr_slots];
	uint64_t atom = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

	if (atom) {
		__atomic_store_n(slot, 0, __ATOMIC_RELEASE);
		r->head.user_ring_idx++;
	}
	return atom;
}

/*
 * Threads of process @pid, by the kernel's own count (Threads: in
 * /proc/PID/status).  Not a walk of /proc/self/task: a group leader's
 * hand-off reorders the thread list, and a walk that spans one may count
 * a thread twice or miss one.
 */
static inline int count_threads_of(pid_t pid)
{
	char line[256];
	int n = -1;
	FILE *f;

	snprintf(line, sizeof(line), "/proc/%d/status", pid);
	f = fopen(line, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

static inline int count_threads(void)
{
	return count_threads_of(getpid());
}

/*
 * Threads of this process named syslet-<pid>, the pool: how many, and the
 * thread IDs of up to @max of them in @tids.
 */
static inline int find_pool_threads(pid_t *tids, int max)
{
	char path[300], comm[64], want[32];
	struct dirent *de;
	DIR *d = opendir("/proc/self/task");
	int n = 0;

	if (!d)
		return -1;
	snprintf(want, sizeof(want), "syslet-%d\n", getpid());
	while ((de = readdir(d))) {
		int f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 de->d_name);
		f = open(path, O_RDONLY);
		if (f < 0)
			continue;
		memset(comm, 0, sizeof(comm));
		if (read(f, comm, sizeof(comm) - 1) > 0 && !strcmp(comm, want)) {
			if (n < max)
				tids[n] = atoi(de->d_name);
			n++;
		}
		close(f);
	}
	closedir(d);
	return n;
}

static inline int count_pool_threads(void)
{
	return find_pool_threads(NULL, 0);
}

static inline int count_dir(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Threads of every process in the system (kernel threads included). */
static inline int count_system_threads(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc");
	char path[300];
	int n = 0, t;

	while ((de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/task", de->d_name);
		t = count_dir(path);
		if (t > 0)
			n += t;
	}
	closedir(d);
	return n;
}

/* A page-aligned address with nothing mapped behind it. */
static inline void *unmapped_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	munmap(p, 4096);
	return p;
}

/*
 * Wait up to @ms milliseconds for @pid: its exit status, 128 + signal if
 * killed, or -1 if it did not end in time (it is killed then).
 */
static inline int wait_exit(pid_t pid, int ms)
{
	int status;

	for (int i = 0; i < ms; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 +
				WTERMSIG(status);
		usleep(1000);
	}
	/*
	 * Not a blocking wait: a thread that escaped a group exit cannot be
	 * killed any more (the kernel drops signals to a dying group), and
	 * the test must report that, not hang on it.
	 */
	kill(pid, SIGKILL);
	for (int i = 0; i < 10000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		usleep(1000);
	}
	return -1;
}

/* An atom that reads from an empty pipe: it blocks until written to. */
struct pipe_read {
	int p[2];
	uint64_t fd, buf, len;
	char data[16];
	int64_t ret;
	struct syslet_uatom atom;
	pid_t reader;		/* the thread that set it up */
};

static inline int pipe_read_init(struct pipe_read *pr, uint64_t flags)
{
	memset(pr, 0, sizeof(*pr));
	if (pipe(pr->p))
		return -1;
	pr->fd = pr->p[0];
	pr->buf = PTR(pr->data);
	pr->len = sizeof(pr->data) - 1;
	pr->ret = 12345;
	pr->reader = syscall(SYS_gettid);
	init_atom(&pr->atom, __NR_read, &pr->fd, &pr->buf, &pr->len, NULL,
		  NULL, NULL, &pr->ret, flags, NULL);
	return 0;
}

static inline void pipe_read_close(struct pipe_read *pr)
{
	close(pr->p[0]);
	close(pr->p[1]);
}

/*
 * A process makes its first spare thread only when one of its atoms first
 * blocks (that block completes in the caller); a registered ring has one
 * from the start.  Tests of the hand-off register their rings.
 */
static inline int ring_setup(struct test_ring *r, unsigned int slots,
			     unsigned int max_threads)
{
	test_ring_init(r, slots, max_threads);
	return async_register(&r->head, sizeof(r->head));
}

/* The scheduler state of thread @tid of process @pid ('R', 'S', ...). */
static inline char thread_state_of(pid_t pid, pid_t tid)
{
	char path[64], buf[256], *paren;
	int f, n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	f = open(path, O_RDONLY);
	if (f < 0)
		return 0;
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	paren = strrchr(buf, ')');
	return paren && paren[1] ? paren[2] : 0;
}

/* The scheduler state of thread @tid of this process. */
static inline char thread_state(pid_t tid)
{
	return thread_state_of(getpid(), tid);
}

/*
 * Thread function: write "late" into a pipe_read's pipe after 100 ms,
 * once its reader sleeps.
 */
static inline void *write_later(void *arg)
{
	struct pipe_read *pr = arg;

	usleep(100000);
	/*
	 * On a slow guest the reader may not have got to its read yet: the
	 * tests want the read to block, so wait (up to 5 s) until it sleeps.
	 */
	for (int i = 0; i < 500 && thread_state(pr->reader) != 'S'; i++)
		usleep(10000);
	if (write(pr->p[1], "late", 4) != 4)
		return (void *)1;
	return NULL;
}

/*
 * Install a seccomp filter that answers system call @nr with @action
 * and allows everything else (no_new_privs first, as an unprivileged
 * caller must).  @flags: SECCOMP_FILTER_FLAG_*.  Returns seccomp()'s
 * result: 0, a listener fd with ..._NEW_LISTENER, or -1.
 */
static inline int seccomp_filter_nr(long nr, uint32_t action,
				    unsigned int flags)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { ARRAY_SIZE(f), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

#endif
