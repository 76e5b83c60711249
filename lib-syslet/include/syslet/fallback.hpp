// lib-syslet: the syslet system calls emulated in user space.
//
// Used when the running kernel has no syslets.  The emulation has the
// kernel's semantics, so everything built on top (rings, chains, reaping)
// is the same code in both modes:
//  - a chain runs atom by atom: arguments are read through arg_ptr up to
//    the first 0 entry, the system call runs, its return value (-errno on
//    failure) goes to *ret_ptr, STOP_ON_* conditions are applied to it,
//    SKIP_TO_NEXT_ON_STOP continues at atom + 1 instead of stopping, and
//    otherwise `next` is followed;
//  - system calls that are not allowed in atoms (allowlist.hpp, the
//    kernel's list) get -ENOSYS and end it;
//  - async_exec() returns the atom the chain ended on ("cached"), except
//    for SYSLET_ASYNC chains: those run here as well but are reported the
//    asynchronous way, return 0 and post the final atom to the completion
//    ring (unless it has SYSLET_NO_COMPLETE), exactly like the kernel does;
//  - a completion that does not fit in the ring is held back (never lost),
//    SYSLET_HEAD_RING_OVERFLOW is set and async_wait() returns -EOVERFLOW
//    until user space has reaped enough to post it;
//  - nothing is ever in flight, so async_wait() never sleeps.
#pragma once

#include "abi.hpp"
#include "allowlist.hpp"
#include "sys.hpp"

#include <linux/time_types.h>
#include <sys/syscall.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>

namespace syslet::fallback
{

inline bool stop_condition_met(std::uint64_t flags, std::int64_t value) noexcept
{
	return ((flags & SYSLET_STOP_ON_NONZERO) && value != 0) ||
	       ((flags & SYSLET_STOP_ON_ZERO) && value == 0) ||
	       ((flags & SYSLET_STOP_ON_NEGATIVE) && value < 0) ||
	       ((flags & SYSLET_STOP_ON_NON_POSITIVE) && value <= 0);
}

namespace detail
{

inline bool is_aligned8(const void* p) noexcept
{
	return (reinterpret_cast<std::uintptr_t>(p) & 7U) == 0;
}

// Limits of kernel/syslet/head.c, mirrored so that both modes agree.
inline constexpr std::uint64_t max_ring_bytes = std::uint64_t{1} << 24;
inline constexpr std::uint64_t max_threads = 4096;
inline constexpr std::size_t max_head_size = 4096; // PAGE_SIZE

// Checks a head as the kernel does on first use: 0 or -errno.
inline long check_head(const abi::head* head, std::size_t size) noexcept
{
	if (!is_aligned8(head) || size < SYSLET_HEAD_SIZE_VER0)
		return -EINVAL;
	if (size > max_head_size)
		return -E2BIG;
	if (head == nullptr)
		return -EFAULT;
	const auto* bytes = reinterpret_cast<const unsigned char*>(head);
	for (std::size_t i = sizeof(abi::head); i < size; ++i)
		if (bytes[i] != 0)
			return -E2BIG;
	for (const auto reserved : head->__reserved)
		if (reserved != 0)
			return -EINVAL;
	if (head->completion_ring != 0 || head->ring_size_bytes != 0) {
		if (head->ring_size_bytes == 0 || head->ring_size_bytes % sizeof(abi::word) != 0 ||
		    head->ring_size_bytes > max_ring_bytes || head->completion_ring % sizeof(abi::word) != 0)
			return -EINVAL;
		if (head->completion_ring == 0)
			return -EFAULT;
	}
	if (head->max_nr_threads > max_threads || head->user_ring_idx > head->kernel_ring_idx)
		return -EINVAL;
	return 0;
}

inline std::atomic_ref<abi::word> word(abi::word& w) noexcept
{
	return std::atomic_ref<abi::word>(w);
}

// Completions that did not fit in their ring, per head, oldest first.
class held_back_completions
{
public:
	static held_back_completions& instance()
	{
		static held_back_completions registry;
		return registry;
	}

	// Posts @atom to @head's ring, or holds it back if its slot is busy.
	long post(abi::head* head, std::uint64_t atom)
	{
		const std::lock_guard lock(mutex_);
		auto& pending = pending_[head];
		pending.push_back(atom);
		flush_locked(head, pending);
		return 0;
	}

	// Moves held-back completions into free slots: 0, or -EOVERFLOW if
	// some are still held back.
	long flush(abi::head* head)
	{
		const std::lock_guard lock(mutex_);
		const auto found = pending_.find(head);
		if (found == pending_.end())
			return 0;
		flush_locked(head, found->second);
		return found->second.empty() ? 0 : -EOVERFLOW;
	}

	void forget(const abi::head* head)
	{
		const std::lock_guard lock(mutex_);
		pending_.erase(head);
	}

private:
	static void flush_locked(abi::head* head, std::deque<std::uint64_t>& pending) noexcept
	{
		auto* ring = abi::pointer_from<abi::word>(head->completion_ring);
		const std::uint64_t nr_slots = head->ring_size_bytes / sizeof(std::uint64_t);
		while (!pending.empty()) {
			const std::uint64_t index =
				word(head->kernel_ring_idx).load(std::memory_order_relaxed);
			auto slot = word(ring[index % nr_slots]);
			if (slot.load(std::memory_order_acquire) != 0) {
				head->status |= SYSLET_HEAD_RING_OVERFLOW;
				return;
			}
			slot.store(pending.front(), std::memory_order_relaxed);
			word(head->kernel_ring_idx).store(index + 1, std::memory_order_release);
			pending.pop_front();
		}
		head->status &= ~static_cast<std::uint64_t>(SYSLET_HEAD_RING_OVERFLOW);
	}

