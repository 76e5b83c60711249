// SPDX-License-Identifier: GPL-2.0
/*
 * kprof: where a command's time goes, kernel side, without ftrace.
 *
 *   kprof [-p PERIOD_NS] [-n TOP] -- CMD [ARGS...]
 *
 * Samples every CPU with the cpu-clock software event (system wide, so
 * idle and other tasks show up too) while CMD runs, and prints:
 *   - samples by context: idle, user mode, kernel mode of CMD's tasks,
 *     kernel mode of other tasks;
 *   - kernel functions by self samples (the sampled IP), and
 *   - kernel functions by inclusive samples (anywhere on the kernel
 *     call chain, each function counted once per sample),
 * for CMD's tasks (CMD's thread group, found by pid from its fork).
 * Symbols come from /proc/kallsyms (run as root).  The perf kernel has
 * no function tracer: this is how bench/results gets its profiles.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CPUS	64
#define RING_PAGES	256	/* data pages per CPU, a power of two */
#define MAX_CHAIN	64

struct sym {
	uint64_t addr;
	char *name;
	long self, incl;
	long stamp;		/* last sample that counted it inclusively */
};

static struct sym *syms;
static size_t nsyms;
static long n_idle, n_user, n_kern, n_other, n_total;
static pid_t child;
static long sample_no;

static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void load_kallsyms(void)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[512], name[256], type;
	unsigned long long addr;
	size_t cap = 0;

	if (!f) {
		perror("kprof: /proc/kallsyms");
		exit(1);
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3)
			continue;
		if (type != 't' && type != 'T' && type != 'W' && type != 'w')
			continue;
		if (nsyms == cap) {
			cap = cap ? cap * 2 : 65536;
			syms = realloc(syms, cap * sizeof(*syms));
		}
		syms[nsyms++] = (struct sym){ .addr = addr, .name = strdup(name),
					      .stamp = -1 };
	}
	fclose(f);
	qsort(syms, nsyms, sizeof(*syms), sym_cmp);
}

static struct sym *lookup(uint64_t ip)
{
	size_t lo = 0, hi = nsyms;

	if (!nsyms || ip < syms[0].addr)
		return NULL;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (syms[mid].addr <= ip)
			lo = mid;
		else
			hi = mid;
	}
	return &syms[lo];
}

/* Is @pid (a thread ID) in CMD's thread group?  Threads come and go. */
static int in_child(uint32_t pid)
{
	return pid == (uint32_t)child;
}

static void account(uint32_t pid, uint64_t ip, uint64_t nr,
		    const uint64_t *chain)
{
	struct sym *s;

	n_total++;
	if (pid == 0) {
		n_idle++;
		return;
	}
	if (!in_child(pid)) {
		n_other++;
		return;
	}
	if (ip < 0xffff800000000000ULL) {
		n_user++;
		return;
	}
	n_kern++;
	sample_no++;
	s = lookup(ip);
	if (s)
		s->self++;
	for (uint64_t i = 0; i < nr && i < MAX_CHAIN; i++) {
		if (chain[i] >= PERF_CONTEXT_MAX)
			continue;
		if (chain[i] < 0xffff800000000000ULL)
			break;
		s = lookup(chain[i]);
		if (s && s->stamp != sample_no) {
			s->stamp = sample_no;
			s->incl++;
		}
	}
}

struct cpu_ring {
	int fd;
	struct perf_event_mmap_page *meta;
	char *data;
	uint64_t size;
};

