// SPDX-License-Identifier: GPL-2.0
/*
 * Stat every entry of a directory through syslets, Linus's readdir loop:
 * submit one stat per entry, then wait once.  Prints per entry whether
 * its atom completed cached (in the caller's context) or asynchronously
 * (through the completion ring).
 *
 *   dirscan [-a] DIR      -a: submit with SYSLET_ASYNC
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "../tools/testing/selftests/syslet/syslet.h"

struct entry {
	struct syslet_uatom atom;
	uint64_t dirfd, name, statp, flags;
	int64_t ret;
	struct stat st;
	char path[256];
	int async;
};

int main(int argc, char **argv)
{
	int force_async = argc > 2 && !strcmp(argv[1], "-a");
	const char *dir = argv[argc - 1];
	static struct async_head_user head;
	static uint64_t ring[1024];
	struct entry *e = calloc(4096, sizeof(*e));
	int n = 0, nr_async = 0, dfd;
	struct dirent *de;
	DIR *d;

	if (argc < 2 || !(d = opendir(dir)) || !e)
		return fprintf(stderr, "usage: dirscan [-a] DIR\n"), 2;
	dfd = dirfd(d);
	head.completion_ring = (uintptr_t)ring;
	head.ring_size_bytes = sizeof(ring);

	while ((de = readdir(d)) && n < 4096) {
		struct entry *x = &e[n++];
		long done;

		snprintf(x->path, sizeof(x->path), "%s", de->d_name);
		x->dirfd = dfd;
		x->name = (uintptr_t)x->path;
		x->statp = (uintptr_t)&x->st;
		x->flags = AT_SYMLINK_NOFOLLOW;
		init_atom(&x->atom, __NR_newfstatat, &x->dirfd, &x->name,
			  &x->statp, &x->flags, NULL, NULL, &x->ret,
			  force_async ? SYSLET_ASYNC : 0, NULL);
		/* syscall(): -1 and errno on failure, else an atom or 0. */
		done = async_exec(&x->atom, &head, sizeof(head));
		if (done == -1)
			return fprintf(stderr, "async_exec: %s\n",
				       strerror(errno)), 1;
		x->async = !done;
		nr_async += x->async;
	}
	/* Wait once for everything that went asynchronous. */
	for (int reaped = 0; reaped < nr_async;) {
		long ready = async_wait(nr_async - reaped, &head, NULL);

		if (ready == -1)
			return fprintf(stderr, "async_wait: %s\n",
				       strerror(errno)), 1;
		while (ring[head.user_ring_idx % 1024]) {
			ring[head.user_ring_idx % 1024] = 0;
			head.user_ring_idx++;
			reaped++;
		}
	}
	/* An atom's ret_ptr gets the raw result: -errno, not -1 and errno. */
	for (int i = 0; i < n; i++) {
		if (e[i].ret)
			printf("%-6s %8s %s: %s\n", e[i].async ? "async" : "cached",
			       "-", e[i].path, strerror(-e[i].ret));
		else
			printf("%-6s %8lld %s\n", e[i].async ? "async" : "cached",
			       (long long)e[i].st.st_size, e[i].path);
	}
	printf("dirscan: %d entries, %d cached, %d async\n", n, n - nr_async,
	       nr_async);
	closedir(d);
	return 0;
}
