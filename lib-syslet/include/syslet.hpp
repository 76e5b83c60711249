// lib-syslet: generic asynchronous system calls made easy.  Umbrella header.
//
// Layers (each usable on its own):
//   syslet/sys.hpp       raw system call wrappers, kernel_has_syslets()
//   syslet/fallback.hpp  the same calls emulated in user space (allowlist.hpp)
//   syslet/backend.hpp   kernel or emulation, whichever the kernel supports
//   syslet/chain.hpp     atoms and chains that own their argument storage
//   syslet/ring.hpp      completion ring (RAII), submit, reap, wait
//   syslet/ops.hpp       ready-made calls: stat, open, read, write, ...
//   syslet/oneshot.hpp   async_stat() & co. on a per-thread default ring
//   syslet/coro.hpp      co_await on chains, syslet::task
// Errors: syslet::result<T> (value or std::error_code), see error.hpp.
#pragma once

#include "syslet/abi.hpp"
#include "syslet/backend.hpp"
#include "syslet/chain.hpp"
#include "syslet/coro.hpp"
#include "syslet/error.hpp"
#include "syslet/fallback.hpp"
#include "syslet/oneshot.hpp"
#include "syslet/ops.hpp"
#include "syslet/ring.hpp"
#include "syslet/sys.hpp"
