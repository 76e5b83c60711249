HEADER = """entry: let the kernel run syscall exit work for a nested system call

Syslets run the system calls of their atoms from inside async_exec().
Each such call must be visible exactly like a system call from user
space: audit, the sys_exit tracepoint and ptrace syscall-exit stops.
The entry side is reachable through syscall_trace_enter(); export the
exit side as syscall_exit_nested_work().
"""
EDITS = [
("kernel/entry/common.c",
"""/*
 * Syscall specific exit to user mode preparation. Runs with interrupts
 * enabled.
 */
""",
"""/**
 * syscall_exit_nested_work - exit work of a system call issued by the kernel
 *			      on behalf of user space
 * @regs:	pt_regs holding the nested system call and its return value
 *
 * For system calls that the kernel runs from within another system call
 * (syslet atoms), with the nested call's number, arguments and return
 * value in @regs: runs audit, the sys_exit tracepoint and ptrace's
 * syscall-exit stop, as on the way back to user space.  Not the
 * single-step trap: the instruction user space stepped over is the
 * outer system call, whose own exit reports it once.
 */
void syscall_exit_nested_work(struct pt_regs *regs)
{
	unsigned long work = READ_ONCE(current_thread_info()->syscall_work);

	work &= ~SYSCALL_WORK_SYSCALL_EXIT_TRAP;
	if (work & SYSCALL_WORK_EXIT)
		syscall_exit_work(regs, work);
}

/*
 * Syscall specific exit to user mode preparation. Runs with interrupts
 * enabled.
 */
"""),
("include/linux/entry-common.h",
"""long syscall_trace_enter(struct pt_regs *regs, long syscall,
			 unsigned long work);
""",
"""long syscall_trace_enter(struct pt_regs *regs, long syscall,
			 unsigned long work);
void syscall_exit_nested_work(struct pt_regs *regs);
"""),
]
