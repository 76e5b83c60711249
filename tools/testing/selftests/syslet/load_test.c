// SPDX-License-Identifier: GPL-2.0
/*
 * Syslet selftests: load.
 *
 * 16 submitting threads keep 10,000 chains in flight on 4 small rings:
 * short sleeps that hand the caller off, SYSLET_ASYNC chains in pool
 * threads, and chains that finish in the caller.  One reaper per ring
 * reaps, but not before every ring has run full and the kernel holds
 * completions back.  Every chain carries its number in
 * its atoms' user_data field and in its result: at the end each chain must
 * have completed exactly once, through the ring or as the return value
 * of async_exec(), with the result its system calls produced.
 *
 *	load_test [-c chains] [-t threads] [-r rings] [-s seconds]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kselftest.h"
#include "syslet.h"

#define HSZ		sizeof(struct async_head_user)
#define RING_SLOTS	64
#define MAX_RINGS	16

/* One chain: nanosleep, then getpid; or getpid alone. */
struct chain {
	struct syslet_uatom atom[2];
	uint64_t ts_ptr, zero;
	struct __kernel_timespec ts;
	int64_t ret[2];
	atomic_int completed;	/* times seen complete: must end at 1 */
};

struct ring {
	struct async_head_user head;
	uint64_t slots[RING_SLOTS];
	pthread_t reaper;
	atomic_long reaped;
};

static struct chain *chains;
static struct ring rings[MAX_RINGS];
static long nr_chains = 10000;
static int nr_threads = 16, nr_rings = 4, seconds = 10;
static atomic_long submitted, cached, errors, held_back, went_async;
static atomic_int submitting, submitters_done, reapers_paused = 1;

static void fail(const char *what, long chain, long value)
{
	atomic_fetch_add(&errors, 1);
	ksft_print_msg("chain %ld: %s (%ld)\n", chain, what, value);
}

/* A finished chain: check it once, count it once. */
static void chain_done(uint64_t addr, long how)
{
	struct chain *c;
	long i;

	for (i = 0; i < 2; i++) {
		/* The ring hands back the atom the chain ended on. */
		uint64_t base = addr - i * sizeof(struct syslet_uatom);

		if (base >= PTR(chains) && base < PTR(chains + nr_chains) &&
		    (base - PTR(chains)) % sizeof(struct chain) == 0)
			break;
	}
	if (i == 2) {
		fail("completion names no chain's atom", -1, (long)addr);
		return;
	}
	c = (struct chain *)(uintptr_t)(addr - i * sizeof(struct syslet_uatom));
	i = c - chains;
	if (c->atom[0].user_data != (uint64_t)i)
		fail("user_data field changed", i, (long)c->atom[0].user_data);
	if (c->atom[0].next && (c->ret[0] != 0 || c->ret[1] != getpid()))
		fail("wrong results", i, (long)c->ret[0]);
	if (!c->atom[0].next && c->ret[0] != getpid())
		fail("wrong result", i, (long)c->ret[0]);
	if (atomic_fetch_add(&c->completed, 1))
		fail("completed twice", i, how);
}

/* Reap ring @r until every chain is accounted for. */
static void *reaper(void *arg)
{
	struct ring *r = arg;
	struct __kernel_timespec tmo = { 0, 20 * 1000 * 1000 };

	for (;;) {
		uint64_t *slot = &r->slots[r->head.user_ring_idx % RING_SLOTS];
		uint64_t atom = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
		long ret;

		if (atomic_load(&reapers_paused)) {
			usleep(10000);
			continue;
		}
		if (atom) {
			__atomic_store_n(slot, 0, __ATOMIC_RELEASE);
			r->head.user_ring_idx++;
			atomic_fetch_add(&r->reaped, 1);
			chain_done(atom, 0);
			continue;
		}
		if (!atomic_load(&submitting) &&
		    atomic_load(&cached) + atomic_load(&went_async) ==
		    atomic_load(&submitted) &&
		    atomic_load(&submitted) == nr_chains) {
			long all = 0;

			for (int i = 0; i < nr_rings; i++)
				all += atomic_load(&rings[i].reaped);
			if (all + atomic_load(&cached) == nr_chains)
				return NULL;
		}
		ret = async_wait(1, &r->head, &tmo);
		if (ret == 0)		/* nothing in flight on this ring yet */
			usleep(1000);
		else if (ret == -1 && errno == EOVERFLOW)
			atomic_fetch_add(&held_back, 1);
		else if (ret < 0 && errno != EINTR)
			fail("async_wait", -1, -errno);
	}
}

static void chain_init(long i)
{
	struct chain *c = &chains[i];
	/* A third sleep and hand off, a third go to the pool, a third do not block. */
	int kind = i % 3;

	memset(c, 0, sizeof(*c));
	c->ts.tv_nsec = (1 + i % 7) * 1000 * 1000;
	c->ts_ptr = PTR(&c->ts);
	c->ret[0] = -12345;
	c->ret[1] = -12345;
	init_atom(&c->atom[1], __NR_getpid, NULL, NULL, NULL, NULL, NULL,
		  NULL, &c->ret[1], 0, NULL);
	if (kind == 2)
		init_atom(&c->atom[0], __NR_getpid, NULL, NULL, NULL, NULL,
			  NULL, NULL, &c->ret[0], 0, NULL);
	else
		init_atom(&c->atom[0], __NR_nanosleep, &c->ts_ptr, &c->zero,
			  NULL, NULL, NULL, NULL, &c->ret[0],
			  kind ? SYSLET_ASYNC : 0, &c->atom[1]);
	c->atom[0].user_data = i;
}

