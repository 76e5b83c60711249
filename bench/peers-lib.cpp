// SPDX-License-Identifier: GPL-2.0
/*
 * lib-syslet's per-call cost, for bench/peers.c's table: a chain reused on
 * one ring (submit + result), and the one-shot async_stat() (a new chain
 * on the thread's default ring per call).
 *
 *   peers-lib [-f FILE] [iterations]   "BENCH <group> <label> <ns>" lines
 *   peers-lib [-f FILE] --first        first async_stat() in this process
 *   peers-lib [-f FILE] --smoke        KTAP
 *
 * Under QEMU -icount shift=0,sleep=off ns are instructions.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <syslet.hpp>

namespace
{

double now()
{
	timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

void report(const char* group, const char* label, double ns)
{
	std::printf("BENCH\t%s\t%s\t%.1f\n", group, label, ns);
	std::fflush(stdout);
}

template <class F>
void measure(const char* group, const char* label, long n, F&& body)
{
	for (int i = 0; i < 8; i++)
		body();
	const double t0 = now();
	for (long i = 0; i < n; i++)
		body();
	report(group, label, (now() - t0) / n);
}

alignas(4096) char buf[4096];

} // namespace

int main(int argc, char** argv)
{
	const char* file = argv[0];
	bool smoke = false, first = false;
	long n = 20000;

	for (int i = 1; i < argc; i++) {
		if (!std::strcmp(argv[i], "--smoke"))
			smoke = true;
		else if (!std::strcmp(argv[i], "--first"))
			first = true;
		else if (!std::strcmp(argv[i], "-f") && i + 1 < argc)
			file = argv[++i];
		else
			n = std::atol(argv[i]);
	}
	const int fd = open(file, O_RDONLY);
	if (fd < 0 || n <= 0) {
		std::fprintf(stderr, "usage: peers-lib [-f FILE] [--first | --smoke | ITERATIONS]\n");
		return 2;
	}
	struct stat st {};

	if (first) {
		now();
		now();
		const double t0 = now();
		auto op = syslet::async_stat(file, &st);
		const bool ok = op.done() && op.result().has_value();
		const double t1 = now();
		if (!ok)
			return 1;
		report("first-stat", "lib-syslet: first async_stat() (probe + default ring)", t1 - t0);
		_exit(0);
	}

	syslet::ring ring;
	syslet::chain null_chain(syslet::op::syscall(SYS_getpid));
	syslet::chain stat_chain(syslet::op::stat(file, &st));
	syslet::chain pread_chain(syslet::op::pread(fd, buf, sizeof(buf), 0));

	if (smoke) {
		std::printf("TAP version 13\n1..1\n");
		bool ok = syslet::sys::kernel_has_syslets();
		for (int i = 0; i < 3 && ok; i++) {
			ok = ring.submit(null_chain).has_value() && null_chain.done() &&
			     null_chain.result().value_or(-1) == getpid() && ring.submit(stat_chain).has_value() &&
			     stat_chain.done() && stat_chain.result().value_or(-1) == 0 &&
			     ring.submit(pread_chain).has_value() && pread_chain.done() &&
			     pread_chain.result().value_or(-1) == static_cast<long>(sizeof(buf));
			auto op = syslet::async_stat(file, &st);
			ok = ok && op.done() && op.result().value_or(-1) == 0;
		}
		std::printf("%sok 1 bench.smoke_lib_syslet%s\n", ok ? "" : "not ",
			    ok ? "" : " # a lib-syslet chain did not complete cached");
		return ok ? 0 : 1;
	}

	(void)ring.register_now();
	measure("null", "lib-syslet: chain reused on a ring (submit + result)", n, [&] {
		(void)ring.submit(null_chain);
		(void)null_chain.result();
	});
	measure("stat", "lib-syslet: stat chain reused on a ring (submit + result)", n, [&] {
		(void)ring.submit(stat_chain);
		(void)stat_chain.result();
	});
	measure("stat", "lib-syslet: async_stat() one-shot (new chain per call)", n, [&] {
		auto op = syslet::async_stat(file, &st);
		(void)op.result();
	});
	measure("pread", "lib-syslet: pread chain reused on a ring (submit + result)", n, [&] {
		(void)ring.submit(pread_chain);
		(void)pread_chain.result();
	});
	return 0;
}
