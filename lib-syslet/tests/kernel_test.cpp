// Real asynchronous behaviour: needs a kernel with syslets (the guest).
// On a stock kernel each test is skipped with "kernel has no syslets".
#include "test_util.hpp"

#include <fcntl.h>
#include <sys/syscall.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace
{

namespace flag = syslet::flag;
namespace op = syslet::op;
using namespace std::chrono_literals;

TEST(KernelSyslets, NonBlockingAtomCompletesCached)
{
	REQUIRE_KERNEL_SYSLETS();
	syslet::ring r;
	syslet::chain c(op::syscall(SYS_getpid));
	ASSERT_TRUE(r.submit(c));
	ASSERT_TRUE(c.done());
	EXPECT_EQ(c.finished()->path, syslet::completion_path::cached);
	EXPECT_EQ(c.result().value(), ::getpid());
}

TEST(KernelSyslets, AsyncAtomGoesThroughTheRing)
{
	REQUIRE_KERNEL_SYSLETS();
	syslet::ring r;
	syslet::chain c(op::syscall(SYS_getpid), flag::async);
	ASSERT_TRUE(r.submit(c));
	ASSERT_TRUE(c.wait(10s));
	ASSERT_TRUE(c.done());
	EXPECT_EQ(c.finished()->path, syslet::completion_path::ring);
	EXPECT_EQ(c.result().value(), ::getpid());
	EXPECT_EQ(r.head().kernel_ring_idx, 1U);
	EXPECT_EQ(r.head().user_ring_idx, 1U);
}

// Queues a read of an empty pipe, checks it does not complete, writes to
// the pipe and checks the read completes through the ring.
void read_completes_after_write(syslet::atom_flags flags, syslet::inline_policy policy)
{
	syslet_test::pipe_pair pipe;
	syslet_test::delayed_writer rescuer(pipe.write_end(), 5s); // outlives the ring
	syslet::ring r(syslet::ring_options{.policy = policy});
	// Registered: a spare is ready, so even a process' first block hands
	// off (a lazily set-up ring lets the first one complete in the caller).
	ASSERT_TRUE(r.register_now());
	syslet::chain c;
	auto buffer = c.buffer(16);
	c.add(op::read(pipe.read_end(), buffer.data(), buffer.size()), flags);
	ASSERT_TRUE(r.submit(c));
	ASSERT_TRUE(c.in_flight()) << "a read of an empty pipe must not complete in async_exec()";
	const auto early = r.wait(1, 200ms);
	EXPECT_EQ(early.error(), std::errc::timed_out);
	EXPECT_TRUE(c.in_flight());

	ASSERT_EQ(::write(pipe.write_end(), "wake", 4), 4);
	rescuer.cancel();
	ASSERT_TRUE(c.wait(10s));
	ASSERT_TRUE(c.done());
	EXPECT_EQ(c.finished()->path, syslet::completion_path::ring);
	EXPECT_EQ(c.result().value(), 4);
	EXPECT_EQ(std::memcmp(buffer.data(), "wake", 4), 0);
}

TEST(KernelSyslets, QueuedReadOfEmptyPipeCompletesViaRingAfterWrite)
{
	REQUIRE_KERNEL_SYSLETS();
	read_completes_after_write(flag::async, syslet::inline_policy::kernel_decides);
}

TEST(KernelSyslets, BlockingReadOnARegisteredRingGoesAsynchronous)
{
	REQUIRE_KERNEL_SYSLETS();
	// A kernel from before the cachemiss hand-off answers async_thread()
	// with -ENOSYS (the hand-off brought it); there a blocking cached atom
	// completes synchronously, which would block this test forever.
	if (syslet::sys::async_thread(nullptr, nullptr) == -ENOSYS)
		GTEST_SKIP() << "kernel has no cachemiss handoff yet (async_thread: ENOSYS)";
	// The kernel decides: the read starts in the caller and hands off
	// when it blocks (cachemiss: async_exec returns 0).
	read_completes_after_write({}, syslet::inline_policy::kernel_decides);
}

TEST(KernelSyslets, ByDefaultAPipeReadIsQueuedAsync)
{
	REQUIRE_KERNEL_SYSLETS();
	// never_block_caller: a pipe read goes to a pool thread as SYSLET_ASYNC
	// (no first-block, full-pool or ptrace case can keep it in the caller).
	read_completes_after_write({}, syslet::inline_policy::never_block_caller);
}

syslet::task<long> read_pipe(syslet::ring& r, syslet::chain& c)
{
	co_return (co_await syslet::on(r, c)).value();
}

TEST(KernelSyslets, CoroutineResumesWhenThePipeIsWritten)
{
	REQUIRE_KERNEL_SYSLETS();
	syslet_test::pipe_pair pipe;
	syslet_test::delayed_writer rescuer(pipe.write_end(), 5s);
	syslet::ring r;
	syslet::chain c;
	char buffer[8] = {};
	c.add(op::read(pipe.read_end(), buffer, sizeof(buffer)), flag::async);
	auto t = read_pipe(r, c);
	EXPECT_FALSE(t.done());
	ASSERT_EQ(::write(pipe.write_end(), "abc", 3), 3);
	rescuer.cancel();
	ASSERT_TRUE(syslet::run_until_done(t, r));
	EXPECT_EQ(t.get(), 3);
	EXPECT_EQ(c.finished()->path, syslet::completion_path::ring);
}

} // namespace

