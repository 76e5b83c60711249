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
// 0 back and increments user_ring_idx.
//
// Delivery: a chain's callback runs, and a coroutine waiting for it
// resumes, only inside reap(), wait(), drain() or chain::wait() -- never
// inside submit(), even when the chain completed there ("cached": its
// result() is available when submit() returns, its delivery is queued).
// So "start the next operation from the callback" never recurses.
//
// Threads: submit(), reap(), wait(), drain(), cancel() and completion_fd()
// may be called from any thread (one lock per ring, never held while a
// system call blocks or a callback runs).  Callbacks run on the thread that
// reaps.  A chain object is used by one thread at a time; it may be
// dropped while another thread runs its callback (the ring keeps its
// storage until the callback has returned), and chain::wait() returns
// only once that callback has returned.
//
// At most nr_slots chains are in flight per ring (submit() waits first if
// needed, collecting what finishes into the delivery queue without
// delivering it), so a library user never overflows the ring; -EOVERFLOW
// from the kernel is handled anyway by reaping and waiting again.
#pragma once

#include "backend.hpp"
#include "chain.hpp"
#include "error.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <linux/time_types.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <thread>

namespace syslet
{

// When a chain may run in the submitting thread (see README, "When an
// operation runs inline").
enum class inline_policy : std::uint8_t {
	// A chain that may block on something another party must do (a read
	// of a pipe, an open of a FIFO, ...) never runs in the caller: the
	// kernel gets it as SYSLET_ASYNC (a pool thread runs it), the
	// fallback hands it to its worker pool.  The default.
	never_block_caller,
	// The kernel decides: a chain runs in the caller until it blocks,
	// then goes asynchronous if a spare thread can take over (the raw
	// syslet behaviour).  The fallback then runs everything inline.
	kernel_decides,
};

struct ring_options {
	std::size_t slots = 256;
	std::uint64_t max_threads = 0; // 0: the kernel chooses
	inline_policy policy = inline_policy::never_block_caller;
};

namespace detail
{

inline __kernel_timespec to_kernel_timespec(std::chrono::nanoseconds duration) noexcept
{
	if (duration < std::chrono::nanoseconds::zero())
		duration = std::chrono::nanoseconds::zero();
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

// Whether a file descriptor can make a read or write wait for another
// party: not for regular files, block devices, directories and
// O_NONBLOCK descriptors (nor for a bad fd: the call fails at once).
inline bool fd_may_block(std::uint64_t fd) noexcept
{
	struct ::stat st {
	};
	if (sys::raw_syscall(SYS_fstat, fd, abi::address_of(&st)) < 0)
		return false;
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode))
		return false;
	const long flags = sys::raw_syscall(SYS_fcntl, fd, F_GETFL);
	return flags < 0 || (flags & O_NONBLOCK) == 0;
}

// Whether close() of a file descriptor can wait for another party: on a
// socket (SO_LINGER: until the peer has taken the data, or the linger
// time passed) or a character device (a tty draining its output, a tape
// rewinding); not on files, directories, pipes, ... (nor on a bad fd: it
// fails at once).
inline bool close_may_block(std::uint64_t fd) noexcept
{
	struct ::stat st {
	};
	if (sys::raw_syscall(SYS_fstat, fd, abi::address_of(&st)) < 0)
		return false;
	return S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode);
}

// System calls that never wait for another party (they may wait for a
// disk).
constexpr bool syscall_never_waits(long nr) noexcept
{
	switch (nr) {
	case SYS_getpid:
	case SYS_getppid:
	case SYS_gettid:
	case SYS_getuid:
	case SYS_getgid:
	case SYS_newfstatat:
	case SYS_fstat:
	case SYS_stat:
	case SYS_lstat:
	case SYS_statx:
	case SYS_lseek:
	case SYS_getdents64:
	case SYS_mkdirat:
	case SYS_unlinkat:
	case SYS_renameat:
	case SYS_renameat2:
	case SYS_linkat:
	case SYS_symlinkat:
	case SYS_readlinkat:
	case SYS_faccessat:
	case SYS_faccessat2:
	case SYS_fchmod:
	case SYS_fchmodat:
	case SYS_fchown:
	case SYS_fchownat:
	case SYS_ftruncate:
	case SYS_fsync:
	case SYS_fdatasync:
	case SYS_fadvise64:
	// Positional I/O fails with ESPIPE on pipes, sockets and ttys.
	case SYS_pread64:
	case SYS_pwrite64:
	case SYS_preadv:
	case SYS_pwritev:
	case SYS_dup:
	case SYS_dup3:
	case SYS_umask:
	case SYS_uname:
	case SYS_clock_gettime:
		return true;
	default:
		return false;
	}
}

// syscall_never_waits() of the numbers below 64 as a bit mask: the stat
// family of one-shot operations is told apart in two instructions.
inline constexpr std::uint64_t never_waits_below_64 = [] {
	std::uint64_t mask = 0;
	for (long nr = 0; nr < 64; ++nr)
		if (syscall_never_waits(nr))
			mask |= std::uint64_t{1} << nr;
	return mask;
}();

// Whether atom @i of @chain may block its caller on another party.
inline bool atom_may_block(const chain_state& chain, std::size_t i) noexcept
{
	const long nr = chain.syscall_of(i);
	if (syscall_never_waits(nr))
		return false;
	switch (nr) {
	// Depend on the file descriptor (argument 0).
	case SYS_read:
	case SYS_write:
	case SYS_readv:
	case SYS_writev:
	case SYS_preadv2:
	case SYS_pwritev2: {
		const auto fd = chain.value_argument(i, 0);
		return !fd || fd_may_block(*fd);
	}
	case SYS_close: {
		if (const auto fd = chain.value_argument(i, 0))
			return close_may_block(*fd);
		// The descriptor an earlier openat() of this chain opened with
		// O_DIRECTORY or O_PATH is no socket or device: its close
		// never waits (the directory scan's open, getdents64, close).
		if (const auto opener = chain.result_argument(i, 0);
		    opener && chain.syscall_of(*opener) == SYS_openat) {
			const auto flags = chain.value_argument(*opener, 2);
			return !flags || (*flags & (O_DIRECTORY | O_PATH)) == 0;
		}
		return true;
	}
	// An open waits for a FIFO's other end unless it cannot be one.
	case SYS_openat: {
		const auto flags = chain.value_argument(i, 2);
		return !flags || (*flags & (O_NONBLOCK | O_DIRECTORY | O_PATH)) == 0;
	}
	default:
		return true;
	}
}

// Slots for one ring of default_slots in static storage, handed to the
// first per-thread default ring that asks (and back when it is gone), so
// that a thread's first one-shot operation touches no new memory for
// them: zero-filled by the loader, and written by the kernel only when a
// chain completes asynchronously.
struct default_ring_tag {
};

// The ring's lock: its critical sections are a few dozen instructions,
// so taking and releasing it uncontended is one atomic instruction each
// (std::mutex goes through pthread_mutex_lock/unlock, about 75
// instructions a pair); a contended lock sleeps on a futex.  States: 0
// free, 1 held, 2 held and maybe waited for.
class ring_lock
{
public:
	void lock() noexcept
	{
		std::uint32_t expected = 0;
		if (!word().compare_exchange_strong(expected, 1, std::memory_order_acquire,
						    std::memory_order_relaxed))
			lock_contended();
	}
	bool try_lock() noexcept
	{
		std::uint32_t expected = 0;
		return word().compare_exchange_strong(expected, 1, std::memory_order_acquire,
						      std::memory_order_relaxed);
	}
	void unlock() noexcept
	{
		if (word().exchange(0, std::memory_order_release) == 2)
			(void)sys::raw_syscall(SYS_futex, abi::address_of(&state_), FUTEX_WAKE_PRIVATE, 1);
	}

private:
	std::atomic_ref<std::uint32_t> word() noexcept { return std::atomic_ref<std::uint32_t>(state_); }

