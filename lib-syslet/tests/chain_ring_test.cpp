// Chains, rings and reaping (fallback mode on a stock kernel, real syslets
// in the guest: the tests hold in both).
#include "test_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace
{

using syslet::atom_ref;
using syslet::chain;
using syslet::completion_path;
using syslet::ring;
namespace flag = syslet::flag;
namespace op = syslet::op;

TEST(Chain, SingleAtomCompletesCached)
{
	ring r;
	chain c(op::syscall(SYS_getpid));
	ASSERT_TRUE(r.submit(c));
	ASSERT_TRUE(c.done());
	EXPECT_EQ(c.finished()->path, completion_path::cached);
	EXPECT_EQ(c.result().value(), ::getpid());
	EXPECT_EQ(r.in_flight(), 0U);
}

TEST(Chain, OwnsCopiedStringsAcrossMoves)
{
	syslet_test::temp_dir dir;
	std::string name = dir.file("file");
	struct stat st {
	};
	chain c;
	c.add(op::open(name, O_CREAT | O_WRONLY, 0600));
	name.assign(name.size(), 'x'); // the chain has its own copy
	chain moved = std::move(c);
	ring r;
	ASSERT_TRUE(r.submit(moved));
	ASSERT_TRUE(moved.wait()); // an open may wait for a FIFO: never inline by default
	const auto fd = moved.result();
	ASSERT_TRUE(fd) << fd.error().message();
	::close(static_cast<int>(*fd));
	EXPECT_EQ(::stat(dir.file("file").c_str(), &st), 0);
}

TEST(Chain, ResultOfOneAtomFeedsTheNext)
{
	// read(pipe) -> write(pipe2, buf, <bytes read>): Linus's copy loop body.
	syslet_test::pipe_pair in, out;
	ASSERT_EQ(::write(in.write_end(), "syslet", 6), 6);
	chain c;
	auto buffer = c.buffer(64);
	const atom_ref read_atom =
		c.add(op::read(in.read_end(), buffer.data(), buffer.size()), flag::stop_on_non_positive);
	const atom_ref write_atom = c.add(op::write(out.write_end(), buffer.data(), read_atom));
	ring r;
	ASSERT_TRUE(r.submit(c));
	ASSERT_TRUE(c.wait()); // pipes may block: the chain does not run in the caller
	ASSERT_TRUE(c.done());
	EXPECT_EQ(c.result(read_atom).value(), 6);
	EXPECT_EQ(c.result(write_atom).value(), 6);
	EXPECT_EQ(c.finished()->final_atom, write_atom.index);
	char copied[8] = {};
	ASSERT_EQ(::read(out.read_end(), copied, sizeof(copied)), 6);
	EXPECT_STREQ(copied, "syslet");
}

TEST(Chain, StoppedChainReportsAtomsThatDidNotRun)
{
	chain c;
	const atom_ref closing = c.add(op::close(-1), flag::stop_on_negative);
	const atom_ref never = c.add(op::syscall(SYS_getpid));
	ring r;
	ASSERT_TRUE(r.submit(c));
	EXPECT_EQ(c.result(closing).error(), std::errc::bad_file_descriptor);
	EXPECT_EQ(c.result().error(), std::errc::bad_file_descriptor) << "the chain ended on the close";
	EXPECT_EQ(c.result(never).error(), std::errc::operation_canceled);
}

TEST(Chain, SkipToNextOnStopAndExplicitEnd)
{
	// close(-1) fails -> skip to the fallback atom; the success path (link
	// to `on_success`) is not taken.
	chain c;
	const atom_ref attempt = c.add(op::close(-1), flag::stop_on_negative | flag::skip_to_next_on_stop);
	const atom_ref on_failure = c.add(op::syscall(SYS_getppid));
	const atom_ref on_success = c.add(op::syscall(SYS_getpid));
	c.end_after(on_failure);
	c.link(attempt, on_success);
	ring r;
	ASSERT_TRUE(r.submit(c));
	EXPECT_EQ(c.finished()->final_atom, on_failure.index);
	EXPECT_EQ(c.result().value(), ::getppid());
	EXPECT_EQ(c.result(on_success).error(), std::errc::operation_canceled);
}

TEST(Chain, VariablesAreSharedArguments)
{
	chain c;
	const auto fd = c.variable(static_cast<std::uint64_t>(-1));
	c.add(op::close(fd));
	c.set(fd, 9999);
	ring r;
	ASSERT_TRUE(r.submit(c));
	EXPECT_EQ(c.result().error(), std::errc::bad_file_descriptor);
	EXPECT_EQ(c.get(fd), 9999U);
}

TEST(Chain, RejectsMisuse)
{
	EXPECT_THROW((void)chain(op::syscall(SYS_getpid), syslet::atom_flags{0x10000}),
		     std::invalid_argument);
	chain c;
	c.add(op::syscall(SYS_getpid, atom_ref{5}));
	ring r;
	EXPECT_THROW((void)r.submit(c), std::logic_error);
	chain empty;
	EXPECT_THROW((void)r.submit(empty), std::logic_error);
}

TEST(Chain, SyncAndAsyncTogetherIsInvalid)
{
	ring r;
	chain c(op::syscall(SYS_getpid), flag::sync | flag::async);
	const auto submitted = r.submit(c);
	EXPECT_EQ(submitted.error(), std::errc::invalid_argument);
	EXPECT_TRUE(c.idle());
}

TEST(Ring, AsyncChainCompletesThroughTheRing)
{
	ring r;
	int callbacks = 0;
	chain c(op::syscall(SYS_getpid), flag::async);
	c.on_complete([&](const syslet::completion& done) {
		++callbacks;
		EXPECT_EQ(done.path, completion_path::ring);
	});
	ASSERT_TRUE(r.submit(c));
	EXPECT_TRUE(c.in_flight()) << "SYSLET_ASYNC: completion comes from the ring";
	EXPECT_EQ(callbacks, 0);
	ASSERT_TRUE(c.wait());
	EXPECT_EQ(callbacks, 1);
	EXPECT_EQ(c.result().value(), ::getpid());
	EXPECT_NO_THROW(c.set(c.variable(), 1)) << "not in flight any more";
}

TEST(Ring, ModifyingAChainInFlightIsRefused)
{
	ring r;
	chain c(op::syscall(SYS_getpid), flag::async);
	ASSERT_TRUE(r.submit(c));
	EXPECT_THROW(c.add(op::syscall(SYS_getpid)), std::logic_error);
	EXPECT_EQ(r.submit(c).error(), std::errc::device_or_resource_busy);
	ASSERT_TRUE(syslet_test::drained(r));
}

TEST(Ring, MoreChainsThanSlotsNeverOverflow)
{
	ring r(4);
	std::vector<chain> chains;
	int completed = 0;
	for (int i = 0; i < 50; ++i) {
		chains.emplace_back(op::syscall(SYS_getpid), flag::async);
		chains.back().on_complete([&](const syslet::completion&) { ++completed; });
		ASSERT_TRUE(r.submit(chains.back()));
		EXPECT_LE(r.in_flight(), r.capacity());
	}
	ASSERT_TRUE(syslet_test::drained(r));
	EXPECT_EQ(completed, 50);
	for (const auto& c : chains)
		EXPECT_EQ(c.result().value(), ::getpid());
}

TEST(Ring, DroppedChainIsKeptAliveUntilItCompletes)
{
	ring r;
	int completed = 0;
	{
		chain c(op::syscall(SYS_getpid), flag::async);
		c.on_complete([&](const syslet::completion& done) {
			++completed;
			EXPECT_EQ(done.value, ::getpid());
		});
		ASSERT_TRUE(r.submit(c));
	} // destroyed in flight: the ring owns it now
	ASSERT_TRUE(syslet_test::drained(r));
	EXPECT_EQ(completed, 1);
}

TEST(Ring, NoCompleteChainIsReportedUnobservedWhenTheRingIsIdle)
{
	ring r;
	chain c(op::syscall(SYS_getpid), flag::async | flag::no_complete);
	ASSERT_TRUE(r.submit(c));
	ASSERT_TRUE(syslet_test::drained(r));
	ASSERT_TRUE(c.done());
	EXPECT_EQ(c.finished()->path, completion_path::unobserved);
	EXPECT_EQ(c.result().error(), std::errc::no_message_available);
}

TEST(Ring, WaitReturnsAtOnceWhenNothingIsInFlight)
{
	ring r;
	const auto start = std::chrono::steady_clock::now();
	const auto waited = r.wait(1, std::chrono::seconds(5));
	ASSERT_TRUE(waited);
	EXPECT_EQ(*waited, 0U);
	EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(Ring, MovedRingKeepsItsChains)
{
	ring r;
	chain c(op::syscall(SYS_getpid), flag::async);
	ASSERT_TRUE(r.submit(c));
	ring moved = std::move(r);
	ASSERT_TRUE(syslet_test::drained(moved));
	EXPECT_EQ(c.result().value(), ::getpid());
}

TEST(Ring, ChainsCanBeResubmitted)
{
	ring r;
	chain c(op::syscall(SYS_getpid));
	for (int i = 0; i < 3; ++i) {
		ASSERT_TRUE(r.submit(c));
		EXPECT_EQ(c.result().value(), ::getpid());
	}
}

TEST(OneShot, AsyncStatNeedsNoSetUp)
{
	struct stat st {
	};
	struct stat reference {
	};
	ASSERT_EQ(::stat("/proc/self/exe", &reference), 0);
	auto op = syslet::async_stat("/proc/self/exe", &st);
	ASSERT_TRUE(syslet::wait_all());
	ASSERT_TRUE(op.result());
	EXPECT_EQ(st.st_ino, reference.st_ino);
	EXPECT_EQ(syslet::async_stat("/nonexistent/x", &st).result().error(),
		  std::errc::no_such_file_or_directory);
}

TEST(OneShot, DroppedOperationsStillComplete)
{
	std::vector<struct stat> stats(10);
	int completed = 0;
	for (auto& st : stats)
		(void)syslet::async_stat("/", &st, [&](const syslet::completion& done) {
			completed += done.result() ? 1 : 0;
		});
	ASSERT_TRUE(syslet::wait_all());
	EXPECT_EQ(completed, 10);
	for (const auto& st : stats)
		EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST(OneShot, ReadWriteFsyncRoundTrip)
{
	syslet_test::temp_dir dir;
	auto opened = syslet::async_open(dir.file("data"), O_CREAT | O_RDWR, 0600);
	ASSERT_TRUE(opened.wait());
	const int fd = static_cast<int>(opened.result().value());
	const std::string text = "hello syslets";
	EXPECT_EQ(syslet::async_pwrite(fd, text.data(), text.size(), 0).result().value_or(-1),
		  static_cast<long>(text.size()));
	EXPECT_TRUE(syslet::async_fsync(fd).result());
	char back[32] = {};
	EXPECT_EQ(syslet::async_pread(fd, back, sizeof(back), 0).result().value_or(-1),
		  static_cast<long>(text.size()));
	EXPECT_EQ(std::string(back), text);
	EXPECT_TRUE(syslet::async_close(fd).result());
}

TEST(OneShot, EachThreadHasItsOwnDefaultRing)
{
	const syslet::ring* main_ring = &syslet::default_ring();
	const syslet::ring* other_ring = nullptr;
	std::thread([&] { other_ring = &syslet::default_ring(); }).join();
	EXPECT_NE(main_ring, other_ring);
}

// At thread exit the thread's default ring waits for its operations (the
// callbacks of dropped ones run) before the thread's chain cache goes; a
// chain made on a thread that has exited stays usable and is freed where
// it is destroyed.
TEST(OneShot, ThreadExitDrainsTheDefaultRingBeforeTheCache)
{
	std::atomic<int> completed{0};
	std::vector<chain> kept;
	std::vector<struct stat> stats(8);
	std::thread([&] {
		for (int i = 0; i < 4; ++i)
			(void)syslet::async_stat("/", &stats[i], [&](const syslet::completion& done) {
				completed += done.result() ? 1 : 0;
			});
		for (int i = 4; i < 8; ++i)
			kept.push_back(syslet::async_stat("/", &stats[i]));
	}).join();
	EXPECT_EQ(completed.load(), 4);
	for (const auto& c : kept) {
		EXPECT_TRUE(c.done());
		EXPECT_EQ(c.result().value_or(-1), 0);
	}
	kept.clear();
	for (const auto& st : stats)
		EXPECT_TRUE(S_ISDIR(st.st_mode));
}

// A callback that the thread-exit drain delivers and that starts the next
// operation (the README's pattern): that one runs too, on the same ring,
// and nothing is leaked (the sanitizer build would say so).
TEST(OneShot, ThreadExitDrainRunsWhatItsCallbacksSubmit)
{
	std::atomic<int> first{0};
	std::atomic<int> second{0};
	struct stat st {
	};
	char byte = 0;
	syslet_test::pipe_pair p;
	// Lets the read go only after the thread has returned, from elsewhere.
	const syslet_test::delayed_writer writer(p.write_end(), std::chrono::milliseconds(100));
	std::thread([&] {
		// An empty pipe: the read is in flight when the thread returns.
		(void)syslet::async_read(p.read_end(), &byte, 1, [&](const syslet::completion&) {
			++first;
			(void)syslet::async_stat("/", &st, [&](const syslet::completion& done) {
				second += done.result() ? 1 : 0;
			});
		});
	}).join();
	EXPECT_EQ(first.load(), 1);
	EXPECT_EQ(second.load(), 1);
	EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST(Ops, DirectoryOperations)
{
	syslet_test::temp_dir dir;
	ring r;
	chain c;
	c.add(op::mkdir(dir.file("sub"), 0700), flag::stop_on_negative);
	c.add(op::rename(dir.file("sub"), dir.file("moved")), flag::stop_on_negative);
	c.add(op::rmdir(dir.file("moved")));
	ASSERT_TRUE(r.submit(c));
	EXPECT_TRUE(c.result()) << c.result().error().message();
	EXPECT_EQ(c.finished()->final_atom, 2U);
}

} // namespace
