// libsyslet-aio.so: POSIX AIO (glibc's struct aiocb ABI) implemented on
// syslets, for LD_PRELOAD under unmodified binaries.
//
// Every request is one syslet chain submitted from the caller's thread:
// fsync or fdatasync, or a pread/pwrite that falls back to read/write on
// a file that cannot seek (pipe, socket), as glibc's AIO does.  If it does
// not block it completes right there ("cached"); if it blocks, the kernel
// continues it asynchronously and posts it to the shim's completion ring,
// which one reaper thread of the shim consumes (started when the first
// request goes asynchronous).  No glibc AIO helper threads are ever
// created (the kernel's syslet pool threads, named "syslet-<pid>", are
// the process' only other threads until something goes asynchronous).
// Notification: SIGEV_NONE, SIGEV_SIGNAL (SI_ASYNCIO, sigev_value) and
// SIGEV_THREAD (a detached thread per notification, as glibc does).
// Without kernel syslets the library's user-space fallback runs each
// request synchronously in aio_read()/aio_write()/...
// Requests cannot be cancelled once submitted: aio_cancel() reports
// AIO_NOTCANCELED for requests in progress and AIO_ALLDONE otherwise.
#include <syslet.hpp>

#include <aio.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#define SYSLET_AIO_EXPORT extern "C" __attribute__((visibility("default")))

static_assert(sizeof(aiocb) == sizeof(aiocb64), "aiocb and aiocb64 share one layout on x86-64");

namespace
{

// ------------------------------------------------------------ notification

struct thread_notification {
	void (*function)(sigval);
	sigval value;
};

void* run_thread_notification(void* argument)
{
	const std::unique_ptr<thread_notification> notification(static_cast<thread_notification*>(argument));
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
		auto notification = std::make_unique<thread_notification>(
			thread_notification{event.sigev_notify_function, event.sigev_value});
		pthread_t thread{};
		if (::pthread_create(&thread, event.sigev_notify_attributes, run_thread_notification,
				     notification.get()) == 0) {
			(void)notification.release();
			::pthread_detach(thread);
		}
	}
}

// A lio_listio(LIO_NOWAIT) list whose own notification fires when its last
// request completes.
struct list_notification {
	std::atomic<int> remaining;
	sigevent event;
};

// ------------------------------------------------------------------ engine

class aio_engine
{
	struct pending_request {
		syslet::chain chain;
		aiocb* cb = nullptr;
		std::shared_ptr<list_notification> list;
	};

public:
	static aio_engine& instance()
	{
		static aio_engine* engine = new aio_engine; // never destroyed: used until exit
		return *engine;
	}

	// Submits one request; 0 or -1 with errno, as aio_read() reports it.
	int submit(aiocb* cb, const syslet::call& operation,
		   std::shared_ptr<list_notification> list = nullptr)
	{
		auto request = std::make_unique<pending_request>();
		request->chain.add(operation);
		return submit(cb, std::move(request), std::move(list));
	}

	// Submits a transfer: atom 0 preads (pwrites) at the offset.  If that
	// fails, atom 1 asks whether the file can seek at all; if it can, the
	// chain ends there with atom 0's error, if not (ESPIPE), atom 2 reads
	// (writes) at the current position, as glibc does for pipes and
	// sockets.  Only a failing transfer costs more than one system call.
	int submit_transfer(aiocb* cb, const syslet::call& positioned, const syslet::call& streaming,
			    std::shared_ptr<list_notification> list)
	{
		constexpr auto on_failure =
			syslet::flag::stop_on_negative | syslet::flag::skip_to_next_on_stop;
		auto request = std::make_unique<pending_request>();
		syslet::chain& chain = request->chain;
		chain.end_after(chain.add(positioned, on_failure));
		chain.end_after(
			chain.add(syslet::op::syscall(SYS_lseek, cb->aio_fildes, 0, SEEK_CUR), on_failure));
		chain.add(streaming);
		return submit(cb, std::move(request), std::move(list));
	}

	int submit(aiocb* cb, std::unique_ptr<pending_request> request,
		   std::shared_ptr<list_notification> list)
	{
		request->cb = cb;
		request->list = std::move(list);
		syslet::abi::atom* first = request->chain.state().materialize();
		syslet::detail::chain_state* key = &request->chain.state();

		cb->__return_value = 0;
		error_code_of(cb).store(EINPROGRESS, std::memory_order_release);
		{
			const std::lock_guard lock(mutex_);
			pending_.emplace(key, std::move(request));
		}
		const long returned = syslet::backend::async_exec(first, &head_, sizeof(head_));
		if (returned > 0) {
			complete(key, static_cast<syslet::abi::word>(returned));
		} else if (returned == 0) {
			went_asynchronous();
		} else {
			forget(key);
			error_code_of(cb).store(static_cast<int>(-returned), std::memory_order_release);
			errno = static_cast<int>(-returned);
			return -1;
		}
		return 0;
	}