	std::mutex mutex_;
	std::map<const abi::head*, std::deque<std::uint64_t>> pending_;
};

// Runs one atom (already copied, as the kernel reads each atom once).
inline std::int64_t run_atom(const abi::atom& atom) noexcept
{
	if (!allowed_in_atom(atom.nr))
		return -ENOSYS;
	std::array<std::uint64_t, abi::max_args> args{};
	for (std::size_t i = 0; i < abi::max_args && atom.arg_ptr[i] != 0; ++i)
		args[i] = *abi::pointer_from<const std::uint64_t>(atom.arg_ptr[i]);
	return sys::raw_syscall(static_cast<long>(atom.nr), args[0], args[1], args[2], args[3], args[4],
				args[5]);
}

} // namespace detail

// Runs a chain to its end; returns the address of the atom it ended on,
// or -errno (-EFAULT: null atom, -EINVAL: misaligned atom or bad flags).
inline long run_chain(abi::atom* first) noexcept
{
	abi::atom* current = first;
	for (;;) {
		if (current == nullptr)
			return -EFAULT;
		if (!detail::is_aligned8(current))
			return -EINVAL;
		abi::atom atom{};
		std::memcpy(&atom, current, sizeof(atom));
		if ((atom.flags & ~abi::valid_flags) != 0)
			return -EINVAL;

		const bool refused = !allowed_in_atom(atom.nr);
		const std::int64_t value = detail::run_atom(atom);
		if (atom.ret_ptr != 0)
			std::memcpy(abi::pointer_from<void>(atom.ret_ptr), &value, sizeof(value));

		if (refused)
			return static_cast<long>(abi::address_of(current));
		if (stop_condition_met(atom.flags, value)) {
			if ((atom.flags & SYSLET_SKIP_TO_NEXT_ON_STOP) == 0)
				return static_cast<long>(abi::address_of(current));
			current = current + 1;
		} else if (atom.next != 0) {
			current = abi::pointer_from<abi::atom>(atom.next);
		} else {
			return static_cast<long>(abi::address_of(current));
		}
	}
}

inline long async_register(abi::head* head, std::size_t size) noexcept
{
	return detail::check_head(head, size);
}

inline long async_unregister(abi::head* head, std::size_t size) noexcept
{
	if (const long error = detail::check_head(head, size))
		return error;
	detail::held_back_completions::instance().forget(head);
	return 0;
}

// As the kernel: the first atom is checked first, then the head; a null
// head means "no ring" (only cached and SYSLET_SYNC execution).
inline long async_exec(abi::atom* first, abi::head* head, std::size_t size) noexcept
{
	if (!detail::is_aligned8(first))
		return -EINVAL;
	if (first == nullptr)
		return -EFAULT;
	const std::uint64_t flags = first->flags;
	if ((flags & ~abi::valid_flags) != 0 ||
	    (flags & (SYSLET_ASYNC | SYSLET_SYNC)) == (SYSLET_ASYNC | SYSLET_SYNC))
		return -EINVAL;
	if (head != nullptr)
		if (const long error = detail::check_head(head, size))
			return error;
	const bool reported_async = (flags & SYSLET_ASYNC) != 0;
	if (reported_async && (head == nullptr || head->completion_ring == 0))
		return -EINVAL;

	const long last = run_chain(first);
	if (last <= 0 || !reported_async)
		return last;
	auto* last_atom = abi::pointer_from<abi::atom>(static_cast<std::uint64_t>(last));
	if ((last_atom->flags & SYSLET_NO_COMPLETE) == 0) {
		try {
			detail::held_back_completions::instance().post(head,
								       static_cast<std::uint64_t>(last));
		} catch (...) {
			return -ENOMEM;
		}
	}
	return 0;
}

inline long async_wait(unsigned long /*min_events: nothing is ever in flight*/, abi::head* head,
		       const __kernel_timespec* timeout) noexcept
{
	if (head == nullptr || !detail::is_aligned8(head))
		return -EINVAL;
	if (timeout != nullptr &&
	    (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000))
		return -EINVAL;
	try {
		if (const long error = detail::held_back_completions::instance().flush(head))
			return error;
	} catch (...) {
		return -ENOMEM;
	}
	const std::uint64_t reaped = detail::word(head->user_ring_idx).load(std::memory_order_acquire);
	const std::uint64_t posted = detail::word(head->kernel_ring_idx).load(std::memory_order_acquire);
	return static_cast<long>(posted - reaped);
}

inline long async_thread(void* /*event*/, abi::head* /*head*/) noexcept
{
	return -ENOSYS;
}

inline long umem_add(abi::word* target, std::uint64_t increment) noexcept
{
	if (target == nullptr)
		return -EFAULT;
	if (!detail::is_aligned8(target))
		return -EINVAL;
	return static_cast<long>(detail::word(*target).fetch_add(increment) + increment);
}

} // namespace syslet::fallback
