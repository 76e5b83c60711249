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

int main(void)
{
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
	/* The order scripts/itrace.py names them in. */
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
	marker();
	printf("itrace: done\n");
	return 0;
}
