// SPDX-License-Identifier: GPL-2.0
/*
 * Per-call cost of syslets against their peers, side by side in one guest:
 * the direct system call, a cached syslet atom, io_uring (liburing),
 * libaio, glibc POSIX AIO and a one-thread pool.  (lib-syslet: peers-lib,
 * first call in a fresh process: peers-first, cachemiss hand-off: percall.)
 *
 *   peers [-f FILE] [iterations]   one "BENCH <group> <label> <ns>" line per figure
 *   peers [-f FILE] --smoke        each peer a few times, checked; KTAP
 *
 * FILE (default: this program) is stat'ed and read (4 KiB at offset 0);
 * it sits in the initramfs, so it is cached.  Run under QEMU -icount
 * shift=0,sleep=off: ns per call is instructions per call.
 */
#include "peers.h"
#include <libgen.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

static const char *file;
static int fd;
static char buf[BUF_SIZE] __attribute__((aligned(4096)));
static char ref[BUF_SIZE];
static struct stat st, ref_st;
static struct statx stx;

static struct async_head_user head;
static uint64_t ring_slots[64];
static struct syslet_uatom getpid_atom, stat_atom, pread_atom;
static uint64_t a_path, a_statp, a_fd, a_buf, a_len = BUF_SIZE, a_off;
static int64_t a_ret;

static struct io_uring uring;
static io_context_t aio_ctx;
static struct pool pool;

/* A few untimed rounds first, then n timed ones; per-call average. */
#define MEASURE(group, label, n, body)					\
	do {								\
		for (long i_ = 0; i_ < 8; i_++) {			\
			body;						\
		}							\
		double t0_ = now();					\
		for (long i_ = 0; i_ < (n); i_++) {			\
			body;						\
		}							\
		report(group, label, (now() - t0_) / (n));		\
	} while (0)

static void setup(void)
{
	head.completion_ring = PTR(ring_slots);
	head.ring_size_bytes = sizeof(ring_slots);
	a_path = PTR(file);
	a_statp = PTR(&st);
	a_fd = fd;
	a_buf = PTR(buf);
	init_atom(&getpid_atom, __NR_getpid, NULL, NULL, NULL, NULL, NULL,
		  NULL, &a_ret, 0, NULL);
	init_atom(&stat_atom, __NR_stat, &a_path, &a_statp, NULL, NULL, NULL,
		  NULL, &a_ret, 0, NULL);
	init_atom(&pread_atom, __NR_pread64, &a_fd, &a_buf, &a_len, &a_off,
		  NULL, NULL, &a_ret, 0, NULL);
}

static long oneshot_statx(void)
{
	struct io_uring r;
	long ret;

	if (io_uring_queue_init(4, &r, 0))
		return -EIO;
	ret = uring_statx(&r, file, &stx);
	io_uring_queue_exit(&r);
	return ret;
}

static void run_bench(long n)
{
	long slow = n / 10, oneshot = n / 100 > 20 ? n / 100 : 20;

	MEASURE("loop", "empty loop", n, asm volatile("" ::: "memory"));

	MEASURE("null", "getpid() direct", n, syscall(__NR_getpid));
	MEASURE("null", "getpid atom, no ring", n,
		async_exec(&getpid_atom, NULL, 0));
	MEASURE("null", "getpid atom, with ring", n,
		async_exec(&getpid_atom, &head, sizeof(head)));
	MEASURE("null", "io_uring NOP, persistent ring", n, uring_nop(&uring));

	MEASURE("stat", "stat() direct", n, syscall(__NR_stat, file, &st));
	MEASURE("stat", "statx() direct", n,
		statx(AT_FDCWD, file, 0, STATX_BASIC_STATS, &stx));
	MEASURE("stat", "stat atom, with ring", n,
		async_exec(&stat_atom, &head, sizeof(head)));
	MEASURE("stat", "io_uring STATX, persistent ring", slow,
		uring_statx(&uring, file, &stx));
	MEASURE("stat", "io_uring STATX, one-shot ring (setup+submit+wait+exit)",
		oneshot, oneshot_statx());

	MEASURE("pread", "pread() 4 KiB direct", n, pread(fd, buf, BUF_SIZE, 0));
	MEASURE("pread", "pread atom, with ring", n,
		async_exec(&pread_atom, &head, sizeof(head)));
	MEASURE("pread", "io_uring READ, persistent ring", n,
		uring_read(&uring, fd, buf));
	MEASURE("pread", "libaio io_submit + io_getevents", n,
		libaio_pread(aio_ctx, fd, buf));
	MEASURE("pread", "POSIX aio_read + aio_suspend (glibc)", slow,
		posix_aio_pread(fd, buf));
	MEASURE("pread", "thread pool: hand-off to 1 worker (futex) + wait", slow,
		pool_pread(&pool));
}