	bool in_progress_on(int fd)
	{
		const std::lock_guard lock(mutex_);
		for (const auto& [key, request] : pending_)
			if (request->cb->aio_fildes == fd)
				return true;
		return false;
	}

	// Waits until one of @list is done: 0, or -1 with EAGAIN on timeout.
	int suspend(const aiocb* const list[], int count, const timespec* timeout)
	{
		const auto any_done = [&] {
			for (int i = 0; i < count; ++i)
				if (list[i] != nullptr && error_of(list[i]) != EINPROGRESS)
					return true;
			return false;
		};
		std::unique_lock lock(mutex_);
		if (timeout == nullptr) {
			completed_.wait(lock, any_done);
			return 0;
		}
		const auto duration =
			std::chrono::seconds(timeout->tv_sec) + std::chrono::nanoseconds(timeout->tv_nsec);
		if (completed_.wait_for(lock, duration, any_done))
			return 0;
		errno = EAGAIN;
		return -1;
	}

	static int error_of(const aiocb* cb)
	{
		return error_code_of(const_cast<aiocb*>(cb)).load(std::memory_order_acquire);
	}

private:
	static constexpr std::size_t ring_slots = 1024;

	aio_engine()
	{
		head_.completion_ring = syslet::abi::address_of(slots_.data());
		head_.ring_size_bytes = sizeof(slots_);
		// POSIX AIO promises that no request blocks the caller, the first
		// one included: set the ring up now, with a spare thread (a ring
		// set up lazily lets a process' first block complete in the
		// caller).  Without syslets this is the fallback's no-op.
		(void)syslet::backend::async_register(&head_, sizeof(head_));
	}

	static std::atomic_ref<int> error_code_of(aiocb* cb)
	{
		return std::atomic_ref<int>(cb->__error_code);
	}

	void forget(syslet::detail::chain_state* key)
	{
		const std::lock_guard lock(mutex_);
		pending_.erase(key);
	}

	void complete(syslet::detail::chain_state* key, syslet::abi::word atom_address)
	{
		std::unique_ptr<pending_request> request;
		{
			const std::lock_guard lock(mutex_);
			auto found = pending_.find(key);
			if (found == pending_.end())
				return;
			request = std::move(found->second);
			pending_.erase(found);
		}
		const syslet::syscall_result result = result_of(*key, atom_address);
		aiocb* cb = request->cb;
		cb->__return_value = result ? *result : -1;
		error_code_of(cb).store(result ? 0 : result.error().value(), std::memory_order_release);
		{
			const std::lock_guard lock(mutex_);
		}
		completed_.notify_all();
		notify(cb->aio_sigevent);
		if (request->list && request->list->remaining.fetch_sub(1) == 1)
			notify(request->list->event);
	}

	// The request's outcome: that of the atom the chain ended on, except
	// when a transfer ended on its seek test (the file can seek: the
	// pread/pwrite's own error).
	static syslet::syscall_result result_of(const syslet::detail::chain_state& chain,
						syslet::abi::word atom_address)
	{
		const syslet::completion done =
			chain.completed_at(atom_address, syslet::completion_path::ring);
		if (chain.size() == 3 && done.final_atom == 1)
			return syslet::from_kernel_return(chain.raw_result(0));
		return done.result();
	}

	void went_asynchronous()
	{
		std::call_once(reaper_started_, [this] { std::thread([this] { reap_forever(); }).detach(); });
		asynchronous_.fetch_add(1);
		{
			const std::lock_guard lock(mutex_);
		}
		work_.notify_one();
	}

	void reap_forever()
	{
		for (;;) {
			{
				std::unique_lock lock(mutex_);
				work_.wait(lock, [this] { return asynchronous_.load() > 0; });
			}
			const long waited = syslet::backend::async_wait(1, &head_, nullptr);
			if (waited < 0 && waited != -EINTR && waited != -EOVERFLOW)
				std::this_thread::sleep_for(std::chrono::milliseconds(1));
			syslet::detail::consume_posted(
				head_, slots_.data(), ring_slots, [this](syslet::abi::word atom) {
					const auto* posted =
						syslet::abi::pointer_from<const syslet::abi::atom>(atom);
					complete(syslet::abi::pointer_from<syslet::detail::chain_state>(
							 syslet::abi::user_data(*posted)),
						 atom);
					asynchronous_.fetch_sub(1);
				});
		}
	}