	void lock_contended() noexcept
	{
		while (word().exchange(2, std::memory_order_acquire) != 0)
			(void)sys::raw_syscall(SYS_futex, abi::address_of(&state_), FUTEX_WAIT_PRIVATE, 2, 0);
	}

	alignas(std::atomic_ref<std::uint32_t>::required_alignment) std::uint32_t state_ = 0;
};

class static_slots
{
public:
	static constexpr std::size_t count = 256;

	static abi::word* claim() noexcept
	{
		static_slots& self = instance();
		return self.taken_.exchange(true, std::memory_order_acquire) ? nullptr : self.words_;
	}
	// @words must be all zero again (everything posted was reaped).
	static void release(abi::word* words) noexcept
	{
		static_slots& self = instance();
		if (words == self.words_)
			self.taken_.store(false, std::memory_order_release);
	}

private:
	static static_slots& instance() noexcept
	{
		static static_slots self; // constant-initialized: no guard, in .bss
		return self;
	}

	abi::word words_[count]{};
	std::atomic<bool> taken_{false};
};

// A chain being handed over: the submitting thread has dropped the ring's
// lock and is inside async_exec() (or pool_exec()) for it.  Until that
// call returns, the kernel may not know the chain yet (async_cancel()
// answers -ENOENT, as for a chain that is completing), so a cancel() or an
// expired deadline in that window cannot be passed on: it is kept here
// and the submitter passes it on once the call returned 0 (the chain went
// asynchronous).  The ticket lives on the submitter's stack; @chain is
// cleared if the chain finishes before the submitter takes the lock
// again (a fast completion reaped by another thread), after which the
// chain may be delivered, reused or freed, and the submitter must not
// touch it.
struct launch_ticket {
	chain_state* chain = nullptr;
	int deferred_reason = 0; // a cancel asked in the window: its reason
};

// The deliveries under way on this thread, innermost first (a callback
// may reap, and so deliver other chains, inside its own delivery).  A
// chain::wait() for a chain whose delivery the waiting thread is inside
// (a callback waiting for its own chain) does not wait for that delivery
// to end: it would wait for itself.
struct delivery_frame {
	const chain_state* chain = nullptr;
	delivery_frame* outer = nullptr;
};

inline delivery_frame*& innermost_delivery() noexcept
{
	static constinit thread_local delivery_frame* innermost = nullptr;
	return innermost;
}

inline std::uint32_t deliveries_on_this_thread(const chain_state& chain) noexcept
{
	std::uint32_t count = 0;
	for (const delivery_frame* frame = innermost_delivery(); frame != nullptr; frame = frame->outer)
		count += frame->chain == &chain ? 1 : 0;
	return count;
}

// Waits until *@word is no longer @seen (or a spurious wake-up, or
// @timeout passed): a private futex.
inline void futex_wait(std::uint32_t* word, std::uint32_t seen,
		       std::optional<std::chrono::nanoseconds> timeout) noexcept
{
	__kernel_timespec ts{};
	if (timeout)
		ts = to_kernel_timespec(*timeout);
	(void)sys::raw_syscall(SYS_futex, abi::address_of(word), FUTEX_WAIT_PRIVATE, seen,
			       timeout ? abi::address_of(&ts) : 0);
}

inline void futex_wake_all(std::uint32_t* word) noexcept
{
	(void)sys::raw_syscall(SYS_futex, abi::address_of(word), FUTEX_WAKE_PRIVATE,
			       static_cast<std::uint64_t>(std::numeric_limits<int>::max()));
}

// fork(): a child has none of its parent's threads, so none of the
// chains its parent's rings had in flight runs in the child (the kernel
// gives a child no syslet state; the fallback's pool has no worker
// there).  Every child bumps fork_generation; a ring made before the fork
// sees it at its next submit(), wait(), chain::wait(), drain(),
// completion_fd() or destruction and forgets those chains
// (ring_core::adopt_fork_locked()), instead of waiting for them forever.
inline std::atomic<std::uint32_t> fork_generation{0};

// From the first chain that leaves its caller on (before that, no chain
// can be in flight in a child), once per process.
[[gnu::noinline]] inline void count_forks() noexcept
{
	static const bool registered = ::pthread_atfork(nullptr, nullptr, [] {
					       fork_generation.fetch_add(1, std::memory_order_relaxed);
				       }) == 0;
	(void)registered;
}

// chain_may_block() from atom @first on.  (Out of line: the common case,
// a stat, never gets here.)
[[gnu::noinline]] inline bool chain_may_block_from(const chain_state& chain, std::size_t first) noexcept
{
	for (std::size_t i = first; i < chain.size(); ++i)
		if (atom_may_block(chain, i))
			return true;
	return false;
}

inline bool chain_may_block(const chain_state& chain) noexcept
{
	for (std::size_t i = 0; i < chain.size(); ++i) {
		const long nr = chain.syscall_of(i);
		if (nr < 0 || nr >= 64 || ((never_waits_below_64 >> nr) & 1) == 0)
			return chain_may_block_from(chain, i);
	}
	return false;
}

// NOLINTNEXTLINE(cppcoreguidelines-virtual-class-destructor): final, never deleted through the base
class ring_core final : public chain_owner
{
public:
	using clock = std::chrono::steady_clock;

	// The kernel's bound on a ring's pool threads when max_nr_threads is 0
	// (SYSLET_DEFAULT_THREADS, kernel/syslet/head.c).  Past it the kernel
	// runs even a SYSLET_ASYNC chain in the caller, so the ring holds
	// such chains back instead (see submit()).
	static constexpr std::size_t kernel_default_threads = 64;

	// @zeroed_slots: storage for options.slots slots, all zero, that the
	// ring uses instead of allocating (static_slots); nullptr: allocate.
	explicit ring_core(const ring_options& options, abi::word* zeroed_slots = nullptr)
	    : nr_slots_(options.slots), policy_(options.policy),
	      async_bound_(options.max_threads != 0 ? options.max_threads : kernel_default_threads)
	{
		if (options.slots == 0)
			contract_violation("syslet::ring: a ring needs at least one slot");
		fork_generation_.store(fork_generation.load(std::memory_order_relaxed),
				       std::memory_order_relaxed);
		if (zeroed_slots == nullptr) {
			owned_slots_ = std::make_unique<abi::word[]>(options.slots);
			zeroed_slots = owned_slots_.get();
		}
		slots_ = zeroed_slots;
		head_.completion_ring = abi::address_of(slots_);
		head_.ring_size_bytes = options.slots * sizeof(std::uint64_t);
		head_.max_nr_threads = options.max_threads;
	}
	ring_core(const ring_core&) = delete;
	ring_core& operator=(const ring_core&) = delete;

	~ring_core() = default;

	// Built in static storage (make_default_core()): never deleted.
	bool in_static_storage = false;

	// Before the ring is freed: waits until nothing is in flight, stops
	// the notifier thread and tears the ring down in the kernel.  False
	// if the kernel may still write into this object (the head) or its
	// slots: then the caller must never free it (ring's deleter leaks
	// it).  Not while other threads use the ring.
	bool shut_down() noexcept
	{
		// A callback of this ring destroying it: the reap that runs the
		// callback goes on using the ring when it returns.  Refused
		// loudly rather than left to touch freed memory.
		for (const delivery_frame* frame = innermost_delivery(); frame != nullptr;
		     frame = frame->outer)
			if (frame->chain->owner() == this)
				fail_fast_misuse(
					"syslet::ring destroyed from inside one of its own callbacks");
		check_fork();
		const bool drained = static_cast<bool>(drain());
		stop_notifier();
		if (!drained) {
			// The chains in flight may still be written to: they stay
			// with the leaked ring, their chain objects let go of them.
			for (chain_state* chain = in_flight_; chain != nullptr; chain = chain->links.next)
				chain->clear_owner();
			return false;
		}
		if (!unregister_from_kernel())
			return false;
		static_slots::release(slots_);
		return true;
	}

