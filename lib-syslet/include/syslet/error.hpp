// lib-syslet: the error convention.
//
// ONE convention everywhere: operations that can fail return result<T>,
// which holds either a T or a std::error_code (system_category, i.e. an
// errno value).  The library never throws for a failed system call.  The
// only exceptions that can escape are std::bad_alloc (argument storage) and
// std::system_error from result<T>::value() when it is called on an error
// (a programming error, like std::expected's bad_expected_access).
//
// result<T> itself is not [[nodiscard]]: the functions whose error must
// not be dropped (submit, wait, cancel, ...) are, while wait_all() can be
// used as a statement.
//
// Built with -fno-exceptions, every place that would throw prints what
// went wrong and aborts instead (SYSLET_THROW): the error convention for
// system calls is unchanged, since it never throws.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace syslet
{

namespace detail
{
[[noreturn]] inline void fail_fast(const char* what) noexcept
{
	std::fprintf(stderr, "lib-syslet: %s (built without exceptions: aborting)\n", what);
	std::abort();
}

// A misuse the library cannot survive and cannot report through a return
// value (it is found where nothing may throw): says what and aborts.
[[noreturn]] inline void fail_fast_misuse(const char* what) noexcept
{
	std::fprintf(stderr, "lib-syslet: %s: aborting\n", what);
	std::abort();
}

// Runs @f; false if it threw (only std::bad_alloc can).  Without
// exceptions, allocation failure aborts anyway.
template <class F>
bool try_invoke(F&& f) noexcept
{
#if defined(__cpp_exceptions)
	try {
		f();
		return true;
	} catch (...) {
		return false;
	}
#else
	f();
	return true;
#endif
}
} // namespace detail

#if defined(__cpp_exceptions)
#define SYSLET_THROW(...) throw __VA_ARGS__
#else
#define SYSLET_THROW(...) ::syslet::detail::fail_fast((__VA_ARGS__).what())
#endif

inline std::error_code errno_code(int error_number) noexcept
{
	return {error_number, std::system_category()};
}

template <class T>
class result
{
public:
	result(T value) : storage_(std::move(value)) {}                    // NOLINT: implicit by design
	result(std::error_code error) : storage_(error) {}                 // NOLINT: implicit by design
	result(std::errc error) : storage_(std::make_error_code(error)) {} // NOLINT

	bool has_value() const noexcept { return storage_.index() == 0; }
	explicit operator bool() const noexcept { return has_value(); }

	std::error_code error() const noexcept
	{
		return has_value() ? std::error_code{} : std::get<1>(storage_);
	}

	T& value() &
	{
		throw_if_error();
		return std::get<0>(storage_);
	}
	const T& value() const&
	{
		throw_if_error();
		return std::get<0>(storage_);
	}
	T&& value() &&
	{
		throw_if_error();
		return std::get<0>(std::move(storage_));
	}
	T value_or(T fallback) const { return has_value() ? std::get<0>(storage_) : fallback; }

	T& operator*() & { return value(); }
	const T& operator*() const& { return value(); }

private:
	void throw_if_error() const
	{
		if (!has_value())
			SYSLET_THROW(std::system_error(std::get<1>(storage_)));
	}

	std::variant<T, std::error_code> storage_;
};

namespace detail
{

// A std::error_code stored as value and category, with no category for
// "no error": unlike std::error_code{}, making or clearing one calls no
// std::system_category() (library code on another page, which a
// process's first operation would fault in, and a call per operation).
class stored_error
{
public:
	stored_error() noexcept = default;
	stored_error(std::error_code error) noexcept // NOLINT: implicit by design
	    : value_(error.value()), category_(error ? &error.category() : nullptr)
	{
	}
	bool failed() const noexcept { return category_ != nullptr; }
	std::error_code code() const noexcept
	{
		return category_ != nullptr ? std::error_code(value_, *category_) : std::error_code();
	}
	void set(std::error_code error) noexcept { *this = stored_error(error); }
	void clear() noexcept { category_ = nullptr; }

private:
	int value_ = 0;
	const std::error_category* category_ = nullptr;
};

} // namespace detail

template <>
class result<void>
{
public:
	result() noexcept = default;
	result(std::error_code error) noexcept : error_(error) {} // NOLINT: implicit by design
	result(std::errc error) noexcept : error_(std::make_error_code(error)) {} // NOLINT

	bool has_value() const noexcept { return !error_.failed(); }
	explicit operator bool() const noexcept { return has_value(); }
	std::error_code error() const noexcept { return error_.code(); }
	void value() const
	{
		if (error_.failed())
			SYSLET_THROW(std::system_error(error_.code()));
	}

private:
	detail::stored_error error_;
};

// The outcome of one system call: its non-negative return value, or the
// errno it failed with.
using syscall_result = result<long>;

// Kernel convention (-errno on failure) to syscall_result.
inline syscall_result from_kernel_return(std::int64_t value) noexcept
{
	if (value < 0 && value >= -4095)
		return errno_code(static_cast<int>(-value));
	return static_cast<long>(value);
}

} // namespace syslet
