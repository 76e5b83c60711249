// A watchdog for the test binary: no test may hang `make check`.  Every
// wait in the tests is bounded, but a bug in the library (a lost wake-up,
// a lost cancel) could still block a ring's destructor or an unbounded
// drain.  A thread watches the running test; when one runs longer than
// SYSLET_TEST_WATCHDOG seconds (default 300, generous for the debug guest
// under TCG on a loaded host), it prints which test hung and for how
// long, and ends the process with status 3, so the run fails with a
// message instead of being killed by the guest's timeout.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace
{

using clock_type = std::chrono::steady_clock;

class watchdog : public ::testing::EmptyTestEventListener
{
public:
	explicit watchdog(std::chrono::seconds limit) : limit_(limit)
	{
		std::thread([this] { watch(); }).detach();
	}

private:
	void OnTestStart(const ::testing::TestInfo& test) override
	{
		// (gtest keeps every TestInfo until the program ends.)
		test_.store(&test, std::memory_order_relaxed);
		started_.store(clock_type::now().time_since_epoch().count(), std::memory_order_release);
	}
	void OnTestEnd(const ::testing::TestInfo& /*test*/) override
	{
		started_.store(idle, std::memory_order_release);
	}

	void watch()
	{
		for (;;) {
			std::this_thread::sleep_for(std::chrono::seconds(1));
			const auto started = started_.load(std::memory_order_acquire);
			if (started == idle)
				continue;
			const auto ran =
				clock_type::now() - clock_type::time_point(clock_type::duration(started));
			if (ran < limit_)
				continue;
			const ::testing::TestInfo* test = test_.load(std::memory_order_relaxed);
			char message[512];
			const int length = std::snprintf(
				message, sizeof(message),
				"\nWATCHDOG: %s.%s still running after %lld s (limit %lld s, "
				"SYSLET_TEST_WATCHDOG): failing the run\n",
				test != nullptr ? test->test_suite_name() : "?",
				test != nullptr ? test->name() : "?",
				static_cast<long long>(
					std::chrono::duration_cast<std::chrono::seconds>(ran).count()),
				static_cast<long long>(limit_.count()));
			if (length > 0) {
				const auto size = static_cast<std::size_t>(length) < sizeof(message)
							  ? static_cast<std::size_t>(length)
							  : sizeof(message) - 1;
				(void)!::write(STDOUT_FILENO, message, size);
				(void)!::write(STDERR_FILENO, message, size);
			}
			std::_Exit(3);
		}
	}

	static constexpr clock_type::rep idle = 0;
	const std::chrono::seconds limit_;
	std::atomic<clock_type::rep> started_{idle};
	std::atomic<const ::testing::TestInfo*> test_{nullptr};
};

std::chrono::seconds watchdog_limit()
{
	const char* value = std::getenv("SYSLET_TEST_WATCHDOG"); // NOLINT(concurrency-mt-unsafe)
	const long seconds = value != nullptr ? std::strtol(value, nullptr, 10) : 0;
	return std::chrono::seconds(seconds > 0 ? seconds : 300);
}

// Installed before main() (gtest_main) runs the tests; gtest owns it.
[[maybe_unused]] const bool installed = [] {
	::testing::UnitTest::GetInstance()->listeners().Append(new watchdog(watchdog_limit()));
	return true;
}();

} // namespace
