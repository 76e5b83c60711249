// libsyslet-aio.so: POSIX AIO (glibc's struct aiocb ABI) implemented on
// syslets, for LD_PRELOAD under unmodified binaries.
//
// Model:
//  - a read, or a write without O_APPEND, of a regular file or a block
//    device is independent: POSIX orders nothing between such requests
//    (pread/pwrite carry their own offset), so it starts at once, in the
//    caller, as a syslet chain of its own: up to the program's queue
//    depth run concurrently.  If it does not block it completes right
//    there ("cached"); if it blocks, the kernel continues it and posts it
//    to the shim's completion ring;
//  - every other request (anything on a pipe, socket, tty, ...; appending
//    writes, which land in submission order; aio_fsync()) waits in a
//    per-fd queue and runs one at a time, in submission order, as glibc
//    does: the one that finds its fd idle starts in the caller as a
//    syslet chain, those queued behind it on a small pool of helper
//    threads with plain system calls (those on regular files and block
//    devices by lio_listio(LIO_WAIT)'s caller, as syslet chains, since it
//    waits anyway); the helpers go away after a second without work.  An
//    aio_fsync() also waits for the independent writes of its fd that were
//    submitted before it (POSIX: it applies to all I/O queued at the time);
//  - aio_cancel() cancels a queued request (ECANCELED) and stops a running
//    syslet chain through the kernel (async_cancel()), waiting up to a
//    second for its completion to say whether it stopped (AIO_CANCELED) or
//    finished first (AIO_ALLDONE); a running request it cannot stop (a
//    plain call on a helper, a call that does not wake up) is
//    AIO_NOTCANCELED;
//  - completions: one thread at a time holds the ring and reaps it.  A
//    waiter (aio_suspend(), lio_listio(LIO_WAIT), aio_cancel()) whose
//    requests all complete through the ring waits in async_wait() and
//    reaps it itself (one wake-up per batch); aio_error() takes what the
//    ring holds when it can do so without waiting for a lock; the reaper
//    thread only reaps when a completion must be noticed while nobody
//    waits on the ring (a notification to make, a waiter for a mix of
//    syslets and helper-run requests, a completion aio_error() could not
//    take), and starts only when such a completion may come (a
//    notification, an ordered request, independent writes sharing an fd
//    with waiting requests, many requests alive) or when more than 4
//    chains are asynchronous at once: a program of independent requests
//    without notifications at a low queue depth (fio at depth 1) stays
//    single-threaded, so that the kernel runs its chains in the caller
//    and hands off only those that block; at a higher depth the kernel's
//    pool threads run the main thread's chains.  Requests and
//    the shim's bookkeeping are recycled: no heap allocation per request
//    in steady state;
//  - without kernel syslets (or when the kernel refuses a chain) requests
//    on regular files and block devices run in the caller, and requests on
//    anything that can block (pipes, sockets, ttys, ...) run in the pool:
//    the caller never blocks.  With them, the one case where a request
//    blocks its caller is a hand-off the kernel refuses and completes
//    synchronously instead (a ptraced caller, a pool at its limit): the
//    shim cannot see that coming.
// Helper threads block every signal, so SIGEV_SIGNAL notifications and the
// application's signals go to application threads.
// Notification: SIGEV_NONE, SIGEV_SIGNAL (SI_ASYNCIO, sigev_value) and
// SIGEV_THREAD (a detached thread per notification, as glibc does).
//
// The shim builds its atoms and reads its ring itself: it uses only
// syslet::abi, syslet::sys::kernel_has_syslets() and syslet::backend.
#include <syslet.hpp>

#include <aio.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <new>
#include <set>
#include <unordered_map>
#include <vector>

#define SYSLET_AIO_EXPORT extern "C" __attribute__((visibility("default")))

static_assert(sizeof(aiocb) == sizeof(aiocb64), "aiocb and aiocb64 share one layout on x86-64");

namespace
{

// glibc's limit for aio_reqprio (sysconf(_SC_AIO_PRIO_DELTA_MAX)).
constexpr int max_reqprio = 20;
// Helper threads at most; glibc's default is 20.
constexpr int max_workers = 20;
// A fallback-mode helper that had nothing to do for this long exits.
constexpr auto worker_idle_time = std::chrono::seconds(1);

// ------------------------------------------------------------ notification

struct thread_notification {
	void (*function)(sigval);
	sigval value;
};

void* run_thread_notification(void* argument)
{
	const std::unique_ptr<thread_notification> notification(static_cast<thread_notification*>(argument));
	// Started from a helper thread, which blocks every signal: the
	// notification runs with none blocked, as glibc's does.
	sigset_t none{};
	::sigemptyset(&none);
	::pthread_sigmask(SIG_SETMASK, &none, nullptr);
	notification->function(notification->value);
	return nullptr;
}

void notify(const sigevent& event)
{
	if (event.sigev_notify == SIGEV_SIGNAL) {
		siginfo_t info{};
		info.si_signo = event.sigev_signo;
		info.si_code = SI_ASYNCIO;
		info.si_pid = ::getpid();
		info.si_uid = ::getuid();
		info.si_value = event.sigev_value;
		::syscall(SYS_rt_sigqueueinfo, ::getpid(), event.sigev_signo, &info);
	} else if (event.sigev_notify == SIGEV_THREAD && event.sigev_notify_function != nullptr) {
		auto* notification = new (std::nothrow)
			thread_notification{event.sigev_notify_function, event.sigev_value};
		if (notification == nullptr)
			return;
		pthread_t thread{};
		if (::pthread_create(&thread, event.sigev_notify_attributes, run_thread_notification,
				     notification) == 0)
			::pthread_detach(thread);
		else
			delete notification;
	}
}

// Starts a detached thread with every signal blocked (it inherits the
// mask, so no signal can reach it even before it runs).  False on failure.
template <class Body>
bool start_helper_thread(Body body)
{
	auto* owned = new (std::nothrow) Body(std::move(body));
	if (owned == nullptr)
		return false;
	sigset_t all{}, previous{};
	::sigfillset(&all);
	::pthread_sigmask(SIG_SETMASK, &all, &previous);
	pthread_t thread{};
	const int error = ::pthread_create(
		&thread, nullptr,
		[](void* argument) -> void* {
			const std::unique_ptr<Body> run(static_cast<Body*>(argument));
			(*run)();
			return nullptr;
		},
		owned);
	::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
	if (error != 0) {
		delete owned;
		return false;
	}
	::pthread_detach(thread);
	return true;
}

// A lio_listio(LIO_NOWAIT) list whose own notification fires when its last
// request completes.
struct list_notification {
	std::atomic<int> remaining{1}; // the submitter's reference, dropped after the loop
	sigevent event{};

	void release()
	{
		if (remaining.fetch_sub(1, std::memory_order_acq_rel) == 1)
			notify(event);
	}
};

// --------------------------------------------------------------- requests

enum class operation { read, write, sync, data_sync, invalid };

// One submitted aiocb.  The chain: atom 0 preads (pwrites) at the offset.
// If that fails, atom 1 asks whether the file can seek at all; if it can,
// the chain ends there with atom 0's error, if not (ESPIPE), atom 2 reads
// (writes) at the current position, as glibc does for pipes and sockets.
// A sync is atom 0 alone.  Requests are recycled (aio_engine::spare_), so
// a steady stream of them allocates nothing.
struct request {
	aiocb* cb = nullptr;
	int fd = -1;
	operation op = operation::invalid;
	sigevent event{};
	std::shared_ptr<list_notification> list;
	// Runs as soon as it is submitted, concurrently with the fd's other
	// requests (a read or a non-appending write of a regular file or a
	// block device); otherwise it waits its turn in the fd's queue.
	bool independent = false;
	// An independent write: its number among the fd's writes.  A sync:
	// the writes numbered below it complete before it starts.
	std::uint64_t sequence = 0;

