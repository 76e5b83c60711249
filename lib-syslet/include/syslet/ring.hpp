// lib-syslet layers 2 and 4: a completion ring (RAII) and reaping.
//
// syslet::ring owns an async_head_user and its completion ring in heap
// memory (the kernel knows a ring by the head's address, so it must not
// move when the ring object is moved).  The kernel sets the ring up lazily
// on the first async_exec(); the destructor waits until nothing is in
// flight any more, reaps, and unregisters.
//
// Reaping hides the ring protocol: the kernel writes a finished atom's
// address into slot kernel_ring_idx % nr_slots; user space reads it, writes
// 0 back and increments user_ring_idx.  Each reaped chain is finished:
// its callback runs and a coroutine waiting for it resumes.
//
// At most nr_slots chains are in flight per ring (submit() reaps first if
// needed), so a library user never overflows the ring; -EOVERFLOW from the
// kernel is handled anyway by reaping and waiting again.
//
// Not thread-safe: one ring per thread (see default_ring()).
#pragma once

#include "backend.hpp"
#include "chain.hpp"
#include "error.hpp"

#include <linux/time_types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_set>
#include <vector>

namespace syslet
{

namespace detail
{

inline __kernel_timespec to_kernel_timespec(std::chrono::nanoseconds duration) noexcept
{
	const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(duration);
	__kernel_timespec ts{};
	ts.tv_sec = seconds.count();
	ts.tv_nsec = (duration - seconds).count();
	return ts;
}

// The user side of the completion ring protocol: for each posted atom, in
// order, reads its address from slot user_ring_idx % nr_slots, writes 0
// back, increments user_ring_idx and calls @on_atom(address).  Single
// consumer; never blocks.
template <class OnAtom>
void consume_posted(abi::head& head, abi::word* slots, std::size_t nr_slots, OnAtom&& on_atom)
{
	for (;;) {
		auto user_index = std::atomic_ref<abi::word>(head.user_ring_idx);
		const abi::word reaped_so_far = user_index.load(std::memory_order_relaxed);
		const abi::word posted =
			std::atomic_ref<abi::word>(head.kernel_ring_idx).load(std::memory_order_acquire);
		if (reaped_so_far == posted)
			return;
		auto slot = std::atomic_ref<abi::word>(slots[reaped_so_far % nr_slots]);
		const abi::word atom_address = slot.load(std::memory_order_acquire);
		if (atom_address == 0)
			return; // index published before the slot: seen next time
		slot.store(0, std::memory_order_release);
		user_index.store(reaped_so_far + 1, std::memory_order_release);
		on_atom(atom_address);
	}
}

// NOLINTNEXTLINE(cppcoreguidelines-virtual-class-destructor): final, never deleted through the base
class ring_core final : public chain_owner
{
public:
	using clock = std::chrono::steady_clock;

	ring_core(std::size_t nr_slots, std::uint64_t max_threads)
	    : slots_(std::make_unique<abi::word[]>(nr_slots)), nr_slots_(nr_slots)
	{
		if (nr_slots == 0)
			contract_violation("syslet::ring: a ring needs at least one slot");
		head_.completion_ring = abi::address_of(slots_.get());
		head_.ring_size_bytes = nr_slots * sizeof(std::uint64_t);
		head_.max_nr_threads = max_threads;
		in_flight_.reserve(nr_slots);
	}
	ring_core(const ring_core&) = delete;
	ring_core& operator=(const ring_core&) = delete;

	~ring_core()
	{
		if (!drain()) {
			// The kernel may still write into this memory and into the
			// chains in flight: leaking them is the only safe thing left.
			(void)slots_.release();
			for (chain_state* chain : in_flight_)
				chain->mark_abandoned();
			return;
		}
		(void)backend::async_unregister(&head_, sizeof(head_));
	}

	abi::head& head() noexcept { return head_; }
	std::size_t capacity() const noexcept { return nr_slots_; }
	std::size_t in_flight() const noexcept { return in_flight_.size(); }

	result<void> register_now() noexcept
	{
		const long ret = backend::async_register(&head_, sizeof(head_));
		return ret < 0 ? result<void>(errno_code(static_cast<int>(-ret))) : result<void>();
	}

	result<void> submit(chain_state& chain)
	{
		if (chain.state() == chain_state::status::in_flight)
			return errno_code(EBUSY);
		while (in_flight_.size() >= nr_slots_)
			if (auto waited = wait(1, std::nullopt); !waited)
				return waited.error();

		abi::atom* first = chain.materialize();
		in_flight_.insert(&chain); // may throw: then nothing was submitted
		chain.mark_in_flight(*this);
		const long ret = backend::async_exec(first, &head_, sizeof(head_));
		if (ret == 0)
			return {}; // went asynchronous: finishes when reaped
		in_flight_.erase(&chain);
		chain.mark_idle();
		if (ret < 0)
			return errno_code(static_cast<int>(-ret));
		chain.finish(chain.completed_at(static_cast<std::uint64_t>(ret), completion_path::cached));
		return {};
	}

	// Finishes every chain posted to the ring so far; never blocks.
	std::size_t reap()
	{
		std::size_t reaped = 0;
		consume_posted(head_, slots_.get(), nr_slots_,
			       [&](abi::word atom_address) { reaped += finish_posted(atom_address); });
		return reaped;
	}

