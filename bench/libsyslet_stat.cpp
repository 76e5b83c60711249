// SPDX-License-Identifier: GPL-2.0
/*
 * Instructions per syslet::async_stat() of a cached file against stat(),
 * steady state and first call in a fresh process.
 *
 * Run in a guest booted with -icount shift=0,sleep=off (qemu-run.sh
 * --icount): the guest clock advances 1 ns per guest instruction, so the
 * nanoseconds read with clock_gettime() are instructions.
 *
 *   libsyslet_stat [iterations] [path]   everything below, in fresh
 *                                         processes where it says so
 *   libsyslet_stat --first MODE path     internal: one first call (MODE is
 *                                         stat, async_stat or none)
 *
 * Steady state: a loop of the call, divided by the iterations (the clock
 * reads are outside the loop).
 *
 * First call, "in process": a fresh process (fork + exec of this static
 * binary) reads the clock right before and right after its very first
 * stat() or syslet::async_stat() (+ result()): for async_stat that
 * includes the syslet probe, the per-thread default ring, the first
 * async_exec() that sets the ring up in the kernel, and the page faults of
 * the library code touched for the first time.  The cost of the two clock
 * reads (MODE none) is subtracted.
 *
 * First call, "whole process": fork + exec + exit + wait of a fresh
 * process that makes one call, minus the same for one that makes none;
 * the average of several runs.
 */
#include <syslet.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <ctime>
#include <string>

