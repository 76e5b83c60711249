/* SPDX-License-Identifier: GPL-2.0 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM syslet

#if !defined(_TRACE_SYSLET_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_SYSLET_H

#include <linux/tracepoint.h>

/* async_exec() was called: first atom and its flags. */
TRACE_EVENT(syslet_exec,
	TP_PROTO(const void __user *atom, u64 flags),
	TP_ARGS(atom, flags),
	TP_STRUCT__entry(
		__field(unsigned long, atom)
		__field(u64, flags)
	),
	TP_fast_assign(
		__entry->atom = (unsigned long)atom;
		__entry->flags = flags;
	),
	TP_printk("atom=0x%lx flags=0x%llx", __entry->atom, __entry->flags)
);

/* An atom's system call starts. */
TRACE_EVENT(syslet_atom_enter,
	TP_PROTO(const void __user *atom, unsigned long nr),
	TP_ARGS(atom, nr),
	TP_STRUCT__entry(
		__field(unsigned long, atom)
		__field(unsigned long, nr)
	),
	TP_fast_assign(
		__entry->atom = (unsigned long)atom;
		__entry->nr = nr;
	),
	TP_printk("atom=0x%lx nr=%lu", __entry->atom, __entry->nr)
);

/* An atom's system call returned (or was refused: -ENOSYS). */
TRACE_EVENT(syslet_atom_exit,
	TP_PROTO(const void __user *atom, unsigned long nr, long ret),
	TP_ARGS(atom, nr, ret),
	TP_STRUCT__entry(
		__field(unsigned long, atom)
		__field(unsigned long, nr)
		__field(long, ret)
	),
	TP_fast_assign(
		__entry->atom = (unsigned long)atom;
		__entry->nr = nr;
		__entry->ret = ret;
	),
	TP_printk("atom=0x%lx nr=%lu ret=%ld", __entry->atom, __entry->nr,
		  __entry->ret)
);

/* A finished atom was written to a completion ring. */
TRACE_EVENT(syslet_complete,
	TP_PROTO(unsigned long ring, u64 atom, u64 posted),
	TP_ARGS(ring, atom, posted),
	TP_STRUCT__entry(
		__field(unsigned long, ring)
		__field(u64, atom)
		__field(u64, posted)
	),
	TP_fast_assign(
		__entry->ring = ring;
		__entry->atom = atom;
		__entry->posted = posted;
	),
	TP_printk("ring=0x%lx atom=0x%llx posted=%llu", __entry->ring,
		  __entry->atom, __entry->posted)
);

/* async_wait() returns. */
TRACE_EVENT(syslet_wait,
	TP_PROTO(unsigned long ring, unsigned long min_events, long ret),
	TP_ARGS(ring, min_events, ret),
	TP_STRUCT__entry(
		__field(unsigned long, ring)
		__field(unsigned long, min_events)
		__field(long, ret)
	),
	TP_fast_assign(
		__entry->ring = ring;
		__entry->min_events = min_events;
		__entry->ret = ret;
	),
	TP_printk("ring=0x%lx min_events=%lu ret=%ld", __entry->ring,
		  __entry->min_events, __entry->ret)
);

/* async_cancel(): the chain starting at @atom asked to stop, or why not. */
TRACE_EVENT(syslet_cancel,
	TP_PROTO(const void __user *atom, long ret),
	TP_ARGS(atom, ret),
	TP_STRUCT__entry(
		__field(unsigned long, atom)
		__field(long, ret)
	),
	TP_fast_assign(
		__entry->atom = (unsigned long)atom;
		__entry->ret = ret;
	),
	TP_printk("atom=0x%lx ret=%ld", __entry->atom, __entry->ret)
);

/* An asynchronous chain ran synchronously instead, and why. */
TRACE_EVENT(syslet_sync_fallback,
	TP_PROTO(const void __user *atom, const char *reason),
	TP_ARGS(atom, reason),
	TP_STRUCT__entry(
		__field(unsigned long, atom)
		__string(reason, reason)
	),
	TP_fast_assign(
		__entry->atom = (unsigned long)atom;
		__assign_str(reason);
	),
	TP_printk("atom=0x%lx reason=%s", __entry->atom, __get_str(reason))
);

DECLARE_EVENT_CLASS(syslet_pool_thread,
	TP_PROTO(pid_t tid, bool on),
	TP_ARGS(tid, on),
	TP_STRUCT__entry(
		__field(pid_t, tid)
		__field(bool, on)
	),
	TP_fast_assign(
		__entry->tid = tid;
		__entry->on = on;
	),
	TP_printk("tid=%d %s", __entry->tid, __entry->on ? "on" : "off")
);

/* A pool thread starts (on) or exits (off). */
DEFINE_EVENT(syslet_pool_thread, syslet_worker,
	TP_PROTO(pid_t tid, bool start),
	TP_ARGS(tid, start));

/* An atom's system call blocked and a spare took over the user context. */
TRACE_EVENT(syslet_cachemiss,
	TP_PROTO(pid_t blocked, pid_t spare, unsigned long nr),
	TP_ARGS(blocked, spare, nr),
	TP_STRUCT__entry(
		__field(pid_t, blocked)
		__field(pid_t, spare)
		__field(unsigned long, nr)
	),
	TP_fast_assign(
		__entry->blocked = blocked;
		__entry->spare = spare;
		__entry->nr = nr;
	),
	TP_printk("blocked=%d spare=%d nr=%lu", __entry->blocked,
		  __entry->spare, __entry->nr)
);

/* An atom's system call blocked in the caller's context, and why. */
TRACE_EVENT(syslet_handoff_refused,
	TP_PROTO(unsigned long nr, const char *reason),
	TP_ARGS(nr, reason),
	TP_STRUCT__entry(
		__field(unsigned long, nr)
		__string(reason, reason)
	),
	TP_fast_assign(
		__entry->nr = nr;
		__assign_str(reason);
	),
	TP_printk("nr=%lu reason=%s", __entry->nr, __get_str(reason))
);

/*
 * An atom's call returned a restart code (code < 0), or a signal was
 * pending between two atoms (code 0): whether the chain ends there
 * (a handler is to run, or the pool thread exits) or goes on.
 */
TRACE_EVENT(syslet_interrupted,
	TP_PROTO(unsigned long nr, long code, bool end),
	TP_ARGS(nr, code, end),
	TP_STRUCT__entry(
		__field(unsigned long, nr)
		__field(long, code)
		__field(bool, end)
	),
	TP_fast_assign(
		__entry->nr = nr;
		__entry->code = code;
		__entry->end = end;
	),
	TP_printk("nr=%lu code=%ld %s", __entry->nr, __entry->code,
		  __entry->end ? "end" : "restart")
);

/* A pool thread parks, idle and ready for work (on), or takes work (off). */
DEFINE_EVENT(syslet_pool_thread, syslet_worker_park,
	TP_PROTO(pid_t tid, bool park),
	TP_ARGS(tid, park));

#endif /* _TRACE_SYSLET_H */

#include <trace/define_trace.h>
