// lib-syslet: the syslet system calls, from the kernel when it has them and
// from the user-space emulation (fallback.hpp) otherwise.  Same signatures
// and return conventions as syslet::sys.
#pragma once

#include "fallback.hpp"
#include "sys.hpp"

namespace syslet::backend
{

inline long async_register(abi::head* head, std::size_t size) noexcept
{
	return sys::kernel_has_syslets() ? sys::async_register(head, size)
					 : fallback::async_register(head, size);
}

inline long async_unregister(abi::head* head, std::size_t size) noexcept
{
	return sys::kernel_has_syslets() ? sys::async_unregister(head, size)
					 : fallback::async_unregister(head, size);
}

inline long async_exec(abi::atom* atom, abi::head* head, std::size_t size) noexcept
{
	return sys::kernel_has_syslets() ? sys::async_exec(atom, head, size)
					 : fallback::async_exec(atom, head, size);
}

// async_exec() of a chain whose atoms are @atoms[0..nr_atoms), @atom the
// first one run: while nothing is known about the kernel, the call itself
// is the probe (sys::async_exec_probing), and a kernel without syslets
// gets the chain run by the emulation instead.
inline long async_exec_chain(abi::atom* atom, abi::head* head, std::size_t size, const abi::atom* atoms,
			     std::size_t nr_atoms) noexcept
{
	switch (sys::known_support()) {
	case sys::support::kernel:
		return sys::raw_syscall(abi::nr_async_exec, abi::address_of(atom), abi::address_of(head),
					size);
	case sys::support::none:
		return fallback::async_exec(atom, head, size);
	case sys::support::unknown:
		break;
	}
	const long ret = sys::async_exec_probing(atom, head, size, atoms, nr_atoms);
	if (ret == -ENOSYS && sys::known_support() == sys::support::none)
		return fallback::async_exec(atom, head, size);
	return ret;
}

inline long async_wait(unsigned long min_events, abi::head* head, const __kernel_timespec* timeout) noexcept
{
	return sys::kernel_has_syslets() ? sys::async_wait(min_events, head, timeout)
					 : fallback::async_wait(min_events, head, timeout);
}

inline long async_thread(void* event, abi::head* head) noexcept
{
	return sys::kernel_has_syslets() ? sys::async_thread(event, head)
					 : fallback::async_thread(event, head);
}

inline long umem_add(abi::word* word, std::uint64_t increment) noexcept
{
	return sys::kernel_has_syslets() ? sys::umem_add(word, increment)
					 : fallback::umem_add(word, increment);
}

} // namespace syslet::backend
