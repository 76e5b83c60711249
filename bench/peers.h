/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by bench/peers.c and bench/peers-first.c: the clock, the report
 * line and the operations every peer runs, so each peer does exactly the
 * same work.
 *
 * Under QEMU -icount shift=0,sleep=off one guest ns is one guest
 * instruction: the figures are instructions.
 */
#ifndef SYSLET_BENCH_PEERS_H
#define SYSLET_BENCH_PEERS_H

#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <liburing.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "../tools/testing/selftests/syslet/syslet.h"
#include "bench.h"

#define BUF_SIZE 4096

/* One result line; scripts/bench-table.py reads these (make bench). */
static inline void report(const char *group, const char *label, double ns)
{
	printf("BENCH\t%s\t%s\t%.1f\n", group, label, ns);
	fflush(stdout);
}

/* ---- thread pool: one worker, one request slot, futex hand-off ---- */

struct pool {
	uint32_t req_seq;	/* bumped by the submitter */
	uint32_t done_seq;	/* set to req_seq by the worker when done */
	int stop;
	int fd;
	void *buf;
	long ret;
	pthread_t thread;
};

static inline void *pool_worker(void *arg)
{
	struct pool *p = arg;
	uint32_t seen = 0;

	for (;;) {
		bench_futex_wait(&p->req_seq, seen);
		seen = __atomic_load_n(&p->req_seq, __ATOMIC_ACQUIRE);
		if (p->stop)
			return NULL;
		p->ret = pread(p->fd, p->buf, BUF_SIZE, 0);
		bench_futex_set_wake(&p->done_seq, seen);
	}
}

static inline int pool_start(struct pool *p, int fd, void *buf)
{
	memset(p, 0, sizeof(*p));
	p->fd = fd;
	p->buf = buf;
	return pthread_create(&p->thread, NULL, pool_worker, p);
}

/* Hand one pread to the worker and wait for its result. */
static inline long pool_pread(struct pool *p)
{
	uint32_t seq = p->req_seq + 1;

	bench_futex_set_wake(&p->req_seq, seq);
	bench_futex_wait(&p->done_seq, seq - 1);
	return p->ret;
}

static inline void pool_stop(struct pool *p)
{
	p->stop = 1;
	bench_futex_set_wake(&p->req_seq, p->req_seq + 1);
	pthread_join(p->thread, NULL);
}

/* ---- io_uring ---- */

static inline long uring_statx(struct io_uring *r, const char *path,
			       struct statx *stx)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);
	struct io_uring_cqe *cqe;
	long ret;

	io_uring_prep_statx(sqe, AT_FDCWD, path, 0, STATX_BASIC_STATS, stx);
	if (io_uring_submit_and_wait(r, 1) < 0 || io_uring_peek_cqe(r, &cqe))
		return -EIO;
	ret = cqe->res;
	io_uring_cqe_seen(r, cqe);
	return ret;
}

static inline long uring_read(struct io_uring *r, int fd, void *buf)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);
	struct io_uring_cqe *cqe;
	long ret;

	io_uring_prep_read(sqe, fd, buf, BUF_SIZE, 0);
	if (io_uring_submit_and_wait(r, 1) < 0 || io_uring_peek_cqe(r, &cqe))
		return -EIO;
	ret = cqe->res;
	io_uring_cqe_seen(r, cqe);
	return ret;
}

static inline long uring_nop(struct io_uring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);
	struct io_uring_cqe *cqe;
	long ret;

	io_uring_prep_nop(sqe);
	if (io_uring_submit_and_wait(r, 1) < 0 || io_uring_peek_cqe(r, &cqe))
		return -EIO;
	ret = cqe->res;
	io_uring_cqe_seen(r, cqe);
	return ret;
}

/* ---- libaio (kernel AIO): no stat; a buffered pread runs in io_submit ---- */

static inline long libaio_pread(io_context_t ctx, int fd, void *buf)
{
	struct iocb cb, *cbs[1] = { &cb };
	struct io_event ev;

	io_prep_pread(&cb, fd, buf, BUF_SIZE, 0);
	if (io_submit(ctx, 1, cbs) != 1 || io_getevents(ctx, 1, 1, &ev, NULL) != 1)
		return -EIO;
	return ev.res;
}

/* ---- glibc POSIX AIO: helper threads in user space ---- */

static inline long posix_aio_pread(int fd, void *buf)
{
	struct aiocb cb;
	const struct aiocb *list[1] = { &cb };

	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = fd;
	cb.aio_buf = buf;
	cb.aio_nbytes = BUF_SIZE;
	cb.aio_offset = 0;
	if (aio_read(&cb))
		return -errno;
	while (aio_error(&cb) == EINPROGRESS)
		aio_suspend(list, 1, NULL);
	return aio_return(&cb);
}

#endif