/* ---- smoke mode: every peer a few times, results checked ---- */

static int buf_ok(long ret)
{
	int ok = ret == BUF_SIZE && !memcmp(buf, ref, BUF_SIZE);

	memset(buf, 0, sizeof(buf));
	return ok;
}

static int stat_ok(long ret)
{
	int ok = ret == 0 && st.st_ino == ref_st.st_ino &&
		 st.st_size == ref_st.st_size;

	memset(&st, 0, sizeof(st));
	return ok;
}

static int statx_ok(long ret)
{
	int ok = ret == 0 && stx.stx_ino == ref_st.st_ino &&
		 (off_t)stx.stx_size == ref_st.st_size;

	memset(&stx, 0, sizeof(stx));
	return ok;
}

static int cached_ok(long ret, struct syslet_uatom *atom)
{
	return ret == (long)PTR(atom);
}

/*
 * One cachemiss hand-off: a read of an empty pipe goes asynchronous.  In
 * a forked child: a task that uses io_uring (this one does) is refused
 * the hand-off, and the read would block for good; the alarm turns a
 * refusal into a failure instead of a hang.
 */
static int hand_off_once(void)
{
	static struct async_head_user h;
	static uint64_t slots[8];
	struct syslet_uatom atom;
	uint64_t pfd, pbuf, len = 1;
	int64_t ret = 0;
	char c = 0;
	int p[2], ok;

	if (pipe(p))
		return 0;
	pfd = p[0];
	pbuf = PTR(&c);
	h.completion_ring = PTR(slots);
	h.ring_size_bytes = sizeof(slots);
	init_atom(&atom, __NR_read, &pfd, &pbuf, &len, NULL, NULL, NULL, &ret,
		  0, NULL);
	/* Registered: a spare is ready for the process' very first block. */
	ok = async_register(&h, sizeof(h)) == 0 &&
	     async_exec(&atom, &h, sizeof(h)) == 0 &&
	     write(p[1], "x", 1) == 1 && async_wait(1, &h, NULL) == 1 &&
	     slots[0] == PTR(&atom) && ret == 1 && c == 'x';
	close(p[0]);
	close(p[1]);
	return ok;
}

