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