	syslet::abi::head head_{};
	std::array<syslet::abi::word, ring_slots> slots_{};
	std::mutex mutex_;
	std::condition_variable completed_; // a request completed
	std::condition_variable work_;      // a request went asynchronous
	std::unordered_map<syslet::detail::chain_state*, std::unique_ptr<pending_request>> pending_;
	std::atomic<long> asynchronous_{0};
	std::once_flag reaper_started_;
};

int submit_transfer(aiocb* cb, int opcode, std::shared_ptr<list_notification> list = nullptr)
{
	if (cb->aio_offset < 0 || cb->aio_reqprio < 0) {
		errno = EINVAL;
		return -1;
	}
	auto* buffer = const_cast<void*>(cb->aio_buf);
	if (opcode == LIO_READ)
		return aio_engine::instance().submit_transfer(
			cb, syslet::op::pread(cb->aio_fildes, buffer, cb->aio_nbytes, cb->aio_offset),
			syslet::op::read(cb->aio_fildes, buffer, cb->aio_nbytes), std::move(list));
	return aio_engine::instance().submit_transfer(
		cb, syslet::op::pwrite(cb->aio_fildes, buffer, cb->aio_nbytes, cb->aio_offset),
		syslet::op::write(cb->aio_fildes, buffer, cb->aio_nbytes), std::move(list));
}

} // namespace

// ---------------------------------------------------------------- exports

SYSLET_AIO_EXPORT int aio_read(aiocb* cb) noexcept
{
	return submit_transfer(cb, LIO_READ);
}

SYSLET_AIO_EXPORT int aio_write(aiocb* cb) noexcept
{
	return submit_transfer(cb, LIO_WRITE);
}

SYSLET_AIO_EXPORT int aio_fsync(int operation, aiocb* cb) noexcept
{
	if (operation != O_SYNC && operation != O_DSYNC) {
		errno = EINVAL;
		return -1;
	}
	const syslet::call sync = operation == O_SYNC ? syslet::op::fsync(cb->aio_fildes)
						      : syslet::op::fdatasync(cb->aio_fildes);
	return aio_engine::instance().submit(cb, sync);
}

SYSLET_AIO_EXPORT int aio_error(const aiocb* cb) noexcept
{
	return aio_engine::error_of(cb);
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
	if (cb != nullptr) {
		if (cb->aio_fildes != fd) {
			errno = EINVAL;
			return -1;
		}
		return aio_engine::error_of(cb) == EINPROGRESS ? AIO_NOTCANCELED : AIO_ALLDONE;
	}
	if (::fcntl(fd, F_GETFD) < 0)
		return -1; // EBADF
	return aio_engine::instance().in_progress_on(fd) ? AIO_NOTCANCELED : AIO_ALLDONE;
}

SYSLET_AIO_EXPORT int lio_listio(int mode, aiocb* const list[], int count, sigevent* event) noexcept
{
	if ((mode != LIO_WAIT && mode != LIO_NOWAIT) || count < 0) {
		errno = EINVAL;
		return -1;
	}
	std::shared_ptr<list_notification> notification;
	if (mode == LIO_NOWAIT && event != nullptr && event->sigev_notify != SIGEV_NONE) {
		notification = std::make_shared<list_notification>();
		notification->remaining = 1; // released after the loop: never fires early
		notification->event = *event;
	}
	bool all_submitted = true;
	for (int i = 0; i < count; ++i) {
		aiocb* cb = list[i];
		if (cb == nullptr || (cb->aio_lio_opcode != LIO_READ && cb->aio_lio_opcode != LIO_WRITE))
			continue;
		if (notification)
			notification->remaining.fetch_add(1);
		if (submit_transfer(cb, cb->aio_lio_opcode, notification) != 0) {
			all_submitted = false;
			if (notification)
				notification->remaining.fetch_sub(1);
		}
	}
	if (notification && notification->remaining.fetch_sub(1) == 1)
		notify(notification->event);
	if (mode == LIO_WAIT) {
		for (int i = 0; i < count; ++i) {
			aiocb* cb = list[i];
			if (cb == nullptr ||
			    (cb->aio_lio_opcode != LIO_READ && cb->aio_lio_opcode != LIO_WRITE))
				continue;
			const aiocb* const one[] = {cb};
			while (aio_engine::error_of(cb) == EINPROGRESS)
				aio_engine::instance().suspend(one, 1, nullptr);
			if (aio_engine::error_of(cb) != 0)
				all_submitted = false;
		}
	}
	if (!all_submitted) {
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
