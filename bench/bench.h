/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the benchmarks in bench/: the clock, futex waits,
 * KTAP lines for the smoke modes, /proc/meminfo fields and a pool of
 * worker threads that runs numbered jobs.
 */
#ifndef SYSLET_BENCH_H
#define SYSLET_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "../tools/testing/selftests/syslet/syslet.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* CLOCK_MONOTONIC in ns (under QEMU -icount: guest instructions). */
static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static inline void bench_futex_wait(uint32_t *word, uint32_t val)
{
	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == val)
		syscall(__NR_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static inline void bench_futex_set_wake(uint32_t *word, uint32_t val)
{
	__atomic_store_n(word, val, __ATOMIC_RELEASE);
	syscall(__NR_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---- KTAP lines of the smoke modes: "ok N bench.smoke_<name>" ---- */

static int ktap_nr __attribute__((unused));
static int ktap_failures __attribute__((unused));

static inline void ktap(int ok, const char *name, const char *why)
{
	printf("%sok %d bench.smoke_%s%s%s\n", ok ? "" : "not ", ++ktap_nr,
	       name, ok ? "" : " # ", ok ? "" : why);
	fflush(stdout);
	ktap_failures += !ok;
}

/* A field of /proc/meminfo in kB, or -1. */
static inline long meminfo_kb(const char *field)
{
	char line[256];
	size_t len = strlen(field);
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':') {
			kb = atol(line + len + 1);
			break;
		}
	fclose(f);
	return kb;
}

/*
 * Wait until n more completions have been posted to the ring of head
 * (slots: its nr_slots-entry array) and reap them; 0 or -errno.
 */
static inline long syslet_reap(struct async_head_user *head, uint64_t *slots,
			       unsigned int nr_slots, long n)
{
	while (n > 0) {
		long r = async_wait(1, head, NULL);

		if (r < 0 && r != -EOVERFLOW)
			return r;
		for (;;) {
			uint64_t *slot = &slots[head->user_ring_idx % nr_slots];

			if (!__atomic_load_n(slot, __ATOMIC_ACQUIRE))
				break;
			__atomic_store_n(slot, 0, __ATOMIC_RELEASE);
			head->user_ring_idx++;
			n--;
		}
	}
	return 0;
}

/* ---- a pool of threads running jobs 0..n-1 of a batch ---- */

struct ipool {
	void (*fn)(void *arg, long job);
	void *arg;
	int nr_threads;
	pthread_t *threads;
	uint32_t gen;		/* bumped per batch; idle workers wait on it */
	uint32_t parked;	/* workers waiting for a batch */
	uint32_t total;		/* jobs in the current batch */
	uint32_t next;		/* next job to take */
	uint32_t done;		/* jobs of the batch finished */
	int stop;
};

static inline void *ipool_worker(void *arg)
{
	struct ipool *p = arg;
	uint32_t seen = 0, job;

	for (;;) {
		__atomic_add_fetch(&p->parked, 1, __ATOMIC_ACQ_REL);
		bench_futex_wait(&p->gen, seen);
		__atomic_sub_fetch(&p->parked, 1, __ATOMIC_ACQ_REL);
		seen = __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
			return NULL;
		while ((job = __atomic_fetch_add(&p->next, 1, __ATOMIC_ACQ_REL)) <
		       __atomic_load_n(&p->total, __ATOMIC_ACQUIRE)) {
			p->fn(p->arg, job);
			if (__atomic_add_fetch(&p->done, 1, __ATOMIC_ACQ_REL) ==
			    p->total)
				syscall(__NR_futex, &p->done, FUTEX_WAKE_PRIVATE,
					1, NULL, NULL, 0);
		}
	}
}

/* Until every worker waits for work (not timed: before a batch). */
static inline void ipool_idle(struct ipool *p)
{
	while (__atomic_load_n(&p->parked, __ATOMIC_ACQUIRE) !=
	       (uint32_t)p->nr_threads)
		usleep(200);
}

/* Start nr_threads workers; 0 on success. */
static inline int ipool_start(struct ipool *p, int nr_threads,
			      void (*fn)(void *arg, long job), void *arg)
{
	memset(p, 0, sizeof(*p));
	p->fn = fn;
	p->arg = arg;
	p->threads = calloc(nr_threads, sizeof(*p->threads));
	if (!p->threads)
		return -1;
	for (; p->nr_threads < nr_threads; p->nr_threads++)
		if (pthread_create(&p->threads[p->nr_threads], NULL,
				   ipool_worker, p))
			return -1;
	ipool_idle(p);
	return 0;
}

/* Hand out jobs 0..n-1 (one wake-up of all workers). */
static inline void ipool_submit(struct ipool *p, uint32_t n)
{
	ipool_idle(p);
	p->total = n;
	p->next = 0;
	p->done = 0;
	__atomic_add_fetch(&p->gen, 1, __ATOMIC_ACQ_REL);
	syscall(__NR_futex, &p->gen, FUTEX_WAKE_PRIVATE, p->nr_threads, NULL,
		NULL, 0);
}

/* Until every job of the batch is done. */
static inline void ipool_wait(struct ipool *p)
{
	uint32_t d;

	while ((d = __atomic_load_n(&p->done, __ATOMIC_ACQUIRE)) != p->total)
		syscall(__NR_futex, &p->done, FUTEX_WAIT_PRIVATE, d, NULL,
			NULL, 0);
}

static inline void ipool_stop(struct ipool *p)
{
	ipool_idle(p);
	__atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&p->gen, 1, __ATOMIC_ACQ_REL);
	syscall(__NR_futex, &p->gen, FUTEX_WAKE_PRIVATE, p->nr_threads, NULL,
		NULL, 0);
	for (int i = 0; i < p->nr_threads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
}

#endif
