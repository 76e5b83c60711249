// SPDX-License-Identifier: GPL-2.0
/*
 * Blocking concurrency: N operations that each block until a releasing
 * thread lets them go after a fixed delay; how long until all N are done,
 * for syslets and their peers.  Plain TCG wall time: compare peers of one
 * boot only, as ratios.
 *
 *   blocking PEER WORK DELAY_MS N...   two lines per N (rounds first, again):
 *	CONC <work> <peer> <N> <round> <total ns> <submit ns> <delay ns> <release ns>
 *   blocking --mem PEER WORK N         kernel memory with N ops blocked:
 *	MEM <work> <peer> <N> <meminfo field> <delta kB>
 *   blocking --smoke                   every peer and work, N = 4; KTAP
 *
 * WORK: "pipe"  read(2) of 1 byte from an empty pipe; the releaser writes
 *		 one byte into each pipe;
 *	 "fifo"  open(2) of a FIFO for reading, which blocks until a writer
 *		 opens it; the releaser opens each FIFO for writing.
 * PEER: "syslet" one atom per op, async_exec() each (the op blocks, a
 *		 spare takes over the caller), one ring, async_wait();
 *	 "thread" pthread_create() per op, pthread_join() all;
 *	 "pool"   N pre-started threads (not timed) take the N ops;
 *	 "uring"  io_uring: one SQE per op, one io_uring_submit(), wait for
 *		 N CQEs; io-wq may start as many workers as ops.  A pipe
 *		 READ arms poll (no thread blocks); the FIFO open is sent to
 *		 io-wq with IOSQE_ASYNC, where a worker blocks in open().
 * The releaser lets the ops go DELAY_MS after the caller has submitted
 * the last one (a timer started then), so every op has blocked (or is
 * about to) and total - delay is what the peer adds: submitting, and
 * reaping after the release; submit is the time until the caller has
 * all N ops on their way.  A process that uses io_uring
 * is refused syslet hand-offs, so every peer runs in its own process
 * (--smoke forks one per peer).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "bench.h"

#define MAX_OPS		4096
#define FIFO_DIR	"/tmp/blocking-fifo"

enum work { PIPE, FIFO };

struct op {
	struct syslet_uatom atom;
	uint64_t a0, a1, a2, a3;
	int64_t ret;
	int rfd, wfd;			/* pipe ends; FIFO: read end once open */
	char c;
	char path[48];
};

static enum work work;
static struct op *ops;
static long nr;

/* ---- the releaser: a thread that lets every op go at t0 + delay ---- */
/* (t0: the end of the submissions) */

static struct {
	pthread_t thread;
	uint32_t go;			/* 1: started, 2: release now (--mem) */
	double t0, delay, span;
	int timer;			/* 1: release at t0 + delay; 0: on go == 2 */
} rel;

static void release_all(void)
{
	long left = nr;
	char *done = calloc(nr, 1);

	if (work == PIPE) {
		for (long i = 0; i < nr; i++)
			if (write(ops[i].wfd, "x", 1) != 1)
				perror("releaser: write");
		free(done);
		return;
	}
	/* FIFO: a writer open only succeeds once the reader is in open(). */
	while (left) {
		for (long i = 0; i < nr; i++) {
			if (done[i])
				continue;
			ops[i].wfd = open(ops[i].path, O_WRONLY | O_NONBLOCK);
			if (ops[i].wfd >= 0) {
				done[i] = 1;
				left--;
			}
		}
		if (left)
			usleep(1000);
	}
	free(done);
}

static void *releaser(void *arg)
{
	bench_futex_wait(&rel.go, 0);
	if (rel.timer) {
		double wake = rel.t0 + rel.delay;
		struct timespec ts = {
			.tv_sec = (time_t)(wake / 1e9),
			.tv_nsec = (long)(wake - (time_t)(wake / 1e9) * 1e9),
		};

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	} else {
		bench_futex_wait(&rel.go, 1);
	}
	rel.span = now();
	release_all();
	rel.span = now() - rel.span;
	return NULL;
}

static int releaser_start(int timer, double delay)
{
	rel.go = 0;
	rel.timer = timer;
	rel.delay = delay;
	return pthread_create(&rel.thread, NULL, releaser, NULL);
}

/* ---- the ops ---- */