	abi::head& head() noexcept { return head_; }
	std::size_t capacity() const noexcept { return nr_slots_; }
	std::size_t in_flight() noexcept
	{
		const std::lock_guard lock(mutex_);
		return nr_in_flight_;
	}
	std::size_t pending_delivery() noexcept
	{
		const std::lock_guard lock(mutex_);
		return nr_ready_;
	}

	result<void> register_now() noexcept
	{
		const long ret = backend::async_register(&head_, sizeof(head_));
		return ret < 0 ? result<void>(errno_code(static_cast<int>(-ret))) : result<void>();
	}

	result<void> submit(chain_state& chain)
	{
		if (chain.state() == chain_state::status::in_flight)
			return errno_code(EBUSY);
		if (const chain_owner* owner = chain.owner(); owner != nullptr && owner != this)
			return errno_code(EBUSY); // another ring still delivers its last completion
		check_fork();
		const std::uint64_t asked = chain.first_flags();
		bool off_caller = false;
		if ((asked & SYSLET_SYNC) == 0)
			off_caller = (asked & SYSLET_ASYNC) != 0 ||
				     (policy_ == inline_policy::never_block_caller && chain_may_block(chain));
		if (!off_caller && sys::known_support() != sys::support::unknown && !chain.timeout())
			return submit_in_caller(chain);
		return submit_general(chain, off_caller);
	}

	// Delivers every completion available now; never blocks.  Returns how
	// many chains finished (or had their cached completion delivered).
	std::size_t reap() { return reap_and_count(nullptr); }

	// reap(); *@busy_after (if given) is what is still in flight or
	// undelivered, or unknown_busy if deliveries or launches ran.
	static constexpr std::size_t unknown_busy = std::numeric_limits<std::size_t>::max();
	std::size_t reap_and_count(std::size_t* busy_after)
	{
		check_fork();
		std::size_t batch = 0;
		std::size_t finished = 0;
		bool queued = false;
		{
			const std::lock_guard lock(mutex_);
			finished = collect_locked(batch);
			queued = queued_ != nullptr;
			if (busy_after != nullptr)
				*busy_after =
					batch == 0 && !queued ? nr_in_flight_ + nr_ready_ : unknown_busy;
		}
		rearm_fd(batch);
		deliver_ready(batch);
		if (queued)
			launch_queued();
		return finished;
	}

	// Waits until at least @min_completions chains finished (counting the
	// ones reaped right away) or nothing is in flight: the count.
	// ETIMEDOUT if @timeout passed first.  Retries after signals.
	// @deliver false: what finishes is only queued for the next reap,
	// and counted by it (submit() waiting for a slot runs no callback).
	result<std::size_t> wait(std::size_t min_completions, std::optional<std::chrono::nanoseconds> timeout,
				 bool deliver = true)
	{
		std::optional<clock::time_point> deadline;
		if (timeout)
			deadline = clock::now() + *timeout;
		const auto reap_now = [&] { return deliver ? reap() : collect_without_delivering(); };
		std::size_t finished = reap_now();
		for (;;) {
			check_fork();
			std::optional<clock::time_point> wake = deadline;
			std::size_t unconfirmed = 0;
			std::uint64_t epoch = 0;
			{
				const std::lock_guard lock(mutex_);
				if (nr_in_flight_ == 0 && (ready_ == nullptr || !deliver))
					return finished;
				if (const auto op_deadline = earliest_deadline_locked())
					wake = wake ? std::min(*wake, *op_deadline) : *op_deadline;
				unconfirmed = unconfirmed_;
				epoch = async_epoch_;
			}
			if (finished >= min_completions)
				return finished;
			const auto now = clock::now();
			if (deadline && now >= *deadline)
				return errno_code(ETIMEDOUT);
			__kernel_timespec remaining{};
			if (wake)
				remaining = to_kernel_timespec(*wake - now);
			const std::size_t wanted = min_completions - finished;
			const long ret = backend::async_wait(wanted, &head_, wake ? &remaining : nullptr);
			if (ret < 0 && ret != -EINTR && ret != -ETIME && ret != -ETIMEDOUT &&
			    ret != -EOVERFLOW)
				return errno_code(static_cast<int>(-ret));
			finished += reap_now();
			const bool timer_fired = wake && clock::now() >= *wake;
			if (ret >= 0 && static_cast<std::size_t>(ret) < wanted && !timer_fired &&
			    unconfirmed == 0 && ring_is_empty())
				finished += finish_unobserved(epoch, deliver);
		}
	}

	// Waits until nothing is in flight or undelivered (callbacks may
	// submit more chains).
	result<std::size_t> drain()
	{
		std::size_t busy = 0;
		std::size_t finished = reap_and_count(&busy);
		for (;;) {
			if (busy == unknown_busy) {
				const std::lock_guard lock(mutex_);
				busy = nr_in_flight_ + nr_ready_;
			}
			if (busy == 0)
				return finished;
			const auto waited = wait(busy, std::nullopt);
			if (!waited)
				return waited.error();
			finished += *waited;
			busy = unknown_busy;
		}
	}

	// Waits until @chain is neither in flight nor on the delivery queue,
	// and no other thread is delivering it (its callback has returned).
	result<void> wait_for(const chain_state& chain,
			      std::optional<std::chrono::nanoseconds> timeout) override
	{
		std::optional<clock::time_point> deadline;
		if (timeout)
			deadline = clock::now() + *timeout;
		for (;;) {
			check_fork();
			bool delivered_elsewhere = false;
			{
				const std::lock_guard lock(mutex_);
				if (chain.owner() != this) // (a child of fork() forgot it)
					return chain.state() == chain_state::status::in_flight
						       ? result<void>(errno_code(EOWNERDEAD))
						       : result<void>();
				if (chain.state() != chain_state::status::in_flight &&
				    !chain.links.delivery_pending) {
					if (chain.links.delivering <= deliveries_on_this_thread(chain))
						return {};
					delivered_elsewhere = true; // (by another thread)
				}
			}
			std::optional<std::chrono::nanoseconds> left;
			if (deadline) {
				left = *deadline - clock::now();
				if (*left <= std::chrono::nanoseconds::zero())
					return errno_code(ETIMEDOUT);
			}
			if (delivered_elsewhere) {
				wait_for_a_delivery_to_end(chain, left);
				continue;
			}
			if (auto waited = wait(1, left); !waited)
				return waited.error();
		}
	}

	// Cancels @chain: a chain that has not started (held back in the
	// ring, queued for a kernel pool thread or for the fallback's worker
	// pool) never starts; one blocked in an interruptible call (a kernel
	// pool thread or cachemiss worker, through async_cancel(); a fallback
	// worker, through a signal) is interrupted and runs no further atom.
	// Either way it completes once, and the atom it ended on has
	// -@reason: ECANCELED for cancel(), ETIMEDOUT for a per-chain
	// timeout.  An atom in an uninterruptible sleep (a disk read) keeps
	// its own result.  Answers: success (asked; also when asked before;
	// a chain asked while its submitter is still inside async_exec()
	// is asked once that returns, and may still complete normally if it
	// finished there); ENOENT: not in flight on this ring (done and
	// reaped, or never submitted); EALREADY: too late to stop, the chain
	// completes normally (it is completing, or its completion is posted
	// but not yet reaped).
	result<void> cancel(chain_state& chain, int reason) override
	{
		const std::lock_guard lock(mutex_);
		return cancel_locked(chain, reason);
	}