	std::atomic<bool> in_kernel{false};  // its chain is (or is about to be) a syslet in flight
	std::atomic<bool> stop_asked{false}; // async_cancel() accepted for it
	std::array<syslet::abi::atom, 3> atoms{};
	std::array<std::int64_t, 3> results{};
	std::array<std::uint64_t, 4> transfer_args{}; // fd, buffer, size, offset
	std::array<std::uint64_t, 3> seek_args{};     // fd, 0, SEEK_CUR

	[[nodiscard]] bool notifies() const { return event.sigev_notify != SIGEV_NONE || list != nullptr; }

	// Makes a recycled request a fresh one for @new_cb.
	void reset(aiocb* new_cb, operation new_op, std::shared_ptr<list_notification> new_list)
	{
		cb = new_cb;
		fd = new_cb->aio_fildes;
		op = new_op;
		event = new_cb->aio_sigevent;
		list = std::move(new_list);
		independent = false;
		sequence = 0;
		in_kernel.store(false, std::memory_order_relaxed);
		stop_asked.store(false, std::memory_order_relaxed);
		atoms = {};
		results = {};
		build();
	}

	void build()
	{
		using syslet::abi::address_of;
		constexpr std::uint64_t on_failure = SYSLET_STOP_ON_NEGATIVE | SYSLET_SKIP_TO_NEXT_ON_STOP;
		const auto set_args = [](syslet::abi::atom& atom, auto& args, std::size_t count) {
			for (std::size_t i = 0; i < count; ++i)
				atom.arg_ptr[i] = address_of(&args[i]);
		};
		for (std::size_t i = 0; i < atoms.size(); ++i) {
			atoms[i].ret_ptr = address_of(&results[i]);
			syslet::abi::user_data(atoms[i]) = address_of(this);
		}
		transfer_args = {static_cast<std::uint64_t>(fd), address_of(const_cast<void*>(cb->aio_buf)),
				 cb->aio_nbytes, static_cast<std::uint64_t>(cb->aio_offset)};
		if (op == operation::invalid)
			return; // never runs: completes with EINVAL
		if (op == operation::sync || op == operation::data_sync) {
			atoms[0].nr = op == operation::sync ? SYS_fsync : SYS_fdatasync;
			set_args(atoms[0], transfer_args, 1);
			return;
		}
		const bool reading = op == operation::read;
		atoms[0].nr = reading ? SYS_pread64 : SYS_pwrite64;
		atoms[0].flags = on_failure;
		set_args(atoms[0], transfer_args, 4);
		seek_args = {static_cast<std::uint64_t>(fd), 0, SEEK_CUR};
		atoms[1].nr = SYS_lseek;
		atoms[1].flags = on_failure;
		set_args(atoms[1], seek_args, 3);
		atoms[2].nr = reading ? SYS_read : SYS_write;
		set_args(atoms[2], transfer_args, 3);
	}

	// The request's outcome (bytes or -errno) once the chain ended on
	// @final_atom: a transfer that ended on its seek test failed with the
	// pread/pwrite's own error.
	[[nodiscard]] std::int64_t outcome(std::size_t final_atom) const
	{
		return final_atom == 2 ? results[2] : results[0];
	}

	// The same chain with plain system calls.
	[[nodiscard]] std::int64_t run_here() const
	{
		const auto call = [](auto&& function) -> std::int64_t {
			for (;;) {
				const auto value = static_cast<std::int64_t>(function());
				if (value >= 0)
					return value;
				if (errno != EINTR)
					return -errno;
			}
		};
		void* buffer = const_cast<void*>(cb->aio_buf);
		const std::size_t size = cb->aio_nbytes;
		const off_t offset = cb->aio_offset;
		switch (op) {
		case operation::sync:
			return call([&] { return ::fsync(fd); });
		case operation::data_sync:
			return call([&] { return ::fdatasync(fd); });
		case operation::invalid:
			return -EINVAL;
		case operation::read:
		case operation::write:
			break;
		}
		const bool reading = op == operation::read;
		const std::int64_t positioned = call([&] {
			return reading ? ::pread(fd, buffer, size, offset)
				       : ::pwrite(fd, buffer, size, offset);
		});
		if (positioned >= 0 || ::lseek(fd, 0, SEEK_CUR) >= 0)
			return positioned;
		return call([&] { return reading ? ::read(fd, buffer, size) : ::write(fd, buffer, size); });
	}
};

// One file descriptor's requests that are ordered: those that wait in its
// queue (cancellable) and the one running (in the kernel, on a helper
// thread or in a caller); and its independent writes in flight, which a
// sync queued after them waits for.
struct fd_queue {
	explicit fd_queue(std::pmr::memory_resource* memory) : waiting(memory), writes(memory) {}

	std::pmr::deque<request*> waiting;
	request* running = nullptr;
	bool serviced = false;               // a helper (or a lio_listio(LIO_WAIT) caller) runs this queue
	std::pmr::set<std::uint64_t> writes; // independent writes in flight, by number
	std::uint64_t next_write = 0;

	[[nodiscard]] bool idle() const
	{
		return waiting.empty() && running == nullptr && !serviced && writes.empty();
	}

	// The head of the queue may start (nothing running): a sync only once
	// the independent writes submitted before it completed.
	[[nodiscard]] bool head_ready() const
	{
		if (waiting.empty() || running != nullptr)
			return false;
		const request* head = waiting.front();
		if (head->op != operation::sync && head->op != operation::data_sync)
			return true;
		return writes.empty() || *writes.begin() >= head->sequence;
	}
};

std::atomic_ref<int> error_code_of(aiocb* cb)
{
	return std::atomic_ref<int>(cb->__error_code);
}

int error_of(const aiocb* cb)
{
	return error_code_of(const_cast<aiocb*>(cb)).load(std::memory_order_acquire);
}

long futex(std::atomic<std::uint32_t>& word, int command, std::uint32_t value, const timespec* timeout)
{
	static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
	return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), command, value, timeout, nullptr,
			 0);
}

// How a waiter can learn that the requests it waits for completed.
enum class wait_kind {
	ring,     // all of them are syslets in flight: their completions come through the ring
	mixed,    // some are, the others complete on helper threads or in callers
	off_ring, // none is
};

// What finish_locked() leaves for after the lock: the notification.
struct finished_request {
	sigevent event{};
	std::shared_ptr<list_notification> list;
};

// ------------------------------------------------------------------ engine

class aio_engine
{
public:
	static aio_engine& instance()
	{
		static std::once_flag created;
		std::call_once(created, [] {
			current_.store(new aio_engine, std::memory_order_release); // never destroyed
			::pthread_atfork(nullptr, nullptr, start_afresh_in_child);
		});
		return *current_.load(std::memory_order_acquire);
	}