static int ops_setup(long n)
{
	nr = n;
	for (long i = 0; i < n; i++) {
		struct op *o = &ops[i];
		int p[2];

		memset(o, 0, sizeof(*o));
		o->rfd = o->wfd = -1;
		if (work == PIPE) {
			if (pipe(p))
				return -1;
			o->rfd = p[0];
			o->wfd = p[1];
		} else {
			snprintf(o->path, sizeof(o->path), FIFO_DIR "/%ld", i);
			unlink(o->path);
			if (mkfifo(o->path, 0600))
				return -1;
		}
	}
	return 0;
}

/* Check every op's result (rets[i] its return value) and clean up. */
static int ops_finish(void)
{
	int ok = 1;

	for (long i = 0; i < nr; i++) {
		struct op *o = &ops[i];

		if (work == PIPE) {
			ok &= o->ret == 1 && o->c == 'x';
			close(o->rfd);
		} else {
			ok &= o->ret >= 0;
			if (o->ret >= 0)
				close(o->ret);
			unlink(o->path);
		}
		if (o->wfd >= 0)
			close(o->wfd);
	}
	return ok;
}

/* The op done synchronously by a thread. */
static void op_block(void *arg, long i)
{
	struct op *o = &ops[i];

	if (work == PIPE)
		o->ret = read(o->rfd, &o->c, 1);
	else
		o->ret = open(o->path, O_RDONLY);
	if (o->ret < 0)
		o->ret = -errno;
}

/* ---- peers: submit all ops, then wait for all of them ---- */

static struct {
	struct async_head_user head;
	uint64_t slots[2 * MAX_OPS];
} ring;
static uint64_t a_cwd = (uint64_t)AT_FDCWD, a_len = 1, a_rdonly = O_RDONLY;

static int syslet_setup(void)
{
	memset(&ring, 0, sizeof(ring));
	ring.head.completion_ring = PTR(ring.slots);
	ring.head.ring_size_bytes = sizeof(ring.slots);
	ring.head.max_nr_threads = MAX_OPS;
	return async_register(&ring.head, sizeof(ring.head)) ? -1 : 0;
}

static long syslet_inflight;

/*
 * An op that does not block completes cached: async_exec() returns its
 * atom and there is nothing to reap for it (not expected here: the
 * release comes after the last submission).
 */
static int syslet_submit(void)
{
	int ok = 1;

	syslet_inflight = 0;
	for (long i = 0; i < nr; i++) {
		struct op *o = &ops[i];
		long r;

		if (work == PIPE) {
			o->a0 = o->rfd;
			o->a1 = PTR(&o->c);
			init_atom(&o->atom, __NR_read, &o->a0, &o->a1, &a_len,
				  NULL, NULL, NULL, &o->ret, 0, NULL);
		} else {
			o->a1 = PTR(o->path);
			init_atom(&o->atom, __NR_openat, &a_cwd, &o->a1,
				  &a_rdonly, NULL, NULL, NULL, &o->ret, 0, NULL);
		}
		r = async_exec(&o->atom, &ring.head, sizeof(ring.head));
		if (r == 0) {
			syslet_inflight++;
		} else if (r != (long)PTR(&o->atom)) {
			fprintf(stderr, "syslet: op %ld: async_exec returned %ld\n", i, r);
			ok = 0;
		}
	}
	return ok ? 0 : -1;
}

static int syslet_wait(void)
{
	return syslet_reap(&ring.head, ring.slots, ARRAY_SIZE(ring.slots),
			   syslet_inflight) ? -1 : 0;
}

static pthread_t *threads;

static void *thread_op(void *arg)
{
	op_block(NULL, (long)arg);
	return NULL;
}

static int thread_submit(void)
{
	for (long i = 0; i < nr; i++)
		if (pthread_create(&threads[i], NULL, thread_op, (void *)i))
			return -1;
	return 0;
}

static int thread_wait(void)
{
	for (long i = 0; i < nr; i++)
		pthread_join(threads[i], NULL);
	return 0;
}

static struct ipool pool;

static int pool_submit(void)
{
	ipool_submit(&pool, nr);
	return 0;
}

static int pool_wait(void)
{
	ipool_wait(&pool);
	return 0;
}

static struct io_uring uring;

static int uring_setup(void)
{
	unsigned int max_workers[2] = { MAX_OPS, MAX_OPS };

	if (io_uring_queue_init(MAX_OPS, &uring, 0))
		return -1;
	/* As many io-wq workers as ops, like the syslet ring's threads. */
	return io_uring_register_iowq_max_workers(&uring, max_workers) < 0 ? -1 : 0;
}