	bool adopt_if_busy(chain_state& chain) noexcept override
	{
		const std::lock_guard lock(mutex_);
		if (chain.state() != chain_state::status::in_flight && !chain.links.delivery_pending &&
		    chain.links.delivering == 0)
			return false;
		chain.links.orphaned = true;
		(void)chain.take_continuation();
		return true;
	}

	// An eventfd that is readable while reap() has something to deliver.
	// Made on first use, with a thread that waits for the kernel (or the
	// fallback's pool) on the ring's behalf.  Owned by the ring.
	result<int> completion_fd()
	{
		check_fork();
		const std::lock_guard lock(notifier_mutex_);
		if (event_fd_.load() >= 0)
			return event_fd_.load();
		const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0)
			return errno_code(errno);
		event_fd_ = fd;
		armed_.store(true);
		bool started = false;
		if (!try_invoke([&] {
			    if (!work_cv_) {
				    work_cv_ = std::make_unique<std::condition_variable_any>();
				    work_.store(work_cv_.get(), std::memory_order_release);
			    }
			    sigset_t all{};
			    sigset_t previous{};
			    sigfillset(&all);
			    ::pthread_sigmask(SIG_BLOCK, &all, &previous);
			    notifier_ = std::thread([this] { notify_loop(); });
			    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
			    started = true;
		    }) ||
		    !started) {
			::close(fd);
			event_fd_ = -1;
			return errno_code(ENOMEM);
		}
		if (pending_delivery() > 0)
			signal_fd();
		return event_fd_.load();
	}

	// The earliest per-chain deadline in flight (for a poll timeout when
	// the ring is driven through completion_fd()).
	std::optional<clock::time_point> next_deadline()
	{
		const std::lock_guard lock(mutex_);
		return earliest_deadline_locked();
	}