namespace
{

double now()
{
	struct timespec ts {
	};
	::clock_gettime(CLOCK_MONOTONIC, &ts);
	return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// A fresh process's first call; prints the instructions it took.
int first_call(const std::string& mode, const char* path)
{
	struct stat st {
	};
	(void)now(); // the vDSO's pages are faulted in by now
	const double t0 = now();
	bool ok = true;
	if (mode == "stat") {
		ok = ::stat(path, &st) == 0;
	} else if (mode == "async_stat") {
		const auto op = syslet::async_stat(path, &st);
		const auto r = op.result();
		ok = r.has_value() && *r == 0 && op.finished() &&
		     op.finished()->path == syslet::completion_path::cached;
	}
	const double t1 = now();
	std::printf("%.0f\n", t1 - t0);
	return ok && (mode == "none" || st.st_size > 0) ? 0 : 1;
}

// A fresh process's first async_stat() taken apart: prints the
// instructions of each step (clock reads included: one read is
// subtracted per step by the caller).
long minor_faults()
{
	struct rusage usage {
	};
	::getrusage(RUSAGE_SELF, &usage);
	return usage.ru_minflt;
}

// A fresh process's first async_stat() taken apart: prints, for each
// step, the instructions (one clock read included: the caller subtracts
// it) and then the page faults it took.
int first_call_steps(const char* path)
{
	struct stat st {
	};
	(void)now();
	(void)minor_faults();
	double took[4];
	long faults[4];
	bool ok = true;
	auto step = [&](int i, auto&& what) {
		const long f0 = minor_faults();
		const double t0 = now();
		what();
		took[i] = now() - t0;
		faults[i] = minor_faults() - f0;
	};
	syslet::ring* ring = nullptr;
	std::optional<syslet::chain> op;
	step(0, [&] { ring = &syslet::default_ring(); });
	step(1, [&] { op.emplace(syslet::op::stat(path, &st)); });
	step(2, [&] { ok = ok && ring->submit(*op).has_value(); });
	step(3, [&] {
		const auto r = op->result();
		ok = ok && r.has_value() && *r == 0;
		op.reset();
	});
	for (const double t : took)
		std::printf("%.0f ", t);
	for (const long f : faults)
		std::printf("%ld ", f);
	std::printf("\n");
	return ok && syslet::sys::kernel_has_syslets() && st.st_size > 0 ? 0 : 1;
}

// Runs "self --first MODE path" in a fresh process; returns the whole
// fork..wait time and stores the child's own figure in @inner.
double run_fresh(const char* self, const char* mode, const char* path, double& inner,
		 double* steps = nullptr, int nr_steps = 0)
{
	int out[2];
	if (::pipe(out) != 0)
		return -1;
	const double t0 = now();
	const pid_t pid = ::fork();
	if (pid == 0) {
		::dup2(out[1], 1);
		::close(out[0]);
		::close(out[1]);
		::execl(self, self, "--first", mode, path, static_cast<char*>(nullptr));
		::_exit(127);
	}
	::close(out[1]);
	int status = 0;
	::waitpid(pid, &status, 0);
	const double t1 = now();
	char text[64] = {};
	const ssize_t n = ::read(out[0], text, sizeof(text) - 1);
	::close(out[0]);
	if (pid < 0 || n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		std::printf("fresh process (%s) failed, status %d\n", mode, status);
		inner = -1;
		return -1;
	}
	char* at = text;
	inner = std::strtod(at, &at);
	if (steps != nullptr) {
		steps[0] = inner;
		for (int i = 1; i < nr_steps; ++i)
			steps[i] = std::strtod(at, &at);
	}
	return t1 - t0;
}

} // namespace

int main(int argc, char** argv)
{
	if (argc == 4 && std::strcmp(argv[1], "--first") == 0)
		return std::strcmp(argv[2], "steps") == 0 ? first_call_steps(argv[3])
							   : first_call(argv[2], argv[3]);

	const long iterations = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 20000;
	const char* path = argc > 2 ? argv[2] : argv[0];
	const char* self = "/proc/self/exe";
	std::string self_path(4096, '\0');
	const ssize_t length = ::readlink(self, self_path.data(), self_path.size() - 1);
	if (length <= 0)
		return 1;
	self_path.resize(static_cast<std::size_t>(length));

	// (The probe runs in this process only; the fresh ones probe again.)
	std::printf("kernel has syslets: %s%s\n", syslet::sys::kernel_has_syslets() ? "yes" : "no",
		    syslet::sys::kernel_has_syslets() ? "" : " (figures are the user-space fallback's)");

	// Fresh processes first, before this one warms anything up (page
	// cache, dentries are warm from the exec anyway: the path is cached).
	constexpr int runs = 5;
	const char* modes[] = {"none", "stat", "async_stat"};
	double whole[3] = {}, inner[3] = {};
	for (int run = 0; run < runs + 1; ++run) {
		for (int m = 0; m < 3; ++m) {
			double in = 0;
			const double w = run_fresh(self_path.c_str(), modes[m], path, in);
			if (w < 0)
				return 1;
			if (run == 0)
				continue; // warm-up round: page cache of the binary
			whole[m] += w / runs;
			inner[m] += in / runs;
		}
	}
	std::printf("first call in a fresh process (average of %d), instructions:\n", runs);
	std::printf("  %-28s %10s %14s\n", "", "in process", "whole process");
	std::printf("  %-28s %10.0f %14.0f\n", "clock reads only (none)", inner[0], whole[0]);
	for (int m = 1; m < 3; ++m)
		std::printf("  %-28s %10.0f %14.0f\n", m == 1 ? "stat()" : "syslet::async_stat()",
			    inner[m] - inner[0], whole[m] - whole[0]);

	// The first async_stat() step by step (each step minus one clock read).
	constexpr int nr_steps = 4;
	const char* step_names[nr_steps] = {"default_ring()", "chain(op::stat(...))",
					    "ring.submit() (probe, ring set-up)", "result() + ~chain()"};
	double step_sum[2 * nr_steps] = {};
	for (int run = 0; run < runs + 1; ++run) {
		double in = 0;
		double steps[2 * nr_steps] = {};
		if (run_fresh(self_path.c_str(), "steps", path, in, steps, 2 * nr_steps) < 0)
			return 1;
		if (run == 0)
			continue;
		for (int i = 0; i < nr_steps; ++i) {
			step_sum[i] += (steps[i] - inner[0]) / runs;
			step_sum[nr_steps + i] += steps[nr_steps + i] / runs;
		}
	}
	std::printf("first syslet::async_stat() by step (average of %d):\n", runs);
	std::printf("  %-36s %12s %12s\n", "", "instructions", "page faults");
	for (int i = 0; i < nr_steps; ++i)
		std::printf("  %-36s %12.0f %12.1f\n", step_names[i], step_sum[i], step_sum[nr_steps + i]);

	struct stat st {
	};
	long failures = 0;
	// Steady state.  Warm up both paths first (first-call costs out of
	// the way).
	for (int i = 0; i < 100; ++i) {
		failures += ::stat(path, &st) != 0;
		failures += !syslet::async_stat(path, &st).result();
	}

	double t0 = now();
	for (long i = 0; i < iterations; ++i)
		failures += ::stat(path, &st) != 0;
	const double plain = (now() - t0) / static_cast<double>(iterations);

	long cached = 0;
	t0 = now();
	for (long i = 0; i < iterations; ++i) {
		const auto op = syslet::async_stat(path, &st);
		failures += !op.result();
		cached += op.finished() && op.finished()->path == syslet::completion_path::cached;
	}
	const double one_shot = (now() - t0) / static_cast<double>(iterations);

	// The same with a chain built once and resubmitted: no allocation.
	syslet::chain reused(syslet::op::stat(path, &st));
	t0 = now();
	for (long i = 0; i < iterations; ++i) {
		failures += !syslet::submit(reused);
		failures += !reused.result();
	}
	const double resubmit = (now() - t0) / static_cast<double>(iterations);

	std::printf("steady state (%ld iterations), instructions per call:\n", iterations);
	std::printf("  %-40s %8.1f\n", "stat()", plain);
	std::printf("  %-40s %8.1f  (%ld of %ld cached)\n", "syslet::async_stat() + result()", one_shot,
		    cached, iterations);
	std::printf("  %-40s %8.1f\n", "same chain resubmitted + result()", resubmit);
	std::printf("stat path: %s; failures: %ld\n", path, failures);
	return failures ? 1 : 0;
}
