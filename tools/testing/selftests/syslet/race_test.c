// SPDX-License-Identifier: GPL-2.0
/*
 * Syslet selftests: the shared-memory protocol under fire.
 *
 * The ring, its head and the atoms are user memory that the process may
 * change under the kernel at any time.  Whatever it does, every chain
 * that went asynchronous completes exactly once: in the ring, or held
 * back until the ring can be written.  These tests make other threads
 * (and another process) break that memory while chains run and post,
 * then restore it, drain the ring and count.
 *
 * The kernel is handed one view of a memfd (the "chaotic" one, which a
 * thread mprotect()s, munmap()s and MAP_FIXED-replaces); user space
 * reads the ring through a second, stable view of the same pages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "syslet.h"

#undef TEST_TIMEOUT_DEFAULT
#define TEST_TIMEOUT_DEFAULT 90

#define HSZ sizeof(struct async_head_user)
#define PAGE 4096UL
#define NR_PAGES 48		/* head, ring, atoms */
#define NR_SLOTS 64
#define ATOMS_OFF (2 * PAGE)
#define ATOM_STRIDE 128	/* atom, its return value and argument */
#define NR_ATOMS ((NR_PAGES * PAGE - ATOMS_OFF) / ATOM_STRIDE)
#define CHAOS_SECONDS 5
#define DRAIN_SECONDS 30

static const struct __kernel_timespec ms10 = { .tv_nsec = 10000000 };

struct rig {
	int fd;
	char *c;		/* chaotic view: what the kernel is given */
	char *s;		/* stable view: what user space reads */
	atomic_int stop;
	atomic_long submitted, async, cached, rejected, reaped;
	atomic_long dups, strays;
	unsigned char seen[NR_ATOMS];
	uint64_t user_idx;
};

static struct async_head_user *c_head(struct rig *r)
{
	return (struct async_head_user *)r->c;
}

static struct async_head_user *s_head(struct rig *r)
{
	return (struct async_head_user *)r->s;
}

static uint64_t *s_ring(struct rig *r)
{
	return (uint64_t *)(r->s + PAGE);
}

static char *atom_at(char *view, int i)
{
	return view + ATOMS_OFF + (size_t)i * ATOM_STRIDE;
}

static int rig_init(struct rig *r, unsigned int max_threads)
{
	memset(r, 0, sizeof(*r));
	r->fd = memfd_create("syslet-race", 0);
	if (r->fd < 0 || ftruncate(r->fd, NR_PAGES * PAGE))
		return -1;
	r->c = mmap(NULL, NR_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		    r->fd, 0);
	r->s = mmap(NULL, NR_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		    r->fd, 0);
	if (r->c == MAP_FAILED || r->s == MAP_FAILED)
		return -1;
	s_head(r)->completion_ring = PTR(r->c + PAGE);
	s_head(r)->ring_size_bytes = NR_SLOTS * sizeof(uint64_t);
	s_head(r)->max_nr_threads = max_threads;
	/*
	 * Atoms (addresses in the chaotic view): SYSLET_ASYNC getppid();
	 * every fourth a nanosleep() that may block and hand off.
	 */
	for (int i = 0; i < NR_ATOMS; i++) {
		struct syslet_uatom *a = (void *)atom_at(r->s, i);
		char *c = atom_at(r->c, i);
		struct __kernel_timespec *ts = (void *)(atom_at(r->s, i) + 104);

		ts->tv_nsec = 1000000;
		init_atom(a, __NR_getppid, NULL, NULL, NULL, NULL, NULL, NULL,
			  (int64_t *)(c + 88), SYSLET_ASYNC, NULL);
		if (i % 4 == 0) {
			uint64_t *arg = (uint64_t *)(atom_at(r->s, i) + 96);

			*arg = PTR(c + 104);
			init_atom(a, __NR_nanosleep, c + 96, NULL, NULL, NULL,
				  NULL, NULL, (int64_t *)(c + 88), 0, NULL);
		}
	}
	return 0;
}

static void rig_free(struct rig *r)
{
	munmap(r->c, NR_PAGES * PAGE);
	munmap(r->s, NR_PAGES * PAGE);
	close(r->fd);
}

