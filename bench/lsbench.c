// SPDX-License-Identifier: GPL-2.0
/*
 * The "ls -l" workload: lstat every entry of a directory tree, cold cache
 * and hot cache, for syslets and their peers.  Plain TCG wall time:
 * compare peers of one boot only, as ratios.
 *
 *   lsbench PEER DIR [HOT_PASSES]    one line per pass:
 *	LS <cold|hot> <peer> <entries> <walk ns> <stat ns> <walk reads>
 *	   <stat reads> <atoms that went async (syslet; else -1)>
 *   lsbench --smoke [DIR]            every peer on DIR, results checked
 *					against fstatat(); KTAP.  Without DIR:
 *					a small tree made in /tmp (tmpfs)
 *
 * A pass first walks the tree (opendir/readdir, the same synchronous
 * code for every peer; "walk"), keeping one directory fd and the name of
 * every entry, then stats all entries with fstatat(dirfd, name, ...,
 * AT_SYMLINK_NOFOLLOW) the peer's way ("stat"):
 *	seq	  one fstatat() after the other;
 *	syslet	  one atom per entry on one ring (max_nr_threads 0: the
 *		  kernel's default), async_exec() each, async_wait() at the end;
 *	uring	  io_uring STATX, up to 256 in flight, liburing defaults
 *		  (io-wq's bounded workers: min(SQ entries, 4 x CPUs));
 *	uring64	  the same with io-wq allowed 64 workers;
 *	pool8, pool64: that many pre-started threads take entries from a
 *		  shared counter.
 * Cold: sync, then drop_caches = 3 (page cache, dentries, inodes) before
 * the walk.  Every process first does one untimed hot pass (pool threads,
 * io-wq workers and syslet spares exist afterwards), then a cold pass,
 * then HOT_PASSES (default 3) hot ones.  "reads" are the reads completed
 * by the first disk (/sys/block/vda/stat) during the walk and the stat
 * phase, or -1 without one.  A process that uses io_uring is refused syslet
 * hand-offs, so each peer runs in its own process (--smoke forks).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "bench.h"

struct entry {
	struct syslet_uatom atom;
	uint64_t dirfd, name, statp;
	int64_t ret;
	struct stat st;
	char path[256];
};

static struct entry *ents;
static long nr_ents, max_ents;
static int *dirfds;
static long nr_dirs, max_dirs;

static void add_entry(int dfd, const char *name)
{
	struct entry *e;

	if (nr_ents == max_ents) {
		max_ents = max_ents ? 2 * max_ents : 1024;
		ents = realloc(ents, max_ents * sizeof(*ents));
		if (!ents)
			exit(1);
	}
	e = &ents[nr_ents++];
	memset(e, 0, sizeof(*e));
	e->dirfd = dfd;
	snprintf(e->path, sizeof(e->path), "%s", name);
}

/* Collect every entry below dfd (which the walk keeps open). */
static void walk(int dfd)
{
	DIR *d = fdopendir(dup(dfd));
	struct dirent *de;

	if (nr_dirs == max_dirs) {
		max_dirs = max_dirs ? 2 * max_dirs : 64;
		dirfds = realloc(dirfds, max_dirs * sizeof(*dirfds));
		if (!dirfds)
			exit(1);
	}
	dirfds[nr_dirs++] = dfd;
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		add_entry(dfd, de->d_name);
		if (de->d_type == DT_DIR) {
			int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY);

			if (sub >= 0)
				walk(sub);
		}
	}
	closedir(d);
}

static void forget_tree(void)
{
	for (long i = 0; i < nr_dirs; i++)
		close(dirfds[i]);
	nr_dirs = nr_ents = 0;
}

/* ---- peers: stat every entry; the number that succeeded ---- */

static long check_all(void)
{
	long ok = 0;

	for (long i = 0; i < nr_ents; i++)
		ok += ents[i].ret == 0;
	return ok;
}

