// lib-syslet layer 1: raw system call wrappers.
//
// Every wrapper returns what the kernel returns: a value >= 0 on success
// and -errno on failure (no errno, no exceptions).
//
// The syslet numbers (463..469) are out-of-tree: mainline Linux >= 6.13
// gives the same numbers to other system calls (setxattrat, getxattrat,
// listxattrat, ...).  Calling them blindly on such a kernel would run
// something else entirely, so the wrappers only enter the kernel once
// kernel_has_syslets() has proved, with a harmless probe, that the running
// kernel implements syslets; otherwise they return -ENOSYS.
#pragma once

#include "abi.hpp"

#include <linux/time_types.h>
#include <sys/syscall.h>

#include <atomic>
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

// What is known about the running kernel: probed lazily, at most once
// per process in the common case (racing threads may each probe; they
// agree).
enum class support : int { unknown, kernel, none };

namespace detail
{

inline std::atomic<support>& support_state() noexcept
{
	static std::atomic<support> state{support::unknown};
	return state;
}

inline support probe_now() noexcept
{
	const support found = !fallback_forced_by_environment() && probe_kernel_for_syslets()
				      ? support::kernel
				      : support::none;
	support_state().store(found, std::memory_order_relaxed);
	return found;
}

} // namespace detail

// Whether syslets are known to be there, known not to be, or not probed
// yet.  Never enters the kernel.
inline support known_support() noexcept
{
	return detail::support_state().load(std::memory_order_relaxed);
}

// True when the running kernel implements syslets.  Probed once per process
// and cached.  Setting SYSLET_FORCE_FALLBACK=1 in the environment makes it
// false (the library then runs everything in user space).
inline bool kernel_has_syslets() noexcept
{
	support known = known_support();
	if (known == support::unknown)
		known = detail::probe_now();
	return known == support::kernel;
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

// async_exec() that is also the probe when nothing is known yet, so that
// a process's first chain costs no extra system call: a kernel without
// syslets answers -ENOSYS, or, a mainline kernel that gives the number to
// listxattrat(), fails without writing anything (EINVAL: the head size is
// not valid as its at_flags); a syslet kernel that ran the chain to its
// end returns the address of one of the chain's atoms, which no other
// system call returns.  Only an ambiguous answer (0, another error) costs
// the explicit probe.  @atoms/@nr_atoms: the chain's atoms (contiguous).  Returns
// -ENOSYS when the kernel has no syslets (the chain did not run: run it
// in user space).  Never call it for a chain that may go asynchronous
// through SYSLET_ASYNC before support is known.
inline long async_exec_probing(abi::atom* atom, abi::head* head, std::size_t size, const abi::atom* atoms,
			       std::size_t nr_atoms) noexcept
{
	const support known = known_support();
	if (known == support::none)
		return -ENOSYS;
	if (known == support::unknown && detail::fallback_forced_by_environment()) {
		detail::support_state().store(support::none, std::memory_order_relaxed);
		return -ENOSYS;
	}
	const long ret = raw_syscall(abi::nr_async_exec, abi::address_of(atom), abi::address_of(head), size);
	if (known == support::kernel || ret == -ENOSYS) {
		if (ret == -ENOSYS && known == support::unknown)
			detail::support_state().store(support::none, std::memory_order_relaxed);
		return ret;
	}
	const std::uint64_t first = abi::address_of(atoms);
	const std::uint64_t offset = static_cast<std::uint64_t>(ret) - first;
	if (ret > 0 && static_cast<std::uint64_t>(ret) >= first && offset % sizeof(abi::atom) == 0 &&
	    offset / sizeof(abi::atom) < nr_atoms) {
		detail::support_state().store(support::kernel, std::memory_order_relaxed);
		return ret;
	}
	return detail::probe_now() == support::kernel ? ret : -ENOSYS;
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

// Asks the chain that starts at @atom, in flight on @head, to stop (see
// the uapi header): 0, -EALREADY (asked before), -ENOENT (not in flight
// in the kernel: completed, completing, or never went asynchronous),
// -EINVAL.  -ENOSYS from a syslet kernel that predates cancellation.
inline long async_cancel(const abi::atom* atom, abi::head* head, unsigned int flags = 0) noexcept
{
	if (!kernel_has_syslets())
		return -ENOSYS;
	return raw_syscall(abi::nr_async_cancel, abi::address_of(atom), abi::address_of(head), flags);
}

} // namespace syslet::sys