	// The engine if one was made (no allocation, no lock: aio_error()).
	static aio_engine* existing() { return current_.load(std::memory_order_acquire); }

	// Registers one request: false with errno (and, for a bad priority,
	// the aiocb's error status set, as glibc does).  The caller then
	// starts it: @to_start, an independent request, with start(); an
	// ordered one (@to_start nullptr) through its fd's queue, with kick()
	// or run_queue().  (An ordered request may run and be gone as soon as
	// the lock is dropped: only an independent one is handed back.)
	[[nodiscard]] bool enqueue(aiocb* cb, operation op, std::shared_ptr<list_notification> list,
				   request*& to_start)
	{
		to_start = nullptr;
		if (cb->aio_reqprio < 0 || cb->aio_reqprio > max_reqprio) {
			cb->__return_value = -1;
			error_code_of(cb).store(EINVAL, std::memory_order_release);
			errno = EINVAL;
			return false;
		}
		const bool independent = (op == operation::read || op == operation::write) &&
					 runs_independently(cb->aio_fildes, op);
		request* r = nullptr;
		bool many = false, shared = false;
		{
			const std::lock_guard lock(mutex_);
			try {
				if (requests_.contains(cb)) { // the aiocb is still in use
					errno = EINVAL;
					return false;
				}
				std::unique_ptr<request> owned;
				if (!spare_.empty()) {
					owned = std::move(spare_.back());
					spare_.pop_back();
				} else {
					owned.reset(new request);
				}
				r = owned.get();
				r->reset(cb, op, std::move(list));
				r->independent = independent;
				const auto [slot, added] = requests_.try_emplace(cb, std::move(owned));
				try {
					if (!independent || op == operation::write)
						shared = queue_locked(r);
				} catch (...) {
					recycle_locked(std::move(slot->second));
					requests_.erase(slot);
					throw;
				}
				(void)added;
			} catch (const std::bad_alloc&) {
				errno = EAGAIN;
				return false;
			}
			if (r->notifies())
				notifying_.fetch_add(1, std::memory_order_seq_cst);
			many = requests_.size() > spare_requests / 2;
			cb->__return_value = 0;
			error_code_of(cb).store(EINPROGRESS, std::memory_order_release);
		}
		// More requests alive than spares kept: aio_error() may meet a
		// completion it cannot recycle without freeing memory.
		if ((many || shared) && kernel_)
			start_reaper();
		if (independent)
			to_start = r;
		return true;
	}

	// Starts the independent request @r (from enqueue()) in the calling
	// thread, as a syslet chain (or a plain call without the kernel's
	// syslets: it does not block for long).  @r may be gone when this
	// returns.
	void start(request* r)
	{
		if (kernel_)
			run_as_chain(r);
		else
			finish(r, r->run_here());
	}

	// Runs @r as a syslet chain from the calling thread, under a
	// submission guard, and finishes it unless it went asynchronous.
	// A chain that a signal for this thread ended with EINTR, or that
	// the kernel refused, runs again with plain calls (run_here()
	// retries EINTR).  @r may be gone when this returns.
	void run_as_chain(request* r)
	{
		const submission guard(*this);
		const long returned = exec_in_kernel(r);
		if (returned == 0)
			return;
		if (returned > 0) {
			const std::int64_t value = outcome_at(*r, static_cast<std::uint64_t>(returned));
			if (value != -EINTR) {
				finish(r, value);
				return;
			}
		}
		finish(r, r->run_here());
	}

	// Starts the first waiting request of @fd in the calling thread if
	// nothing runs on @fd; whatever waits behind it goes to the helpers.
	void kick(int fd)
	{
		request* r = nullptr;
		{
			const std::lock_guard lock(mutex_);
			auto found = queues_.find(fd);
			if (found == queues_.end())
				return;
			fd_queue& queue = found->second;
			if (queue.serviced || !queue.head_ready())
				return;
			r = queue.waiting.front();
			queue.waiting.pop_front();
			queue.running = r;
		}
		start_in_caller(r);
	}

	// Runs @fd's queue in the calling thread until it is empty or its
	// head went asynchronous (lio_listio(LIO_WAIT), which waits anyway).
	void run_queue(int fd)
	{
		// A request on a pipe or socket may wait for another one of the
		// same list: those go to a helper.  (A syslet would not block
		// here either, unless the kernel refuses the hand-off, as it
		// does for a ptraced caller.)
		const bool here = !can_block(fd);
		{
			const std::lock_guard lock(mutex_);
			auto found = queues_.find(fd);
			if (found == queues_.end() || found->second.serviced || !found->second.head_ready())
				return;
			found->second.serviced = true;
			if (!here) {
				post_locked(fd);
				return;
			}
		}
		service(fd, false);
	}

	// Waits until @done() or a completion; false with errno EINTR (signal)
	// or EAGAIN (@deadline passed).  @kind() (mutex_ held) says how the
	// requests waited for complete: when they all complete through the
	// ring, the waiter reaps the ring itself (async_wait(), one wake-up
	// per batch of completions); otherwise it sleeps on completions_,
	// woken by whoever finishes a request.
	template <class Done, class Kind>
	bool wait_until(Done done, Kind kind, const std::chrono::steady_clock::time_point* deadline)
	{
		for (;;) {
			const std::uint32_t seen = completions_.load(std::memory_order_seq_cst);
			if (done())
				return true;
			// A thread that could not be started (out of threads or
			// memory) is tried again while someone waits, every 50 ms.
			const bool starved = !start_missing_threads();
			constexpr auto retry = std::chrono::milliseconds(50);
			auto left = std::chrono::steady_clock::duration(retry);
			if (deadline != nullptr) {
				left = *deadline - std::chrono::steady_clock::now();
				if (left <= std::chrono::steady_clock::duration::zero()) {
					errno = EAGAIN;
					return false;
				}
				if (starved)
					left = std::min<std::chrono::steady_clock::duration>(left, retry);
			}
			const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
			const bool limited = deadline != nullptr || starved;
			wait_kind how = wait_kind::off_ring;
			if (kernel_) {
				const std::lock_guard lock(mutex_);
				how = kind();
			}
			if (how == wait_kind::ring) {
				// Reap the ring here, if no other thread does and no
				// submission is under way (a chain that completes at
				// once in its submitter is never posted).
				const int reaped = reap_as_waiter(done, limited ? ns : -1);
				if (reaped < 0)
					return false; // errno EINTR
				if (reaped > 0)
					continue;
			}
			timespec remaining{static_cast<time_t>(ns / 1000000000),
					   static_cast<long>(ns % 1000000000)};
			waiters_.fetch_add(1, std::memory_order_seq_cst);
			std::atomic<std::uint32_t>* extra = nullptr;
			if (how == wait_kind::ring)
				extra = &token_waiters_;
			else if (how == wait_kind::mixed)
				extra = &mixed_waiters_;
			if (extra != nullptr)
				extra->fetch_add(1, std::memory_order_seq_cst);
			// Whoever holds the ring now wakes this thread when it lets
			// go of it; a mixed list needs the reaper.
			if (how == wait_kind::mixed)
				start_reaper();
			long waited = 0;
			if (how != wait_kind::ring || ring_owner_.load(std::memory_order_seq_cst) ||
			    submitting_.load(std::memory_order_seq_cst) != 0)
				waited = futex(completions_, FUTEX_WAIT_PRIVATE, seen,
					       limited ? &remaining : nullptr);
			const int why = errno;
			if (extra != nullptr)
				extra->fetch_sub(1, std::memory_order_relaxed);
			waiters_.fetch_sub(1, std::memory_order_relaxed);
			if (waited < 0 && why == EINTR) {
				errno = EINTR;
				return false;
			}
		}
	}

