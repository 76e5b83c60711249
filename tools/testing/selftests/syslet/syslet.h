/* SPDX-License-Identifier: GPL-2.0 */
/* Raw syscall wrappers and atom helpers for the syslet selftests. */
#ifndef SYSLET_SELFTEST_H
#define SYSLET_SELFTEST_H

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <linux/syslet.h>
#include <linux/time_types.h>

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

/* Threads of this process named syslet-<pid>: the pool. */
static inline int count_pool_threads(void)
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
		if (read(f, comm, sizeof(comm) - 1) > 0 && !strcmp(comm, want))
			n++;
		close(f);
	}
	closedir(d);
	return n;
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
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

#endif