namespace
{

// The kernel runs even a SYSLET_ASYNC chain in the caller once a ring's
// pool threads (max_nr_threads) are all taken: the ring holds further
// chains that must not block back, and launches them as threads free up.
TEST(KernelSyslets, ChainsBeyondTheRingsPoolThreadsWaitInTheRing)
{
	REQUIRE_KERNEL_SYSLETS();
	constexpr std::size_t reads = 6;
	std::array<syslet_test::pipe_pair, reads> pipes;
	std::vector<std::unique_ptr<syslet_test::delayed_writer>> rescuers;
	for (auto& p : pipes)
		rescuers.push_back(std::make_unique<syslet_test::delayed_writer>(p.write_end(), 10s));
	syslet::ring r(syslet::ring_options{.slots = 16, .max_threads = 2});
	std::array<std::array<char, 4>, reads> buffers{};
	std::vector<syslet::chain> chains;
	const auto start = std::chrono::steady_clock::now();
	for (std::size_t i = 0; i < reads; ++i) {
		chains.emplace_back(op::read(pipes[i].read_end(), buffers[i].data(), buffers[i].size()));
		ASSERT_TRUE(r.submit(chains.back()));
	}
	EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "a submit() blocked on its pipe";
	for (const auto& c : chains)
		EXPECT_TRUE(c.in_flight());
	// A held-back chain is cancelled at once: it never starts.
	ASSERT_TRUE(chains[reads - 1].cancel());
	ASSERT_TRUE(chains[reads - 1].wait(1s));
	EXPECT_EQ(chains[reads - 1].result().error(), std::errc::operation_canceled);
	// One blocked in a kernel pool thread is interrupted (async_cancel);
	// its thread frees up for a held-back chain.
	ASSERT_TRUE(chains[0].cancel());
	ASSERT_TRUE(chains[0].wait(5s));
	EXPECT_EQ(chains[0].result().error(), std::errc::operation_canceled);
	for (std::size_t i = 1; i < reads - 1; ++i)
		ASSERT_EQ(::write(pipes[i].write_end(), "abc", 3), 3);
	ASSERT_TRUE(syslet_test::drained(r));
	for (std::size_t i = 1; i < reads - 1; ++i)
		EXPECT_EQ(chains[i].result().value_or(-1), 3) << i;
	char unread[4] = {};
	ASSERT_EQ(::write(pipes[0].write_end(), "abc", 3), 3);
	EXPECT_EQ(::read(pipes[0].read_end(), unread, sizeof(unread)), 3) << "the cancelled read took data";
	for (auto& rescuer : rescuers)
		rescuer->cancel();
}

} // namespace