	// What the requests on @list that are still in progress wait for
	// (mutex_ held).
	wait_kind kind_of_locked(const aiocb* const list[], int count)
	{
		bool ring = false, other = false;
		for (int i = 0; i < count; ++i) {
			const aiocb* cb = list[i];
			if (cb == nullptr || error_of(cb) != EINPROGRESS)
				continue;
			auto found = requests_.find(const_cast<aiocb*>(cb));
			if (found == requests_.end())
				continue;
			if (found->second->in_kernel.load(std::memory_order_acquire))
				ring = true;
			else
				other = true;
		}
		return other ? (ring ? wait_kind::mixed : wait_kind::off_ring) : wait_kind::ring;
	}

	// aio_suspend(): 0, or -1 with EAGAIN, EINTR or EINVAL.
	int suspend(const aiocb* const list[], int count, const timespec* timeout)
	{
		if (count < 0) {
			errno = EINVAL;
			return -1;
		}
		if (timeout != nullptr &&
		    (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000)) {
			errno = EINVAL;
			return -1;
		}
		// As glibc: returns at once if any entry completed, or claims to
		// be in progress without being a request of ours (it never will
		// complete), or if there is no entry to wait for.
		const auto nothing_to_wait_for = [&] {
			const std::lock_guard lock(mutex_);
			bool pending = false;
			for (int i = 0; i < count; ++i) {
				const aiocb* cb = list[i];
				if (cb == nullptr)
					continue;
				if (error_of(cb) != EINPROGRESS ||
				    !requests_.contains(const_cast<aiocb*>(cb)))
					return true;
				pending = true;
			}
			return !pending;
		};
		std::chrono::steady_clock::time_point deadline{};
		if (timeout != nullptr) {
			const auto seconds = std::min<time_t>(timeout->tv_sec, time_t{1} << 32);
			deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds) +
				   std::chrono::nanoseconds(timeout->tv_nsec);
		}
		const auto kind = [&] { return kind_of_locked(list, count); };
		return wait_until(nothing_to_wait_for, kind, timeout != nullptr ? &deadline : nullptr) ? 0
												       : -1;
	}

	// aio_cancel() once @fd is known to be open.
	int cancel(int fd, aiocb* cb)
	{
		std::vector<finished_request> cancelled;
		std::vector<const aiocb*> stopping; // running, asked to stop in the kernel
		int result = AIO_ALLDONE;
		try {
			const std::lock_guard lock(mutex_);
			auto queue = queues_.find(fd);
			const auto take = [&](request* r) {
				cancelled.push_back(finish_locked(r, -ECANCELED));
			};
			// A running request: stopped through the kernel if it is a
			// syslet in flight, else AIO_NOTCANCELED.
			const auto stop = [&](request* r) {
				if (cancel_in_kernel(r))
					stopping.push_back(r->cb);
				else
					result = AIO_NOTCANCELED;
			};
			if (cb != nullptr) {
				if (error_of(cb) != EINPROGRESS)
					return AIO_ALLDONE;
				auto found = requests_.find(cb);
				if (found == requests_.end() || found->second->fd != fd) {
					errno = EINVAL; // not a request of ours on @fd
					return -1;
				}
				request* r = found->second.get();
				const bool waiting = !r->independent && queue != queues_.end() &&
						     queue->second.running != r;
				if (!waiting) {
					stop(r);
				} else {
					auto& list = queue->second.waiting;
					list.erase(std::find(list.begin(), list.end(), r));
					cancelled.reserve(1);
					take(r);
					result = AIO_CANCELED;
				}
			} else {
				stopping.reserve(requests_.size());
				for (auto& [key, owned] : requests_)
					if (owned->fd == fd &&
					    (owned->independent || (queue != queues_.end() &&
								    queue->second.running == owned.get())))
						stop(owned.get());
				if (queue != queues_.end()) {
					std::pmr::deque<request*> waiting(&pool_);
					waiting.swap(queue->second.waiting);
					cancelled.reserve(waiting.size());
					for (request* r : waiting)
						take(r);
					if (!waiting.empty() && result == AIO_ALLDONE)
						result = AIO_CANCELED;
				}
			}
			queue = queues_.find(fd);
			if (queue != queues_.end() && queue->second.idle())
				queues_.erase(queue);
		} catch (const std::bad_alloc&) {
			errno = EAGAIN;
			return -1;
		}
		if (!cancelled.empty())
			wake_waiters();
		for (auto& done : cancelled)
			notify_done(done);
		if (stopping.empty())
			return result;
		// Their completions come through the ring; an interrupted call
		// ends at once, one that sleeps uninterruptibly when its I/O does.
		const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
		const int saved = errno;
		const auto all_done = [&] {
			return std::all_of(stopping.begin(), stopping.end(),
					   [](const aiocb* s) { return error_of(s) != EINPROGRESS; });
		};
		const auto kind = [&] {
			return kind_of_locked(stopping.data(), static_cast<int>(stopping.size()));
		};
		wait_until(all_done, kind, &deadline);
		errno = saved;
		bool stopped = false;
		for (const aiocb* s : stopping) {
			const int status = error_of(s);
			if (status == EINPROGRESS)
				return AIO_NOTCANCELED;
			stopped = stopped || status == ECANCELED;
		}
		if (result == AIO_NOTCANCELED)
			return result;
		return stopped ? AIO_CANCELED : result;
	}

	// aio_error() of a request in progress: takes what the ring holds if
	// that can be done at once, or leaves it to the reaper.  May run in a
	// signal handler (aio_error() is async-signal-safe): it only tries
	// locks, finishes only requests that need no notification and start
	// no other request, and makes no thread.
	void reap_now()
	{
		if (!kernel_ || !ring_posted())
			return;
		if (!try_own_ring())
			return; // its holder reaps it
		bool left = false;
		{
			const std::unique_lock lock(mutex_, std::try_to_lock);
			if (lock.owns_lock())
				left = !consume_ring_plain_locked();
			else
				left = true;
		}
		if (left)
			reaper_kicked_.store(true, std::memory_order_seq_cst);
		release_ring();
	}

