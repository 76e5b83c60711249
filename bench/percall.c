// SPDX-License-Identifier: GPL-2.0
/*
 * Per-call cost of a cached atom against the plain system call.
 *
 * Run in a guest booted with -icount shift=0,sleep=off: the guest clock
 * then advances 1 ns per guest instruction, so ns per iteration read
 * with clock_gettime() is instructions per iteration.
 *
 *   percall [iterations]
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include "../tools/testing/selftests/syslet/syslet.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

#define MEASURE(label, n, body)						\
	do {								\
		double t0 = now();					\
		for (long i = 0; i < (n); i++) {			\
			body;						\
		}							\
		printf("%-34s %8.1f ns/call\n", label,			\
		       (now() - t0) / (n));				\
	} while (0)

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	static struct async_head_user head;
	static uint64_t ring[64];
	struct syslet_uatom atom, st_atom;
	uint64_t path = PTR("/opt/syslet/percall"), statp;
	struct stat st;
	int64_t ret;

	head.completion_ring = PTR(ring);
	head.ring_size_bytes = sizeof(ring);
	statp = PTR(&st);
	init_atom(&atom, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &ret, 0, NULL);
	init_atom(&st_atom, __NR_stat, &path, &statp, NULL, NULL, NULL, NULL,
		  &ret, 0, NULL);
	async_exec(&atom, &head, sizeof(head));		/* ring set-up */

	MEASURE("empty loop", n, asm volatile("" ::: "memory"));
	MEASURE("getpid() direct", n, syscall(__NR_getpid));
	MEASURE("getpid atom, no ring", n, async_exec(&atom, NULL, 0));
	MEASURE("getpid atom, with ring", n,
		async_exec(&atom, &head, sizeof(head)));
	MEASURE("stat() direct", n, syscall(__NR_stat, PTR(path), &st));
	MEASURE("stat atom, with ring", n,
		async_exec(&st_atom, &head, sizeof(head)));
	return 0;
}
