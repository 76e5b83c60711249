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
//  - pool_exec() (not a kernel call) runs a chain in a worker thread
//    instead, for chains that may block their caller; async_wait() waits
//    for those only.
#pragma once

#include "abi.hpp"
#include "allowlist.hpp"
#include "error.hpp"
#include "sys.hpp"

#include <linux/time_types.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <thread>
#include <vector>

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
	// The indices may change under us (pool workers post, a reaper on
	// another thread reaps): read them atomically.
	auto* words = const_cast<abi::head*>(head); // NOLINT(cppcoreguidelines-pro-type-const-cast)
	const auto reaped = std::atomic_ref<abi::word>(words->user_ring_idx).load(std::memory_order_acquire);
	const auto posted =
		std::atomic_ref<abi::word>(words->kernel_ring_idx).load(std::memory_order_acquire);
	if (head->max_nr_threads > max_threads || reaped > posted)
		return -EINVAL;
	return 0;
}

inline std::atomic_ref<abi::word> word(abi::word& w) noexcept
{
	return std::atomic_ref<abi::word>(w);
}

} // namespace detail

inline long run_chain(abi::atom* first, const std::atomic<bool>* cancelled = nullptr) noexcept;

namespace detail
{

// Completions that did not fit in their ring, per head, oldest first; and
// the worker pool that runs chains which may block (see pool_exec()).
// One process-wide instance, never destroyed (workers use it until exit).
//
// fork(): the child has none of the workers, so it starts the pool
// afresh: the chains the pool had (queued or running) and the
// completions held back are the parent's, and are forgotten (as the
// kernel gives a child no syslet state); its own chains get new workers.
// The lock is held across fork() so that the child's copy of the state
// is consistent.
class fallback_state
{
public:
	static fallback_state& instance()
	{
		static fallback_state* state = [] {
			auto* made = new fallback_state; // NOLINT: lives until exit
			current().store(made, std::memory_order_release);
			::pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
			return made;
		}();
		return *state;
	}

	// Posts @atom to @head's ring, or holds it back if its slot is busy.
	long post(abi::head* head, std::uint64_t atom)
	{
		const std::lock_guard lock(mutex_);
		post_locked(head, atom);
		return 0;
	}

	// Moves held-back completions into free slots: 0, or -EOVERFLOW if
	// some are still held back.
	long flush(abi::head* head)
	{
		const std::lock_guard lock(mutex_);
		return flush_if_pending_locked(head);
	}

	void forget(const abi::head* head)
	{
		const std::lock_guard lock(mutex_);
		pending_.erase(head);
	}

	// Queues a chain for the pool: 0 or -ENOMEM.
	long queue(abi::atom* first, abi::head* head) noexcept
	{
		const std::lock_guard lock(mutex_);
		const bool queued = syslet::detail::try_invoke([&] {
			auto* work = new job{first, head}; // NOLINT(cppcoreguidelines-owning-memory)
			jobs_.push_back(work);
			++in_pool_[head];
			if (idle_workers_ < queued_jobs_locked() && workers_ < max_workers)
				start_worker_locked();
		});
		if (!queued)
			return -ENOMEM;
		work_.notify_one();
		return 0;
	}

	// Cancels the pool chain starting at @first: 0 if it will complete
	// with -ECANCELED (not started: at once; running: when its blocked
	// call is interrupted), -EALREADY if it runs and cannot be
	// interrupted, -ENOENT if the pool does not have it (any more).
	long cancel(const abi::atom* first, abi::head* head) noexcept
	{
		std::unique_lock lock(mutex_);
		for (auto it = jobs_.begin(); it != jobs_.end(); ++it) {
			job* work = *it;
			if (work->first != first || work->head != head)
				continue;
			if (!work->running) {
				jobs_.erase(it);
				const std::int64_t cancelled = -ECANCELED;
				if (first->ret_ptr != 0)
					std::memcpy(abi::pointer_from<void>(first->ret_ptr), &cancelled,
						    sizeof(cancelled));
				finish_locked(work, static_cast<std::uint64_t>(abi::address_of(first)));
				return 0;
			}
			if (!interrupt_ready_)
				return -EALREADY;
			work->cancel_requested.store(true, std::memory_order_release);
			::pthread_kill(work->worker, interrupt_signal());
			return 0;
		}
		return -ENOENT;
	}