private:
	// submit() of a chain that leaves the caller, has a timeout, or
	// finds the kernel's support unknown or absent.
	result<void> submit_general(chain_state& chain, bool off_caller)
	{
		// Only a chain that leaves the caller needs to know now whether
		// the kernel has syslets; for the others the first async_exec()
		// of the process is the probe (backend::async_exec_chain).
		const bool kernel = off_caller && sys::kernel_has_syslets();
		const bool pooled = off_caller && !kernel;
		if (off_caller)
			count_forks();
		const std::uint64_t added_flags = off_caller && kernel ? SYSLET_ASYNC : 0;
		std::unique_lock lock(mutex_); // (materialize() may throw)
		for (;;) {
			if (chain.links.delivery_pending)
				return errno_code(EBUSY); // its last completion is not delivered yet
			if (nr_in_flight_ < nr_slots_)
				break;
			// Full: wait for a chain to finish.  Its completion is
			// queued for the next reap, not delivered here: no
			// callback runs (and no coroutine resumes) inside submit().
			lock.unlock();
			if (auto waited = wait(1, std::nullopt, false); !waited)
				return waited.error();
			lock.lock();
		}
		abi::atom* first = chain.materialize(added_flags);
		chain.mark_in_flight(*this);
		link_in_flight_locked(chain);
		chain.links.pooled = pooled;
		chain.links.queued = false;
		chain.links.kernel = !pooled;
		chain.links.cancelled = false;
		chain.links.cancel_reason = 0;
		chain.links.deadline = clock::time_point::max();
		if (const auto timeout = chain.timeout()) {
			chain.links.deadline = clock::now() + *timeout;
			++nr_deadlines_;
		}
		if (added_flags != 0 && nr_kernel_ >= async_bound_) {
			// Every pool thread the kernel would give this ring is
			// taken: the kernel would run the chain in the caller.
			// It waits here and is launched by a later reap.
			chain.links.kernel = false;
			chain.links.queued = true;
			push_queued_locked(chain);
			return {};
		}
		launch_ticket ticket{&chain};
		begin_launch_locked(chain, ticket);
		lock.unlock();
		const long ret =
			pooled ? fallback::pool_exec(first, &head_, sizeof(head_))
			       : backend::async_exec_chain(first, &head_, sizeof(head_), first, chain.size());
		mutex_.lock();
		return launched_locked(chain, ticket, ret);
	}

	// submit() of a chain that runs in the caller (with kernel syslets it
	// may still go asynchronous if it blocks) once the kernel's support
	// is known, with no timeout: every one-shot stat.  The general path's
	// steps without its other cases, the lock taken twice.
	result<void> submit_in_caller(chain_state& chain)
	{
		if (!chain.materialized_one_atom())
			return submit_general(chain, false); // (materializing may throw)
		mutex_.lock();                               // nothing below throws
		if (chain.links.delivery_pending || nr_in_flight_ >= nr_slots_) {
			mutex_.unlock();
			return submit_general(chain, false);
		}
		abi::atom* first = chain.materialize(0);
		chain.mark_in_flight(*this);
		link_in_flight_locked(chain);
		chain.links.pooled = false;
		chain.links.queued = false;
		chain.links.kernel = true;
		chain.links.cancelled = false;
		chain.links.cancel_reason = 0;
		launch_ticket ticket{&chain};
		begin_launch_locked(chain, ticket);
		mutex_.unlock();
		const long ret = sys::known_support() == sys::support::kernel
					 ? sys::raw_syscall(abi::nr_async_exec, abi::address_of(first),
							    abi::address_of(&head_), sizeof(head_))
					 : fallback::async_exec(first, &head_, sizeof(head_));
		mutex_.lock();
		return launched_locked(chain, ticket, ret);
	}

	// Under the lock, right before the lock is dropped for async_exec()
	// (or pool_exec()) of @chain.
	void begin_launch_locked(chain_state& chain, launch_ticket& ticket) noexcept
	{
		if (chain.links.kernel)
			++nr_kernel_;
		++unconfirmed_;
		++async_epoch_;
		chain.links.launch = &ticket;
	}

	// Under the lock again after async_exec() (or pool_exec()) of @chain
	// returned @ret; drops the lock.  What submit() returns.
	[[gnu::always_inline]] result<void> launched_locked(chain_state& chain, launch_ticket& ticket,
							    long ret) noexcept
	{
		--unconfirmed_;
		if (ret == 0) {
			end_launch_locked(ticket);
			mutex_.unlock();
			count_forks(); // (a chain the kernel took off the caller when it blocked)
			notify_work(); // the notifier thread has something to wait for
			return {};     // went asynchronous: finishes when reaped
		}
		// (Not asynchronous: nothing was posted, nobody finished it.)
		chain.links.launch = nullptr;
		if (chain.links.kernel) {
			chain.links.kernel = false;
			--nr_kernel_;
		}
		// The chain never left this thread: it is still ours.
		unlink_in_flight_locked(chain);
		if (ret < 0) {
			// (Submitted again from its own callback: the owner stays
			// until that delivery ends.)
			chain.mark_idle(chain.links.delivering != 0);
			mutex_.unlock();
			return errno_code(static_cast<int>(-ret));
		}
		(void)chain.take_continuation(); // an awaiting coroutine resumes at once
		const bool deliver = chain.wants_delivery();
		completion done =
			chain.completed_at(static_cast<std::uint64_t>(ret), completion_path::cached);
		apply_cancel_reason(chain, done); // (cancelled by another thread while it ran here)
		chain.record(done, deliver);
		if (!deliver) {
			mutex_.unlock();
			return {};
		}
		chain.links.delivery_pending = true;
		push_ready_locked(chain);
		++nr_unreported_;
		mutex_.unlock();
		signal_fd();
		return {};
	}

	// async_unregister() answers -EBUSY while a chain that named the ring
	// still runs, and a pool thread still runs for a moment after it
	// posted the chain's completion, which drain() may already have
	// reaped.  Ignoring that left the ring set up in the kernel after its
	// memory was freed: the kernel then posted into freed memory, and a
	// new ring allocated at the same address got the old ring's slots
	// (completions lost, a ring that never drains).  So retry, as the
	// uapi header says (reap, then again), for up to 10 s; false if the
	// kernel still has it then.
	bool unregister_from_kernel() noexcept
	{
		const auto give_up = clock::now() + std::chrono::seconds(10);
		for (;;) {
			const long ret = backend::async_unregister(&head_, sizeof(head_));
			// 0: torn down; -ENOENT: never set up; anything else
			// but -EBUSY means the kernel has no ring at this head.
			if (ret != -EBUSY)
				return true;
			if (clock::now() >= give_up)
				return false;
			(void)reap_posted_only();
			const struct ::timespec pause {
				0, 100 * 1000
			};
			(void)::nanosleep(&pause, nullptr);
		}
	}

	// Consumes posted completions of chains no longer tracked (there are
	// none in flight by now), so that held-back ones can move in.
	std::size_t reap_posted_only() noexcept
	{
		std::size_t seen = 0;
		const std::lock_guard lock(mutex_);
		consume_posted(head_, slots_, nr_slots_, [&](abi::word) { ++seen; });
		return seen;
	}

	bool ring_is_empty() const noexcept
	{
		return std::atomic_ref<const abi::word>(head_.user_ring_idx)
			       .load(std::memory_order_relaxed) ==
		       std::atomic_ref<const abi::word>(head_.kernel_ring_idx)
			       .load(std::memory_order_acquire);
	}

	void link_in_flight_locked(chain_state& chain) noexcept
	{
		chain.links.prev = nullptr;
		chain.links.next = in_flight_;
		if (in_flight_ != nullptr)
			in_flight_->links.prev = &chain;
		in_flight_ = &chain;
		++nr_in_flight_;
	}

	void unlink_in_flight_locked(chain_state& chain) noexcept
	{
		if (chain.links.prev != nullptr)
			chain.links.prev->links.next = chain.links.next;
		else
			in_flight_ = chain.links.next;
		if (chain.links.next != nullptr)
			chain.links.next->links.prev = chain.links.prev;
		chain.links.prev = chain.links.next = nullptr;
		--nr_in_flight_;
		if (chain.links.launch != nullptr) {
			// Finished while its submitter is still in async_exec():
			// the submitter must leave it alone from now on.
			chain.links.launch->chain = nullptr;
			chain.links.launch = nullptr;
		}
		if (chain.links.deadline != clock::time_point::max()) {
			chain.links.deadline = clock::time_point::max();
			--nr_deadlines_;
		}
	}

	void push_ready_locked(chain_state& chain) noexcept
	{
		chain.links.ready = nullptr;
		if (ready_tail_ != nullptr)
			ready_tail_->links.ready = &chain;
		else
			ready_ = &chain;
		ready_tail_ = &chain;
		++nr_ready_;
	}

	// A cancelled chain's interrupted atom reads -ECANCELED (the kernel
	// turns the -EINTR of the interrupted call into it; a fallback worker
	// may leave -EINTR): it becomes -reason, in the completion and in
	// the atom's result slot.
	static void apply_cancel_reason(chain_state& chain, completion& done) noexcept
	{
		if (!chain.links.cancelled || done.final_atom == completion::unknown_atom)
			return;
		if (done.value != -ECANCELED && done.value != -EINTR)
			return;
		done.value = -chain.links.cancel_reason;
		chain.set_raw_result(done.final_atom, done.value);
	}

	// The chain finished in flight: records it; delivery if wanted.
	void finish_locked(chain_state& chain, completion done)
	{
		unlink_in_flight_locked(chain);
		if (chain.links.kernel) {
			chain.links.kernel = false;
			--nr_kernel_;
		}
		apply_cancel_reason(chain, done);
		const bool deliver = chain.links.orphaned || chain.wants_delivery();
		chain.record(done, deliver);
		if (deliver) {
			chain.links.delivery_pending = true;
			push_ready_locked(chain);
		}
	}

	// Takes posted completions and expired deadlines; @batch: how many
	// chains are on the delivery queue now (the reap delivers those; what
	// their callbacks queue waits for the next reap).
	std::size_t collect_locked(std::size_t& batch)
	{
		std::size_t finished = collect_posted_locked();
		finished += std::exchange(nr_unreported_, 0); // the others were counted above
		batch = nr_ready_;
		return finished;
	}

	// reap() without delivering: what finished is queued for the next
	// reap (which counts it too).  Returns how many slots it freed.
	std::size_t collect_without_delivering()
	{
		std::size_t freed = 0;
		bool queued = false;
		bool ready = false;
		{
			const std::lock_guard lock(mutex_);
			const std::size_t before = nr_in_flight_;
			nr_unreported_ += collect_posted_locked();
			freed = before - nr_in_flight_; // (also chains a deadline ended unrun)
			queued = queued_ != nullptr;
			ready = nr_ready_ > 0;
		}
		if (ready)
			signal_fd(); // something for reap() to deliver
		if (queued)
			launch_queued();
		return freed;
	}

	// Takes posted completions and (@deadlines) expired deadlines: how
	// many chains finished.
	std::size_t collect_posted_locked(bool deadlines = true)
	{
		std::size_t finished = 0;
		consume_posted(head_, slots_, nr_slots_, [&](abi::word atom_address) {
			const auto* atom = abi::pointer_from<const abi::atom>(atom_address);
			auto* chain = abi::pointer_from<chain_state>(abi::user_data(*atom));
			if (chain == nullptr || chain->owner() != this ||
			    chain->state() != chain_state::status::in_flight)
				return; // not a chain of this ring
			finish_locked(*chain, chain->completed_at(atom_address, completion_path::ring));
			++finished;
		});
		if (deadlines && nr_deadlines_ > 0) {
			const auto now = clock::now();
			for (chain_state* chain = in_flight_; chain != nullptr;) {
				chain_state* next = chain->links.next;
				if (chain->links.deadline <= now) {
					chain->links.deadline = clock::time_point::max();
					--nr_deadlines_;
					(void)cancel_locked(*chain, ETIMEDOUT);
				}
				chain = next;
			}
		}
		return finished;
	}

	result<void> cancel_locked(chain_state& chain, int reason)
	{
		if (chain.owner() != this || chain.state() != chain_state::status::in_flight)
			return errno_code(ENOENT);
		if (chain.links.cancelled)
			return {};
		if (chain.links.queued) { // not started: it never starts
			remove_queued_locked(chain);
			end_unrun_locked(chain, -reason);
			return {};
		}
		if (chain.links.launch != nullptr) {
			// Its submitter is inside async_exec(): the kernel may
			// not know it yet.  The submitter passes it on.
			chain.links.launch->deferred_reason = reason;
			chain.links.cancelled = true;
			chain.links.cancel_reason = reason;
			return {};
		}
		long ret = 0;
		if (chain.links.pooled) {
			ret = fallback::pool_cancel(chain.first_atom(), &head_);
		} else if (chain.links.kernel) {
			// Never blocks: the kernel marks the chain and interrupts
			// the thread running it.  -ENOENT: it is completing (or
			// runs cached in the submitting thread), -ENOSYS: a
			// syslet kernel without async_cancel().
			const long asked = sys::async_cancel(chain.first_atom(), &head_);
			ret = asked == -EALREADY                     ? 0 // asked before: still asked
			      : asked == -ENOENT || asked == -ENOSYS ? -EALREADY
								     : asked;
		} else {
			ret = -EALREADY;
		}
		if (ret < 0)
			return errno_code(static_cast<int>(-ret));
		chain.links.cancelled = true;
		chain.links.cancel_reason = reason;
		return {};
	}

	// The submitter is back from an async_exec() that returned 0: the
	// chain is the kernel's (or the pool's) now, unless it finished
	// already.  Passes on a cancel asked meanwhile.  -ENOENT from
	// async_cancel() here means it is completing: its completion is on
	// its way, with its own result.
	void end_launch_locked(launch_ticket& ticket) noexcept
	{
		chain_state* chain = ticket.chain;
		if (chain == nullptr)
			return; // finished and reaped meanwhile
		chain->links.launch = nullptr;
		if (ticket.deferred_reason == 0)
			return;
		if (chain->links.pooled)
			(void)fallback::pool_cancel(chain->first_atom(), &head_);
		else
			(void)sys::async_cancel(chain->first_atom(), &head_);
	}

	// Delivers up to @batch chains off the head of the delivery queue
	// (fewer if other threads reap too), one at a time: under the lock a
	// chain leaves the queue and counts as delivering (its owner stays
	// set, its state alive); without it the chain's callback (a copy: it
	// may replace itself or submit the chain again) runs, then the
	// coroutine waiting for it resumes; under the lock again the delivery
	// ends (end_delivery()).
	void deliver_ready(std::size_t batch)
	{
		for (; batch > 0; --batch) {
			chain_state* chain = nullptr;
			completion record;
			std::coroutine_handle<> continuation;
			{
				const std::lock_guard lock(mutex_);
				chain = pop_ready_locked();
				if (chain == nullptr)
					return; // delivered by another thread
				chain->links.delivery_pending = false;
				if (chain->links.delivering++ == 0)
					link_delivering_locked(*chain);
				record = chain->finished().value_or(completion{});
				continuation = chain->take_continuation();
			}
			const delivery_scope delivering(*this, *chain);
			if (const completion_callback& callback = chain->callback()) {
				const completion_callback copy = callback;
				copy(record);
			}
			if (continuation)
				continuation.resume();
		}
	}

	// A delivery under way on this thread: on this thread's list while
	// the callback runs, ended (end_delivery()) when it returns or throws.
	class delivery_scope
	{
	public:
		delivery_scope(ring_core& ring, chain_state& chain) noexcept
		    : ring_(ring), chain_(chain), frame_{&chain, innermost_delivery()}
		{
			innermost_delivery() = &frame_;
		}
		delivery_scope(const delivery_scope&) = delete;
		delivery_scope& operator=(const delivery_scope&) = delete;
		~delivery_scope()
		{
			innermost_delivery() = frame_.outer;
			ring_.end_delivery(chain_);
			// The callback threw: the rest of the batch stays queued, and
			// the completion fd must say so (the reap re-armed it for
			// the whole batch).
			if (std::uncaught_exceptions() > uncaught_) [[unlikely]]
				ring_.signal_if_ready();
		}

	private:
		ring_core& ring_;
		chain_state& chain_;
		delivery_frame frame_;
		int uncaught_ = std::uncaught_exceptions();
	};

	void signal_if_ready() noexcept
	{
		bool ready = false;
		{
			const std::lock_guard lock(mutex_);
			ready = nr_ready_ > 0;
		}
		if (ready)
			signal_fd();
	}

	// The delivery of @chain ended.  The last delivery of a chain that is
	// neither in flight nor queued again clears its owner, or, if its
	// chain object went away, gives its state back; threads waiting for a
	// delivery to end (wait_for()) wake up.
	void end_delivery(chain_state& chain) noexcept
	{
		bool give_back = false;
		bool wake = false;
		{
			const std::lock_guard lock(mutex_);
			if (--chain.links.delivering == 0) {
				unlink_delivering_locked(chain);
				give_back = delivered_locked(chain);
			}
			std::atomic_ref<std::uint32_t>(deliveries_ended_)
				.fetch_add(1, std::memory_order_release);
			wake = delivery_waiters_ != 0;
		}
		if (wake)
			futex_wake_all(&deliveries_ended_);
		if (give_back)
			chain_state_cache::give_back(&chain);
	}

	// The last delivery of @chain ended: if it is neither in flight nor
	// queued again, its owner is cleared, or true if the ring has to give
	// its state back (its chain object went away).
	bool delivered_locked(chain_state& chain) noexcept
	{
		if (chain.state() == chain_state::status::in_flight || chain.links.delivery_pending)
			return false;
		if (chain.links.orphaned)
			return true;
		if (chain.owner() == this)
			chain.clear_owner();
		return false;
	}

	void link_delivering_locked(chain_state& chain) noexcept
	{
		chain.links.delivering_prev = nullptr;
		chain.links.delivering_next = delivering_;
		if (delivering_ != nullptr)
			delivering_->links.delivering_prev = &chain;
		delivering_ = &chain;
	}

	void unlink_delivering_locked(chain_state& chain) noexcept
	{
		if (chain.links.delivering_prev != nullptr)
			chain.links.delivering_prev->links.delivering_next = chain.links.delivering_next;
		else
			delivering_ = chain.links.delivering_next;
		if (chain.links.delivering_next != nullptr)
			chain.links.delivering_next->links.delivering_prev = chain.links.delivering_prev;
		chain.links.delivering_prev = chain.links.delivering_next = nullptr;
	}

	// ---------------------------------------------------------- fork()
	// In a child of fork() (see fork_generation): forgets what the
	// parent's threads were doing, once, before the ring is used.
	void check_fork() noexcept
	{
		if (fork_generation_.load(std::memory_order_relaxed) !=
		    fork_generation.load(std::memory_order_relaxed)) [[unlikely]]
			adopt_fork();
	}

	[[gnu::noinline]] void adopt_fork() noexcept
	{
		chain_state* lost = nullptr; // states to give back, linked through links.ready
		{
			const std::lock_guard lock(mutex_);
			lost = adopt_fork_locked();
		}
		while (lost != nullptr)
			chain_state_cache::give_back(std::exchange(lost, lost->links.ready));
	}

	// The child's one thread is the one that called fork().  Deliveries
	// other threads had under way never end here: only this thread's
	// count.  The chains in flight are the parent's (what completed
	// before the fork, posted or queued, is this process's too and is
	// delivered here as well): they leave the ring; a chain object that
	// still has one keeps it in flight without an owner, as when a ring
	// is destroyed with chains in flight (chain::wait() answers
	// EOWNERDEAD; dropping it leaks its storage), the others' storage is
	// given back.  The notifier thread and its eventfd were the parent's:
	// completion_fd() makes new ones.  Returns the states to give back.
	chain_state* adopt_fork_locked() noexcept
	{
		const std::uint32_t generation = fork_generation.load(std::memory_order_relaxed);
		if (fork_generation_.load(std::memory_order_relaxed) == generation)
			return nullptr; // (another thread of the child was first)
		fork_generation_.store(generation, std::memory_order_relaxed);
		// What the parent's chains posted before the fork is this
		// process's too: taken first, delivered by the next reap.
		nr_unreported_ += collect_posted_locked(false);
		chain_state* lost = nullptr;
		const auto lose = [&lost](chain_state& chain) {
			chain.links.ready = lost;
			lost = &chain;
		};
		for (chain_state* chain = delivering_; chain != nullptr;) {
			chain_state* next = chain->links.delivering_next;
			chain->links.delivering = deliveries_on_this_thread(*chain);
			if (chain->links.delivering == 0) {
				unlink_delivering_locked(*chain);
				if (delivered_locked(*chain))
					lose(*chain);
			}
			chain = next;
		}
		for (chain_state* chain = in_flight_; chain != nullptr;) {
			chain_state* next = chain->links.next;
			chain->links.launch = nullptr; // (a ticket on a thread that is not here)
			unlink_in_flight_locked(*chain);
			chain->links.queued = chain->links.kernel = chain->links.pooled = false;
			if (!chain->links.orphaned) {
				chain->clear_owner();
			} else {
				chain->mark_idle(); // (only the ring has it)
				if (chain->links.delivering == 0)
					lose(*chain);
			}
			chain = next;
		}
		queued_ = queued_tail_ = nullptr;
		nr_kernel_ = 0;
		unconfirmed_ = 0;
		++async_epoch_;
		delivery_waiters_ = 0;
		// Not joined, not notified, not destroyed: their thread is not in
		// this process (destroying a condition variable waits for its
		// waiters): the condition variable is leaked on purpose.
		// Nor detached: its pthread_t may name one of the child's own
		// threads by now.  The handle is forgotten, not destroyed.
		if (notifier_.joinable())
			new (&notifier_) std::thread;
		work_.store(nullptr, std::memory_order_release);
		(void)work_cv_.release(); // NOLINT(bugprone-unused-return-value)
		stopping_ = false;
		armed_.store(false);
		if (const int fd = event_fd_.exchange(-1); fd >= 0)
			::close(fd);
		return lost;
	}

	// Waits until a delivery of this ring ends (@chain's, or any other:
	// the caller checks again), or @timeout passes.
	void wait_for_a_delivery_to_end(const chain_state& chain,
					std::optional<std::chrono::nanoseconds> timeout)
	{
		std::uint32_t seen = 0;
		{
			const std::lock_guard lock(mutex_);
			if (chain.links.delivering <= deliveries_on_this_thread(chain))
				return;
			seen = std::atomic_ref<std::uint32_t>(deliveries_ended_)
				       .load(std::memory_order_relaxed);
			++delivery_waiters_;
		}
		futex_wait(&deliveries_ended_, seen, timeout);
		const std::lock_guard lock(mutex_);
		--delivery_waiters_;
	}

	chain_state* pop_ready_locked() noexcept
	{
		chain_state* chain = ready_;
		if (chain == nullptr)
			return nullptr;
		ready_ = chain->links.ready;
		if (ready_ == nullptr)
			ready_tail_ = nullptr;
		chain->links.ready = nullptr;
		--nr_ready_;
		return chain;
	}

	// The kernel has nothing in flight and everything posted is reaped:
	// chains still tracked ended on a NO_COMPLETE atom.  (@deliver false:
	// only queued and counted for the next reap, as in wait().)
	std::size_t finish_unobserved(std::uint64_t epoch, bool deliver)
	{
		std::size_t batch = 0;
		std::size_t finished = 0;
		{
			const std::lock_guard lock(mutex_);
			if (epoch != async_epoch_ || unconfirmed_ != 0)
				return 0; // something went in flight since: not conclusive
			for (chain_state* chain = in_flight_; chain != nullptr;) {
				chain_state* next = chain->links.next;
				if (!chain->links.queued) {
					finish_locked(*chain, completion{completion::unknown_atom, 0,
									 completion_path::unobserved});
					++finished;
				}
				chain = next;
			}
			if (!deliver) {
				nr_unreported_ += finished;
				return finished;
			}
			finished += std::exchange(nr_unreported_, 0);
			batch = nr_ready_;
		}
		deliver_ready(batch);
		return finished;
	}

	void push_queued_locked(chain_state& chain) noexcept
	{
		chain.links.ready = nullptr;
		if (queued_tail_ != nullptr)
			queued_tail_->links.ready = &chain;
		else
			queued_ = &chain;
		queued_tail_ = &chain;
	}

	void remove_queued_locked(chain_state& chain) noexcept
	{
		chain_state* previous = nullptr;
		for (chain_state* at = queued_; at != nullptr; previous = at, at = at->links.ready) {
			if (at != &chain)
				continue;
			(previous != nullptr ? previous->links.ready : queued_) = at->links.ready;
			if (queued_tail_ == at)
				queued_tail_ = previous;
			at->links.ready = nullptr;
			at->links.queued = false;
			return;
		}
	}

	// A chain that ends without running (cancelled while queued, or the
	// kernel refused it): its first atom's result is @value.
	void end_unrun_locked(chain_state& chain, std::int64_t value)
	{
		chain.set_raw_result(0, value);
		completion done{0, value, completion_path::cached};
		unlink_in_flight_locked(chain);
		const bool deliver = chain.links.orphaned || chain.wants_delivery();
		chain.record(done, deliver);
		if (deliver) {
			chain.links.delivery_pending = true;
			push_ready_locked(chain);
			++nr_unreported_;
		}
	}

	// Gives held-back chains to the kernel while it has pool threads for
	// this ring.  (A SYSLET_ASYNC async_exec() returns at once.)
	void launch_queued()
	{
		bool ended = false;
		for (;;) {
			std::unique_lock lock(mutex_);
			if (queued_ == nullptr || nr_kernel_ >= async_bound_)
				break;
			chain_state& chain = *queued_;
			remove_queued_locked(chain);
			chain.links.kernel = true;
			++nr_kernel_;
			++unconfirmed_;
			++async_epoch_;
			launch_ticket ticket{&chain};
			chain.links.launch = &ticket;
			lock.unlock();
			const long ret = backend::async_exec(chain.first_atom(), &head_, sizeof(head_));
			lock.lock();
			--unconfirmed_;
			if (ret == 0) {
				end_launch_locked(ticket);
				continue;
			}
			chain.links.launch = nullptr;
			chain.links.kernel = false;
			--nr_kernel_;
			if (ret < 0)
				end_unrun_locked(chain, ret);
			else
				finish_locked(chain, chain.completed_at(static_cast<std::uint64_t>(ret),
									completion_path::cached));
			ended = true;
		}
		if (ended)
			signal_fd();
		notify_work();
	}

	std::optional<clock::time_point> earliest_deadline_locked() const noexcept
	{
		if (nr_deadlines_ == 0)
			return std::nullopt;
		auto earliest = clock::time_point::max();
		for (const chain_state* chain = in_flight_; chain != nullptr; chain = chain->links.next)
			earliest = std::min(earliest, chain->links.deadline);
		return earliest;
	}

	// ------------------------------------------------------ completion fd
	void signal_fd() noexcept
	{
		if (event_fd_.load(std::memory_order_acquire) < 0)
			return;
		// Disarmed before the write: a reap that follows the write
		// re-arms after it, never before.
		armed_.store(false);
		const std::uint64_t one = 1;
		(void)!::write(event_fd_.load(), &one, sizeof(one));
	}

	// (@delivering_now: chains on the delivery queue that the calling
	// reap is about to deliver.)
	void rearm_fd(std::size_t delivering_now) noexcept
	{
		if (event_fd_.load(std::memory_order_acquire) < 0)
			return;
		std::uint64_t count = 0;
		(void)!::read(event_fd_.load(), &count, sizeof(count));
		armed_.store(true);
		{
			const std::lock_guard lock(mutex_);
			if (nr_ready_ > delivering_now || !ring_is_empty())
				armed_.store(false);
		}
		if (!armed_.load())
			signal_fd();
		notify_work();
	}

	void notify_loop()
	{
		for (;;) {
			{
				std::unique_lock lock(mutex_);
				work_cv_->wait(lock, [&] {
					return stopping_ || (armed_.load() && nr_in_flight_ > 0);
				});
				if (stopping_)
					return;
			}
			__kernel_timespec tick = to_kernel_timespec(std::chrono::milliseconds(50));
			const long ret = backend::async_wait(1, &head_, &tick);
			bool ready = !ring_is_empty() || ret == -EOVERFLOW;
			{
				const std::lock_guard lock(mutex_);
				ready = ready || nr_ready_ > 0 ||
					(nr_deadlines_ > 0 && earliest_deadline_locked() <= clock::now());
			}
			if (ready && armed_.load()) {
				signal_fd();
			} else if (!ready) {
				// Nothing to wait for in the kernel (yet): do not spin.
				std::unique_lock lock(mutex_);
				work_cv_->wait_for(lock, std::chrono::milliseconds(10),
						   [&] { return stopping_; });
			}
		}
	}

	void notify_work() noexcept
	{
		if (std::condition_variable_any* cv = work_.load(std::memory_order_acquire))
			cv->notify_all();
	}

	void stop_notifier() noexcept
	{
		{
			const std::lock_guard lock(mutex_);
			stopping_ = true;
		}
		notify_work();
		if (notifier_.joinable())
			notifier_.join();
		if (event_fd_.load() >= 0)
			::close(event_fd_.load());
		event_fd_.store(-1);
	}

	ring_lock mutex_;
	abi::head head_{};
	std::unique_ptr<abi::word[]> owned_slots_;
	abi::word* slots_ = nullptr;
	std::size_t nr_slots_;
	inline_policy policy_;
	chain_state* in_flight_ = nullptr;
	std::size_t nr_in_flight_ = 0;
	chain_state* ready_ = nullptr;
	chain_state* ready_tail_ = nullptr;
	std::size_t nr_ready_ = 0;
	// Chains finished that no reap has counted yet: completed in submit()
	// (cached), or collected by a submit() that waited for a slot.
	std::size_t nr_unreported_ = 0;
	// Deliveries that ended so far (a futex word: wait_for() waits on it
	// for a delivery under way on another thread), and such waiters.
	alignas(std::atomic_ref<std::uint32_t>::required_alignment) std::uint32_t deliveries_ended_ = 0;
	std::uint32_t delivery_waiters_ = 0;
	chain_state* delivering_ = nullptr;             // chains with deliveries under way
	std::atomic<std::uint32_t> fork_generation_{0}; // the process's, when the ring last checked
	std::size_t nr_deadlines_ = 0;
	std::size_t unconfirmed_ = 0;   // submissions inside async_exec()
	std::uint64_t async_epoch_ = 0; // chains given to the kernel or the pool so far
	std::size_t nr_kernel_ = 0;     // chains the kernel has (pool or cachemiss)
	std::size_t async_bound_;
	chain_state* queued_ = nullptr; // held back for a kernel pool thread
	chain_state* queued_tail_ = nullptr;

	std::mutex notifier_mutex_;
	// (with mutex_) something went in flight, or stop: made with the
	// notifier thread, before it starts; notify_work() when it exists.
	std::unique_ptr<std::condition_variable_any> work_cv_;
	std::atomic<std::condition_variable_any*> work_{nullptr};
	std::atomic<int> event_fd_{-1};
	std::atomic<bool> armed_{false};
	bool stopping_ = false;
	std::thread notifier_;
};