	// Waits until at least @min_completions chains finished (counting the
	// ones reaped right away), nothing is in flight, or @timeout passed.
	// Returns how many chains finished.  Retries after signals.
	result<std::size_t> wait(std::size_t min_completions, std::optional<std::chrono::nanoseconds> timeout)
	{
		std::optional<clock::time_point> deadline;
		if (timeout)
			deadline = clock::now() + *timeout;
		std::size_t finished = reap();
		while (finished < min_completions && !in_flight_.empty()) {
			__kernel_timespec remaining{};
			if (deadline) {
				const auto left = *deadline - clock::now();
				if (left <= clock::duration::zero())
					break;
				remaining = to_kernel_timespec(left);
			}
			const std::size_t wanted = min_completions - finished;
			const long ret = backend::async_wait(wanted, &head_, deadline ? &remaining : nullptr);
			if (ret == -EINTR)
				continue;
			if (ret == -ETIMEDOUT || ret == -ETIME) {
				finished += reap();
				break;
			}
			if (ret < 0 && ret != -EOVERFLOW)
				return errno_code(static_cast<int>(-ret));
			finished += reap();
			const bool timed_out = deadline && clock::now() >= *deadline;
			if (ret >= 0 && static_cast<std::size_t>(ret) < wanted && !timed_out &&
			    ring_is_empty())
				finished += finish_unobserved();
		}
		return finished;
	}

	// Waits until nothing is in flight (callbacks may submit more chains).
	result<std::size_t> drain()
	{
		std::size_t finished = reap();
		while (!in_flight_.empty()) {
			const auto waited = wait(in_flight_.size(), std::nullopt);
			if (!waited)
				return waited.error();
			finished += *waited;
		}
		return finished;
	}

	result<void> wait_for(const chain_state& chain,
			      std::optional<std::chrono::nanoseconds> timeout) override
	{
		std::optional<clock::time_point> deadline;
		if (timeout)
			deadline = clock::now() + *timeout;
		while (in_flight_.contains(const_cast<chain_state*>(&chain))) {
			std::optional<std::chrono::nanoseconds> left;
			if (deadline) {
				left = *deadline - clock::now();
				if (*left <= std::chrono::nanoseconds::zero())
					return errno_code(ETIMEDOUT);
			}
			if (auto waited = wait(1, left); !waited)
				return waited.error();
		}
		return {};
	}

	void adopt_orphan(std::unique_ptr<chain_state> chain) noexcept override
	{
		(void)chain.release(); // deleted by finish_tracked()
	}

private:
	bool ring_is_empty() const noexcept
	{
		return std::atomic_ref<const abi::word>(head_.user_ring_idx)
			       .load(std::memory_order_relaxed) ==
		       std::atomic_ref<const abi::word>(head_.kernel_ring_idx)
			       .load(std::memory_order_acquire);
	}

	std::size_t finish_posted(std::uint64_t atom_address)
	{
		const auto* atom = abi::pointer_from<const abi::atom>(atom_address);
		auto* chain = abi::pointer_from<chain_state>(abi::user_data(*atom));
		if (!in_flight_.contains(chain))
			return 0; // not a chain of this ring
		finish_tracked(chain, chain->completed_at(atom_address, completion_path::ring));
		return 1;
	}

	// The kernel has nothing in flight and everything posted is reaped:
	// chains still tracked ended on a NO_COMPLETE atom.
	std::size_t finish_unobserved()
	{
		const std::vector<chain_state*> silent(in_flight_.begin(), in_flight_.end());
		std::size_t finished = 0;
		for (chain_state* chain : silent) {
			if (!in_flight_.contains(chain))
				continue; // a callback of an earlier one resubmitted it
			finish_tracked(chain,
				       completion{completion::unknown_atom, 0, completion_path::unobserved});
			++finished;
		}
		return finished;
	}

	void finish_tracked(chain_state* chain, const completion& done)
	{
		in_flight_.erase(chain);
		const std::unique_ptr<chain_state> orphan(chain->orphaned() ? chain : nullptr);
		chain->finish(done);
	}

	abi::head head_{};
	std::unique_ptr<abi::word[]> slots_;
	std::size_t nr_slots_;
	std::unordered_set<chain_state*> in_flight_;
};

} // namespace detail

// A completion ring.  Move-only; moving does not move the ring itself.
class ring
{
public:
	static constexpr std::size_t default_slots = 256;

	explicit ring(std::size_t nr_slots = default_slots, std::uint64_t max_threads = 0)
	    : core_(std::make_unique<detail::ring_core>(nr_slots, max_threads))
	{
	}

	// Submits @c: it either completes right away ("cached": its callback has
	// run when submit() returns) or goes asynchronous and finishes when a
	// later reap()/wait() reaps it.  An error means the chain did not run.
	result<void> submit(chain& c) { return core().submit(c.state()); }

	// Finishes the chains already posted to the ring; never blocks.
	std::size_t reap() { return core().reap(); }

	// Reaps until at least @min_completions chains finished, nothing is in
	// flight, or @timeout passed; returns how many finished.
	result<std::size_t> wait(std::size_t min_completions = 1,
				 std::optional<std::chrono::nanoseconds> timeout = std::nullopt)
	{
		return core().wait(min_completions, timeout);
	}

	// Waits until nothing is in flight on this ring.
	result<std::size_t> drain() { return core().drain(); }

	// Sets the ring up in the kernel now instead of on first use.
	result<void> register_now() { return core().register_now(); }

	std::size_t in_flight() const { return core().in_flight(); }
	std::size_t capacity() const { return core().capacity(); }
	abi::head& head() { return core().head(); }

private:
	detail::ring_core& core() const
	{
		if (!core_)
			detail::contract_violation("syslet::ring: used after move");
		return *core_;
	}

	std::unique_ptr<detail::ring_core> core_;
};

} // namespace syslet