/* Reap what the ring holds, through the stable view. */
static void reap(struct rig *r)
{
	uint64_t *ring = s_ring(r);

	for (;;) {
		uint64_t *slot = &ring[r->user_idx % NR_SLOTS];
		uint64_t v = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
		long i;

		if (!v)
			return;
		i = ((char *)(uintptr_t)v - r->c - ATOMS_OFF) / ATOM_STRIDE;
		if ((char *)(uintptr_t)v < r->c + ATOMS_OFF || i >= NR_ATOMS ||
		    v != PTR(atom_at(r->c, i))) {
			r->strays++;
		} else if (r->seen[i]++) {
			r->dups++;
		}
		r->reaped++;
		__atomic_store_n(slot, 0, __ATOMIC_RELEASE);
		r->user_idx++;
		__atomic_store_n(&s_head(r)->user_ring_idx, r->user_idx,
				 __ATOMIC_RELEASE);
	}
}

struct submitter {
	struct rig *r;
	int first, step;
};

static void *submit_fn(void *arg)
{
	struct submitter *sub = arg;
	struct rig *r = sub->r;

	for (int i = sub->first; i < NR_ATOMS && !r->stop; i += sub->step) {
		char *a = atom_at(r->c, i);
		long rc = async_exec((void *)a, c_head(r), HSZ);

		r->submitted++;
		if (rc == 0) {
			r->async++;
		} else if (rc > 0) {
			/* ran to its end in the caller: never posted */
			r->cached++;
			r->seen[i] = 2;
		} else {
			/* not run, or ran synchronously and faulted */
			r->rejected++;
			r->seen[i] = 2;
		}
		if (i % 64 == 0)
			usleep(1000);
	}
	return NULL;
}

/* Map the memfd's pages [first, first + n) at their place in the chaotic view. */
static void remap(struct rig *r, int first, int n)
{
	mmap(r->c + first * PAGE, n * PAGE, PROT_READ | PROT_WRITE,
	     MAP_SHARED | MAP_FIXED, r->fd, first * PAGE);
}

static void *chaos_fn(void *arg)
{
	struct rig *r = arg;
	unsigned int seed = 1;

	while (!r->stop) {
		/* the head, the ring, or a few atom pages */
		int first = rand_r(&seed) % 3, n = 1;
		char *p;

		if (first == 2) {
			first = 2 + rand_r(&seed) % (NR_PAGES - 4);
			n = 2;
		}
		p = r->c + first * PAGE;
		switch (rand_r(&seed) % 4) {
		case 0:
			mprotect(p, n * PAGE, PROT_READ);
			break;
		case 1:
			mprotect(p, n * PAGE, PROT_NONE);
			break;
		case 2:
			munmap(p, n * PAGE);
			break;
		default:
			/* replaced by another mapping of the same pages */
			remap(r, first, n);
			break;
		}
		usleep(200 + rand_r(&seed) % 800);
		remap(r, first, n);
		usleep(rand_r(&seed) % 500);
	}
	return NULL;
}

static void *reap_fn(void *arg)
{
	struct rig *r = arg;

	while (!r->stop) {
		async_wait(1, c_head(r), &ms10);
		reap(r);
	}
	return NULL;
}

/*
 * After the chaos: memory restored, reap until every chain that went
 * asynchronous is in, and nothing more comes.
 */
static void drain(struct __test_metadata *_metadata, struct rig *r)
{
	time_t end = time(NULL) + DRAIN_SECONDS;
	const struct __kernel_timespec ms200 = { .tv_nsec = 200000000 };

	remap(r, 0, NR_PAGES);
	while (r->reaped < r->async && time(NULL) < end) {
		async_wait(1, c_head(r), &ms10);
		reap(r);
	}
	/* nothing in flight, nothing held back, nothing extra */
	EXPECT_EQ(0, async_wait(1, c_head(r), &ms200));
	reap(r);
	TH_LOG("%ld submitted: %ld asynchronous, %ld cached, %ld refused; "
	       "%ld reaped; drained in %ld s", (long)r->submitted,
	       (long)r->async, (long)r->cached, (long)r->rejected,
	       (long)r->reaped, (long)(time(NULL) - end + DRAIN_SECONDS));
	EXPECT_EQ(0, r->dups) TH_LOG("completions posted twice");
	EXPECT_EQ(0, r->strays) TH_LOG("ring slots that name no atom");
	EXPECT_EQ(r->async, r->reaped) TH_LOG("completions lost");
	EXPECT_EQ(r->user_idx, s_head(r)->kernel_ring_idx);
	EXPECT_EQ(0, s_head(r)->status);
	EXPECT_EQ(0, async_unregister(c_head(r), HSZ));
}