static int smoke_hand_off(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		alarm(30);
		_exit(hand_off_once() ? 0 : 1);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid &&
	       WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int run_first(const char *first, const char *peer)
{
	char *argv[] = { (char *)first, "-f", (char *)file, (char *)peer, NULL };
	posix_spawn_file_actions_t quiet;	/* no figures amid KTAP */
	int status, err;
	pid_t pid;

	posix_spawn_file_actions_init(&quiet);
	posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
	err = posix_spawn(&pid, first, &quiet, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&quiet);
	if (err)
		return 0;
	if (waitpid(pid, &status, 0) != pid)
		return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static const char *const first_peers[] = {
	"stat", "syslet-stat", "uring-stat",
	"pread", "syslet-pread", "uring-read", "libaio", "posix-aio",
	"thread-pool",
};

static int run_smoke(const char *self)
{
	char first[4096], name[64], *dir = strdup(self);
	int ok;

	snprintf(first, sizeof(first), "%s/peers-first", dirname(dir));
	free(dir);
	if (stat(file, &ref_st) || pread(fd, ref, BUF_SIZE, 0) != BUF_SIZE) {
		printf("Bail out! cannot read %s\n", file);
		return 1;
	}
	printf("TAP version 13\n1..%zu\n", 11 + sizeof(first_peers) / sizeof(*first_peers));

	ok = syscall(__NR_getpid) == getpid();
	for (int i = 0; i < 3; i++) {
		a_ret = -1;
		ok &= cached_ok(async_exec(&getpid_atom, &head, sizeof(head)),
				&getpid_atom) && a_ret == getpid();
	}
	ktap(ok, "syslet_getpid", "getpid atom did not complete cached");

	ok = 1;
	for (int i = 0; i < 3; i++) {
		ok &= stat_ok(syscall(__NR_stat, file, &st));
		ok &= cached_ok(async_exec(&stat_atom, &head, sizeof(head)),
				&stat_atom) && stat_ok(a_ret);
	}
	ktap(ok, "syslet_stat", "stat atom result differs from stat()");

	ok = 1;
	for (int i = 0; i < 3; i++) {
		ok &= buf_ok(pread(fd, buf, BUF_SIZE, 0));
		ok &= cached_ok(async_exec(&pread_atom, &head, sizeof(head)),
				&pread_atom) && buf_ok(a_ret);
	}
	ktap(ok, "syslet_pread", "pread atom result differs from pread()");

	ok = 1;
	for (int i = 0; i < 3; i++)
		ok &= uring_nop(&uring) == 0;
	ktap(ok, "io_uring_nop", "NOP failed");

	ok = 1;
	for (int i = 0; i < 3; i++)
		ok &= statx_ok(uring_statx(&uring, file, &stx));
	ktap(ok, "io_uring_statx", "STATX result differs from stat()");

	ok = 1;
	for (int i = 0; i < 3; i++)
		ok &= statx_ok(oneshot_statx());
	ktap(ok, "io_uring_oneshot", "one-shot STATX failed");

	ok = 1;
	for (int i = 0; i < 3; i++)
		ok &= buf_ok(uring_read(&uring, fd, buf));
	ktap(ok, "io_uring_read", "READ result differs from pread()");

	ok = 1;
	for (int i = 0; i < 3; i++)
		ok &= buf_ok(libaio_pread(aio_ctx, fd, buf));
	ktap(ok, "libaio", "io_submit/io_getevents result differs from pread()");

	ok = 1;
	for (int i = 0; i < 3; i++)
		ok &= buf_ok(posix_aio_pread(fd, buf));
	ktap(ok, "posix_aio", "aio_read result differs from pread()");

	ok = 1;
	for (int i = 0; i < 3; i++)
		ok &= buf_ok(pool_pread(&pool));
	ktap(ok, "thread_pool", "worker's pread differs from pread()");

	ktap(smoke_hand_off(), "cachemiss_hand_off",
	     "a read of an empty pipe did not hand off and complete");

	for (size_t i = 0; i < sizeof(first_peers) / sizeof(*first_peers); i++) {
		snprintf(name, sizeof(name), "first_%s", first_peers[i]);
		for (char *c = name; *c; c++)
			if (*c == '-')
				*c = '_';
		ktap(run_first(first, first_peers[i]), name,
		     "peers-first failed");
	}
	return ktap_failures != 0;
}

/*
 * The main thread of a multi-threaded process sends its syslet chains to
 * a pool thread (it cannot hand off, see "The group leader" in
 * Documentation/syslet-design.txt), and this process runs a pool peer:
 * measure from a second thread, where a chain that does not block runs
 * in the caller at the cost of the plain call.
 */
struct peers_args {
	int argc;
	char **argv;
	int rc;
};

static int peers_main(int argc, char **argv);

static void *peers_thread(void *arg)
{
	struct peers_args *a = arg;

	a->rc = peers_main(a->argc, a->argv);
	return NULL;
}

int main(int argc, char **argv)
{
	struct peers_args a = { argc, argv, 1 };
	pthread_t t;

	if (pthread_create(&t, NULL, peers_thread, &a) || pthread_join(t, NULL))
		return 1;
	return a.rc;
}

static int peers_main(int argc, char **argv)
{
	int smoke = 0, argi = 1;
	long n = 20000;

	file = argv[0];
	for (; argi < argc; argi++) {
		if (!strcmp(argv[argi], "--smoke"))
			smoke = 1;
		else if (!strcmp(argv[argi], "-f") && argi + 1 < argc)
			file = argv[++argi];
		else
			n = atol(argv[argi]);
	}
	fd = open(file, O_RDONLY);
	if (fd < 0 || n <= 0) {
		fprintf(stderr, "usage: peers [-f FILE] [--smoke | ITERATIONS]\n");
		return 2;
	}
	setup();
	if (io_uring_queue_init(8, &uring, 0) || io_setup(8, &aio_ctx) ||
	    pool_start(&pool, fd, buf)) {
		printf("%speers: set-up of io_uring, libaio or the pool failed\n",
		       smoke ? "Bail out! " : "");
		return 1;
	}
	/* The ring's set-up is measured by peers-first, not here. */
	async_exec(&getpid_atom, &head, sizeof(head));

	int rc = smoke ? run_smoke(argv[0]) : (run_bench(n), 0);

	pool_stop(&pool);
	io_destroy(aio_ctx);
	io_uring_queue_exit(&uring);
	return rc;
}
