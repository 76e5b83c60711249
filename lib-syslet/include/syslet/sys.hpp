// lib-syslet layer 1: raw system call wrappers.
//
// Every wrapper returns what the kernel returns: a value >= 0 on success
// and -errno on failure (no errno, no exceptions).
//
// The syslet numbers (463..468) are out-of-tree: mainline Linux >= 6.13
// gives the same numbers to other system calls (setxattrat, getxattrat,
// listxattrat, ...).  Calling them blindly on such a kernel would run
// something else entirely, so the wrappers only enter the kernel once
// kernel_has_syslets() has proved, with a harmless probe, that the running
// kernel implements syslets; otherwise they return -ENOSYS.
#pragma once

#include "abi.hpp"

#include <linux/time_types.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace syslet::sys
{

// Enters the kernel directly (x86-64 syscall instruction) so that the
// return value is exactly the kernel's, as an atom's ret_ptr would see it.
inline long raw_syscall(long nr, std::uint64_t a0 = 0, std::uint64_t a1 = 0, std::uint64_t a2 = 0,
			std::uint64_t a3 = 0, std::uint64_t a4 = 0, std::uint64_t a5 = 0) noexcept
{
	long ret = 0;
	register std::uint64_t r10 __asm__("r10") = a3;
	register std::uint64_t r8 __asm__("r8") = a4;
	register std::uint64_t r9 __asm__("r9") = a5;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

namespace detail
{

// Runs one SYSLET_SYNC getpid atom through async_exec, with no ring: only
// a kernel with syslets returns the atom's address and writes getpid() to
// ret_ptr; a kernel without them returns -ENOSYS, and a mainline kernel
// that uses the number for listxattrat() fails with EBADF or EFAULT (it
// only reads).  No ring: the probe sets nothing up in the kernel, so it
// costs what one cached atom costs.
inline bool probe_kernel_for_syslets() noexcept
{
	static abi::atom probe_atom{};
	static std::int64_t probe_result = -1;

	probe_atom.flags = SYSLET_SYNC;
	probe_atom.nr = SYS_getpid;
	probe_atom.ret_ptr = abi::address_of(&probe_result);
	const long returned = raw_syscall(abi::nr_async_exec, abi::address_of(&probe_atom), 0, 0);
	return returned == static_cast<long>(abi::address_of(&probe_atom)) &&
	       probe_result == raw_syscall(SYS_getpid);
}

inline bool fallback_forced_by_environment() noexcept
{
	const char* value = std::getenv("SYSLET_FORCE_FALLBACK"); // NOLINT(concurrency-mt-unsafe)
	return value != nullptr && *value != '\0' && std::strcmp(value, "0") != 0;
}

} // namespace detail

// True when the running kernel implements syslets.  Probed once per process
// and cached.  Setting SYSLET_FORCE_FALLBACK=1 in the environment makes it
// false (the library then runs everything in user space).
inline bool kernel_has_syslets() noexcept
{
	static const bool has_syslets =
		!detail::fallback_forced_by_environment() && detail::probe_kernel_for_syslets();
	return has_syslets;
}

inline long async_register(abi::head* head, std::size_t size) noexcept
{
	if (!kernel_has_syslets())
		return -ENOSYS;
	return raw_syscall(abi::nr_async_register, abi::address_of(head), size);
}

inline long async_unregister(abi::head* head, std::size_t size) noexcept
{
	if (!kernel_has_syslets())
		return -ENOSYS;
	return raw_syscall(abi::nr_async_unregister, abi::address_of(head), size);
}

inline long async_exec(abi::atom* atom, abi::head* head, std::size_t size) noexcept
{
	if (!kernel_has_syslets())
		return -ENOSYS;
	return raw_syscall(abi::nr_async_exec, abi::address_of(atom), abi::address_of(head), size);
}

inline long async_wait(unsigned long min_events, abi::head* head, const __kernel_timespec* timeout) noexcept
{
	if (!kernel_has_syslets())
		return -ENOSYS;
	return raw_syscall(abi::nr_async_wait, min_events, abi::address_of(head), abi::address_of(timeout));
}

inline long async_thread(void* event, abi::head* head) noexcept
{
	if (!kernel_has_syslets())
		return -ENOSYS;
	return raw_syscall(abi::nr_async_thread, abi::address_of(event), abi::address_of(head));
}

inline long umem_add(abi::word* word, std::uint64_t increment) noexcept
{
	if (!kernel_has_syslets())
		return -ENOSYS;
	return raw_syscall(abi::nr_umem_add, abi::address_of(word), increment);
}

} // namespace syslet::sys
