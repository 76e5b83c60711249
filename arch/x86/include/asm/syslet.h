/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_SYSLET_H
#define _ASM_X86_SYSLET_H

#include <linux/types.h>

struct pt_regs;

/**
 * arch_syslet_syscall - run one system call of an atom in current's context
 * @nr:		system call number, already checked against the atom allowlist
 * @args:	the six argument values
 *
 * The call goes through the same entry and exit work as a system call
 * made from user space (ptrace stops, seccomp, audit, tracepoints); a
 * number rewritten on entry is checked again with syslet_nr_allowed().
 *
 * Return: the system call's return value.
 */
long arch_syslet_syscall(unsigned long nr, const u64 *args);

#endif /* _ASM_X86_SYSLET_H */