namespace
{

// ------------------------------------------------ kernel cancellation
//
// ring::cancel() / chain::cancel() and per-chain timeouts on chains the
// kernel runs: async_cancel() interrupts the blocked call, the chain ends
// there, and it completes exactly once, with ECANCELED (ETIMEDOUT for a
// timeout) as the result of the atom it ended on.

// A read of an empty pipe, then a write to a second pipe that must never
// run; cancelled while the read is blocked.
void cancel_blocked_read(syslet::inline_policy policy)
{
	syslet_test::pipe_pair in;
	syslet_test::pipe_pair out;
	syslet_test::delayed_writer rescuer(in.write_end(), 10s);
	syslet::ring r(syslet::ring_options{.policy = policy});
	ASSERT_TRUE(r.register_now()); // a spare is ready: the first block hands off
	syslet::chain c;
	char buffer[8] = {};
	c.add(op::read(in.read_end(), buffer, sizeof(buffer)), flag::stop_on_non_positive);
	c.add(op::write(out.write_end(), "after", 5));
	int calls = 0;
	c.on_complete([&](const syslet::completion& done) {
		++calls;
		EXPECT_EQ(done.final_atom, 0U);
		EXPECT_EQ(done.path, syslet::completion_path::ring);
	});
	ASSERT_TRUE(r.submit(c));
	ASSERT_TRUE(c.in_flight()) << "a read of an empty pipe completed in async_exec()";
	std::this_thread::sleep_for(50ms); // blocked in pipe_read() by now (or not started)
	const auto start = std::chrono::steady_clock::now();
	const auto cancelled = c.cancel();
	ASSERT_TRUE(cancelled) << cancelled.error().message();
	EXPECT_TRUE(c.cancel()) << "asking twice is still asked";
	ASSERT_TRUE(c.wait(5s));
	EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "the blocked read was not interrupted";
	rescuer.cancel();
	EXPECT_EQ(c.result().error(), std::errc::operation_canceled);
	EXPECT_EQ(c.result(syslet::atom_ref{0}).error(), std::errc::operation_canceled);
	EXPECT_EQ(c.result(syslet::atom_ref{1}).error(), std::errc::operation_canceled) << "did not run";
	ASSERT_TRUE(syslet_test::drained(r));
	EXPECT_EQ(calls, 1) << "exactly one completion";
	EXPECT_EQ(r.head().kernel_ring_idx, 1U) << "exactly one completion posted";
	EXPECT_EQ(c.cancel().error(), std::errc::no_such_file_or_directory) << "done and reaped";
	// Nothing was consumed, nothing after the read ran.
	ASSERT_EQ(::write(in.write_end(), "left", 4), 4);
	char left[8] = {};
	EXPECT_EQ(::read(in.read_end(), left, sizeof(left)), 4);
	const int flags = ::fcntl(out.read_end(), F_GETFL);
	ASSERT_EQ(::fcntl(out.read_end(), F_SETFL, flags | O_NONBLOCK), 0);
	EXPECT_EQ(::read(out.read_end(), left, sizeof(left)), -1) << "the atom after the read ran";
}

TEST(KernelCancel, BlockedReadInAPoolThreadIsInterrupted)
{
	REQUIRE_KERNEL_SYSLETS();
	cancel_blocked_read(syslet::inline_policy::never_block_caller);
}

TEST(KernelCancel, BlockedReadInACachemissWorkerIsInterrupted)
{
	REQUIRE_KERNEL_SYSLETS();
	if (syslet::sys::async_thread(nullptr, nullptr) == -ENOSYS)
		GTEST_SKIP() << "kernel has no cachemiss handoff (async_thread: ENOSYS)";
	cancel_blocked_read(syslet::inline_policy::kernel_decides);
}

TEST(KernelCancel, TimeoutEndsABlockedReadWithETIMEDOUT)
{
	REQUIRE_KERNEL_SYSLETS();
	for (const auto policy :
	     {syslet::inline_policy::never_block_caller, syslet::inline_policy::kernel_decides}) {
		syslet_test::pipe_pair pipe;
		syslet_test::delayed_writer rescuer(pipe.write_end(), 10s);
		syslet::ring r(syslet::ring_options{.policy = policy});
		ASSERT_TRUE(r.register_now());
		char buffer[8] = {};
		syslet::chain c(op::read(pipe.read_end(), buffer, sizeof(buffer)));
		int calls = 0;
		c.on_complete([&](const syslet::completion&) { ++calls; });
		c.set_timeout(200ms);
		const auto start = std::chrono::steady_clock::now();
		ASSERT_TRUE(r.submit(c));
		ASSERT_TRUE(c.in_flight());
		ASSERT_TRUE(syslet_test::drained(r)); // returns once the timeout has ended the read
		const auto took = std::chrono::steady_clock::now() - start;
		rescuer.cancel();
		EXPECT_EQ(c.result().error(), std::errc::timed_out);
		EXPECT_GE(took, 200ms);
		EXPECT_LT(took, 3s);
		EXPECT_EQ(calls, 1);
		EXPECT_EQ(r.head().kernel_ring_idx, 1U);
	}
}

TEST(KernelCancel, AfterTheCompletionIsPostedItIsTooLate)
{
	REQUIRE_KERNEL_SYSLETS();
	syslet_test::pipe_pair pipe;
	syslet_test::delayed_writer rescuer(pipe.write_end(), 10s);
	syslet::ring r;
	char buffer[8] = {};
	syslet::chain c(op::read(pipe.read_end(), buffer, sizeof(buffer)), flag::async);
	ASSERT_TRUE(r.submit(c));
	ASSERT_EQ(::write(pipe.write_end(), "done", 4), 4);
	rescuer.cancel();
	// Posted, not reaped yet: the chain is still in flight for the ring.
	const auto deadline = std::chrono::steady_clock::now() + 5s;
	while (std::atomic_ref<__u64>(r.head().kernel_ring_idx).load() == 0 &&
	       std::chrono::steady_clock::now() < deadline)
		std::this_thread::sleep_for(1ms);
	ASSERT_EQ(r.head().kernel_ring_idx, 1U);
	EXPECT_TRUE(c.in_flight());
	EXPECT_EQ(c.cancel().error(), std::errc::connection_already_in_progress) << "completes normally";
	ASSERT_TRUE(c.wait(5s));
	EXPECT_EQ(c.result().value(), 4);
	EXPECT_EQ(c.cancel().error(), std::errc::no_such_file_or_directory) << "done and reaped";
}

TEST(KernelCancel, CancelRacingCompletionCompletesExactlyOnce)
{
	REQUIRE_KERNEL_SYSLETS();
	syslet::ring r;
	for (int round = 0; round < 200; ++round) {
		syslet_test::pipe_pair pipe;
		char buffer[4] = {};
		syslet::chain c(op::read(pipe.read_end(), buffer, sizeof(buffer)));
		int calls = 0;
		c.on_complete([&](const syslet::completion&) { ++calls; });
		ASSERT_TRUE(r.submit(c));
		std::thread writer([&] { (void)!::write(pipe.write_end(), "r", 1); });
		const auto cancelled = c.cancel();
		writer.join();
		ASSERT_TRUE(c.wait(5s)) << "round " << round;
		EXPECT_EQ(calls, 1) << "round " << round;
		const auto result = c.result();
		if (result)
			EXPECT_EQ(*result, 1) << "round " << round;
		else
			EXPECT_EQ(result.error(), std::errc::operation_canceled) << "round " << round;
		if (!cancelled) {
			EXPECT_EQ(cancelled.error(), std::errc::connection_already_in_progress)
				<< "round " << round;
			EXPECT_TRUE(result) << "not asked, yet cancelled; round " << round;
		}
	}
	EXPECT_EQ(r.in_flight(), 0U);
}

} // namespace
