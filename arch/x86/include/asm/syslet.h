/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_SYSLET_H
#define _ASM_X86_SYSLET_H

#include <linux/entry-common.h>
#include <linux/sched.h>
#include <linux/types.h>
#include <asm/ptrace.h>
#include <asm/syscall.h>
#include <asm/syscall_wrapper.h>

struct task_struct;

/*
 * The registers of the async_exec() frame that an atom's system call
 * overwrites in pt_regs while it runs; the rest of pt_regs stays the
 * caller's user state throughout.
 */
struct arch_syslet_frame {
	unsigned long orig_ax, ax, di, si, dx, r10, r8, r9;
};

/*
 * User state that lives in the CPU while a task runs, captured by the
 * blocked task itself (the only place it can be read) for the spare
 * that takes over its user context.
 */
struct arch_syslet_user_state {
	struct pt_regs	regs;
	unsigned long	fsbase;
	unsigned long	gsbase;
	u32		pkru;
};

/* Keep the async_exec() registers an atom's call is about to overwrite. */
static __always_inline void arch_syslet_frame_save(struct arch_syslet_frame *frame,
						   const struct pt_regs *regs)
{
	frame->orig_ax = regs->orig_ax;
	frame->ax = regs->ax;
	frame->di = regs->di;
	frame->si = regs->si;
	frame->dx = regs->dx;
	frame->r10 = regs->r10;
	frame->r8 = regs->r8;
	frame->r9 = regs->r9;
}

/* Put the async_exec() registers an atom's call overwrote into @regs. */
static __always_inline void
arch_syslet_frame_restore(struct pt_regs *regs,
			  const struct arch_syslet_frame *frame)
{
	regs->orig_ax = frame->orig_ax;
	regs->ax = frame->ax;
	regs->di = frame->di;
	regs->si = frame->si;
	regs->dx = frame->dx;
	regs->r10 = frame->r10;
	regs->r8 = frame->r8;
	regs->r9 = frame->r9;
}

/*
 * The result of a system call that does not exist, as the entry code
 * makes it (do_syscall_64()).  It is also what ax holds before a call,
 * the result of a call the entry work skips.
 */
static inline long arch_syslet_ni_syscall(const struct pt_regs *regs)
{
	return __x64_sys_ni_syscall(regs);
}

/*
 * The atom's call, where a system call from user space has it.  ax is
 * left alone: the dispatch overwrites it, and only the entry work looks
 * at it before that (arch_syslet_syscall_work() sets it as the entry
 * code does).
 */
static __always_inline void arch_syslet_load_call(struct pt_regs *regs,
						  unsigned long nr,
						  const u64 *args)
{
	regs->orig_ax = nr;
	regs->di = args[0];
	regs->si = args[1];
	regs->dx = args[2];
	regs->r10 = args[3];
	regs->r8 = args[4];
	regs->r9 = args[5];
}

/*
 * Only the call itself may hand off when it blocks: ptrace stops and
 * audit around it must not.  The hook in the scheduler clears the flag
 * when it fires.
 */
static __always_inline void arch_syslet_dispatch(struct pt_regs *regs,
						 unsigned long nr,
						 bool may_hand_off)
{
	if (may_hand_off) {
		current->flags |= PF_SYSLET;
		regs->ax = x64_sys_call(regs, nr);
		current->flags &= ~PF_SYSLET;
	} else {
		regs->ax = x64_sys_call(regs, nr);
	}
}

/* Exit work set while the call ran (a tracer attached), and the result. */
static __always_inline long arch_syslet_call_done(struct pt_regs *regs)
{
	if (unlikely(READ_ONCE(current_thread_info()->syscall_work) &
		     SYSCALL_WORK_EXIT))
		syscall_exit_nested_work(regs);
	return regs->ax;
}

long arch_syslet_syscall_work(unsigned long nr, const u64 *args,
			      struct arch_syslet_frame *frame,
			      bool may_hand_off);

/**
 * arch_syslet_syscall - run one system call of an atom in current's context
 * @nr:		system call number, already checked against the atom allowlist
 * @args:	the six argument values
 * @frame:	where to keep the async_exec() registers the call overwrites
 * @may_hand_off: set PF_SYSLET around the call itself (not around the
 *		entry and exit work), so a block inside it may hand off
 *
 * The call goes through the same entry and exit work as a system call
 * made from user space (ptrace stops, seccomp, audit, tracepoints); a
 * number rewritten on entry is checked again with syslet_nr_allowed().
 * A thread with entry or exit work takes arch_syslet_syscall_work();
 * the rest, every atom of a thread nobody traces, filters or audits,
 * is inlined into the caller, as the entry code's own dispatch is.
 *
 * Return: the system call's return value.
 */
static __always_inline long arch_syslet_syscall(unsigned long nr,
						const u64 *args,
						struct arch_syslet_frame *frame,
						bool may_hand_off)
{
	struct pt_regs *regs;
	long ret;

	/* Syscall User Dispatch was decided before the atom ran (exec.c). */
	if (unlikely(READ_ONCE(current_thread_info()->syscall_work) &
		     (SYSCALL_WORK_ENTER | SYSCALL_WORK_EXIT) &
		     ~SYSCALL_WORK_SYSCALL_USER_DISPATCH))
		return arch_syslet_syscall_work(nr, args, frame, may_hand_off);

	regs = current_pt_regs();
	arch_syslet_frame_save(frame, regs);
	arch_syslet_load_call(regs, nr, args);
	arch_syslet_dispatch(regs, nr, may_hand_off);
	ret = arch_syslet_call_done(regs);
	arch_syslet_frame_restore(regs, frame);
	return ret;
}

const char *arch_syslet_cannot_move(struct task_struct *tsk,
				    struct task_struct *spare);
void arch_syslet_capture(struct arch_syslet_user_state *st,
			 const struct arch_syslet_frame *frame);
void arch_syslet_install(const struct arch_syslet_user_state *st);
void arch_syslet_become_user(struct task_struct *from);
void arch_syslet_reclaim(const struct arch_syslet_user_state *st);
void arch_syslet_take_leadership(struct task_struct *leader);
u32 arch_syslet_pkru(void);
void arch_syslet_set_pkru(u32 pkru);
void arch_syslet_enter_user(unsigned long ip, unsigned long sp,
			    unsigned long arg0, unsigned long arg1);

#endif /* _ASM_X86_SYSLET_H */