static int uring_submit(void)
{
	for (long i = 0; i < nr; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&uring);

		if (!sqe)
			return -1;
		if (work == PIPE)
			io_uring_prep_read(sqe, ops[i].rfd, &ops[i].c, 1, -1);
		else
			io_uring_prep_openat(sqe, AT_FDCWD, ops[i].path,
					     O_RDONLY, 0);
		/*
		 * Tried inline, an open is done with O_NONBLOCK, which
		 * opens a FIFO at once; IOSQE_ASYNC makes an io-wq worker
		 * do the real, blocking open().
		 */
		if (work == FIFO)
			sqe->flags |= IOSQE_ASYNC;
		io_uring_sqe_set_data64(sqe, i);
	}
	return io_uring_submit(&uring) == nr ? 0 : -1;
}

static int uring_wait(void)
{
	struct io_uring_cqe *cqe;

	for (long got = 0; got < nr; got++) {
		if (io_uring_wait_cqe(&uring, &cqe))
			return -1;
		ops[io_uring_cqe_get_data64(cqe)].ret = cqe->res;
		io_uring_cqe_seen(&uring, cqe);
	}
	return 0;
}

struct peer {
	const char *name;
	int (*setup)(long n);		/* per N, before the clock; may be NULL */
	int (*submit)(void);
	int (*wait)(void);
	void (*teardown)(void);		/* per N; may be NULL */
};

static int thread_setup(long n)
{
	return (threads = calloc(n, sizeof(*threads))) ? 0 : -1;
}

static void thread_teardown(void)
{
	free(threads);
}

static int pool_setup(long n)
{
	return ipool_start(&pool, n, op_block, NULL);
}

static void pool_teardown(void)
{
	ipool_stop(&pool);
}

static int syslet_setup_n(long n)
{
	static int done;

	/* One ring for the process; its threads stay between rounds. */
	if (!done && syslet_setup())
		return -1;
	done = 1;
	return 0;
}

static int uring_setup_n(long n)
{
	static int done;

	if (!done && uring_setup())
		return -1;
	done = 1;
	return 0;
}

static const struct peer peers[] = {
	{ "syslet", syslet_setup_n, syslet_submit, syslet_wait, NULL },
	{ "thread", thread_setup, thread_submit, thread_wait, thread_teardown },
	{ "pool", pool_setup, pool_submit, pool_wait, pool_teardown },
	{ "uring", uring_setup_n, uring_submit, uring_wait, NULL },
};

static const char *const work_names[] = { "pipe", "fifo" };

static const struct peer *find_peer(const char *name)
{
	for (size_t i = 0; i < sizeof(peers) / sizeof(*peers); i++)
		if (!strcmp(peers[i].name, name))
			return &peers[i];
	return NULL;
}

static int parse_work(const char *name)
{
	for (int i = 0; i < 2; i++)
		if (!strcmp(work_names[i], name)) {
			work = i;
			return 0;
		}
	return -1;
}

/*
 * One round of n ops: set up, start the clock and the releaser's timer,
 * submit, wait.  Returns 1 if every op completed with the right result.
 */
static int run_round(const struct peer *p, long n, double delay_ns,
		     double *total, double *submit)
{
	double t0, t1;
	int ok;

	if (ops_setup(n) || (p->setup && p->setup(n)) || releaser_start(1, delay_ns))
		return 0;
	t0 = now();
	ok = !p->submit();
	rel.t0 = t1 = now();
	bench_futex_set_wake(&rel.go, 1);
	ok &= !p->wait();
	*total = now() - t0;
	*submit = t1 - t0;
	pthread_join(rel.thread, NULL);
	ok &= ops_finish();
	if (p->teardown)
		p->teardown();
	return ok;
}

static const char *const mem_fields[] = {
	"MemFree", "KernelStack", "Slab", "SUnreclaim", "PageTables", "AnonPages",
};
#define NR_MEM_FIELDS (sizeof(mem_fields) / sizeof(*mem_fields))

static void meminfo_all(long *kb)
{
	for (size_t i = 0; i < NR_MEM_FIELDS; i++)
		kb[i] = meminfo_kb(mem_fields[i]);
}

