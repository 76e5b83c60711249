/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_SYSLET_H
#define _ASM_X86_SYSLET_H

#include <linux/types.h>
#include <asm/ptrace.h>

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
 *
 * Return: the system call's return value.
 */
long arch_syslet_syscall(unsigned long nr, const u64 *args,
			 struct arch_syslet_frame *frame, bool may_hand_off);

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