static void *submitter(void *arg)
{
	long t = (long)arg;

	for (long i = t; i < nr_chains; i += nr_threads) {
		struct ring *r = &rings[i % nr_rings];
		long ret;

		chain_init(i);
		atomic_fetch_add(&submitted, 1);
		ret = async_exec(&chains[i].atom[0], &r->head, HSZ);
		if (ret == 0) {
			atomic_fetch_add(&went_async, 1);
		} else if (ret > 0) {
			atomic_fetch_add(&cached, 1);
			chain_done(ret, 1);
		} else {
			fail("async_exec", i, ret);
			atomic_fetch_add(&cached, 1);	/* never completes */
			atomic_fetch_add(&chains[i].completed, 1);
		}
	}
	atomic_fetch_add(&submitters_done, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t *sub;
	long lost = 0, twice = 0, reaped = 0;
	struct timespec t0, t1;
	int opt, full = 0;

	while ((opt = getopt(argc, argv, "c:t:r:s:")) != -1) {
		switch (opt) {
		case 'c':
			nr_chains = atol(optarg);
			break;
		case 't':
			nr_threads = atoi(optarg);
			break;
		case 'r':
			nr_rings = atoi(optarg);
			break;
		case 's':
			seconds = atoi(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: %s [-c chains] [-t threads] [-r rings] [-s seconds]\n",
				argv[0]);
			return 2;
		}
	}
	if (nr_rings < 1 || nr_rings > MAX_RINGS || nr_threads < 1 ||
	    nr_chains < 1)
		return 2;
	ksft_print_header();
	ksft_set_plan(4);
	ksft_print_msg("%ld chains, %d submitting threads, %d rings of %d slots\n",
		       nr_chains, nr_threads, nr_rings, RING_SLOTS);
	chains = calloc(nr_chains, sizeof(*chains));
	sub = calloc(nr_threads, sizeof(*sub));
	if (!chains || !sub)
		ksft_exit_fail_msg("out of memory\n");
	alarm(seconds * 6 + 60);	/* a hang fails, it does not wait for CI */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	atomic_store(&submitting, 1);
	for (int i = 0; i < nr_rings; i++) {
		test_ring_init((struct test_ring *)&rings[i], RING_SLOTS, 64);
		/* Registered: a spare from the start, the first block hands off. */
		if (async_register(&rings[i].head, HSZ))
			ksft_exit_fail_perror("async_register");
		if (pthread_create(&rings[i].reaper, NULL, reaper, &rings[i]))
			ksft_exit_fail_msg("pthread_create: reaper\n");
	}
	for (long t = 0; t < nr_threads; t++)
		if (pthread_create(&sub[t], NULL, submitter, (void *)t))
			ksft_exit_fail_msg("pthread_create: submitter\n");
	/*
	 * Nobody reaps until every ring has run full and the kernel holds
	 * completions back (taking no new asynchronous work on that ring
	 * meanwhile), or for @seconds at most; then the reapers catch up.
	 */
	for (int waited = 0; waited < seconds * 100; waited++) {
		full = 0;
		for (int i = 0; i < nr_rings; i++)
			full += !!(__atomic_load_n(&rings[i].head.status,
						   __ATOMIC_ACQUIRE) &
				   SYSLET_HEAD_RING_OVERFLOW);
		if (full == nr_rings || atomic_load(&submitters_done) == nr_threads)
			break;
		usleep(10000);
	}
	atomic_store(&reapers_paused, 0);
	for (int t = 0; t < nr_threads; t++)
		pthread_join(sub[t], NULL);
	atomic_store(&submitting, 0);
	for (int i = 0; i < nr_rings; i++)
		pthread_join(rings[i].reaper, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	for (long i = 0; i < nr_chains; i++) {
		int n = atomic_load(&chains[i].completed);

		lost += n == 0;
		twice += n > 1;
	}
	for (int i = 0; i < nr_rings; i++)
		reaped += atomic_load(&rings[i].reaped);
	ksft_print_msg("submitted %ld: %ld completed in the caller\n",
		       atomic_load(&submitted), atomic_load(&cached));
	ksft_print_msg("%ld went asynchronous, %ld reaped from the rings\n",
		       atomic_load(&went_async), reaped);
	ksft_print_msg("async_wait said EOVERFLOW %ld times; %.1f s\n",
		       atomic_load(&held_back),
		       t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	ksft_test_result(!lost && !twice,
			 "load.every_chain_completed_exactly_once # lost %ld, twice %ld\n",
			 lost, twice);
	ksft_test_result(reaped == atomic_load(&went_async),
			 "load.ring_completions_match_async_submissions # %ld reaped, %ld async\n",
			 reaped, atomic_load(&went_async));
	ksft_test_result(!atomic_load(&errors), "load.no_wrong_results # %ld errors\n",
			 atomic_load(&errors));
	ksft_test_result(full == nr_rings,
			 "load.every_ring_ran_full # %d of %d rings held completions back\n",
			 full, nr_rings);
	ksft_finished();
}