	// async_wait(): returns when @min_events completions are unreaped,
	// nothing of @head's is in the pool, or @timeout passed (-ETIME).
	long wait(unsigned long min_events, abi::head* head, const __kernel_timespec* timeout)
	{
		using clock = std::chrono::steady_clock;
		std::optional<clock::time_point> deadline;
		if (timeout != nullptr)
			deadline = clock::now() + std::chrono::seconds(timeout->tv_sec) +
				   std::chrono::nanoseconds(timeout->tv_nsec);
		std::unique_lock lock(mutex_);
		for (;;) {
			if (const long error = flush_if_pending_locked(head))
				return error;
			const std::uint64_t unreaped = unreaped_of(head);
			const auto in_pool = in_pool_.find(head);
			if (unreaped >= min_events || in_pool == in_pool_.end() || in_pool->second == 0)
				return static_cast<long>(unreaped);
			const auto now = clock::now();
			if (deadline && now >= *deadline)
				return -ETIME;
			// Short ticks while a cancellation is outstanding: the
			// signal may have arrived just before the worker entered
			// its system call, so it is sent again.
			const bool resend = reinterrupt_locked(head);
			auto until = deadline.value_or(clock::time_point::max());
			if (resend)
				until = std::min(until, now + std::chrono::milliseconds(2));
			if (until == clock::time_point::max())
				completed_.wait(lock);
			else
				completed_.wait_until(lock, until);
		}
	}

	// The signal that interrupts a cancelled pool chain's blocked call:
	// SIGRTMAX - 2, used only if the program left it at SIG_DFL.
	static int interrupt_signal() noexcept { return SIGRTMAX - 2; }
	bool can_interrupt() const noexcept { return interrupt_ready_; }

private:
	struct job {
		abi::atom* first;
		abi::head* head;
		bool running = false;
		pthread_t worker{};
		std::atomic<bool> cancel_requested{false};
	};

	static constexpr std::size_t max_workers = 256;

	// The instance once made (for the fork handlers).
	static std::atomic<fallback_state*>& current() noexcept
	{
		static constinit std::atomic<fallback_state*> made{nullptr};
		return made;
	}

	static void before_fork() noexcept
	{
		if (fallback_state* self = current().load(std::memory_order_acquire))
			self->mutex_.lock();
	}

	static void after_fork_in_parent() noexcept
	{
		if (fallback_state* self = current().load(std::memory_order_acquire))
			self->mutex_.unlock();
	}

	// (The condition variables may count waiters that are not in this
	// process: they are made anew, not destroyed.)
	static void after_fork_in_child() noexcept
	{
		fallback_state* self = current().load(std::memory_order_acquire);
		if (self == nullptr)
			return;
		for (job* work : self->jobs_)
			delete work; // NOLINT(cppcoreguidelines-owning-memory)
		self->jobs_.clear();
		self->in_pool_.clear();
		self->pending_.clear();
		self->workers_ = 0;
		self->idle_workers_ = 0;
		new (&self->completed_) std::condition_variable;
		new (&self->work_) std::condition_variable;
		self->mutex_.unlock();
	}

	fallback_state()
	{
		struct sigaction current {
		};
		if (::sigaction(interrupt_signal(), nullptr, &current) == 0 &&
		    current.sa_handler == SIG_DFL && (current.sa_flags & SA_SIGINFO) == 0) {
			struct sigaction interrupt {
			};
			interrupt.sa_handler = [](int) {}; // only makes the blocked call return -EINTR
			sigemptyset(&interrupt.sa_mask);
			interrupt.sa_flags = 0; // no SA_RESTART
			interrupt_ready_ = ::sigaction(interrupt_signal(), &interrupt, nullptr) == 0;
		}
	}