static void stat_one(void *arg, long i)
{
	struct entry *e = &ents[i];

	e->ret = fstatat(e->dirfd, e->path, &e->st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

static long seq_stat(void)
{
	for (long i = 0; i < nr_ents; i++)
		stat_one(NULL, i);
	return check_all();
}

static struct {
	struct async_head_user head;
	uint64_t slots[16384];
} ring;
static uint64_t a_nofollow = AT_SYMLINK_NOFOLLOW;
static long nr_async = -1;		/* atoms of the last pass that went async */

static long syslet_stat(void)
{
	long inflight = 0;

	for (long i = 0; i < nr_ents; i++) {
		struct entry *e = &ents[i];
		long r;

		/* Here, not in add_entry(): the array moves as it grows. */
		e->name = PTR(e->path);
		e->statp = PTR(&e->st);
		init_atom(&e->atom, __NR_newfstatat, &e->dirfd, &e->name,
			  &e->statp, &a_nofollow, NULL, NULL, &e->ret, 0, NULL);
		r = async_exec(&e->atom, &ring.head, sizeof(ring.head));
		if (r == 0)
			inflight++;
		else if (r < 0)
			e->ret = r;
	}
	nr_async = inflight;
	if (syslet_reap(&ring.head, ring.slots, ARRAY_SIZE(ring.slots), inflight))
		return -1;
	return check_all();
}

#define URING_DEPTH 256
static struct io_uring uring;
static struct statx *stx;

static long uring_stat(void)
{
	struct io_uring_cqe *cqe;
	long next = 0, inflight = 0;

	stx = realloc(stx, nr_ents * sizeof(*stx));
	if (!stx)
		return -1;
	while (next < nr_ents || inflight) {
		struct io_uring_sqe *sqe;

		while (next < nr_ents && inflight < URING_DEPTH &&
		       (sqe = io_uring_get_sqe(&uring))) {
			io_uring_prep_statx(sqe, ents[next].dirfd, ents[next].path,
					    AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS,
					    &stx[next]);
			io_uring_sqe_set_data64(sqe, next);
			next++;
			inflight++;
		}
		if (io_uring_submit_and_wait(&uring, 1) < 0)
			return -1;
		while (!io_uring_peek_cqe(&uring, &cqe)) {
			struct entry *e = &ents[io_uring_cqe_get_data64(cqe)];

			e->ret = cqe->res;
			e->st.st_ino = stx[e - ents].stx_ino;
			e->st.st_size = stx[e - ents].stx_size;
			e->st.st_mode = stx[e - ents].stx_mode;
			io_uring_cqe_seen(&uring, cqe);
			inflight--;
		}
	}
	return check_all();
}

static struct ipool pool;

static long pool_stat(void)
{
	ipool_submit(&pool, nr_ents);
	ipool_wait(&pool);
	return check_all();
}

struct peer {
	const char *name;
	int threads;		/* pool size, io-wq worker limit */
	int (*setup)(int threads);
	long (*stat_all)(void);
};

static int syslet_setup(int threads)
{
	ring.head.completion_ring = PTR(ring.slots);
	ring.head.ring_size_bytes = sizeof(ring.slots);
	ring.head.max_nr_threads = threads;
	return async_register(&ring.head, sizeof(ring.head)) ? -1 : 0;
}

static int uring_setup(int threads)
{
	unsigned int max_workers[2] = { threads, threads };

	if (io_uring_queue_init(URING_DEPTH, &uring, 0))
		return -1;
	return threads && io_uring_register_iowq_max_workers(&uring, max_workers) < 0 ? -1 : 0;
}

static int pool_setup(int threads)
{
	return ipool_start(&pool, threads, stat_one, NULL);
}

static const struct peer peers[] = {
	{ "seq", 0, NULL, seq_stat },
	{ "syslet", 0, syslet_setup, syslet_stat },
	{ "uring", 0, uring_setup, uring_stat },
	{ "uring64", 64, uring_setup, uring_stat },
	{ "pool8", 8, pool_setup, pool_stat },
	{ "pool64", 64, pool_setup, pool_stat },
};
#define NR_PEERS (sizeof(peers) / sizeof(*peers))

static long disk_reads(void)
{
	long reads = -1;
	FILE *f = fopen("/sys/block/vda/stat", "r");

	if (f) {
		if (fscanf(f, "%ld", &reads) != 1)
			reads = -1;
		fclose(f);
	}
	return reads;
}

static int drop_caches(void)
{
	int fd, ok;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0)
		return -1;
	ok = write(fd, "3", 1) == 1;
	close(fd);
	return ok ? 0 : -1;
}

/* One pass; prints its line if label; returns the entries stat'ed. */
static long pass(const struct peer *p, const char *dir, const char *label)
{
	double t0, t1, t2;
	long reads0, reads1, got;
	int dfd;

	if (!strcmp(label, "cold") && drop_caches())
		return -1;
	reads0 = disk_reads();
	t0 = now();
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return -1;
	walk(dfd);
	t1 = now();
	reads1 = disk_reads();
	got = p->stat_all();
	t2 = now();
	if (*label && got == nr_ents)
		printf("LS\t%s\t%s\t%ld\t%.0f\t%.0f\t%ld\t%ld\t%ld\n", label,
		       p->name, nr_ents, t1 - t0, t2 - t1,
		       reads0 < 0 ? -1 : reads1 - reads0,
		       reads0 < 0 ? -1 : disk_reads() - reads1, nr_async);
	fflush(stdout);
	if (got != nr_ents) {
		long shown = 0;

		fprintf(stderr, "lsbench: %s: %ld of %ld entries stat'ed\n",
			p->name, got, nr_ents);
		for (long i = 0; i < nr_ents && shown < 3; i++)
			if (ents[i].ret) {
				fprintf(stderr, "lsbench: entry %ld (%s): %lld\n", i,
					ents[i].path, (long long)ents[i].ret);
				shown++;
			}
	}
	return got;
}

static const struct peer *find_peer(const char *name)
{
	for (size_t i = 0; i < NR_PEERS; i++)
		if (!strcmp(peers[i].name, name))
			return &peers[i];
	return NULL;
}

/* --smoke: every peer's results against fstatat()'s, each in a child. */
static int smoke_peer(const struct peer *p, const char *dir)
{
	struct stat *ref;
	long n, ok = 1;

	if (p->setup && p->setup(p->threads))
		return 0;
	/* Reference: a seq pass (also the hot-cache warm-up). */
	if (pass(&peers[0], dir, "") < 10)
		return 0;
	n = nr_ents;
	ref = malloc(n * sizeof(*ref));
	if (!ref)
		return 0;
	for (long i = 0; i < n; i++)
		ref[i] = ents[i].st;
	forget_tree();
	if (pass(p, dir, "") != n)
		return 0;
	for (long i = 0; i < n; i++)
		ok &= ents[i].st.st_ino == ref[i].st_ino &&
		      ents[i].st.st_size == ref[i].st_size &&
		      ents[i].st.st_mode == ref[i].st_mode;
	forget_tree();
	free(ref);
	return ok;
}

static int smoke(const char *dir)
{
	char name[64];

	printf("TAP version 13\n1..%zu\n", NR_PEERS - 1);
	fflush(stdout);
	for (size_t i = 1; i < NR_PEERS; i++) {
		int status;
		pid_t pid = fork();

		if (pid == 0) {
			alarm(60);
			_exit(smoke_peer(&peers[i], dir) ? 0 : 1);
		}
		snprintf(name, sizeof(name), "ls_%s", peers[i].name);
		ktap(pid > 0 && waitpid(pid, &status, 0) == pid &&
		     WIFEXITED(status) && !WEXITSTATUS(status), name,
		     "lstat results differ from fstatat()'s");
	}
	return ktap_failures != 0;
}

/*
 * The smoke tree: 4 directories of 300 files, a symlink and a FIFO each
 * (more entries than the first allocation of the entry array).
 */
static const char *make_smoke_tree(void)
{
	static const char top[] = "/tmp/lsbench-smoke";
	char path[128];

	mkdir(top, 0755);
	for (int d = 0; d < 4; d++) {
		snprintf(path, sizeof(path), "%s/d%d", top, d);
		mkdir(path, 0755);
		for (int f = 0; f < 300; f++) {
			int fd;

			snprintf(path, sizeof(path), "%s/d%d/f%d", top, d, f);
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd < 0 || ftruncate(fd, d * 1000 + f))
				return NULL;
			close(fd);
		}
		snprintf(path, sizeof(path), "%s/d%d/link", top, d);
		if (symlink("f0", path) && errno != EEXIST)
			return NULL;
		snprintf(path, sizeof(path), "%s/d%d/fifo", top, d);
		if (mkfifo(path, 0600) && errno != EEXIST)
			return NULL;
	}
	return top;
}

int main(int argc, char **argv)
{
	const struct peer *p;
	const char *dir;
	int hot = 3;

	if (argc >= 2 && !strcmp(argv[1], "--smoke")) {
		dir = argc > 2 ? argv[2] : make_smoke_tree();
		if (!dir) {
			printf("Bail out! cannot make the smoke tree\n");
			return 1;
		}
		return smoke(dir);
	}
	if (argc < 3 || !(p = find_peer(argv[1]))) {
		fprintf(stderr, "usage: lsbench PEER DIR [HOT_PASSES] | --smoke DIR\n");
		return 2;
	}
	if (argc > 3)
		hot = atoi(argv[3]);
	alarm(600);
	if (p->setup && p->setup(p->threads))
		return 1;
	if (pass(p, argv[2], "") != nr_ents)		/* warm-up */
		return 1;
	forget_tree();
	if (pass(p, argv[2], "cold") != nr_ents)
		return 1;
	for (int i = 0; i < hot; i++) {
		forget_tree();
		if (pass(p, argv[2], "hot") != nr_ents)
			return 1;
	}
	return 0;
}