private:
	static constexpr std::size_t ring_slots = 1024;
	static constexpr std::size_t spare_requests = 1024;
	// Chains asynchronous at once beyond which the reaper starts, so that
	// the kernel runs the main thread's chains on pool threads instead of
	// handing them off one by one (exec_in_kernel()).  For measurements,
	// SYSLET_AIO_HANDOFF_DEPTH=N in the environment sets it (N >= 0).
	static constexpr long async_single_threaded = 4;

	static long handoff_depth_from_environment()
	{
		const char* value = std::getenv("SYSLET_AIO_HANDOFF_DEPTH"); // NOLINT(concurrency-mt-unsafe)
		if (value == nullptr || *value == '\0')
			return async_single_threaded;
		char* end = nullptr;
		const long depth = std::strtol(value, &end, 10);
		return *end == '\0' && depth >= 0 ? depth : async_single_threaded;
	}

	// A child of fork() has none of the parent's helper threads, and its
	// locks may be held by threads that do not exist there: it gets an
	// engine of its own (the parent's is left alone, as its requests are:
	// aio_suspend() does not wait for them, aio_cancel() does not know
	// them).
	static void start_afresh_in_child()
	{
		auto* fresh = new (std::nothrow) aio_engine;
		if (fresh == nullptr)
			std::abort(); // out of memory in a fresh child: no AIO to offer
		current_.store(fresh, std::memory_order_release);
	}

	static inline std::atomic<aio_engine*> current_{nullptr};

	aio_engine() : kernel_(syslet::sys::kernel_has_syslets())
	{
		head_.completion_ring = syslet::abi::address_of(slots_.data());
		head_.ring_size_bytes = sizeof(slots_);
		spare_.reserve(spare_requests);
		// POSIX AIO promises that no request blocks the caller, the first
		// one included: set the ring up now, with a spare thread (a ring
		// set up lazily lets a process' first block complete in the
		// caller).
		if (kernel_)
			(void)syslet::backend::async_register(&head_, sizeof(head_));
	}

	static bool can_block(int fd)
	{
		struct stat status {
		};
		if (::fstat(fd, &status) != 0)
			return false; // fails at once
		return !S_ISREG(status.st_mode) && !S_ISBLK(status.st_mode);
	}

	// A read or write of @fd that POSIX does not order against the fd's
	// other requests: on a regular file or block device (pread/pwrite
	// carry their own offset, and nothing there waits for another
	// request), except appending writes, which land in submission order.
	// A bad fd fails at once, independently.
	static bool runs_independently(int fd, operation op)
	{
		if (can_block(fd))
			return false;
		if (op != operation::write)
			return true;
		const int flags = ::fcntl(fd, F_GETFL);
		return flags < 0 || (flags & O_APPEND) == 0;
	}

	// Puts @r in its fd's queue (mutex_ held): an independent write is
	// numbered, anything else waits in line; a sync waits for the writes
	// submitted before it.  True if independent writes and waiting
	// requests now share the fd: then the completion of such a write may
	// have to start the queue's head, which aio_error() cannot do in a
	// signal-safe way, and the reaper must be there.
	bool queue_locked(request* r)
	{
		fd_queue& queue = queues_.try_emplace(r->fd, &pool_).first->second;
		if (r->independent) {
			r->sequence = queue.next_write++;
			queue.writes.insert(r->sequence);
			return !queue.waiting.empty();
		}
		if (r->op == operation::sync || r->op == operation::data_sync)
			r->sequence = queue.next_write;
		queue.waiting.push_back(r);
		return !queue.writes.empty();
	}

	// The decrement of submitting_ once a submission is over (its request
	// finished, or in flight as a syslet, or handed over): a waiter that
	// would reap the ring but saw a submission under way looks again.
	struct submission {
		explicit submission(aio_engine& engine) : engine_(engine)
		{
			engine_.submitting_.fetch_add(1, std::memory_order_seq_cst);
		}
		~submission()
		{
			engine_.submitting_.fetch_sub(1, std::memory_order_seq_cst);
			if (engine_.token_waiters_.load(std::memory_order_seq_cst) != 0)
				engine_.wake_waiters();
			engine_.kick_reaper();
		}
		submission(const submission&) = delete;
		submission& operator=(const submission&) = delete;

	private:
		aio_engine& engine_;
	};

	// Starts @r (already marked running) in an application thread.
	void start_in_caller(request* r)
	{
		if (r->op == operation::invalid) {
			finish(r, -EINVAL);
			return;
		}
		if (kernel_) {
			const submission guard(*this);
			const long returned = exec_in_kernel(r);
			if (returned > 0) {
				const std::int64_t value =
					outcome_at(*r, static_cast<std::uint64_t>(returned));
				// A signal for this thread ended the call: run it again,
				// on a helper, where no signal is taken.
				if (value != -EINTR) {
					finish(r, value);
					return;
				}
			} else if (returned == 0) {
				return;
			}
			// The kernel refused the chain (or a signal came between
			// atoms): a helper runs it.
		} else if (!can_block(r->fd)) {
			finish(r, r->run_here());
			return;
		}
		const std::lock_guard lock(mutex_);
		fd_queue& queue = queues_.find(r->fd)->second;
		queue.running = nullptr;
		queue.waiting.push_front(r);
		if (!queue.serviced) {
			queue.serviced = true;
			post_locked(r->fd);
		}
	}

	// Runs @r (already marked running) for service(): on a helper thread
	// with plain system calls (a helper may block: that is what it is
	// for, and a syslet hand-off would only add a thread switch), in a
	// lio_listio(LIO_WAIT) caller as a syslet chain (a blocked read must
	// not hold up the other requests of the list).
	void start_for_queue(request* r, bool on_helper)
	{
		if (!on_helper && kernel_ && r->op != operation::invalid)
			run_as_chain(r);
		else
			finish(r, r->run_here());
	}

	// async_exec() of @r's chain on the shim's ring, under a submission
	// guard.  When it went asynchronous (0), @r may already be finished
	// and recycled: it is not touched again.
	long exec_in_kernel(request* r)
	{
		// Only these can need the reaper once in flight: a notification
		// to make, or a completion that aio_error() cannot take in a
		// signal-safe way.  Otherwise the reaper starts only when more
		// than async_single_threaded chains are asynchronous at once.
		// While the process has one thread its chains run in the main
		// thread and only one that blocks is handed off; once another
		// thread exists, the kernel sends every chain of the main
		// thread to a pool thread instead, blocking or not.  Measured
		// with fio (4 KiB random reads, perf kernel with the hand-off's
		// completion no longer a grace period late, kernel ab04600, one
		// boot per comparison, medians of 4-6 runs): at depth 1 the
		// hand-off is the faster (O_DIRECT ~900 against ~520 IOPS, cold
		// buffered ~1,000 against ~560), at depth 16 the pool (O_DIRECT
		// ~2,400 against ~1,600, and hand-offs alone once fell to 23
		// IOPS for a whole run).  The reaper, once started, stays.
		const bool needs_reaper = r->notifies() || !r->independent;
		r->in_kernel.store(true, std::memory_order_seq_cst);
		const long returned = syslet::backend::async_exec(r->atoms.data(), &head_, sizeof(head_));
		if (returned == 0) {
			const long pending = ring_pending_.fetch_add(1, std::memory_order_seq_cst) + 1;
			if (needs_reaper || pending > handoff_depth_)
				start_reaper();
		} else {
			r->in_kernel.store(false, std::memory_order_seq_cst);
		}
		return returned;
	}

	// Asks the kernel to stop @r's chain (mutex_ held, @r running).
	// True if it will complete soon, cancelled or done.
	bool cancel_in_kernel(request* r)
	{
		if (!r->in_kernel.load(std::memory_order_acquire))
			return false;
		const long cancelled = ::syscall(__NR_async_cancel, r->atoms.data(), &head_, 0);
		if (cancelled != 0 && errno != EALREADY)
			return false;
		r->stop_asked.store(true, std::memory_order_relaxed);
		return true;
	}

	static std::int64_t outcome_at(const request& r, std::uint64_t atom_address)
	{
		const auto index = static_cast<std::size_t>(
			(atom_address - syslet::abi::address_of(r.atoms.data())) / sizeof(r.atoms[0]));
		// A chain stopped between its atoms ends on a failed pread
		// or seek test that would have gone on to the next atom: the
		// request was cancelled, not failed.
		if (index < 2 && r.results[index] < 0 && r.stop_asked.load(std::memory_order_relaxed))
			return -ECANCELED;
		return r.outcome(index);
	}

	// Runs @fd's queue (its `serviced` flag is ours) until it is empty,
	// its head runs asynchronously or waits for earlier writes; gives
	// the flag back.
	void service(int fd, bool on_helper)
	{
		for (;;) {
			request* r = nullptr;
			{
				const std::lock_guard lock(mutex_);
				auto found = queues_.find(fd);
				if (found == queues_.end())
					return;
				fd_queue& queue = found->second;
				if (!queue.head_ready()) {
					queue.serviced = false;
					if (queue.idle())
						queues_.erase(found);
					return;
				}
				r = queue.waiting.front();
				queue.waiting.pop_front();
				queue.running = r;
			}
			start_for_queue(r, on_helper);
		}
	}

	// Publishes @r's outcome (mutex_ held): the aiocb is the application's
	// again, @r goes back to the spares, the fd's queue goes on.  Returns
	// the notification to make once the lock is dropped.
	finished_request finish_locked(request* r, std::int64_t value)
	{
		if (r->notifies())
			notifying_.fetch_sub(1, std::memory_order_seq_cst);
		finished_request done{r->event, std::move(r->list)};
		// An independent read has nothing to do with its fd's queue.
		auto queue = r->independent && r->op == operation::read ? queues_.end() : queues_.find(r->fd);
		if (queue != queues_.end()) {
			fd_queue& q = queue->second;
			if (r->independent && r->op == operation::write)
				q.writes.erase(r->sequence);
			else if (q.running == r)
				q.running = nullptr;
			if (!q.serviced && q.head_ready()) {
				q.serviced = true;
				post_locked(r->fd);
			} else if (q.idle()) {
				queues_.erase(queue);
			}
		}
		r->cb->__return_value = value < 0 ? -1 : value;
		error_code_of(r->cb).store(value < 0 ? static_cast<int>(-value) : 0,
					   std::memory_order_release);
		auto found = requests_.find(r->cb);
		recycle_locked(std::move(found->second));
		requests_.erase(found);
		return done;
	}

	void recycle_locked(std::unique_ptr<request> r)
	{
		if (spare_.size() < spare_.capacity())
			spare_.push_back(std::move(r));
	}

	// finish_locked() under the lock, then wakes waiters (unless the
	// caller wakes them once for a batch) and notifies.
	void finish(request* r, std::int64_t value, bool wake = true)
	{
		finished_request done;
		{
			const std::lock_guard lock(mutex_);
			done = finish_locked(r, value);
		}
		if (wake)
			wake_waiters();
		notify_done(done);
	}

	static void notify_done(finished_request& done)
	{
		notify(done.event);
		if (done.list)
			done.list->release();
		done.list.reset();
	}

	void wake_waiters()
	{
		completions_.fetch_add(1, std::memory_order_seq_cst);
		if (waiters_.load(std::memory_order_seq_cst) != 0)
			futex(completions_, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr);
	}

	// ------------------------------------------------------------ helpers

	// Hands @fd's queue to a helper thread (called with mutex_ held).
	void post_locked(int fd)
	{
		jobs_.push_back(fd);
		// Every job gets a helper of its own (one may block for good on
		// a pipe), up to max_workers; past that it waits for one.
		if (helpers_wanted_locked())
			(void)start_helper_locked();
		work_posted_.notify_one();
	}

	// More posted queues than helpers free to take them (idle, or started
	// and not looking yet), and room for another helper.
	[[nodiscard]] bool helpers_wanted_locked() const
	{
		return jobs_.size() > static_cast<std::size_t>(idle_workers_ + starting_workers_) &&
		       workers_ < max_workers;
	}

	bool start_helper_locked()
	{
		if (!start_helper_thread([this] { work(); }))
			return false;
		++workers_;
		++starting_workers_;
		return true;
	}

	void work()
	{
		std::unique_lock lock(mutex_);
		--starting_workers_;
		for (;;) {
			while (jobs_.empty()) {
				++idle_workers_;
				const bool posted = work_posted_.wait_for(lock, worker_idle_time,
									  [this] { return !jobs_.empty(); });
				--idle_workers_;
				// An idle helper goes away (it never leaves a chain in
				// the kernel behind).
				if (!posted) {
					--workers_;
					return;
				}
			}
			const int fd = jobs_.front();
			jobs_.pop_front();
			lock.unlock();
			service(fd, true);
			lock.lock();
		}
	}

	// ------------------------------------------------------------- the ring
	//
	// One thread at a time holds the ring (ring_owner_) and reaps it: a
	// waiter whose requests all complete through the ring (aio_suspend()
	// in fio, say) waits in async_wait() itself; aio_error() takes what is
	// there; the reaper thread does it only when a completion must be
	// noticed with nobody waiting on the ring (a notification to make, a
	// waiter whose list mixes syslets and other requests, an aio_error()
	// that could not reap).  Whoever lets go of the ring wakes the waiters
	// that wanted it (token_waiters_) and, if needed, the reaper.

	bool try_own_ring() { return !ring_owner_.exchange(true, std::memory_order_seq_cst); }

	void release_ring()
	{
		ring_owner_.store(false, std::memory_order_seq_cst);
		if (token_waiters_.load(std::memory_order_seq_cst) != 0)
			wake_waiters();
		kick_reaper();
	}

	[[nodiscard]] bool ring_posted()
	{
		const auto reaped = std::atomic_ref<syslet::abi::word>(head_.user_ring_idx)
					    .load(std::memory_order_relaxed);
		const auto posted = std::atomic_ref<syslet::abi::word>(head_.kernel_ring_idx)
					    .load(std::memory_order_acquire);
		return reaped != posted;
	}

	[[nodiscard]] bool reaper_wanted() const
	{
		return ring_pending_.load(std::memory_order_seq_cst) > 0 &&
		       (mixed_waiters_.load(std::memory_order_seq_cst) != 0 ||
			notifying_.load(std::memory_order_seq_cst) != 0 ||
			reaper_kicked_.load(std::memory_order_seq_cst));
	}

	// Wakes the reaper if it is wanted and nobody holds the ring (no
	// allocation, no lock: the reaper was started when the first chain
	// went asynchronous).
	void kick_reaper()
	{
		if (!reaper_wanted() || ring_owner_.load(std::memory_order_seq_cst))
			return;
		reaper_word_.fetch_add(1, std::memory_order_seq_cst);
		futex(reaper_word_, FUTEX_WAKE_PRIVATE, 1, nullptr);
	}

	// The waiter's side of wait_until(): with the ring to itself and no
	// submission under way, reaps and waits in async_wait() (at most
	// @ns nanoseconds, -1: no limit) until @done() or a completion.
	// 1: reaped or woke (look again), 0: could not hold the ring (sleep
	// on completions_), -1: interrupted (errno EINTR).
	template <class Done>
	int reap_as_waiter(Done& done, long long ns)
	{
		if (submitting_.load(std::memory_order_seq_cst) != 0 || !try_own_ring())
			return 0;
		if (submitting_.load(std::memory_order_seq_cst) != 0) {
			release_ring();
			return 0;
		}
		consume_ring();
		long waited = 0;
		if (!done()) {
			__kernel_timespec limit{ns / 1000000000, ns % 1000000000};
			waited = syslet::backend::async_wait(1, &head_, ns < 0 ? nullptr : &limit);
			consume_ring();
		}
		release_ring();
		if (waited == -EINTR) {
			errno = EINTR;
			return -1;
		}
		if (waited < 0 && waited != -EOVERFLOW)
			::usleep(1000); // not expected: do not spin
		return 1;
	}

	// Starts the reaper thread if it is not running (never from a signal
	// handler: kick_reaper() only wakes it), then wakes it if wanted.
	void start_reaper()
	{
		reaper_requested_.store(true, std::memory_order_seq_cst);
		if (!reaper_started_.load(std::memory_order_acquire)) {
			const std::lock_guard lock(reaper_mutex_);
			if (!reaper_started_.load(std::memory_order_relaxed))
				reaper_started_.store(start_helper_thread([this] { reap_forever(); }),
						      std::memory_order_release);
		}
		kick_reaper();
	}

	// Starts a helper for every posted queue without one and the reaper if
	// a chain waits for it: false if one of them could not be started.
	bool start_missing_threads()
	{
		bool all = true;
		{
			const std::lock_guard lock(mutex_);
			while (helpers_wanted_locked()) {
				if (!start_helper_locked()) {
					all = false;
					break;
				}
			}
		}
		if (reaper_requested_.load(std::memory_order_seq_cst) &&
		    !reaper_started_.load(std::memory_order_acquire)) {
			start_reaper();
			all = all && reaper_started_.load(std::memory_order_acquire);
		}
		return all;
	}

	void reap_forever()
	{
		for (;;) {
			const std::uint32_t seen = reaper_word_.load(std::memory_order_seq_cst);
			if (!reaper_wanted() || !try_own_ring()) {
				futex(reaper_word_, FUTEX_WAIT_PRIVATE, seen, nullptr);
				continue;
			}
			reaper_kicked_.store(false, std::memory_order_seq_cst);
			for (;;) {
				consume_ring();
				if (!reaper_wanted())
					break;
				const long waited = syslet::backend::async_wait(1, &head_, nullptr);
				if (waited < 0 && waited != -EINTR && waited != -EOVERFLOW)
					::usleep(1000);
			}
			release_ring();
		}
	}

	// The atom address in the ring's next posted slot, 0 if none.
	std::uint64_t peek_slot()
	{
		auto user_index = std::atomic_ref<syslet::abi::word>(head_.user_ring_idx);
		const std::uint64_t reaped = user_index.load(std::memory_order_relaxed);
		const std::uint64_t posted = std::atomic_ref<syslet::abi::word>(head_.kernel_ring_idx)
						     .load(std::memory_order_acquire);
		if (reaped == posted)
			return 0;
		// 0: index published before the slot, seen next time
		return std::atomic_ref<syslet::abi::word>(slots_[reaped % ring_slots])
			.load(std::memory_order_acquire);
	}

	// Takes the slot peek_slot() read: writes 0 back, advances user_ring_idx.
	request* take_slot(std::uint64_t atom_address)
	{
		auto user_index = std::atomic_ref<syslet::abi::word>(head_.user_ring_idx);
		const std::uint64_t reaped = user_index.load(std::memory_order_relaxed);
		std::atomic_ref<syslet::abi::word>(slots_[reaped % ring_slots])
			.store(0, std::memory_order_release);
		user_index.store(reaped + 1, std::memory_order_release);
		ring_pending_.fetch_sub(1, std::memory_order_seq_cst);
		const auto* atom = syslet::abi::pointer_from<const syslet::abi::atom>(atom_address);
		return syslet::abi::pointer_from<request>(syslet::abi::user_data(*atom));
	}

	// The user side of the ring protocol (the ring held): every posted
	// completion, finished in order, waiters woken once for the batch.
	void consume_ring()
	{
		bool any = false;
		for (std::uint64_t address = peek_slot(); address != 0; address = peek_slot()) {
			request* r = take_slot(address);
			finish(r, outcome_at(*r, address), false);
			any = true;
		}
		if (any)
			wake_waiters();
	}

	// consume_ring() for reap_now() (the ring and mutex_ held): stops at
	// the first completion that needs more than publishing its result.
	// True if it took everything posted.
	bool consume_ring_plain_locked()
	{
		bool any = false, all = true;
		for (std::uint64_t address = peek_slot(); address != 0; address = peek_slot()) {
			const auto* atom = syslet::abi::pointer_from<const syslet::abi::atom>(address);
			const auto* r =
				syslet::abi::pointer_from<const request>(syslet::abi::user_data(*atom));
			auto queue = r->op == operation::write ? queues_.find(r->fd) : queues_.end();
			if (!r->independent || r->notifies() || spare_.size() >= spare_.capacity() ||
			    (queue != queues_.end() && !queue->second.waiting.empty())) {
				all = false;
				break;
			}
			request* taken = take_slot(address);
			(void)finish_locked(taken, outcome_at(*taken, address));
			any = true;
		}
		if (any)
			wake_waiters();
		return all;
	}

	const bool kernel_;
	// async_single_threaded, or what the environment says
	const long handoff_depth_ = handoff_depth_from_environment();
	syslet::abi::head head_{};
	std::array<syslet::abi::word, ring_slots> slots_{};

	std::mutex mutex_; // pool_ and all below up to the worker counts
	std::pmr::unsynchronized_pool_resource pool_;
	std::pmr::unordered_map<aiocb*, std::unique_ptr<request>> requests_{&pool_};
	std::vector<std::unique_ptr<request>> spare_; // finished requests, for reuse
	std::pmr::unordered_map<int, fd_queue> queues_{&pool_};
	std::pmr::deque<int> jobs_{&pool_};
	std::condition_variable work_posted_;
	int workers_ = 0;
	int idle_workers_ = 0;
	int starting_workers_ = 0;

	std::atomic<std::uint32_t> completions_{0};   // futex: bumped at every batch of completions
	std::atomic<std::uint32_t> waiters_{0};       // sleeping on completions_
	std::atomic<std::uint32_t> token_waiters_{0}; // of which those waiting for the ring's holder
	std::atomic<std::uint32_t> mixed_waiters_{0}; // of which those that need the reaper
	std::atomic<std::uint32_t> submitting_{0};    // submissions under way
	std::atomic<long> ring_pending_{0};           // chains gone asynchronous, not yet reaped
	std::atomic<std::uint32_t> notifying_{0};     // requests with a notification to make

	std::atomic<bool> ring_owner_{false};
	std::atomic<bool> reaper_kicked_{false};
	std::atomic<std::uint32_t> reaper_word_{0}; // futex the reaper sleeps on
	std::mutex reaper_mutex_;                   // starting the reaper
	std::atomic<bool> reaper_started_{false};
	std::atomic<bool> reaper_requested_{false}; // to be started (again, if that failed)
};