// The default ring's core: the main thread's in static TLS, which lives
// as long as the process (so the kernel may keep writing into a core it
// could not tear down, as into a leaked one), elsewhere on the heap.
// Saves a process's first operation a malloc().
inline ring_core* make_default_core()
{
	struct room_type {
		alignas(ring_core) unsigned char bytes[sizeof(ring_core)];
		bool asked;
	};
	static constinit thread_local room_type room{};
	if (!std::exchange(room.asked, true) && known_main_thread()) {
		auto* core = new (room.bytes) ring_core(ring_options{}, static_slots::claim());
		core->in_static_storage = true;
		return core;
	}
	// NOLINTNEXTLINE(cppcoreguidelines-owning-memory)
	return new ring_core(ring_options{}, static_slots::claim());
}

} // namespace detail

// A completion ring.  Move-only; moving does not move the ring itself.
class ring
{
public:
	static constexpr std::size_t default_slots = 256;

	explicit ring(std::size_t nr_slots = default_slots, std::uint64_t max_threads = 0)
	    : ring(ring_options{nr_slots, max_threads, inline_policy::never_block_caller})
	{
	}
	explicit ring(const ring_options& options)
	    : core_(new detail::ring_core(options)) // NOLINT(cppcoreguidelines-owning-memory)
	{
	}
	// (The per-thread default ring: default options, static slots if free.)
	explicit ring(detail::default_ring_tag /*unused*/) : core_(detail::make_default_core())
	{
		static_assert(default_slots == detail::static_slots::count);
	}

