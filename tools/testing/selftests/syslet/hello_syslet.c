// SPDX-License-Identifier: GPL-2.0
/*
 * The "Hello Syslet World" of Documentation/syslet-design.txt: one atom
 * that writes a line, queued with SYSLET_ASYNC and reaped from the ring.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "syslet.h"

int main(void)
{
	static struct async_head_user head;
	static uint64_t ring[16];
	const char *msg = "Hello Syslet World!\n";
	uint64_t fd = 1, buf = (uintptr_t)msg, len = strlen(msg);
	struct syslet_uatom atom;
	int64_t written = 0;
	long done;

	head.completion_ring = (uintptr_t)ring;
	head.ring_size_bytes = sizeof(ring);

	init_atom(&atom, __NR_write, &fd, &buf, &len, NULL, NULL, NULL,
		  &written, SYSLET_ASYNC, NULL);
	/* The wrappers are syscall(): -1 and errno on failure. */
	done = async_exec(&atom, &head, sizeof(head));
	if (done == -1) {
		fprintf(stderr, "async_exec: %s\n", strerror(errno));
		return 1;
	}
	if (done == 0) {
		long ready = async_wait(1, &head, NULL);

		if (ready == -1) {
			fprintf(stderr, "async_wait: %s\n", strerror(errno));
			return 1;
		}
		if (ready < 1 || ring[0] != (uintptr_t)&atom) {
			fprintf(stderr, "no completion in the ring\n");
			return 1;
		}
		ring[0] = 0;
		head.user_ring_idx++;
		printf("completed an async syslet atom (%lld bytes)\n",
		       (long long)written);
	} else {
		printf("completed a cached syslet atom (%lld bytes)\n",
		       (long long)written);
	}
	/* ret_ptr holds the raw result: -errno when the write failed. */
	if (written < 0)
		fprintf(stderr, "write: %s\n", strerror(-written));
	return written == (int64_t)len ? 0 : 1;
}
