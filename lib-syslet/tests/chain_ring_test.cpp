// Chains, rings and reaping (fallback mode on a stock kernel, real syslets
// in the guest: the tests hold in both).
#include "test_util.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
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
	ASSERT_TRUE(c.wait()); // a close of a descriptor not known at submit: not inline
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

// Runs @child_body in a child of fork() and returns its exit status, or
// -1 if it did not exit within @within (it is killed then).  The child
// calls exit(), whose thread_local destructors drain its default ring,
// and leaves right after them: the sanitizers' leak check, an exit
// handler too, may wait in a child for threads of the parent's that are
// not there.
template <class Body>
int status_of_child(Body child_body, std::chrono::milliseconds within)
{
	const pid_t child = ::fork();
	if (child < 0)
		return -2;
	if (child == 0) {
		static int status = 0;
		status = child_body();
		(void)std::atexit([] { std::_Exit(status); }); // (before the others registered)
		std::exit(status);
	}
	const auto deadline = std::chrono::steady_clock::now() + within;
	int status = 0;
	while (::waitpid(child, &status, WNOHANG) == 0) {
		if (std::chrono::steady_clock::now() > deadline) {
			::kill(child, SIGKILL);
			(void)::waitpid(child, &status, 0);
			return -1;
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(5));
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A child of fork() of a process with a chain in flight on the thread's
// default ring (a read of an empty pipe: a fallback pool worker or a
// kernel pool thread runs it).  That chain is the parent's: the child's
// exit does not wait for it (it waited forever for a pool worker the
// child does not have), its chain object in the child says so
// (EOWNERDEAD, as for a destroyed ring), the child's own chains work,
// and the parent still completes its chain.
TEST(OneShot, ForkChildDoesNotWaitForItsParentsChains)
{
	syslet_test::pipe_pair p;
	char byte = 0;
	int calls = 0;
	chain reading = syslet::async_read(
		p.read_end(), &byte, 1, [&calls, parent = ::getpid()](const syslet::completion&) {
			if (::getpid() != parent)
				std::_Exit(10); // the parent's callback must not run in a child
			++calls;
		});
	ASSERT_TRUE(reading.in_flight());

	EXPECT_EQ(status_of_child([] { return 0; }, std::chrono::seconds(5)), 0)
		<< "the child did not exit (-1: hung, killed)";

	EXPECT_EQ(status_of_child(
			  [&] {
				  const auto waited = reading.wait(std::chrono::seconds(2));
				  if (waited || waited.error() != std::errc::owner_dead)
					  return 2;
				  syslet_test::pipe_pair mine; // the child's own pool chain
				  char got = 0;
				  chain own = syslet::async_read(mine.read_end(), &got, 1);
				  if (!own.in_flight() || ::write(mine.write_end(), "c", 1) != 1)
					  return 3;
				  if (!own.wait(std::chrono::seconds(2)) || own.result().value_or(-1) != 1 ||
				      got != 'c')
					  return 4;
				  return syslet::wait_all() ? 0 : 5;
			  },
			  std::chrono::seconds(10)),
		  0)
		<< "-1: hung; 2: the parent's chain; 3, 4: the child's own chain; 5: wait_all()";

	// A ring with a completion fd (a notifier thread, the parent's) and a
	// chain in flight, destroyed in the child; its child's new fd works.
	std::optional<ring> polled(std::in_place);
	const auto fd = polled->completion_fd();
	ASSERT_TRUE(fd);
	syslet_test::pipe_pair q;
	char other = 0;
	chain on_polled(op::read(q.read_end(), &other, 1));
	ASSERT_TRUE(polled->submit(on_polled));
	EXPECT_EQ(status_of_child(
			  [&] {
				  const auto fresh = polled->completion_fd();
				  chain cached(op::syscall(SYS_getpid));
				  cached.on_complete([](const syslet::completion&) {});
				  if (!fresh || !polled->submit(cached))
					  return 2;
				  pollfd readable{*fresh, POLLIN, 0};
				  if (::poll(&readable, 1, 2000) != 1 || polled->reap() != 1)
					  return 3;
				  polled.reset();
				  return 0;
			  },
			  std::chrono::seconds(10)),
		  0)
		<< "-1: hung; 2, 3: the child's completion fd";
	ASSERT_EQ(::write(q.write_end(), "q", 1), 1);
	ASSERT_TRUE(on_polled.wait(std::chrono::seconds(10)));
	EXPECT_EQ(on_polled.result().value_or(-1), 1);
	polled.reset();

	ASSERT_EQ(::write(p.write_end(), "p", 1), 1);
	ASSERT_TRUE(reading.wait(std::chrono::seconds(10)));
	EXPECT_EQ(reading.result().value_or(-1), 1);
	EXPECT_EQ(byte, 'p');
	EXPECT_EQ(calls, 1);
}

// A chain whose completion was posted, but not reaped, when the process
// forked completed before the fork: the child delivers it too.  (Found
// by review: the child forgot the parent's chains in flight before it
// took what they had posted, so it lost them.)
TEST(OneShot, ForkChildDeliversWhatWasPostedBeforeTheFork)
{
	ring r;
	syslet_test::pipe_pair p;
	ASSERT_EQ(::write(p.write_end(), "x", 1), 1);
	char byte = 0;
	int calls = 0;
	chain c(op::read(p.read_end(), &byte, 1)); // a pipe: leaves the caller
	c.on_complete([&calls](const syslet::completion&) { ++calls; });
	ASSERT_TRUE(r.submit(c));
	const auto posted = [&r] {
		return std::atomic_ref<syslet::abi::word>(r.head().kernel_ring_idx).load() !=
		       std::atomic_ref<syslet::abi::word>(r.head().user_ring_idx).load();
	};
	for (int i = 0; i < 5000 && !posted(); ++i)
		std::this_thread::sleep_for(std::chrono::milliseconds(1));
	ASSERT_TRUE(posted());
	EXPECT_EQ(status_of_child(
			  [&] {
				  if (!c.wait(std::chrono::seconds(2)) || !c.done())
					  return 2;
				  return calls == 1 && c.result().value_or(-1) == 1 && byte == 'x' ? 0 : 3;
			  },
			  std::chrono::seconds(10)),
		  0)
		<< "-1: hung; 2: not delivered in the child; 3: wrong result or callback count";
	ASSERT_TRUE(c.wait(std::chrono::seconds(2)));
	EXPECT_EQ(calls, 1);
}

// A child of fork() whose inherited ring had a completion fd: the
// parent's notifier thread is not in the child, and its pthread_t may
// name one of the child's own threads by now; the ring forgets it
// without touching that thread.  (Found by review: it was detached,
// which threw, or took the child's thread away from its owner.)
TEST(OneShot, ForkChildDoesNotDetachItsOwnThreads)
{
	ring r;
	ASSERT_TRUE(r.completion_fd());
	syslet_test::pipe_pair p;
	char byte = 0;
	chain c(op::read(p.read_end(), &byte, 1));
	ASSERT_TRUE(r.submit(c));
	EXPECT_EQ(status_of_child(
			  [&] {
				  std::vector<std::thread> mine;
				  for (int i = 0; i < 4; ++i)
					  mine.emplace_back([] {
						  std::this_thread::sleep_for(std::chrono::milliseconds(50));
					  });
				  if (!r.completion_fd())
					  return 2;
				  for (std::thread& t : mine)
					  if (!t.joinable())
						  return 3;
				  for (std::thread& t : mine)
					  t.join();
				  return 0;
			  },
			  std::chrono::seconds(10)),
		  0)
		<< "-1: hung; 2: completion_fd(); 3: a thread of the child's was detached; 134: abort";
	ASSERT_EQ(::write(p.write_end(), "p", 1), 1);
	ASSERT_TRUE(c.wait(std::chrono::seconds(10)));
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