int submit_one(aiocb* cb, operation op)
{
	aio_engine& engine = aio_engine::instance();
	request* independent = nullptr;
	if (!engine.enqueue(cb, op, nullptr, independent))
		return -1;
	const int saved_errno = errno; // a request run here leaves errno as it was
	if (independent != nullptr)
		engine.start(independent);
	else
		engine.kick(cb->aio_fildes);
	errno = saved_errno;
	return 0;
}

operation operation_of_opcode(int opcode)
{
	switch (opcode) {
	case LIO_READ:
		return operation::read;
	case LIO_WRITE:
		return operation::write;
	default:
		return operation::invalid; // completes with EINVAL, as in glibc
	}
}

} // namespace

// ---------------------------------------------------------------- exports

SYSLET_AIO_EXPORT int aio_read(aiocb* cb) noexcept
{
	return submit_one(cb, operation::read);
}

SYSLET_AIO_EXPORT int aio_write(aiocb* cb) noexcept
{
	return submit_one(cb, operation::write);
}

SYSLET_AIO_EXPORT int aio_fsync(int op, aiocb* cb) noexcept
{
	if (op != O_SYNC && op != O_DSYNC) {
		errno = EINVAL;
		return -1;
	}
	if (::fcntl(cb->aio_fildes, F_GETFL) < 0) {
		errno = EBADF;
		return -1;
	}
	return submit_one(cb, op == O_SYNC ? operation::sync : operation::data_sync);
}