/* Kernel memory before and with n ops blocked. */
static int run_mem(const struct peer *p, long n)
{
	long before[NR_MEM_FIELDS], with[NR_MEM_FIELDS];
	double total, submit;
	int ok;

	/* A first round sets up what stays (ring, io_uring, spare threads). */
	if (!run_round(p, 1, 1e6, &total, &submit))
		return 1;
	if (ops_setup(n) || releaser_start(0, 0))
		return 1;
	bench_futex_set_wake(&rel.go, 1);
	usleep(200000);
	meminfo_all(before);
	if ((p->setup && p->setup(n)) || p->submit())
		return 1;
	/*
	 * Let it settle: io-wq starts its workers one after the other, and
	 * syslet spares and blocked tasks are made as the ops come.  Until
	 * KernelStack has not changed for 0.6 s (at most 10 s).
	 */
	for (int i = 0, same = 0; i < 50 && same < 3; i++) {
		long ks = meminfo_kb("KernelStack");

		usleep(200000);
		same = meminfo_kb("KernelStack") == ks ? same + 1 : 0;
	}
	meminfo_all(with);
	bench_futex_set_wake(&rel.go, 2);
	ok = !p->wait();
	pthread_join(rel.thread, NULL);
	ok &= ops_finish();
	if (p->teardown)
		p->teardown();
	for (size_t i = 0; i < NR_MEM_FIELDS; i++)
		printf("MEM\t%s\t%s\t%ld\t%s\t%ld\n", work_names[work], p->name,
		       n, mem_fields[i], with[i] - before[i]);
	return !ok;
}

static int smoke(void)
{
	char name[64];

	printf("TAP version 13\n1..%zu\n", 2 * sizeof(peers) / sizeof(*peers));
	fflush(stdout);
	for (int w = 0; w < 2; w++) {
		for (size_t i = 0; i < sizeof(peers) / sizeof(*peers); i++) {
			double total = 0, submit;
			int status;
			pid_t pid;

			work = w;
			pid = fork();
			if (pid == 0) {
				alarm(30);
				_exit(run_round(&peers[i], 4, 10e6, &total, &submit) &&
				      total >= 10e6 ? 0 : 1);
			}
			snprintf(name, sizeof(name), "blocking_%s_%s",
				 work_names[w], peers[i].name);
			ktap(pid > 0 && waitpid(pid, &status, 0) == pid &&
			     WIFEXITED(status) && !WEXITSTATUS(status), name,
			     "4 blocked ops did not all complete after the release");
		}
	}
	return ktap_failures != 0;
}

int main(int argc, char **argv)
{
	const struct peer *p;
	int mem = 0, argi = 1, rc = 0;

	/* Two pipe ends per op, and a result fd. */
	struct rlimit nofile = { 3 * MAX_OPS + 64, 3 * MAX_OPS + 64 };

	ops = calloc(MAX_OPS, sizeof(*ops));
	mkdir(FIFO_DIR, 0700);
	if (!ops || setrlimit(RLIMIT_NOFILE, &nofile)) {
		perror("blocking: set-up");
		return 1;
	}
	if (argc > 1 && !strcmp(argv[1], "--smoke"))
		return smoke();
	if (argc > 1 && !strcmp(argv[1], "--mem")) {
		mem = 1;
		argi++;
	}
	if (argc - argi < 3 + !mem || !(p = find_peer(argv[argi])) ||
	    parse_work(argv[argi + 1])) {
		fprintf(stderr, "usage: blocking [--mem] PEER WORK [DELAY_MS] N...\n");
		return 2;
	}
	alarm(300);
	if (mem) {
		long n = atol(argv[argi + 2]);

		return n > 0 && n <= MAX_OPS ? run_mem(p, n) : 2;
	}
	double delay = atof(argv[argi + 2]) * 1e6;

	/*
	 * Each N twice: "first" finds what the previous (smaller) N left
	 * (syslet pool threads and io-wq workers idle for 5 s), "again"
	 * finds N of them idle, as a program that keeps blocking would.
	 */
	for (argi += 3; argi < argc; argi++) {
		long n = atol(argv[argi]);
		double total, submit;

		if (n <= 0 || n > MAX_OPS)
			return 2;
		for (int again = 0; again < 2; again++) {
			if (!run_round(p, n, delay, &total, &submit)) {
				fprintf(stderr, "blocking: %s %s N=%ld failed\n",
					p->name, work_names[work], n);
				rc = 1;
				continue;
			}
			printf("CONC\t%s\t%s\t%ld\t%s\t%.0f\t%.0f\t%.0f\t%.0f\n",
			       work_names[work], p->name, n,
			       again ? "again" : "first", total, submit, delay,
			       rel.span);
			fflush(stdout);
		}
	}
	return rc;
}
