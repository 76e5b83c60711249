// SPDX-License-Identifier: GPL-2.0
/*
 * x86-64 architecture support for syslets.
 *
 * An atom's system call runs with the atom's number and arguments in the
 * task's own pt_regs, exactly where a system call from user space has
 * them.  That is what makes the atom visible to everything that inspects
 * a system call through pt_regs: ptrace (PTRACE_SYSCALL stops and
 * PTRACE_GET_SYSCALL_INFO), seccomp filters, audit, the raw_syscalls and
 * syscalls tracepoints (and BPF programs on them), /proc/<tid>/syscall.
 * The async_exec() frame those registers belong to is saved around the
 * call and put back afterwards.
 */
#include <linux/audit.h>
#include <linux/entry-common.h>
#include <linux/syslet.h>
#include <asm/syscall.h>
#include <asm/syslet.h>

/* The registers an atom's system call is allowed to clobber in pt_regs. */
struct syslet_saved_regs {
	unsigned long orig_ax, ax, di, si, dx, r10, r8, r9;
};

long arch_syslet_syscall(unsigned long nr, const u64 *args)
{
	struct pt_regs *regs = current_pt_regs();
	struct syslet_saved_regs saved = {
		.orig_ax = regs->orig_ax, .ax = regs->ax,
		.di = regs->di, .si = regs->si, .dx = regs->dx,
		.r10 = regs->r10, .r8 = regs->r8, .r9 = regs->r9,
	};
	unsigned long work = READ_ONCE(current_thread_info()->syscall_work);
	long ret, call_nr = nr;

	/*
	 * Audit keeps one record per system call: close the one still open
	 * for async_exec() (or the previous atom) so the atom gets its own.
	 */
	if (unlikely(work & SYSCALL_WORK_SYSCALL_AUDIT))
		audit_syscall_exit(regs);

	regs->orig_ax = nr;
	regs->ax = -ENOSYS;
	regs->di = args[0];
	regs->si = args[1];
	regs->dx = args[2];
	regs->r10 = args[3];
	regs->r8 = args[4];
	regs->r9 = args[5];

	if (unlikely(work & SYSCALL_WORK_ENTER)) {
		/*
		 * ptrace, seccomp and BPF may skip the call (-1) or
		 * rewrite its number; a rewritten number must pass the
		 * atom allowlist too, or a tracer could make an atom run
		 * fork() or exit().
		 */
		call_nr = syscall_trace_enter(regs, nr, work);
		if (call_nr != -1 && (unsigned long)call_nr != nr &&
		    !syslet_nr_allowed(call_nr)) {
			regs->ax = -ENOSYS;
			call_nr = -1;
		}
	}
	if (likely(call_nr != -1))
		regs->ax = x64_sys_call(regs, call_nr);

	if (unlikely(READ_ONCE(current_thread_info()->syscall_work) &
		     SYSCALL_WORK_EXIT))
		syscall_exit_nested_work(regs);
	ret = regs->ax;

	regs->orig_ax = saved.orig_ax;
	regs->ax = saved.ax;
	regs->di = saved.di;
	regs->si = saved.si;
	regs->dx = saved.dx;
	regs->r10 = saved.r10;
	regs->r8 = saved.r8;
	regs->r9 = saved.r9;
	return ret;
}
