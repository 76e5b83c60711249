// SPDX-License-Identifier: GPL-2.0
/*
 * The first asynchronous operation of a freshly exec'd process, every
 * set-up it needs included (teardown not): run once per peer, each in its
 * own process.
 *
 *   peers-first [-f FILE] PEER
 *
 * PEER: stat, syslet-stat, uring-stat (first stat of FILE);
 *       syslet-stat-noring, syslet-stat-sync: the first stat atom with no
 *       ring (no syslet state at all), and on a ring but SYSLET_SYNC (ring
 *       set up, no spare thread made): where syslet-stat's cost goes;
 *       pread, syslet-pread, uring-read, libaio, posix-aio, thread-pool
 *       (first 4 KiB pread of FILE, opened before the clock starts).
 * Prints one "BENCH first-stat|first-pread <label> <ns>" line; exits
 * non-zero if the operation failed.  Under QEMU -icount shift=0,sleep=off
 * ns are instructions.
 */
#include "peers.h"

static char buf[BUF_SIZE] __attribute__((aligned(4096)));

/*
 * The caller's own memory is not the facility's set-up: the syslet peers
 * write-fault their static atoms and rings in before the clock starts, as
 * stat()'s buffer on the stack is.
 */
#define TOUCH(var) memset(&(var), 0, sizeof(var))

int main(int argc, char **argv)
{
	const char *file = argv[0], *peer = NULL, *group, *label;
	struct stat st;
	struct statx stx;
	double t0, t1;
	long ret;
	int fd;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-f") && i + 1 < argc)
			file = argv[++i];
		else
			peer = argv[i];
	}
	fd = open(file, O_RDONLY);
	if (!peer || fd < 0) {
		fprintf(stderr, "usage: peers-first [-f FILE] PEER\n");
		return 2;
	}
	now();			/* the vDSO's pages, out of the window */
	now();

	if (!strcmp(peer, "stat")) {
		group = "first-stat", label = "stat() direct";
		t0 = now();
		ret = syscall(__NR_stat, file, &st);
		t1 = now();
		ret = ret == 0 ? 0 : -1;
	} else if (!strncmp(peer, "syslet-stat", 11)) {
		static struct async_head_user head;
		static uint64_t slots[64];
		static struct syslet_uatom atom;
		static uint64_t path, statp;
		static int64_t aret;
		int ring = strcmp(peer, "syslet-stat-noring");
		uint64_t flags = 0;

		group = "first-stat";
		label = "syslet: ring + first stat atom (async_exec)";
		if (!ring)
			label = "syslet: first stat atom, no ring (no syslet state)";
		else if (!strcmp(peer, "syslet-stat-sync"))
			label = "syslet: ring + first SYSLET_SYNC stat atom (no spare)",
			flags = SYSLET_SYNC;
		TOUCH(head), TOUCH(slots), TOUCH(atom), TOUCH(path), TOUCH(aret);
		t0 = now();
		head.completion_ring = PTR(slots);
		head.ring_size_bytes = sizeof(slots);
		path = PTR(file);
		statp = PTR(&st);
		init_atom(&atom, __NR_stat, &path, &statp, NULL, NULL, NULL,
			  NULL, &aret, flags, NULL);
		ret = async_exec(&atom, ring ? &head : NULL, sizeof(head));
		t1 = now();
		ret = ret == (long)PTR(&atom) && aret == 0 ? 0 : -1;
	} else if (!strcmp(peer, "uring-stat")) {
		struct io_uring r;

		group = "first-stat";
		label = "io_uring: queue_init + first STATX + wait";
		t0 = now();
		ret = io_uring_queue_init(8, &r, 0);
		if (!ret)
			ret = uring_statx(&r, file, &stx);
		t1 = now();
	} else if (!strcmp(peer, "pread")) {
		group = "first-pread", label = "pread() 4 KiB direct";
		t0 = now();
		ret = pread(fd, buf, BUF_SIZE, 0);
		t1 = now();
	} else if (!strcmp(peer, "syslet-pread")) {
		static struct async_head_user head;
		static uint64_t slots[64];
		static struct syslet_uatom atom;
		static uint64_t afd, abuf, alen, aoff;
		static int64_t aret;

		group = "first-pread";
		label = "syslet: ring + first pread atom (async_exec)";
		TOUCH(head), TOUCH(slots), TOUCH(atom), TOUCH(afd), TOUCH(aret);
		t0 = now();
		head.completion_ring = PTR(slots);
		head.ring_size_bytes = sizeof(slots);
		afd = fd;
		abuf = PTR(buf);
		alen = BUF_SIZE;
		aoff = 0;
		init_atom(&atom, __NR_pread64, &afd, &abuf, &alen, &aoff,
			  NULL, NULL, &aret, 0, NULL);
		ret = async_exec(&atom, &head, sizeof(head));
		t1 = now();
		ret = ret == (long)PTR(&atom) ? aret : -1;
	} else if (!strcmp(peer, "uring-read")) {
		struct io_uring r;

		group = "first-pread";
		label = "io_uring: queue_init + first READ + wait";
		t0 = now();
		ret = io_uring_queue_init(8, &r, 0);
		if (!ret)
			ret = uring_read(&r, fd, buf);
		t1 = now();
	} else if (!strcmp(peer, "libaio")) {
		io_context_t ctx = 0;

		group = "first-pread";
		label = "libaio: io_setup + first io_submit + io_getevents";
		t0 = now();
		ret = io_setup(8, &ctx);
		if (!ret)
			ret = libaio_pread(ctx, fd, buf);
		t1 = now();
	} else if (!strcmp(peer, "posix-aio")) {
		group = "first-pread";
		label = "POSIX AIO: first aio_read + aio_suspend (starts glibc's helper)";
		t0 = now();
		ret = posix_aio_pread(fd, buf);
		t1 = now();
	} else if (!strcmp(peer, "thread-pool")) {
		static struct pool pool;

		group = "first-pread";
		label = "thread pool: pthread_create + first hand-off + wait";
		t0 = now();
		ret = pool_start(&pool, fd, buf);
		if (!ret)
			ret = pool_pread(&pool);
		t1 = now();
	} else {
		fprintf(stderr, "peers-first: unknown peer %s\n", peer);
		return 2;
	}
	if (!strcmp(group, "first-pread") ? ret != BUF_SIZE : ret != 0) {
		fprintf(stderr, "peers-first %s: failed (%ld)\n", peer, ret);
		return 1;
	}
	report(group, label, t1 - t0);
	/* No teardown: exit takes the ring, the context, the thread with it. */
	_exit(0);
}
