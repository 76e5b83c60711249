// SPDX-License-Identifier: GPL-2.0
/*
 * Per-call cost of a cached atom against the plain system call.
 *
 * Run in a guest booted with -icount shift=0,sleep=off: the guest clock
 * then advances 1 ns per guest instruction, so ns per iteration read
 * with clock_gettime() is instructions per iteration.
 *
 *   percall [iterations]
 *   percall --handoff N    hand-offs only (to profile them under kprof)
 *   percall --cached N     getpid atoms without a ring only (the same)
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include "bench.h"

#define MEASURE(label, n, body)						\
	do {								\
		double t0 = now();					\
		for (long i = 0; i < (n); i++) {			\
			body;						\
		}							\
		printf("%-34s %8.1f ns/call\n", label,			\
		       (now() - t0) / (n));				\
	} while (0)

/*
 * One cachemiss hand-off: async_exec() of a read on an empty pipe, from
 * the call until it returns 0 in the caller's (taken over) context.  The
 * completion is reaped outside the measured window, and the worker is
 * given time to park again, so every measured call finds a spare.
 *
 * Called from the main thread before any other thread exists: the main
 * thread of a multi-threaded process does not hand off but sends its
 * chains to a pool thread (see "The group leader" in
 * Documentation/syslet-design.txt), and a thread that was joined may
 * still count until it is released.  Returns instructions per call
 * (negative on failure); main() prints it after the futex figure, in the
 * order bench-table.py expects.
 */
/* From the hand-off's return to the completion reaped, per hand-off. */
static double handoff_done;

static double measure_hand_off(long n)
{
	static struct async_head_user head;
	static uint64_t ring[64];
	struct syslet_uatom atom;
	uint64_t fd, buf, len = 1;
	double total = 0;
	int64_t ret;
	char c;
	int p[2];

	if (pipe(p))
		return -1;
	fd = p[0];
	buf = PTR(&c);
	head.completion_ring = PTR(ring);
	head.ring_size_bytes = sizeof(ring);
	init_atom(&atom, __NR_read, &fd, &buf, &len, NULL, NULL, NULL, &ret,
		  0, NULL);
	/* Registered: a spare is ready for the process' very first block. */
	if (async_register(&head, sizeof(head)))
		return -1;
	for (long i = -8; i < n; i++) {
		double t0 = now();
		long r = async_exec(&atom, &head, sizeof(head));
		double t1 = now();

		if (r != 0) {
			printf("hand-off: async_exec returned %ld\n", r);
			return -1;
		}
		if (i >= 0)
			total += t1 - t0;
		if (write(p[1], "x", 1) != 1 ||
		    async_wait(1, &head, NULL) != 1)
			return -1;
		/* The worker finishes the read, posts, wakes us. */
		if (i >= 0)
			handoff_done += now() - t1;
		ring[head.user_ring_idx % 64] = 0;
		head.user_ring_idx++;
		usleep(2000);
	}
	close(p[0]);
	close(p[1]);
	handoff_done /= n;
	return total / n;
}

/* Futex ping-pong: one wake plus a switch to the woken thread. */
static uint32_t futex_word;

static void futex_wait(uint32_t val)
{
	while (__atomic_load_n(&futex_word, __ATOMIC_ACQUIRE) == val)
		syscall(__NR_futex, &futex_word, FUTEX_WAIT_PRIVATE, val,
			NULL, NULL, 0);
}

static void futex_set_wake(uint32_t val)
{
	__atomic_store_n(&futex_word, val, __ATOMIC_RELEASE);
	syscall(__NR_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static long pingpong_rounds;

static void *pong(void *arg)
{
	for (long i = 0; i < pingpong_rounds; i++) {
		futex_wait(2 * i);
		futex_set_wake(2 * i + 2);
	}
	return NULL;
}

static void measure_futex_switch(long n)
{
	pthread_t t;
	double t0;

	pingpong_rounds = n;
	futex_word = 0;
	if (pthread_create(&t, NULL, pong, NULL))
		return;
	usleep(10000);
	t0 = now();
	for (long i = 0; i < n; i++) {
		futex_set_wake(2 * i + 1);
		futex_wait(2 * i + 1);
	}
	printf("%-34s %8.1f ns/call\n", "futex wake + switch (one way)",
	       (now() - t0) / (2 * n));
	pthread_join(t, NULL);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	static struct async_head_user head;
	static uint64_t ring[64];
	struct syslet_uatom atom, st_atom, bad_flags;
	uint64_t path = PTR("/opt/syslet/percall"), statp;
	struct stat st;
	double hand_off;
	int64_t ret;

	/* Hand-offs only (to profile them, e.g. under kprof). */
	if (argc > 2 && !strcmp(argv[1], "--handoff")) {
		hand_off = measure_hand_off(atol(argv[2]));
		printf("%-34s %8.1f ns/call\n",
		       "hand-off (block -> back in user)", hand_off);
		return hand_off < 0;
	}
	if (argc > 2 && !strcmp(argv[1], "--cached")) {
		init_atom(&atom, __NR_getpid, NULL, NULL, NULL, NULL, NULL,
			  NULL, &ret, 0, NULL);
		MEASURE("getpid atom, no ring", atol(argv[2]),
			async_exec(&atom, NULL, 0));
		return 0;
	}
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
	/* Where the time goes: rejected at once, rejected after the fetch. */
	bad_flags = atom;
	bad_flags.flags = SYSLET_ASYNC | SYSLET_SYNC;
	MEASURE("async_exec, misaligned atom", n,
		async_exec((void *)((char *)&atom + 1), NULL, 0));
	MEASURE("async_exec, atom fetched, refused", n,
		async_exec(&bad_flags, NULL, 0));
	MEASURE("getpid atom, no ring", n, async_exec(&atom, NULL, 0));
	MEASURE("getpid atom, with ring", n,
		async_exec(&atom, &head, sizeof(head)));
	MEASURE("stat() direct", n, syscall(__NR_stat, PTR(path), &st));
	MEASURE("stat atom, with ring", n,
		async_exec(&st_atom, &head, sizeof(head)));
	/* Before measure_futex_switch() makes a second thread: see above. */
	hand_off = measure_hand_off(n / 100 > 20 ? n / 100 : 20);
	measure_futex_switch(n / 10);
	if (hand_off >= 0) {
		printf("%-34s %8.1f ns/call\n",
		       "hand-off (block -> back in user)", hand_off);
		printf("%-34s %8.1f ns/call\n",
		       "hand-off: release -> reaped", handoff_done);
	}
	return 0;
}