	// Submits @c.  It either completes right away ("cached": c.result() is
	// available when submit() returns, but its callback runs only at the
	// next reap) or goes asynchronous and finishes when a later
	// reap()/wait() reaps it.  An error means the chain did not run.
	// With every slot taken, waits for a chain to finish (its completion
	// is queued for the next reap: no callback runs in here).
	[[nodiscard]] result<void> submit(chain& c) { return core().submit(c.state()); }

	// Delivers what is available now; never blocks.  Returns how many
	// chains finished.
	std::size_t reap() { return core().reap(); }

	// Reaps until at least @min_completions chains finished or nothing is
	// in flight; returns how many finished.  ETIMEDOUT if @timeout
	// passed first (what finished meanwhile has been delivered).
	[[nodiscard]] result<std::size_t> wait(std::size_t min_completions = 1,
					       std::optional<std::chrono::nanoseconds> timeout = std::nullopt)
	{
		return core().wait(min_completions, timeout);
	}

	// Waits until nothing is in flight on this ring and every completion
	// has been delivered.
	[[nodiscard]] result<std::size_t> drain() { return core().drain(); }

	// Cancels @c (see detail::ring_core::cancel and README "Cancellation").
	[[nodiscard]] result<void> cancel(chain& c)
	{
		if (c.state().owner() != core_.get())
			return errno_code(ENOENT);
		return core().cancel(c.state(), ECANCELED);
	}