	std::size_t queued_jobs_locked() const noexcept
	{
		std::size_t queued = 0;
		for (const job* work : jobs_)
			queued += work->running ? 0 : 1;
		return queued;
	}

	void start_worker_locked()
	{
		// Workers take no signal but the interrupt: the program's signals
		// go to its own threads.
		sigset_t all{};
		sigset_t previous{};
		sigfillset(&all);
		::pthread_sigmask(SIG_BLOCK, &all, &previous);
		std::thread worker([this] { work(); });
		::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
		worker.detach();
		++workers_;
		++idle_workers_;
	}

	void work()
	{
		sigset_t interrupt{};
		sigemptyset(&interrupt);
		sigaddset(&interrupt, interrupt_signal());
		::pthread_sigmask(SIG_UNBLOCK, &interrupt, nullptr);
		std::unique_lock lock(mutex_);
		for (;;) {
			job* work = nullptr;
			work_.wait(lock, [&] {
				for (job* candidate : jobs_)
					if (!candidate->running) {
						work = candidate;
						return true;
					}
				return false;
			});
			work->running = true;
			work->worker = ::pthread_self();
			--idle_workers_;
			lock.unlock();
			const long last = run_chain(work->first, &work->cancel_requested);
			lock.lock();
			++idle_workers_;
			jobs_.erase(std::find(jobs_.begin(), jobs_.end(), work));
			finish_locked(work, last > 0 ? static_cast<std::uint64_t>(last) : 0);
		}
	}

	// Posts the chain's final atom (unless NO_COMPLETE or it could not
	// run at all) and forgets the job.
	void finish_locked(job* work, std::uint64_t last)
	{
		const std::unique_ptr<job> done(work);
		if (last != 0 && (abi::pointer_from<abi::atom>(last)->flags & SYSLET_NO_COMPLETE) == 0)
			(void)syslet::detail::try_invoke([&] { post_locked(work->head, last); });
		auto in_pool = in_pool_.find(work->head);
		if (in_pool != in_pool_.end() && --in_pool->second == 0)
			in_pool_.erase(in_pool);
		completed_.notify_all();
	}

	bool reinterrupt_locked(const abi::head* head) noexcept
	{
		bool outstanding = false;
		for (job* work : jobs_)
			if (work->head == head && work->running &&
			    work->cancel_requested.load(std::memory_order_relaxed)) {
				::pthread_kill(work->worker, interrupt_signal());
				outstanding = true;
			}
		return outstanding;
	}

	static std::uint64_t unreaped_of(abi::head* head) noexcept
	{
		const std::uint64_t reaped = word(head->user_ring_idx).load(std::memory_order_acquire);
		const std::uint64_t posted = word(head->kernel_ring_idx).load(std::memory_order_acquire);
		return posted - reaped;
	}

	void post_locked(abi::head* head, std::uint64_t atom)
	{
		auto& pending = pending_[head];
		pending.push_back(atom);
		flush_locked(head, pending);
	}

	long flush_if_pending_locked(abi::head* head)
	{
		const auto found = pending_.find(head);
		if (found == pending_.end())
			return 0;
		flush_locked(head, found->second);
		return found->second.empty() ? 0 : -EOVERFLOW;
	}

