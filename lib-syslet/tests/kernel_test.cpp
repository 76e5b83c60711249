// Real asynchronous behaviour: needs a kernel with syslets (the guest).
// On a stock kernel each test is skipped with "kernel has no syslets".
#include "test_util.hpp"

#include <sys/syscall.h>

#include <chrono>
#include <cstring>
#include <memory>
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
	// One in the kernel cannot be (yet).
	EXPECT_EQ(chains[0].cancel().error(), std::errc::connection_already_in_progress);
	for (std::size_t i = 0; i < reads - 1; ++i)
		ASSERT_EQ(::write(pipes[i].write_end(), "abc", 3), 3);
	ASSERT_TRUE(r.drain());
	for (std::size_t i = 0; i < reads - 1; ++i)
		EXPECT_EQ(chains[i].result().value_or(-1), 3) << i;
	for (auto& rescuer : rescuers)
		rescuer->cancel();
}

} // namespace
