// The user-space emulation of the syslet system calls (runs everywhere).
#include "test_util.hpp"

#include <sys/syscall.h>

#include <array>
#include <cerrno>
#include <cstdint>

namespace
{

using syslet::abi::address_of;

struct raw_atom {
	syslet::abi::atom atom{};
	std::int64_t result = 0;
};

void init_atom(raw_atom& a, long nr, std::uint64_t flags, syslet::abi::atom* next = nullptr)
{
	a.atom.nr = static_cast<std::uint64_t>(nr);
	a.atom.flags = flags;
	a.atom.ret_ptr = address_of(&a.result);
	a.atom.next = address_of(next);
}

class FallbackTest : public ::testing::Test
{
protected:
	FallbackTest()
	{
		head.completion_ring = address_of(slots.data());
		head.ring_size_bytes = sizeof(slots);
	}
	long exec(syslet::abi::atom& first)
	{
		return syslet::fallback::async_exec(&first, &head, sizeof(head));
	}

	std::array<syslet::abi::word, 4> slots{};
	syslet::abi::head head{};
};

TEST_F(FallbackTest, CachedAtomReturnsItsAddressAndResult)
{
	raw_atom a;
	init_atom(a, SYS_getpid, 0);
	EXPECT_EQ(exec(a.atom), static_cast<long>(address_of(&a.atom)));
	EXPECT_EQ(a.result, ::getpid());
	EXPECT_EQ(head.kernel_ring_idx, 0U) << "a cached completion is not posted";
}

TEST_F(FallbackTest, ArgumentsAreReadUpToTheFirstNullPointer)
{
	std::uint64_t fd = 12345; // not open
	std::uint64_t ignored = 1;
	raw_atom a;
	init_atom(a, SYS_close, 0);
	a.atom.arg_ptr[0] = address_of(&fd);
	a.atom.arg_ptr[2] = address_of(&ignored);
	exec(a.atom);
	EXPECT_EQ(a.result, -EBADF) << "errors are stored as -errno, like the kernel does";
}

TEST_F(FallbackTest, ChainFollowsNextAndEndsOnLastAtom)
{
	std::array<raw_atom, 3> atoms;
	init_atom(atoms[0], SYS_getpid, 0, &atoms[1].atom);
	init_atom(atoms[1], SYS_getppid, 0, &atoms[2].atom);
	init_atom(atoms[2], SYS_getpid, 0);
	EXPECT_EQ(exec(atoms[0].atom), static_cast<long>(address_of(&atoms[2].atom)));
	EXPECT_EQ(atoms[1].result, ::getppid());
	EXPECT_EQ(atoms[2].result, ::getpid());
}

TEST_F(FallbackTest, StopOnNegativeEndsTheChain)
{
	std::uint64_t bad_fd = 12345;
	std::array<raw_atom, 2> atoms;
	init_atom(atoms[0], SYS_close, SYSLET_STOP_ON_NEGATIVE, &atoms[1].atom);
	atoms[0].atom.arg_ptr[0] = address_of(&bad_fd);
	init_atom(atoms[1], SYS_getpid, 0);
	atoms[1].result = 77;
	EXPECT_EQ(exec(atoms[0].atom), static_cast<long>(address_of(&atoms[0].atom)));
	EXPECT_EQ(atoms[1].result, 77) << "the second atom must not run";
}

TEST_F(FallbackTest, StopConditionsOnResultValue)
{
	using syslet::fallback::stop_condition_met;
	EXPECT_TRUE(stop_condition_met(SYSLET_STOP_ON_ZERO, 0));
	EXPECT_FALSE(stop_condition_met(SYSLET_STOP_ON_ZERO, 1));
	EXPECT_TRUE(stop_condition_met(SYSLET_STOP_ON_NONZERO, -1));
	EXPECT_FALSE(stop_condition_met(SYSLET_STOP_ON_NONZERO, 0));
	EXPECT_TRUE(stop_condition_met(SYSLET_STOP_ON_NON_POSITIVE, 0));
	EXPECT_FALSE(stop_condition_met(SYSLET_STOP_ON_NON_POSITIVE, 1));
	EXPECT_FALSE(stop_condition_met(SYSLET_STOP_ON_NEGATIVE, 0));
}

TEST_F(FallbackTest, SkipToNextOnStopContinuesAtTheLinearlyNextAtom)
{
	// atoms[0] stops (getpid != 0) and skips to atoms[1], the atom that
	// follows it in memory, instead of its `next` (atoms[2]).
	std::array<syslet::abi::atom, 3> atoms{};
	std::array<std::int64_t, 3> results{0, 0, 77};
	const std::array<long, 3> numbers{SYS_getpid, SYS_getppid, SYS_getpid};
	for (std::size_t i = 0; i < atoms.size(); ++i) {
		atoms[i].nr = static_cast<std::uint64_t>(numbers[i]);
		atoms[i].ret_ptr = address_of(&results[i]);
	}
	atoms[0].flags = SYSLET_STOP_ON_NONZERO | SYSLET_SKIP_TO_NEXT_ON_STOP;
	atoms[0].next = address_of(&atoms[2]);
	atoms[2].ret_ptr = 0;
	EXPECT_EQ(exec(atoms[0]), static_cast<long>(address_of(&atoms[1])));
	EXPECT_EQ(results[1], ::getppid());
	EXPECT_EQ(results[2], 77);
}

TEST_F(FallbackTest, RefusedSystemCallsGetEnosysAndEndTheChain)
{
	for (const long nr :
	     std::initializer_list<long>{SYS_fork, SYS_vfork, SYS_clone, SYS_clone3, SYS_execve, SYS_exit,
					 SYS_exit_group, SYS_rt_sigreturn, SYS_prctl, SYS_setuid, SYS_setns,
					 syslet::abi::nr_async_exec, syslet::abi::nr_async_wait}) {
		std::array<raw_atom, 2> atoms;
		init_atom(atoms[0], nr, 0, &atoms[1].atom);
		init_atom(atoms[1], SYS_getpid, 0);
		EXPECT_EQ(exec(atoms[0].atom), static_cast<long>(address_of(&atoms[0].atom))) << nr;
		EXPECT_EQ(atoms[0].result, -ENOSYS) << nr;
		EXPECT_EQ(atoms[1].result, 0) << nr;
	}
}

TEST_F(FallbackTest, NullHeadMeansNoRing)
{
	raw_atom a;
	init_atom(a, SYS_getpid, 0);
	EXPECT_EQ(syslet::fallback::async_exec(&a.atom, nullptr, 0), static_cast<long>(address_of(&a.atom)));
	a.atom.flags = SYSLET_ASYNC;
	EXPECT_EQ(syslet::fallback::async_exec(&a.atom, nullptr, 0), -EINVAL) << "ASYNC needs a ring";
}

TEST(FallbackAllowlist, MatchesTheKernelsIdeaOfSafeCalls)
{
	using syslet::fallback::allowed_in_atom;
	for (const long nr : std::initializer_list<long>{SYS_read, SYS_write, SYS_openat, SYS_newfstatat,
							 SYS_statx, SYS_getdents64, SYS_fsync, SYS_renameat2})
		EXPECT_TRUE(allowed_in_atom(static_cast<std::uint64_t>(nr))) << nr;
	for (const long nr : std::initializer_list<long>{SYS_clone, SYS_execve, SYS_exit, SYS_rt_sigreturn,
							 SYS_arch_prctl, SYS_set_tid_address, SYS_rseq,
							 SYS_sigaltstack, SYS_setuid, SYS_io_uring_enter})
		EXPECT_FALSE(allowed_in_atom(static_cast<std::uint64_t>(nr))) << nr;
	EXPECT_FALSE(allowed_in_atom(100000));
}

TEST_F(FallbackTest, BadInputGetsClearErrors)
{
	raw_atom a;
	init_atom(a, SYS_getpid, SYSLET_ASYNC | SYSLET_SYNC);
	EXPECT_EQ(exec(a.atom), -EINVAL);
	a.atom.flags = 0x8000;
	EXPECT_EQ(exec(a.atom), -EINVAL);
	a.atom.flags = 0;
	EXPECT_EQ(syslet::fallback::async_exec(nullptr, &head, sizeof(head)), -EFAULT);
	EXPECT_EQ(syslet::fallback::async_exec(&a.atom, &head, SYSLET_HEAD_SIZE_VER0 - 8), -EINVAL);
	alignas(8) std::array<unsigned char, sizeof(syslet::abi::head) + 16> bytes{};
	auto* misaligned = reinterpret_cast<syslet::abi::head*>(bytes.data() + 4);
	EXPECT_EQ(syslet::fallback::async_exec(&a.atom, misaligned, sizeof(head)), -EINVAL);
	head.__reserved[0] = 1;
	EXPECT_EQ(exec(a.atom), -EINVAL);
}

TEST_F(FallbackTest, AsyncChainIsPostedToTheRing)
{
	raw_atom a;
	init_atom(a, SYS_getpid, SYSLET_ASYNC);
	EXPECT_EQ(exec(a.atom), 0) << "SYSLET_ASYNC is reported as 'went asynchronous'";
	EXPECT_EQ(a.result, ::getpid());
	EXPECT_EQ(head.kernel_ring_idx, 1U);
	EXPECT_EQ(slots[0], address_of(&a.atom));
	EXPECT_EQ(syslet::fallback::async_wait(1, &head, nullptr), 1);
}

TEST_F(FallbackTest, NoCompleteAsyncChainIsNotPosted)
{
	raw_atom a;
	init_atom(a, SYS_getpid, SYSLET_ASYNC | SYSLET_NO_COMPLETE);
	EXPECT_EQ(exec(a.atom), 0);
	EXPECT_EQ(head.kernel_ring_idx, 0U);
	EXPECT_EQ(syslet::fallback::async_wait(1, &head, nullptr), 0) << "nothing in flight: no waiting";
}

TEST_F(FallbackTest, FullRingHoldsCompletionsBackUntilReaped)
{
	std::array<raw_atom, 5> atoms;
	for (auto& a : atoms) {
		init_atom(a, SYS_getpid, SYSLET_ASYNC);
		EXPECT_EQ(exec(a.atom), 0);
	}
	EXPECT_EQ(head.kernel_ring_idx, 4U);
	EXPECT_NE(head.status & SYSLET_HEAD_RING_OVERFLOW, 0U);
	EXPECT_EQ(syslet::fallback::async_wait(1, &head, nullptr), -EOVERFLOW);
	slots[0] = 0; // reap one
	head.user_ring_idx = 1;
	EXPECT_EQ(syslet::fallback::async_wait(1, &head, nullptr), 4);
	EXPECT_EQ(slots[0], address_of(&atoms[4].atom));
	EXPECT_EQ(head.status & SYSLET_HEAD_RING_OVERFLOW, 0U);
	EXPECT_EQ(syslet::fallback::async_unregister(&head, sizeof(head)), 0);
}

TEST(FallbackUmemAdd, AddsAtomically)
{
	alignas(8) syslet::abi::word counter = 40;
	EXPECT_EQ(syslet::fallback::umem_add(&counter, 2), 42);
	EXPECT_EQ(counter, 42U);
	EXPECT_EQ(syslet::fallback::umem_add(nullptr, 1), -EFAULT);
}

TEST(KernelDetection, RawWrappersNeverEnterAKernelWithoutSyslets)
{
	if (syslet::sys::kernel_has_syslets())
		GTEST_SKIP() << "kernel has syslets: nothing to check";
	syslet::abi::head head{};
	EXPECT_EQ(syslet::sys::async_register(&head, sizeof(head)), -ENOSYS);
	EXPECT_EQ(syslet::sys::async_exec(nullptr, &head, sizeof(head)), -ENOSYS);
	EXPECT_EQ(syslet::sys::async_wait(1, &head, nullptr), -ENOSYS);
	EXPECT_EQ(syslet::sys::umem_add(nullptr, 1), -ENOSYS);
}

} // namespace