static void drain(struct cpu_ring *r)
{
	uint64_t head = __atomic_load_n(&r->meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = r->meta->data_tail;
	char buf[8192];

	while (tail < head) {
		struct perf_event_header *h;
		uint64_t off = tail & (r->size - 1);

		h = (void *)(r->data + off);
		if (off + sizeof(*h) > r->size || off + h->size > r->size) {
			/* The record wraps: copy it out in two parts. */
			uint64_t first = r->size - off;
			struct perf_event_header hh;

			if (first >= sizeof(hh)) {
				memcpy(&hh, r->data + off, sizeof(hh));
			} else {
				memcpy(&hh, r->data + off, first);
				memcpy((char *)&hh + first, r->data, sizeof(hh) - first);
			}
			if (hh.size > sizeof(buf))
				break;
			memcpy(buf, r->data + off, first < hh.size ? first : hh.size);
			if (first < hh.size)
				memcpy(buf + first, r->data, hh.size - first);
			h = (void *)buf;
		}
		if (h->size == 0)
			break;
		if (h->type == PERF_RECORD_SAMPLE) {
			/* ip, pid/tid, callchain (nr, ips) */
			const uint64_t *p = (const uint64_t *)(h + 1);
			uint64_t ip = p[0];
			uint32_t pid = (uint32_t)p[1];
			uint64_t nr = p[2];

			account(pid, ip, nr, p + 3);
		}
		tail += h->size;
	}
	__atomic_store_n(&r->meta->data_tail, tail, __ATOMIC_RELEASE);
}

static int by_self(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return (y->self > x->self) - (y->self < x->self);
}

static int by_incl(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return (y->incl > x->incl) - (y->incl < x->incl);
}

static void report(int top)
{
	printf("KPROF samples %ld: idle %ld (%.1f%%), cmd user %ld (%.1f%%), cmd kernel %ld (%.1f%%), other tasks %ld (%.1f%%)\n",
	       n_total, n_idle, 100.0 * n_idle / n_total, n_user,
	       100.0 * n_user / n_total, n_kern, 100.0 * n_kern / n_total,
	       n_other, 100.0 * n_other / n_total);
	qsort(syms, nsyms, sizeof(*syms), by_self);
	printf("KPROF self (%% of cmd kernel samples)\n");
	for (int i = 0; i < top && (size_t)i < nsyms && syms[i].self; i++)
		printf("KPROF-SELF %6.2f%% %7ld %s\n", 100.0 * syms[i].self / n_kern,
		       syms[i].self, syms[i].name);
	qsort(syms, nsyms, sizeof(*syms), by_incl);
	printf("KPROF inclusive (%% of cmd kernel samples)\n");
	for (int i = 0; i < top && (size_t)i < nsyms && syms[i].incl; i++)
		printf("KPROF-INCL %6.2f%% %7ld %s\n", 100.0 * syms[i].incl / n_kern,
		       syms[i].incl, syms[i].name);
}

int main(int argc, char **argv)
{
	struct cpu_ring rings[MAX_CPUS];
	long period_ns = 100000, ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int top = 40, opt, status, pipefd[2];
	struct pollfd pfd[MAX_CPUS];
	long page = sysconf(_SC_PAGESIZE);

	while ((opt = getopt(argc, argv, "p:n:")) != -1) {
		if (opt == 'p')
			period_ns = atol(optarg);
		else if (opt == 'n')
			top = atoi(optarg);
		else
			goto usage;
	}
	if (optind >= argc || ncpu > MAX_CPUS)
		goto usage;
	load_kallsyms();

	/* The child waits for the events to be set up before it execs. */
	if (pipe(pipefd))
		return 1;
	child = fork();
	if (child == 0) {
		char c;

		close(pipefd[1]);
		if (read(pipefd[0], &c, 1) != 1)
			_exit(127);
		execvp(argv[optind], argv + optind);
		perror("kprof: exec");
		_exit(127);
	}
	close(pipefd[0]);

	for (long c = 0; c < ncpu; c++) {
		struct perf_event_attr a = {
			.type = PERF_TYPE_SOFTWARE,
			.size = sizeof(a),
			.config = PERF_COUNT_SW_CPU_CLOCK,
			.sample_period = period_ns,
			.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID |
				       PERF_SAMPLE_CALLCHAIN,
			.exclude_callchain_user = 1,
			.wakeup_events = 64,
		};
		size_t len = (RING_PAGES + 1) * page;

		rings[c].fd = syscall(SYS_perf_event_open, &a, -1, c, -1, 0);
		if (rings[c].fd < 0) {
			perror("kprof: perf_event_open");
			kill(child, SIGKILL);
			return 1;
		}
		rings[c].meta = mmap(NULL, len, PROT_READ | PROT_WRITE,
				     MAP_SHARED, rings[c].fd, 0);
		if (rings[c].meta == MAP_FAILED) {
			perror("kprof: mmap");
			kill(child, SIGKILL);
			return 1;
		}
		rings[c].data = (char *)rings[c].meta + page;
		rings[c].size = RING_PAGES * page;
		pfd[c] = (struct pollfd){ .fd = rings[c].fd, .events = POLLIN };
	}
	if (write(pipefd[1], "g", 1) != 1)
		return 1;
	close(pipefd[1]);

	for (;;) {
		pid_t w = waitpid(child, &status, WNOHANG);

		for (long c = 0; c < ncpu; c++)
			drain(&rings[c]);
		if (w == child)
			break;
		poll(pfd, ncpu, 20);
	}
	for (long c = 0; c < ncpu; c++)
		ioctl(rings[c].fd, PERF_EVENT_IOC_DISABLE, 0);
	for (long c = 0; c < ncpu; c++)
		drain(&rings[c]);
	report(top);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
usage:
	fprintf(stderr, "usage: kprof [-p PERIOD_NS] [-n TOP] -- CMD [ARGS...]\n");
	return 2;
}
