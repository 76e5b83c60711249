// SPDX-License-Identifier: GPL-2.0
/*
 * What a syslet is for, in one program: the main thread reads an empty
 * pipe through an atom.  The read blocks, a spare thread takes over the
 * main thread's user context (same thread ID) and async_exec() returns
 * 0 at once; the task that blocked finishes the read once a byte comes
 * and posts the atom to the ring.
 *
 *   handoff        the demo
 *   handoff -c     a short chain (getpid, then a write to stdout) for
 *                  strace -f: it shows the atoms' own system calls
 */
#include <stdio.h>
#include <string.h>
#include "../tools/testing/selftests/syslet/syslet.h"

static struct async_head_user head;
static uint64_t ring[16];

static long tid(void)
{
	return syscall(SYS_gettid);
}

static int short_chain(void)
{
	static const char msg[] = "written by an atom\n";
	uint64_t fd = 1, buf = PTR(msg), len = sizeof(msg) - 1;
	struct syslet_uatom a[2];
	int64_t ret[2];

	init_atom(&a[1], __NR_write, &fd, &buf, &len, NULL, NULL, NULL,
		  &ret[1], 0, NULL);
	init_atom(&a[0], __NR_getpid, NULL, NULL, NULL, NULL, NULL, NULL,
		  &ret[0], 0, &a[1]);
	return async_exec(&a[0], NULL, 0) == (long)PTR(&a[1]) &&
	       ret[1] == (int64_t)len ? 0 : 1;
}

int main(int argc, char **argv)
{
	uint64_t fd, buf, len = 5;
	struct syslet_uatom atom;
	char data[8] = { 0 };
	int64_t ret = 0;
	long before, r;
	int p[2];

	if (argc > 1 && !strcmp(argv[1], "-c"))
		return short_chain();

	head.completion_ring = PTR(ring);
	head.ring_size_bytes = sizeof(ring);
	if (pipe(p) || async_register(&head, sizeof(head)))
		return perror("set-up"), 1;
	fd = p[0];
	buf = PTR(data);
	init_atom(&atom, __NR_read, &fd, &buf, &len, NULL, NULL, NULL, &ret,
		  0, NULL);

	before = tid();
	printf("main thread: TID %ld, %d thread(s); read(2) of an empty pipe through an atom...\n",
	       before, count_threads());
	r = async_exec(&atom, &head, sizeof(head));
	printf("async_exec() returned %ld at once: the read blocked and a spare took over\n", r);
	printf("main thread: TID %ld (%s), %d thread(s); the read is still pending (ret %lld)\n",
	       tid(), tid() == before ? "the same" : "CHANGED", count_threads(),
	       (long long)ret);
	if (r != 0 || tid() != before)
		return 1;
	if (write(p[1], "hello", 5) != 5 || async_wait(1, &head, NULL) < 1)
		return perror("complete"), 1;
	printf("after a write to the pipe: the atom was posted to the ring (0x%llx == 0x%llx), ret %lld, data \"%s\"\n",
	       (unsigned long long)ring[0], (unsigned long long)PTR(&atom),
	       (long long)ret, data);
	return ring[0] == PTR(&atom) && ret == 5 && !strcmp(data, "hello") ? 0 : 1;
}