/*
 * Other threads mprotect(), munmap() and MAP_FIXED-replace the head,
 * the ring and the atoms while two threads submit chains and a third
 * waits and reaps.
 */
TEST(ring_head_and_atoms_change_under_chains)
{
	static struct rig r;
	struct submitter subs[2] = { { &r, 0, 2 }, { &r, 1, 2 } };
	pthread_t sub[2], chaos, reaper;
	time_t end = time(NULL) + CHAOS_SECONDS;

	ASSERT_EQ(0, rig_init(&r, 8));
	ASSERT_EQ(0, async_register(c_head(&r), HSZ));
	ASSERT_EQ(0, pthread_create(&chaos, NULL, chaos_fn, &r));
	ASSERT_EQ(0, pthread_create(&reaper, NULL, reap_fn, &r));
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&sub[i], NULL, submit_fn, &subs[i]));
	while (time(NULL) < end && r.submitted < NR_ATOMS)
		usleep(100000);
	r.stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(sub[i], NULL);
	TH_LOG("submitters done after %ld s",
	       (long)(time(NULL) - end + CHAOS_SECONDS));
	pthread_join(chaos, NULL);
	pthread_join(reaper, NULL);
	EXPECT_LT(0, r.async);
	drain(_metadata, &r);
	rig_free(&r);
}

static void *register_fn(void *arg)
{
	struct rig *r = arg;

	while (!r->stop) {
		long rc = async_register(c_head(r), HSZ);

		if (rc && errno != EBUSY)
			r->strays++;
		rc = async_unregister(c_head(r), HSZ);
		if (rc && errno != EBUSY && errno != ENOENT)
			r->strays++;
		sched_yield();
	}
	return NULL;
}

static void *other_ring_fn(void *arg)
{
	struct rig *r = arg;
	struct async_head_user other = { 0 };
	struct syslet_uatom a;
	int64_t ret;

	init_atom(&a, __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL, &ret,
		  0, NULL);
	while (!r->stop)
		if (async_exec(&a, &other, HSZ) != (long)&a)
			r->strays++;
	return NULL;
}

/*
 * One thread registers and unregisters the ring over and over while two
 * submit chains to it, one uses another ring (the lookup hint moves to
 * and fro) and one waits and reaps.  Unregistering never succeeds while
 * a chain runs or a completion is held back, so no completion is lost.
 */
TEST(register_unregister_race_exec_and_wait)
{
	static struct rig r;
	struct submitter subs[2] = { { &r, 0, 2 }, { &r, 1, 2 } };
	pthread_t sub[2], reg, other, reaper;
	time_t end = time(NULL) + CHAOS_SECONDS;

	ASSERT_EQ(0, rig_init(&r, 8));
	ASSERT_EQ(0, pthread_create(&reg, NULL, register_fn, &r));
	ASSERT_EQ(0, pthread_create(&other, NULL, other_ring_fn, &r));
	ASSERT_EQ(0, pthread_create(&reaper, NULL, reap_fn, &r));
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&sub[i], NULL, submit_fn, &subs[i]));
	while (time(NULL) < end && r.submitted < NR_ATOMS)
		usleep(100000);
	r.stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(sub[i], NULL);
	pthread_join(reg, NULL);
	pthread_join(other, NULL);
	pthread_join(reaper, NULL);
	EXPECT_LT(0, r.async);
	/* the ring may be unregistered now: set it up again to drain */
	async_register(c_head(&r), HSZ);
	drain(_metadata, &r);
	rig_free(&r);
}

/*
 * Chains that set the ring up themselves (no async_register()) race a
 * thread that unregisters it in a tight loop, so heads for the one ring
 * come and go many times a millisecond.  The atoms are reused: only the
 * counts matter.  A head that starts from a kernel_ring_idx older than
 * what earlier heads of the ring posted would post into slots user space
 * has reaped already: async_wait() sees user_ring_idx ahead of the
 * kernel (-EINVAL, which nothing else here can cause) and the completion
 * sits in a slot behind user_ring_idx, never reaped.
 */