// As glibc: the aiocb's error status, whatever it holds (0 for one that
// was zeroed and never submitted).
// A request in progress whose completion the ring holds is finished here
// when that can be done at once (no lock waited for: aio_error() is
// async-signal-safe), so that a program that polls needs no other thread.
SYSLET_AIO_EXPORT int aio_error(const aiocb* cb) noexcept
{
	const int error = error_of(cb);
	if (error != EINPROGRESS)
		return error;
	aio_engine* engine = aio_engine::existing();
	if (engine == nullptr)
		return error;
	engine->reap_now();
	return error_of(cb);
}

SYSLET_AIO_EXPORT ssize_t aio_return(aiocb* cb) noexcept
{
	return cb->__return_value;
}

SYSLET_AIO_EXPORT int aio_suspend(const aiocb* const list[], int count,
				  const timespec* timeout) // cancellation point: not noexcept
{
	return aio_engine::instance().suspend(list, count, timeout);
}

SYSLET_AIO_EXPORT int aio_cancel(int fd, aiocb* cb) noexcept
{
	if (::fcntl(fd, F_GETFL) < 0) {
		errno = EBADF;
		return -1;
	}
	if (cb != nullptr && cb->aio_fildes != fd) {
		errno = EINVAL;
		return -1;
	}
	return aio_engine::instance().cancel(fd, cb);
}