	// Sets the ring up in the kernel now instead of on first use.
	[[nodiscard]] result<void> register_now() { return core().register_now(); }

	// A file descriptor (eventfd) that polls readable while reap() has
	// something to deliver: for epoll, poll, Asio, libuv, Qt...  Call
	// reap() when it is readable (reap() resets it).  The ring owns it.
	[[nodiscard]] result<int> completion_fd() { return core().completion_fd(); }

	// The earliest per-chain timeout deadline in flight, if any: a loop
	// driven by completion_fd() calls reap() by then at the latest.
	std::optional<std::chrono::steady_clock::time_point> next_deadline()
	{
		return core().next_deadline();
	}

	std::size_t in_flight() const { return core().in_flight(); }
	// Chains done whose completion reap() has not delivered yet.
	std::size_t pending_delivery() const { return core().pending_delivery(); }
	std::size_t capacity() const { return core().capacity(); }
	abi::head& head() { return core().head(); }

private:
	detail::ring_core& core() const
	{
		if (!core_)
			detail::contract_violation("syslet::ring: used after move");
		return *core_;
	}

	// Frees a ring_core only once the kernel is done with it.
	struct core_deleter {
		void operator()(detail::ring_core* core) const noexcept
		{
			if (!core->shut_down())
				return; // leaked on purpose: the kernel may still write into it
			if (core->in_static_storage)
				core->~ring_core(); // (its storage is never freed)
			else
				delete core; // NOLINT(cppcoreguidelines-owning-memory)
		}
	};

	std::unique_ptr<detail::ring_core, core_deleter> core_;
};

} // namespace syslet