#define CHURN_SUBMITTERS 6

struct churn {
	struct rig *r;
	atomic_long einval;
};

static void *churn_submit_fn(void *arg)
{
	struct submitter *sub = arg;
	struct rig *r = sub->r;
	char *a = atom_at(r->c, sub->first);

	while (!r->stop) {
		long rc = async_exec((void *)a, c_head(r), HSZ);

		r->submitted++;
		if (rc == 0)
			r->async++;
		else if (rc > 0)
			r->cached++;
		else
			r->rejected++;
	}
	return NULL;
}

static void *churn_unregister_fn(void *arg)
{
	struct rig *r = arg;

	while (!r->stop) {
		long rc = async_unregister(c_head(r), HSZ);

		if (rc && errno != EBUSY && errno != ENOENT)
			r->strays++;
	}
	return NULL;
}

/* Reap by count only: the atoms are shared by many chains. */
static void churn_reap(struct rig *r)
{
	uint64_t *ring = s_ring(r);

	for (;;) {
		uint64_t *slot = &ring[r->user_idx % NR_SLOTS];
		uint64_t v = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

		if (!v)
			return;
		r->reaped++;
		__atomic_store_n(slot, 0, __ATOMIC_RELEASE);
		r->user_idx++;
		__atomic_store_n(&s_head(r)->user_ring_idx, r->user_idx,
				 __ATOMIC_RELEASE);
	}
}

static void *churn_reap_fn(void *arg)
{
	struct churn *ch = arg;
	struct rig *r = ch->r;

	while (!r->stop) {
		if (async_wait(1, c_head(r), &ms10) < 0 && errno == EINVAL)
			ch->einval++;
		churn_reap(r);
	}
	return NULL;
}

TEST(exec_sets_up_ring_while_unregistered)
{
	static struct rig r;
	static struct churn ch;
	struct submitter subs[CHURN_SUBMITTERS];
	pthread_t sub[CHURN_SUBMITTERS], unreg, reaper;
	const struct __kernel_timespec ms200 = { .tv_nsec = 200000000 };
	time_t end = time(NULL) + CHAOS_SECONDS;
	long left = 0;

	ASSERT_EQ(0, rig_init(&r, 64));
	ch.r = &r;
	ASSERT_EQ(0, pthread_create(&unreg, NULL, churn_unregister_fn, &r));
	ASSERT_EQ(0, pthread_create(&reaper, NULL, churn_reap_fn, &ch));
	for (int i = 0; i < CHURN_SUBMITTERS; i++) {
		/* atoms 4i + 1: SYSLET_ASYNC getppid() */
		subs[i] = (struct submitter){ &r, 4 * i + 1, 0 };
		ASSERT_EQ(0, pthread_create(&sub[i], NULL, churn_submit_fn,
					    &subs[i]));
	}
	while (time(NULL) < end)
		usleep(100000);
	r.stop = 1;
	for (int i = 0; i < CHURN_SUBMITTERS; i++)
		pthread_join(sub[i], NULL);
	pthread_join(unreg, NULL);
	pthread_join(reaper, NULL);
	EXPECT_LT(0, r.async);

	/* Set it up again if need be (-EBUSY: still there), and drain. */
	async_register(c_head(&r), HSZ);
	end = time(NULL) + DRAIN_SECONDS;
	while (r.reaped < r.async && time(NULL) < end) {
		async_wait(1, c_head(&r), &ms10);
		churn_reap(&r);
	}
	EXPECT_EQ(0, async_wait(1, c_head(&r), &ms200));
	churn_reap(&r);
	for (int i = 0; i < NR_SLOTS; i++)
		left += s_ring(&r)[i] != 0;
	TH_LOG("%ld submitted: %ld asynchronous, %ld cached, %ld refused; "
	       "%ld reaped; %ld slots left behind; async_wait() -EINVAL %ld times",
	       (long)r.submitted, (long)r.async, (long)r.cached,
	       (long)r.rejected, (long)r.reaped, left, (long)ch.einval);
	EXPECT_EQ(0, r.strays);
	EXPECT_EQ(0, ch.einval) TH_LOG("kernel_ring_idx went backwards");
	EXPECT_EQ(0, left) TH_LOG("completions posted behind user_ring_idx");
	EXPECT_EQ(r.async, r.reaped) TH_LOG("completions lost");
	EXPECT_EQ(r.user_idx, s_head(&r)->kernel_ring_idx);
	EXPECT_EQ(0, async_unregister(c_head(&r), HSZ));
	rig_free(&r);
}