SYSLET_AIO_EXPORT int lio_listio(int mode, aiocb* const list[], int count, sigevent* event) noexcept
{
	if ((mode != LIO_WAIT && mode != LIO_NOWAIT) || count < 0) {
		errno = EINVAL;
		return -1;
	}
	aio_engine& engine = aio_engine::instance();
	std::shared_ptr<list_notification> notification;
	if (mode == LIO_NOWAIT && event != nullptr && event->sigev_notify != SIGEV_NONE) {
		notification = std::shared_ptr<list_notification>(new (std::nothrow) list_notification);
		if (notification == nullptr) {
			errno = EAGAIN;
			return -1;
		}
		notification->event = *event;
	}
	// Queue everything first, then start: requests on one fd that are
	// ordered run in list order, and with LIO_NOWAIT only the first of each
	// such fd runs in this call (the rest on a helper, after it returned);
	// independent requests start in list order, here.
	std::vector<int> fds;
	std::vector<aiocb*> submitted;
	std::vector<request*> independent;
	int error = 0;
	try {
		fds.reserve(static_cast<std::size_t>(count));
		submitted.reserve(static_cast<std::size_t>(count));
		independent.reserve(static_cast<std::size_t>(count));
	} catch (const std::bad_alloc&) {
		errno = EAGAIN;
		return -1;
	}
	for (int i = 0; i < count; ++i) {
		aiocb* cb = list[i];
		if (cb == nullptr || cb->aio_lio_opcode == LIO_NOP)
			continue;
		if (notification)
			notification->remaining.fetch_add(1);
		request* to_start = nullptr;
		if (!engine.enqueue(cb, operation_of_opcode(cb->aio_lio_opcode), notification, to_start)) {
			error = errno;
			if (notification)
				notification->remaining.fetch_sub(1);
			continue;
		}
		submitted.push_back(cb);
		if (to_start != nullptr)
			independent.push_back(to_start);
		else if (std::find(fds.begin(), fds.end(), cb->aio_fildes) == fds.end())
			fds.push_back(cb->aio_fildes);
	}
	for (request* r : independent)
		engine.start(r);
	for (const int fd : fds) {
		if (mode == LIO_WAIT)
			engine.run_queue(fd);
		else
			engine.kick(fd);
	}
	if (notification)
		notification->release();
	if (mode == LIO_NOWAIT) {
		if (error != 0) {
			errno = error; // as glibc: that of the request that could not be queued
			return -1;
		}
		return 0;
	}
	const auto all_done = [&] {
		return std::all_of(submitted.begin(), submitted.end(),
				   [](const aiocb* cb) { return error_of(cb) != EINPROGRESS; });
	};
	const auto kind = [&] {
		return engine.kind_of_locked(submitted.data(), static_cast<int>(submitted.size()));
	};
	if (!engine.wait_until(all_done, kind, nullptr))
		return -1; // EINTR, as glibc
	if (error != 0 || std::any_of(submitted.begin(), submitted.end(),
				      [](const aiocb* cb) { return error_of(cb) != 0; })) {
		errno = EIO;
		return -1;
	}
	return 0;
}

SYSLET_AIO_EXPORT void aio_init(const aioinit*) noexcept {}

// The *64 names glibc exports (same structure layout on x86-64).
SYSLET_AIO_EXPORT int aio_read64(aiocb64* cb) noexcept
{
	return aio_read(reinterpret_cast<aiocb*>(cb));
}
SYSLET_AIO_EXPORT int aio_write64(aiocb64* cb) noexcept
{
	return aio_write(reinterpret_cast<aiocb*>(cb));
}
SYSLET_AIO_EXPORT int aio_fsync64(int operation, aiocb64* cb) noexcept
{
	return aio_fsync(operation, reinterpret_cast<aiocb*>(cb));
}
SYSLET_AIO_EXPORT int aio_error64(const aiocb64* cb) noexcept
{
	return aio_error(reinterpret_cast<const aiocb*>(cb));
}
SYSLET_AIO_EXPORT ssize_t aio_return64(aiocb64* cb) noexcept
{
	return aio_return(reinterpret_cast<aiocb*>(cb));
}
SYSLET_AIO_EXPORT int aio_suspend64(const aiocb64* const list[], int count, const timespec* timeout) noexcept
{
	return aio_suspend(reinterpret_cast<const aiocb* const*>(list), count, timeout);
}
SYSLET_AIO_EXPORT int aio_cancel64(int fd, aiocb64* cb) noexcept
{
	return aio_cancel(fd, reinterpret_cast<aiocb*>(cb));
}
SYSLET_AIO_EXPORT int lio_listio64(int mode, aiocb64* const list[], int count, sigevent* event) noexcept
{
	return lio_listio(mode, reinterpret_cast<aiocb* const*>(list), count, event);
}
