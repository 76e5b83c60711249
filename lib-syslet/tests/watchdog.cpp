// A watchdog for the test binary: no test may hang `make check`.  Every
// wait in the tests is bounded, but a bug in the library (a lost wake-up,
// a lost cancel) could still block a ring's destructor or an unbounded
// drain.  Each test arms alarm(2) for SYSLET_TEST_WATCHDOG seconds
// (default 300, generous for the debug guest under TCG on a loaded host);
// if it fires, the handler prints which test hung and ends the process
// with status 3, so the run fails with a message instead of being killed
// by the guest's timeout.
//
// Not a thread: the kernel sends every chain of the main thread of a
// multi-threaded process to a pool thread (see "The group leader" in
// Documentation/syslet-design.txt), so a watchdog thread alive for the
// whole run made every test that expects a cached completion fail.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace
{

std::atomic<const ::testing::TestInfo*> running_test{nullptr};
unsigned int limit_seconds = 300;

void write_text(const char* text) noexcept
{
	(void)!::write(STDOUT_FILENO, text, std::strlen(text));
	(void)!::write(STDERR_FILENO, text, std::strlen(text));
}

// Async-signal-safe: write(2) and _Exit only.
extern "C" void on_alarm(int /*signal*/)
{
	const ::testing::TestInfo* test = running_test.load();
	write_text("\nWATCHDOG: ");
	write_text(test != nullptr ? test->test_suite_name() : "?");
	write_text(".");
	write_text(test != nullptr ? test->name() : "?");
	write_text(" still running after SYSLET_TEST_WATCHDOG seconds: failing the run\n");
	std::_Exit(3);
}

class watchdog : public ::testing::EmptyTestEventListener
{
	void OnTestStart(const ::testing::TestInfo& test) override
	{
		running_test.store(&test);
		(void)::alarm(limit_seconds);
	}
	void OnTestEnd(const ::testing::TestInfo& /*test*/) override
	{
		(void)::alarm(0);
		running_test.store(nullptr);
	}
};

// Installed before main() (gtest_main) runs the tests; gtest owns it.
[[maybe_unused]] const bool installed = [] {
	const char* value = std::getenv("SYSLET_TEST_WATCHDOG"); // NOLINT(concurrency-mt-unsafe)
	const long seconds = value != nullptr ? std::strtol(value, nullptr, 10) : 0;
	if (seconds > 0)
		limit_seconds = static_cast<unsigned int>(seconds);
	struct sigaction action {
	};
	action.sa_handler = on_alarm;
	sigemptyset(&action.sa_mask);
	(void)::sigaction(SIGALRM, &action, nullptr);
	::testing::UnitTest::GetInstance()->listeners().Append(new watchdog);
	return true;
}();

} // namespace