	static void flush_locked(abi::head* head, std::deque<std::uint64_t>& pending) noexcept
	{
		auto* ring = abi::pointer_from<abi::word>(head->completion_ring);
		const std::uint64_t nr_slots = head->ring_size_bytes / sizeof(std::uint64_t);
		while (!pending.empty()) {
			const std::uint64_t index =
				word(head->kernel_ring_idx).load(std::memory_order_relaxed);
			auto slot = word(ring[index % nr_slots]);
			if (slot.load(std::memory_order_acquire) != 0) {
				word(head->status).fetch_or(SYSLET_HEAD_RING_OVERFLOW);
				return;
			}
			slot.store(pending.front(), std::memory_order_relaxed);
			word(head->kernel_ring_idx).store(index + 1, std::memory_order_release);
			pending.pop_front();
		}
		word(head->status).fetch_and(~static_cast<std::uint64_t>(SYSLET_HEAD_RING_OVERFLOW));
	}

	std::mutex mutex_;
	std::condition_variable completed_; // a pool chain finished
	std::condition_variable work_;      // a chain was queued
	std::map<const abi::head*, std::deque<std::uint64_t>> pending_;
	std::map<const abi::head*, std::size_t> in_pool_;
	std::vector<job*> jobs_; // queued and running, oldest first
	std::size_t workers_ = 0;
	std::size_t idle_workers_ = 0;
	bool interrupt_ready_ = false;
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
// Once *@cancelled is set, the chain ends: the atom about to run gets
// -ECANCELED without running, and one whose call was interrupted (-EINTR)
// gets -ECANCELED instead.
inline long run_chain(abi::atom* first, const std::atomic<bool>* cancelled) noexcept
{
	const auto cancel_requested = [cancelled] {
		return cancelled != nullptr && cancelled->load(std::memory_order_acquire);
	};
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
		const bool skipped = cancel_requested();
		std::int64_t value = skipped ? -ECANCELED : detail::run_atom(atom);
		if (value == -EINTR && cancel_requested())
			value = -ECANCELED;
		if (atom.ret_ptr != 0)
			std::memcpy(abi::pointer_from<void>(atom.ret_ptr), &value, sizeof(value));

		if (refused || cancel_requested())
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
	detail::fallback_state::instance().forget(head);
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
	if ((last_atom->flags & SYSLET_NO_COMPLETE) == 0 && !syslet::detail::try_invoke([&] {
		    (void)detail::fallback_state::instance().post(head, static_cast<std::uint64_t>(last));
	    }))
		return -ENOMEM;
	return 0;
}

// Not a system call of the kernel: runs the chain in a worker thread of
// the fallback's pool instead of the caller, posts its final atom to
// @head's ring (unless NO_COMPLETE) and returns 0, as the kernel does for
// a chain that went asynchronous.  Used by syslet::ring for chains that
// may block (see ring.hpp).  -errno for the same bad input as async_exec().
inline long pool_exec(abi::atom* first, abi::head* head, std::size_t size) noexcept
{
	if (!detail::is_aligned8(first))
		return -EINVAL;
	if (first == nullptr)
		return -EFAULT;
	const std::uint64_t flags = first->flags;
	if ((flags & ~abi::valid_flags) != 0 ||
	    (flags & (SYSLET_ASYNC | SYSLET_SYNC)) == (SYSLET_ASYNC | SYSLET_SYNC))
		return -EINVAL;
	if (head == nullptr || head->completion_ring == 0)
		return -EINVAL;
	if (const long error = detail::check_head(head, size))
		return error;
	return detail::fallback_state::instance().queue(first, head);
}

// Cancels a chain that pool_exec() queued: see fallback_state::cancel().
inline long pool_cancel(const abi::atom* first, abi::head* head) noexcept
{
	return detail::fallback_state::instance().cancel(first, head);
}

// Waits only for chains in the worker pool (pool_exec()): anything else
// ran in async_exec() already.
inline long async_wait(unsigned long min_events, abi::head* head, const __kernel_timespec* timeout) noexcept
{
	if (head == nullptr || !detail::is_aligned8(head))
		return -EINVAL;
	if (timeout != nullptr &&
	    (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000))
		return -EINVAL;
	long waited = -ENOMEM;
	(void)syslet::detail::try_invoke(
		[&] { waited = detail::fallback_state::instance().wait(min_events, head, timeout); });
	return waited;
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
