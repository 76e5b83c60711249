// lib-syslet layer 6: one-shot operations on a per-thread default ring.
//
//   struct stat st;
//   auto op = syslet::async_stat("/etc/passwd", &st);   // no set-up needed
//   ...
//   syslet::wait_all();                 // or op.wait()
//   if (auto r = op.result(); !r) ... r.error() ...
//
// Each thread gets its own ring, created on first use (thread_local), so
// independent libraries never share or fight over one.  The returned chain
// may be dropped with (void): the operation still runs (its buffers must stay valid
// until wait_all()).  Rings wait for everything in flight when the thread
// exits.
#pragma once

#include "ops.hpp"
#include "ring.hpp"

#include <new>

namespace syslet
{

namespace detail
{

// This thread's default ring, made on first use in its thread_context
// (destroyed when the thread exits, before the thread's chain cache).
[[gnu::noinline]] inline ring& make_default_ring(thread_context& context)
{
	static_assert(sizeof(ring) <= sizeof(context.default_ring_room) && alignof(ring) <= alignof(void*));
	ring* made = new (context.default_ring_room) ring(default_ring_tag{});
	context.default_ring = made;
	context.destroy_default_ring = [](void* the_ring) noexcept { static_cast<ring*>(the_ring)->~ring(); };
	return *made;
}

} // namespace detail

inline ring& default_ring()
{
	detail::thread_context& context = detail::thread_context::get();
	if (context.default_ring != nullptr)
		return *static_cast<ring*>(context.default_ring);
	return detail::make_default_ring(context);
}

// Runs @c as a one-atom chain on the default ring.  The callback, if any,
// runs once when it completes, from the next reap of the default ring
// (wait_all(), a chain's wait(), default_ring().reap()) -- never from
// inside this call.  (Each async_*() has an overload without a callback,
// which has no std::function to make and destroy per operation.)
inline chain async_call(const call& c, atom_flags flags = {})
{
	chain one_shot(c, flags);
	if (auto submitted = default_ring().submit(one_shot); !submitted)
		one_shot.state().mark_failed(submitted.error());
	return one_shot;
}
inline chain async_call(const call& c, atom_flags flags, completion_callback callback)
{
	chain one_shot(c, flags);
	if (callback)
		one_shot.on_complete(std::move(callback));
	if (auto submitted = default_ring().submit(one_shot); !submitted)
		one_shot.state().mark_failed(submitted.error());
	return one_shot;
}

// Submits a chain built by the caller to the default ring.
[[nodiscard]] inline result<void> submit(chain& c)
{
	return default_ring().submit(c);
}

// Waits until every operation of this thread's default ring completed and
// was delivered.  Usable as a statement; its result tells whether waiting
// itself failed (each operation's own outcome is in its chain).
inline result<std::size_t> wait_all()
{
	return default_ring().drain();
}

inline chain async_stat(std::string_view path, struct ::stat* out)
{
	return async_call(op::stat(path, out));
}
inline chain async_stat(std::string_view path, struct ::stat* out, completion_callback callback)
{
	return async_call(op::stat(path, out), {}, std::move(callback));
}
inline chain async_lstat(std::string_view path, struct ::stat* out)
{
	return async_call(op::lstat(path, out));
}
inline chain async_lstat(std::string_view path, struct ::stat* out, completion_callback callback)
{
	return async_call(op::lstat(path, out), {}, std::move(callback));
}
inline chain async_fstatat(int dirfd, std::string_view path, struct ::stat* out, int flags = 0)
{
	return async_call(op::fstatat(dirfd, path, out, flags));
}
inline chain async_fstatat(int dirfd, std::string_view path, struct ::stat* out, int flags,
			   completion_callback callback)
{
	return async_call(op::fstatat(dirfd, path, out, flags), {}, std::move(callback));
}
inline chain async_statx(int dirfd, std::string_view path, int flags, unsigned mask, struct ::statx* out)
{
	return async_call(op::statx(dirfd, path, flags, mask, out));
}
inline chain async_statx(int dirfd, std::string_view path, int flags, unsigned mask, struct ::statx* out,
			 completion_callback callback)
{
	return async_call(op::statx(dirfd, path, flags, mask, out), {}, std::move(callback));
}
inline chain async_open(std::string_view path, int flags, mode_t mode = 0)
{
	return async_call(op::open(path, flags, mode));
}
inline chain async_open(std::string_view path, int flags, mode_t mode, completion_callback callback)
{
	return async_call(op::open(path, flags, mode), {}, std::move(callback));
}
inline chain async_read(int fd, void* buffer, std::size_t count)
{
	return async_call(op::read(fd, buffer, count));
}
inline chain async_read(int fd, void* buffer, std::size_t count, completion_callback callback)
{
	return async_call(op::read(fd, buffer, count), {}, std::move(callback));
}
inline chain async_pread(int fd, void* buffer, std::size_t count, off_t offset)
{
	return async_call(op::pread(fd, buffer, count, offset));
}
inline chain async_pread(int fd, void* buffer, std::size_t count, off_t offset, completion_callback callback)
{
	return async_call(op::pread(fd, buffer, count, offset), {}, std::move(callback));
}
inline chain async_write(int fd, const void* buffer, std::size_t count)
{
	return async_call(op::write(fd, buffer, count));
}
inline chain async_write(int fd, const void* buffer, std::size_t count, completion_callback callback)
{
	return async_call(op::write(fd, buffer, count), {}, std::move(callback));
}
inline chain async_pwrite(int fd, const void* buffer, std::size_t count, off_t offset)
{
	return async_call(op::pwrite(fd, buffer, count, offset));
}
inline chain async_pwrite(int fd, const void* buffer, std::size_t count, off_t offset,
			  completion_callback callback)
{
	return async_call(op::pwrite(fd, buffer, count, offset), {}, std::move(callback));
}
inline chain async_fsync(int fd)
{
	return async_call(op::fsync(fd));
}
inline chain async_fsync(int fd, completion_callback callback)
{
	return async_call(op::fsync(fd), {}, std::move(callback));
}
inline chain async_close(int fd)
{
	return async_call(op::close(fd));
}
inline chain async_close(int fd, completion_callback callback)
{
	return async_call(op::close(fd), {}, std::move(callback));
}

} // namespace syslet
