// lib-syslet layer 5: ready-made operations.
//
// Each function describes one system call as a syslet::call, to be added to
// a chain (chain::add) or run on its own (syslet::async_call and friends).
// Paths are copied into the chain when the call is added to it (a call
// only refers to them until then: build and add it in one expression).  Buffers and result structures are
// passed by address and must stay valid until the call completes (as with
// read(2)); a chain can own them instead (chain::buffer, chain::emplace).
// Any argument may also be another atom's result or a chain variable.
#pragma once

#include "chain.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <string_view>

struct statx;

namespace syslet::op
{

inline owned_string path(std::string_view p)
{
	return owned_string{p};
}

// (stat(2) and lstat(2) themselves: two arguments for the kernel to
// fetch instead of newfstatat's four, same result.)
inline call stat(std::string_view file, struct ::stat* out)
{
	return {SYS_stat, {path(file), out}};
}
inline call lstat(std::string_view file, struct ::stat* out)
{
	return {SYS_lstat, {path(file), out}};
}
inline call fstat(const arg& fd, struct ::stat* out)
{
	return {SYS_fstat, {fd, out}};
}
inline call fstatat(const arg& dirfd, std::string_view file, struct ::stat* out, int flags = 0)
{
	return {SYS_newfstatat, {dirfd, path(file), out, flags}};
}
inline call statx(const arg& dirfd, std::string_view file, int flags, unsigned mask, struct ::statx* out)
{
	return {SYS_statx, {dirfd, path(file), flags, mask, out}};
}

inline call open(std::string_view file, int flags, mode_t mode = 0)
{
	return {SYS_openat, {AT_FDCWD, path(file), flags, mode}};
}
inline call openat(const arg& dirfd, std::string_view file, int flags, mode_t mode = 0)
{
	return {SYS_openat, {dirfd, path(file), flags, mode}};
}
inline call close(const arg& fd)
{
	return {SYS_close, {fd}};
}

inline call read(const arg& fd, const arg& buffer, const arg& count)
{
	return {SYS_read, {fd, buffer, count}};
}
inline call pread(const arg& fd, const arg& buffer, const arg& count, const arg& offset)
{
	return {SYS_pread64, {fd, buffer, count, offset}};
}
inline call write(const arg& fd, const arg& buffer, const arg& count)
{
	return {SYS_write, {fd, buffer, count}};
}
inline call pwrite(const arg& fd, const arg& buffer, const arg& count, const arg& offset)
{
	return {SYS_pwrite64, {fd, buffer, count, offset}};
}
inline call fsync(const arg& fd)
{
	return {SYS_fsync, {fd}};
}
inline call fdatasync(const arg& fd)
{
	return {SYS_fdatasync, {fd}};
}

inline call getdents64(const arg& fd, const arg& buffer, const arg& count)
{
	return {SYS_getdents64, {fd, buffer, count}};
}

inline call unlink(std::string_view file)
{
	return {SYS_unlinkat, {AT_FDCWD, path(file), 0}};
}
inline call unlinkat(const arg& dirfd, std::string_view file, int flags = 0)
{
	return {SYS_unlinkat, {dirfd, path(file), flags}};
}
inline call rmdir(std::string_view dir)
{
	return {SYS_unlinkat, {AT_FDCWD, path(dir), AT_REMOVEDIR}};
}
inline call rename(std::string_view from, std::string_view to)
{
	return {SYS_renameat, {AT_FDCWD, path(from), AT_FDCWD, path(to)}};
}
inline call mkdir(std::string_view dir, mode_t mode = 0777)
{
	return {SYS_mkdirat, {AT_FDCWD, path(dir), mode}};
}

// Any system call by number, e.g. op::syscall(SYS_getpid).
template <class... Args>
call syscall(long nr, Args&&... args)
{
	static_assert(sizeof...(Args) <= abi::max_args, "at most 6 arguments");
	return {nr, {arg(std::forward<Args>(args))...}};
}

} // namespace syslet::op