/*
 * The ring and its head sit in a MAP_SHARED memfd that a second process
 * scribbles on and truncates while chains post.  Nothing can be counted
 * then, but every call must answer with a clean errno, the kernel must
 * keep every completion it could not write, and once the memory is
 * whole again the ring must drain so that it can be unregistered.
 */
TEST(shared_ring_scribbled_and_truncated)
{
	size_t len = 2 * PAGE;
	int fd = memfd_create("syslet-shared-ring", 0);
	struct async_head_user *h;
	uint64_t *ring;
	struct syslet_uatom atoms[256];
	int64_t rets[256];
	long bad = 0, async = 0, unreg = -1;
	time_t end;
	pid_t pid;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, len));
	h = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, h);
	ring = (uint64_t *)((char *)h + PAGE);
	h->completion_ring = PTR(ring);
	h->ring_size_bytes = NR_SLOTS * sizeof(uint64_t);
	ASSERT_EQ(0, async_register(h, HSZ));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			       fd, 0);
		unsigned int seed = 2;

		end = time(NULL) + CHAOS_SECONDS;
		while (time(NULL) < end) {
			uint64_t *w = (uint64_t *)m;

			for (int i = 0; i < 8; i++)
				w[rand_r(&seed) % (len / 8)] =
					rand_r(&seed) % 3 ? 0 :
					((uint64_t)rand_r(&seed) << 32) | rand_r(&seed);
			usleep(rand_r(&seed) % 2000);
			if (rand_r(&seed) % 8 == 0) {
				if (ftruncate(fd, rand_r(&seed) % 2 ? 0 : PAGE))
					_exit(1);
				usleep(rand_r(&seed) % 3000);
				if (ftruncate(fd, len))
					_exit(1);
			}
		}
		_exit(0);
	}
	/*
	 * The parent never touches the memfd while the child may have
	 * truncated it (SIGBUS): it only names it in system calls.
	 */
	end = time(NULL) + CHAOS_SECONDS;
	for (int n = 0; time(NULL) < end; n++) {
		struct syslet_uatom *a = &atoms[n % 256];
		long rc;

		init_atom(a, __NR_getppid, NULL, NULL, NULL, NULL, NULL, NULL,
			  &rets[n % 256], SYSLET_ASYNC, NULL);
		rc = async_exec(a, h, HSZ);
		if (rc == 0)
			async++;
		else if (rc < 0 && errno != EFAULT && errno != EINVAL)
			bad++;
		rc = async_wait(1, h, &ms10);
		if (rc < 0 && errno != EFAULT && errno != EINVAL &&
		    errno != EOVERFLOW)
			bad++;
		if (n % 16 == 0)
			usleep(1000);
	}
	TH_LOG("chaos over after %ld s", (long)(time(NULL) - end + CHAOS_SECONDS));
	EXPECT_EQ(0, wait_exit(pid, 30000));
	EXPECT_EQ(0, bad);
	TH_LOG("%ld chains went asynchronous", async);

	/* Whole again: make room until the kernel holds nothing back. */
	ASSERT_EQ(0, ftruncate(fd, len));
	end = time(NULL) + DRAIN_SECONDS;
	while (time(NULL) < end) {
		const struct __kernel_timespec ms100 = { .tv_nsec = 100000000 };

		memset(ring, 0, PAGE);
		h->user_ring_idx = h->kernel_ring_idx;
		async_wait(1, h, &ms100);
		memset(ring, 0, PAGE);
		h->user_ring_idx = h->kernel_ring_idx;
		unreg = async_unregister(h, HSZ);
		if (!unreg || errno == ENOENT) {
			unreg = 0;
			break;
		}
	}
	EXPECT_EQ(0, unreg) TH_LOG("the ring did not drain: %s", strerror(errno));
	TH_LOG("drained in %ld s", (long)(time(NULL) - end + DRAIN_SECONDS));
	close(fd);
}

TEST_HARNESS_MAIN
