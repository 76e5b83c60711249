// lib-syslet layer 7: C++20 coroutines.
//
//   syslet::task<long> copy_header(int fd) {
//       char buffer[512];
//       auto n = co_await syslet::async_read(fd, buffer, sizeof buffer);
//       if (!n) co_return -n.error().value();
//       co_return *n;
//   }
//
// co_await on a chain submits it if it was not submitted yet (on the
// default ring, or on the ring named with syslet::on()) and gives the
// chain's syscall_result.  A chain that completes "cached" resumes the
// coroutine at once -- await_ready()/await_suspend() return without
// suspending and the ring is never involved.  A chain that went
// asynchronous resumes the coroutine from the ring's reap()/wait() that
// reaps it; run_until_done() drives a task this way.  A coroutine resumes
// on the thread that reaps its chain's ring: reap the ring that a
// coroutine's chains are on from the thread that runs the coroutine.
#pragma once

#include "oneshot.hpp"
#include "ring.hpp"

#include <coroutine>
#include <exception>
#include <optional>
#include <utility>

namespace syslet
{

namespace detail
{

// Holds either a chain (awaiting a temporary) or a reference to one.
template <class ChainHolder>
class chain_awaiter
{
public:
	chain_awaiter(ChainHolder c, ring& r) : chain_(std::forward<ChainHolder>(c)), ring_(&r) {}

	bool await_ready() const { return chain_.done(); }

	bool await_suspend(std::coroutine_handle<> waiting)
	{
		chain_.state().set_continuation(waiting);
		if (chain_.idle()) {
			if (auto submitted = ring_->submit(chain_); !submitted)
				chain_.state().mark_failed(submitted.error());
		}
		if (chain_.done()) {
			(void)chain_.state().take_continuation();
			return false; // cached completion (or failure): resume now
		}
		return true;
	}

	syscall_result await_resume() const { return chain_.result(); }

private:
	ChainHolder chain_;
	ring* ring_;
};

} // namespace detail

inline detail::chain_awaiter<chain&> operator co_await(chain& c)
{
	return {c, default_ring()};
}
inline detail::chain_awaiter<chain> operator co_await(chain&& c)
{
	return {std::move(c), default_ring()};
}

// co_await syslet::on(my_ring, my_chain): submit to (and be reaped from) @r.
inline detail::chain_awaiter<chain&> on(ring& r, chain& c)
{
	return {c, r};
}

template <class T = void>
class task;

namespace detail
{

struct task_promise_base {
	struct final_awaiter {
		bool await_ready() const noexcept { return false; }
		template <class Promise>
		std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> finishing) const noexcept
		{
			const std::coroutine_handle<> next = finishing.promise().continuation;
			return next ? next : std::noop_coroutine();
		}
		void await_resume() const noexcept {}
	};

	std::suspend_never initial_suspend() const noexcept { return {}; } // starts eagerly
	final_awaiter final_suspend() const noexcept { return {}; }
#if defined(__cpp_exceptions)
	void unhandled_exception() noexcept
	{
		exception = std::current_exception();
	}
	void rethrow_if_failed() const
	{
		if (exception)
			std::rethrow_exception(exception);
	}
	std::exception_ptr exception;
#else
	[[noreturn]] void unhandled_exception() const noexcept
	{
		std::terminate();
	}
	void rethrow_if_failed() const noexcept {}
#endif

	std::coroutine_handle<> continuation;
};

template <class T>
struct task_promise : task_promise_base {
	void return_value(T v) { value.emplace(std::move(v)); }
	T take()
	{
		rethrow_if_failed();
		return std::move(*value);
	}
	std::optional<T> value;
};

template <>
struct task_promise<void> : task_promise_base {
	void return_void() const noexcept {}
	void take() const { rethrow_if_failed(); }
};

} // namespace detail

// A coroutine that starts at once and can be co_awaited or driven with
// run_until_done().  Move-only; destroys its frame.
template <class T>
class task
{
public:
	struct promise_type : detail::task_promise<T> {
		task get_return_object()
		{
			return task(std::coroutine_handle<promise_type>::from_promise(*this));
		}
	};

	task(task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
	task& operator=(task&& other) noexcept
	{
		if (this != &other) {
			destroy();
			handle_ = std::exchange(other.handle_, {});
		}
		return *this;
	}
	task(const task&) = delete;
	task& operator=(const task&) = delete;
	~task() { destroy(); }

	bool done() const noexcept { return handle_ && handle_.done(); }

	// The coroutine's value (rethrows its exception).  Only once done().
	T get() { return handle_.promise().take(); }

	auto operator co_await() noexcept
	{
		struct awaiter {
			std::coroutine_handle<promise_type> awaited;
			bool await_ready() const noexcept { return awaited.done(); }
			void await_suspend(std::coroutine_handle<> waiting) const noexcept
			{
				awaited.promise().continuation = waiting;
			}
			T await_resume() const { return awaited.promise().take(); }
		};
		return awaiter{handle_};
	}

private:
	explicit task(std::coroutine_handle<promise_type> handle) noexcept : handle_(handle) {}
	void destroy() noexcept
	{
		if (handle_)
			handle_.destroy();
	}

	std::coroutine_handle<promise_type> handle_;
};

// Reaps @r until @t is done.  EDEADLK if @t waits for something that is not
// in flight on @r.
template <class T>
[[nodiscard]] result<void> run_until_done(task<T>& t, ring& r = default_ring())
{
	while (!t.done()) {
		if (r.in_flight() == 0 && r.pending_delivery() == 0)
			return errno_code(EDEADLK);
		if (auto waited = r.wait(1); !waited)
			return waited.error();
	}
	return {};
}

} // namespace syslet
