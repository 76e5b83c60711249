// lib-syslet: access to the kernel ABI (include/uapi/linux/syslet.h).
//
// The uapi header is the single source of truth for the ABI; this header
// includes it as it is and gives the rest of the library typed names for
// its structures and constants.
#pragma once

#include <linux/syslet.h>

#include <cstddef>
#include <cstdint>

#ifndef __NR_async_exec
#error "lib-syslet: the syslet ABI is only defined for x86-64"
#endif

namespace syslet::abi
{

using atom = ::syslet_uatom;
using head = ::async_head_user;
using word = __u64; // the type of every ABI field

inline constexpr std::size_t max_args = SYSLET_NR_ARGS;
inline constexpr std::uint64_t valid_flags = SYSLET_VALID_FLAGS;
inline constexpr std::uint64_t stop_mask = SYSLET_STOP_MASK;

inline constexpr long nr_async_register = __NR_async_register;
inline constexpr long nr_async_unregister = __NR_async_unregister;
inline constexpr long nr_async_exec = __NR_async_exec;
inline constexpr long nr_async_wait = __NR_async_wait;
inline constexpr long nr_async_thread = __NR_async_thread;
inline constexpr long nr_umem_add = __NR_umem_add;
inline constexpr long nr_async_cancel = __NR_async_cancel;

static_assert(sizeof(atom) == 88, "struct syslet_uatom is 88 bytes");
static_assert(sizeof(head) >= SYSLET_HEAD_SIZE_VER0);
static_assert(alignof(atom) == 8 && alignof(head) == 8);

// The atom field the kernel never touches.
inline word& user_data(atom& a) noexcept
{
	return a.user_data;
}
inline word user_data(const atom& a) noexcept
{
	return a.user_data;
}

template <class T>
std::uint64_t address_of(T* p) noexcept
{
	return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(p));
}

template <class T>
T* pointer_from(std::uint64_t address) noexcept
{
	// The ABI carries user addresses as __u64: the cast is the point.
	// NOLINTNEXTLINE(performance-no-int-to-ptr)
	return reinterpret_cast<T*>(static_cast<std::uintptr_t>(address));
}

} // namespace syslet::abi
