// SPDX-License-Identifier: GPL-2.0
/*
 * Guest side of "make itrace": the calls whose kernel instructions
 * scripts/itrace-gdb.py counts one by one.  Each measured call follows a
 * marker call; the host's debugger stops in it, then steps through the
 * next system call from entry_SYSCALL_64 until it is back in user space.
 * Everything is warmed up first, so the paths traced are the cached ones.
 */
#include <sys/stat.h>
#include "bench.h"

static struct syslet_uatom getpid_atom, stat_atom;
static struct async_head_user head;
static uint64_t ring[64];
static int64_t ret;
static struct stat st;
static const char *path = "/init";
static uint64_t path_arg, st_arg;

static long exec_atom(struct syslet_uatom *atom, struct async_head_user *h)
{
	return async_exec(atom, h, h ? sizeof(*h) : 0);
}

/* A call nothing else makes: getpgid() of a PID that cannot exist. */
#define ITRACE_MARK	0x17ace17aceUL

static void marker(void)
{
	syscall(__NR_getpgid, ITRACE_MARK);
}

/*
 * A hand-off: a read of an empty pipe blocks and a spare takes over.  The
 * trace follows the CPU from the caller's async_exec() into the spare
 * until it is back in user space (1 CPU).  Returns async_exec()'s value.
 */
static long hand_off(int rfd, int wfd, struct async_head_user *h,
		     uint64_t *slots, int trace)
{
	static uint64_t fd, buf, len = 1;
	static struct syslet_uatom atom;
	static char c;
	long r;

	fd = rfd;
	buf = (uintptr_t)&c;
	atom.nr = __NR_read;
	atom.ret_ptr = (uintptr_t)&ret;
	atom.arg_ptr[0] = (uintptr_t)&fd;
	atom.arg_ptr[1] = (uintptr_t)&buf;
	atom.arg_ptr[2] = (uintptr_t)&len;
	if (trace)
		marker();
	r = exec_atom(&atom, h);
	if (write(wfd, "x", 1) != 1 || async_wait(1, h, NULL) != 1)
		return -1;
	slots[h->user_ring_idx % 64] = 0;
	h->user_ring_idx++;
	usleep(2000);	/* the worker parks again */
	return r;
}

int main(void)
{
	static struct async_head_user hh;
	static uint64_t hring[64];
	int p[2];
	getpid_atom.nr = __NR_getpid;
	getpid_atom.ret_ptr = (uintptr_t)&ret;
	path_arg = (uintptr_t)path;
	st_arg = (uintptr_t)&st;
	stat_atom.nr = __NR_stat;
	stat_atom.ret_ptr = (uintptr_t)&ret;
	stat_atom.arg_ptr[0] = (uintptr_t)&path_arg;
	stat_atom.arg_ptr[1] = (uintptr_t)&st_arg;
	head.completion_ring = (uintptr_t)ring;
	head.ring_size_bytes = sizeof(ring);

	for (int i = 0; i < 1000; i++) {
		exec_atom(&getpid_atom, NULL);
		syscall(__NR_getpid);
		exec_atom(&stat_atom, NULL);
		syscall(__NR_stat, path, &st);
		exec_atom(&getpid_atom, &head);
		exec_atom(&stat_atom, &head);
	}
	/* The order scripts/itrace-gdb.py names them in. */
	marker();
	syscall(__NR_getpid);
	marker();
	exec_atom(&getpid_atom, NULL);
	marker();
	exec_atom(&getpid_atom, &head);
	marker();
	syscall(__NR_stat, path, &st);
	marker();
	exec_atom(&stat_atom, &head);

	/* Registered: a spare is ready for the first block. */
	hh.completion_ring = (uintptr_t)hring;
	hh.ring_size_bytes = sizeof(hring);
	if (pipe(p) || async_register(&hh, sizeof(hh)))
		return 1;
	for (int i = 0; i < 20; i++)
		if (hand_off(p[0], p[1], &hh, hring, 0) != 0)
			return 1;
	/* Five traced ones: timers and the scheduler's state vary a little. */
	for (int i = 0; i < 5; i++)
		if (hand_off(p[0], p[1], &hh, hring, 1) != 0)
			return 1;
	marker();
	printf("itrace: done\n");
	return 0;
}
