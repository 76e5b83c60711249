// co_await on chains.
#include "test_util.hpp"

#include <sys/syscall.h>

namespace
{

namespace flag = syslet::flag;
namespace op = syslet::op;

syslet::task<long> getpid_twice(bool& resumed_inline)
{
	const auto first = co_await syslet::async_call(op::syscall(SYS_getpid));
	resumed_inline = true;
	const auto second = co_await syslet::async_call(op::syscall(SYS_getpid), flag::async);
	co_return first.value() + second.value();
}

TEST(Coroutine, CachedCompletionResumesWithoutSuspending)
{
	bool resumed_inline = false;
	auto t = getpid_twice(resumed_inline);
	EXPECT_TRUE(resumed_inline) << "a cached completion must not go through the ring";
	ASSERT_TRUE(syslet::run_until_done(t));
	EXPECT_EQ(t.get(), 2L * ::getpid());
}

syslet::task<syslet::syscall_result> await_on(syslet::ring& r, syslet::chain& c)
{
	co_return co_await syslet::on(r, c);
}

TEST(Coroutine, AsyncChainResumesWhenReaped)
{
	syslet::ring r;
	syslet::chain c(op::syscall(SYS_getppid), flag::async);
	auto t = await_on(r, c);
	EXPECT_FALSE(t.done()) << "SYSLET_ASYNC chains complete through the ring";
	ASSERT_TRUE(syslet::run_until_done(t, r));
	EXPECT_EQ(t.get().value(), ::getppid());
	EXPECT_EQ(c.finished()->path, syslet::completion_path::ring);
}

syslet::task<int> nested(int depth)
{
	if (depth == 0)
		co_return 0;
	const int below = co_await nested(depth - 1);
	(void)co_await syslet::async_call(op::syscall(SYS_getpid), flag::async);
	co_return below + 1;
}

TEST(Coroutine, TasksAwaitTasks)
{
	auto t = nested(5);
	ASSERT_TRUE(syslet::run_until_done(t));
	EXPECT_EQ(t.get(), 5);
}

syslet::task<void> throws_after_await()
{
	(void)co_await syslet::async_call(op::syscall(SYS_getpid));
	throw std::runtime_error("from coroutine");
}

TEST(Coroutine, ExceptionsReachTheCaller)
{
	auto t = throws_after_await();
	ASSERT_TRUE(t.done());
	EXPECT_THROW(t.get(), std::runtime_error);
}

TEST(Coroutine, RunUntilDoneDetectsDeadlock)
{
	syslet::ring r;
	auto t = nested(0);
	EXPECT_TRUE(syslet::run_until_done(t, r)) << "already done";
}

} // namespace
