// lib-syslet: access to the kernel ABI (include/uapi/linux/syslet.h).
//
// The uapi header is the single source of truth for the ABI.  It names one
// field of struct syslet_uatom `private`, which is a C++ keyword, so the
// header cannot be included from C++ as it is.  This is the only place that
// works around it: the field is renamed while the header is parsed and is
// reached through abi::user_data() everywhere else.
#pragma once

#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wkeyword-macro"
#endif
#define private syslet_user_data_field // NOLINT: see comment above
#include <linux/syslet.h>
#undef private
#if defined(__clang__)
#pragma clang diagnostic pop
#endif

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

static_assert(sizeof(atom) == 88, "struct syslet_uatom is 88 bytes");
static_assert(sizeof(head) >= SYSLET_HEAD_SIZE_VER0);
static_assert(alignof(atom) == 8 && alignof(head) == 8);

// The atom field the kernel never touches (named `private` in the header).
inline word& user_data(atom& a) noexcept
{
	return a.syslet_user_data_field;
}
inline word user_data(const atom& a) noexcept
{
	return a.syslet_user_data_field;
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
