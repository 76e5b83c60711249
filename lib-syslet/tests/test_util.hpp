// Helpers shared by the lib-syslet tests.
#pragma once

#include <syslet.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

namespace syslet_test
{

// operator new calls made by threads that set counting_allocations
// (alloc_hooks.cpp replaces the global operator new).
extern std::atomic<long> allocations;
extern thread_local bool counting_allocations;

// Tests that need real asynchronous execution by the kernel.
#define REQUIRE_KERNEL_SYSLETS()                                                                             \
	do {                                                                                                 \
		if (!syslet::sys::kernel_has_syslets())                                                      \
			GTEST_SKIP() << "kernel has no syslets (running in user-space fallback mode)";       \
	} while (0)

// A pipe closed on scope exit.
class pipe_pair
{
public:
	pipe_pair()
	{
		if (::pipe(fds_.data()) != 0)
			std::abort();
	}
	pipe_pair(const pipe_pair&) = delete;
	pipe_pair& operator=(const pipe_pair&) = delete;
	~pipe_pair()
	{
		::close(fds_[0]);
		::close(fds_[1]);
	}
	int read_end() const { return fds_[0]; }
	int write_end() const { return fds_[1]; }

private:
	std::array<int, 2> fds_{};
};

// Writes to a pipe after @delay unless cancelled (or destroyed) first: a
// test whose read of an empty pipe wrongly did not go asynchronous then
// fails instead of hanging, and a ring draining a failed test's read ends.
class delayed_writer
{
public:
	delayed_writer(int fd, std::chrono::milliseconds delay)
	    : thread_([fd, delay](const std::stop_token& stop) {
		      std::mutex mutex;
		      std::condition_variable_any cancelled;
		      std::unique_lock lock(mutex);
		      if (!cancelled.wait_for(lock, stop, delay, [] { return false; }) &&
			  !stop.stop_requested())
			      (void)::write(fd, "rescue", 6);
	      })
	{
	}
	void cancel() { thread_.request_stop(); }

private:
	std::jthread thread_;
};

// ring::drain() with a bound: nothing in flight and everything delivered
// within @within, or a failure that says what is left (a test that would
// hang fails instead; the watchdog, watchdog.cpp, is the last resort).
inline ::testing::AssertionResult drained(syslet::ring& r,
					  std::chrono::milliseconds within = std::chrono::seconds(20))
{
	const auto deadline = std::chrono::steady_clock::now() + within;
	for (;;) {
		(void)r.reap();
		if (r.in_flight() == 0 && r.pending_delivery() == 0)
			return ::testing::AssertionSuccess();
		const auto left = deadline - std::chrono::steady_clock::now();
		if (left <= std::chrono::steady_clock::duration::zero())
			return ::testing::AssertionFailure()
			       << "ring not drained within " << within.count() << " ms: " << r.in_flight()
			       << " in flight, " << r.pending_delivery()
			       << " undelivered; ring indices: kernel "
			       << std::atomic_ref<__u64>(r.head().kernel_ring_idx).load() << ", user "
			       << std::atomic_ref<__u64>(r.head().user_ring_idx).load();
		const auto waited = r.wait(1, left);
		if (!waited && waited.error() != std::errc::timed_out)
			return ::testing::AssertionFailure()
			       << "ring wait failed: " << waited.error().message();
	}
}

// A temporary directory removed (recursively) on scope exit.
class temp_dir
{
public:
	temp_dir()
	{
		std::string pattern = "/tmp/syslet-test-XXXXXX";
		if (::mkdtemp(pattern.data()) == nullptr)
			std::abort();
		path_ = pattern;
	}
	temp_dir(const temp_dir&) = delete;
	temp_dir& operator=(const temp_dir&) = delete;
	~temp_dir()
	{
		const std::string command = "rm -rf '" + path_ + "'";
		(void)std::system(command.c_str()); // NOLINT(concurrency-mt-unsafe)
	}
	const std::string& path() const { return path_; }
	std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
	std::string path_;
};

} // namespace syslet_test
