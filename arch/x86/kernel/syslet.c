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
#include <linux/sched/task_stack.h>
#include <linux/syslet.h>
#include <asm/fpu/api.h>
#include <asm/fpu/signal.h>
#include <asm/fsgsbase.h>
#include <asm/gsseg.h>
#include <asm/pkru.h>
#include <asm/segment.h>
#include <asm/syscall.h>
#include <asm/syslet.h>
#include "fpu/context.h"

/*
 * What a tracer or seccomp left in @regs at the entry stop, checked again.
 * Out of line: only a traced atom or one of a process with a seccomp
 * filter gets here, and inlined it would cost every atom two more saved
 * registers.
 */
static noinline int syslet_entry_recheck(long call_nr, unsigned long nr,
					 struct pt_regs *regs)
{
	unsigned long a[6];
	u64 args[6];
	int i;

	if ((unsigned long)call_nr != nr && !syslet_nr_allowed(call_nr))
		return SYSLET_ATOM_REFUSE;
	syscall_get_arguments(current, regs, a);
	for (i = 0; i < 6; i++)
		args[i] = a[i];
	return syslet_atom_args_check(call_nr, args,
				      current->flags & PF_USER_WORKER);
}

/*
 * arch_syslet_syscall() of a thread with entry or exit work: traced,
 * filtered, audited or with syscall tracepoints on.
 */
long arch_syslet_syscall_work(unsigned long nr, const u64 *args,
			      struct arch_syslet_frame *frame,
			      bool may_hand_off)
{
	struct pt_regs *regs = current_pt_regs();
	unsigned long work = READ_ONCE(current_thread_info()->syscall_work);
	long ret, call_nr = nr;

	/*
	 * Syscall User Dispatch was decided for this atom before it ran
	 * (syslet_atom_allowed(): one that would be dispatched never gets
	 * here).  Rolling the registers back and raising SIGSYS in the
	 * middle of async_exec() would hand the signal handler the wrong
	 * frame and the atom the system call number as its result.
	 */
	work &= ~SYSCALL_WORK_SYSCALL_USER_DISPATCH;

	arch_syslet_frame_save(frame, regs);
	/*
	 * Audit keeps one record per system call: close the one still open
	 * for async_exec() (or the previous atom) so the atom gets its own.
	 */
	if (unlikely(work & SYSCALL_WORK_SYSCALL_AUDIT))
		audit_syscall_exit(regs);
	arch_syslet_load_call(regs, nr, args);
	/* What the entry code leaves in ax: a skipped call's result. */
	regs->ax = arch_syslet_ni_syscall(regs);

	if (unlikely(work & SYSCALL_WORK_ENTER)) {
		/*
		 * ptrace, seccomp and BPF may skip the call (-1) or
		 * rewrite its number, a tracer its arguments; what runs
		 * must pass the atom allowlist and its argument rules too,
		 * or a tracer could make an atom run fork(), exit() or a
		 * driver's ioctl in a pool thread.
		 */
		call_nr = syscall_trace_enter(regs, nr, work);
		if (call_nr != -1) {
			int check = syslet_entry_recheck(call_nr, nr, regs);

			if (check == SYSLET_ATOM_REFUSE) {
				regs->ax = arch_syslet_ni_syscall(regs);
				call_nr = -1;
			} else if (check == SYSLET_ATOM_STAY) {
				may_hand_off = false;
			}
		}
	}
	if (likely(call_nr != -1))
		arch_syslet_dispatch(regs, call_nr, may_hand_off);
	ret = arch_syslet_call_done(regs);
	arch_syslet_frame_restore(regs, frame);
	return ret;
}

#define SYSLET_TIF_UNMOVABLE	(_TIF_SINGLESTEP | _TIF_BLOCKSTEP |	\
				 _TIF_IO_BITMAP | _TIF_NOTSC |		\
				 _TIF_NOCPUID | _TIF_SSBD |		\
				 _TIF_SPEC_IB | _TIF_SPEC_L1D_FLUSH |	\
				 _TIF_SPEC_FORCE_UPDATE)

/*
 * Per-thread CPU state that is not moved, in a task: NULL if it is all in
 * its default state.  @cur: @t is current (its selectors are in the CPU).
 */
/* Any set_thread_area() descriptor?  Three words, OR-ed: no byte loop. */
static bool syslet_tls_set(const struct thread_struct *th)
{
	u64 any = 0, d;
	int i;

	BUILD_BUG_ON(sizeof(th->tls_array[0]) != sizeof(d));
	for (i = 0; i < GDT_ENTRY_TLS_ENTRIES; i++) {
		memcpy(&d, &th->tls_array[i], sizeof(d));
		any |= d;
	}
	return any;
}

static const char *syslet_x86_unmovable(struct task_struct *t, bool cur)
{
	struct thread_struct *th = &t->thread;
	int i;

	if (read_task_thread_flags(t) & SYSLET_TIF_UNMOVABLE)
		return "x86 thread flags";
	if (th->iopl_emul || th->io_bitmap)
		return "iopl";
	for (i = 0; i < HBP_NUM; i++)
		if (th->ptrace_bps[i])
			return "hardware breakpoints";
	if (cur) {
		unsigned short sel;

		/* Selectors stay in the CPU while the task is in the kernel. */
		savesegment(fs, sel);
		if (sel)
			return "fs selector";
		savesegment(gs, sel);
		if (sel)
			return "gs selector";
		savesegment(es, sel);
		if (sel)
			return "es selector";
		savesegment(ds, sel);
		if (sel)
			return "ds selector";
	}
	if (syslet_tls_set(th))
		return "TLS descriptors";
	if (th->fpu.fpstate != &th->fpu.__fpstate)
		return "dynamic xstate";
#ifdef CONFIG_X86_USER_SHADOW_STACK
	if (th->features & ARCH_SHSTK_SHSTK)
		return "shadow stack";
#endif
	return NULL;
}

/**
 * arch_syslet_cannot_move - can @tsk's user context move to @spare?
 * @tsk:	current, blocking in an atom (scheduler hook: must not sleep)
 * @spare:	the parked pool thread that would take it over, or NULL to
 *		check @tsk's side only; with a spare, only the spare's side
 *		is checked: the hook checks @tsk's once, before it looks at
 *		the spares
 *
 * Rare per-thread CPU state is not moved but refused: I/O permissions
 * (I/O bitmap, iopl emulation), TSC/CPUID faulting, single-step and
 * branch-step, per-thread speculation controls (SSBD, STIBP, L1D
 * flush), hardware breakpoints, segment selectors and TLS descriptors
 * other than the 64-bit defaults, dynamically enabled xstate (AMX) and
 * user shadow stacks.  The check is symmetric: the spare inherited all
 * of this from the thread that made it (copy_process()), and a pool
 * thread back from a user-space context (async_thread()) may have set
 * its own; what the spare has, the caller's context would get.  Both
 * must be in the default state (rather than reset the spare: most of it
 * is switched lazily by __switch_to_xtra(), and a reset would have to
 * undo each piece by hand).  The selectors are the exception: the spare
 * loads null ones in arch_syslet_install().
 *
 * Return: NULL if it can, else the reason it cannot.
 */
const char *arch_syslet_cannot_move(struct task_struct *tsk,
				    struct task_struct *spare)
{
	const char *why;

	if (!spare)
		return syslet_x86_unmovable(tsk, true);
	why = syslet_x86_unmovable(spare, false);
	if (why)
		return why;
	if (tsk->thread.fpu.fpstate->size != spare->thread.fpu.fpstate->size)
		return "dynamic xstate";
	return NULL;
}

/**
 * arch_syslet_capture - capture the caller's user CPU state at a cachemiss
 * @st:		where to put it
 * @frame:	the async_exec() registers an atom's call has overwritten
 *
 * Runs in the scheduler hook, in the blocked task, which must not sleep.
 * The general registers are those of the async_exec() system call; the
 * FPU registers go to the task's own fpstate, where they stay: the task
 * becomes a pool thread (PF_USER_WORKER), whose fpstate the FPU code
 * leaves alone, so the spare can copy it at leisure.
 */
void arch_syslet_capture(struct arch_syslet_user_state *st,
			 const struct arch_syslet_frame *frame)
{
	struct pt_regs *regs = &st->regs;

	*regs = *current_pt_regs();
	arch_syslet_frame_restore(regs, frame);

	current_save_fsgs();
	st->fsbase = current->thread.fsbase;
	st->gsbase = current->thread.gsbase;
	st->pkru = cpu_feature_enabled(X86_FEATURE_OSPKE) ? read_pkru() : 0;
	fpu_sync_fpstate(&current->thread.fpu);
}

/* Load 64-bit fs/gs bases with null selectors, as ARCH_SET_FS/GS does. */
static void syslet_load_fsgs(unsigned long fsbase, unsigned long gsbase)
{
	preempt_disable();
	loadsegment(fs, 0);
	x86_fsbase_write_cpu(fsbase);
	current->thread.fsindex = 0;
	current->thread.fsbase = fsbase;
	load_gs_index(0);
	x86_gsbase_write_cpu_inactive(gsbase);
	current->thread.gsindex = 0;
	current->thread.gsbase = gsbase;
	loadsegment(es, 0);
	current->thread.es = 0;
	loadsegment(ds, 0);
	current->thread.ds = 0;
	preempt_enable();
}

/**
 * arch_syslet_install - take over a blocked task's user CPU state
 * @st:		its state as captured by arch_syslet_capture()
 *
 * Runs in the spare (current), which returns to user mode afterwards
 * with these registers and 0 in ax: async_exec() went asynchronous.
 * The FPU comes last, with arch_syslet_become_user().
 */
void arch_syslet_install(const struct arch_syslet_user_state *st)
{
	struct pt_regs *regs = current_pt_regs();

	*regs = st->regs;
	regs->ax = 0;
	syslet_load_fsgs(st->fsbase, st->gsbase);
	if (cpu_feature_enabled(X86_FEATURE_OSPKE)) {
		current->thread.pkru = st->pkru;
		write_pkru(st->pkru);
	}
}

/**
 * arch_syslet_become_user - the spare's last step: the FPU, and user mode
 * @from:	the blocked task, a pool thread now
 *
 * Current stops being a pool thread (PF_USER_WORKER) here, in the same
 * fpregs_lock() section that gives it the caller's FPU state: a pool
 * thread's registers are neither saved when it is switched out nor
 * protected from kernel_fpu_begin(), so until the flag is gone nothing
 * may run between taking the registers over and owning them as a user
 * thread.  fpregs_lock() keeps preemption, migration and softirqs out,
 * and hard interrupts from using the FPU.
 *
 * The spare normally runs on the CPU the blocked task gave up (the
 * scheduler wakes it there), and the CPU's registers then still hold the
 * caller's user state: neither task, being a pool thread, had them
 * saved or loaded at the switch.  The spare becomes their owner and
 * nothing is copied or loaded.  Otherwise (it runs on another CPU, it
 * moved while it took the caller's affinity, or anything used the FPU in
 * between: fpu_fpregs_owner_ctx no longer names the blocked task's fpu)
 * the buffer arch_syslet_capture() saved is copied and loaded on the way
 * out.
 */
void arch_syslet_become_user(struct task_struct *from)
{
	struct fpu *dst = &current->thread.fpu;
	struct fpu *src = &from->thread.fpu;

	fpregs_lock();
	if (fpregs_state_valid(src, smp_processor_id())) {
		fpregs_activate(dst);
		dst->last_cpu = smp_processor_id();
		__fpu_invalidate_fpregs_state(src);
		clear_thread_flag(TIF_NEED_FPU_LOAD);
	} else {
		memcpy(&dst->fpstate->regs, &src->fpstate->regs,
		       src->fpstate->size);
		/* The CPU's registers are not ours: load on the way out. */
		dst->last_cpu = -1;
		set_thread_flag(TIF_NEED_FPU_LOAD);
	}
	current->flags &= ~PF_USER_WORKER;
	fpregs_unlock();
}

/**
 * arch_syslet_enter_user - send a pool thread to a user-space context
 * @ip:		where it starts
 * @sp:		its stack pointer
 * @arg0:	first argument register (rdi)
 * @arg1:	second argument register (rsi)
 *
 * For a cachemiss worker that runs user code after its chain completed:
 * every other general register 0, no TLS (fs and gs base 0), the FPU in
 * its initial state.  Current is no longer PF_USER_WORKER; it returns
 * to user mode when its system call returns.
 */
void arch_syslet_enter_user(unsigned long ip, unsigned long sp,
			    unsigned long arg0, unsigned long arg1)
{
	struct pt_regs *regs = current_pt_regs();

	memset(regs, 0, sizeof(*regs));
	regs->ip = ip;
	regs->sp = sp;
	regs->di = arg0;
	regs->si = arg1;
	regs->cs = __USER_CS;
	regs->ss = __USER_DS;
	regs->flags = X86_EFLAGS_IF | X86_EFLAGS_FIXED;
	regs->orig_ax = -1;	/* not in a system call: no restart */
	fpu__clear_user_states(&current->thread.fpu);
	syslet_load_fsgs(0, 0);
	if (cpu_feature_enabled(X86_FEATURE_OSPKE)) {
		current->thread.pkru = init_pkru_value;
		write_pkru(init_pkru_value);
	}
}

/**
 * arch_syslet_reclaim - a spare gave the blocked task's user context back
 * @st:		the state arch_syslet_capture() took
 *
 * Current is the blocked task, which returns to user mode itself after
 * all.  Its user FPU state has been in its fpstate since the capture;
 * as a pool thread (PF_USER_WORKER) its registers were not saved when
 * it was switched out, so the CPU's copy is stale: load fpstate on the
 * way out.
 */
void arch_syslet_reclaim(const struct arch_syslet_user_state *st)
{
	struct fpu *fpu = &current->thread.fpu;

	fpregs_lock();
	fpu->last_cpu = -1;
	set_thread_flag(TIF_NEED_FPU_LOAD);
	fpregs_unlock();
	if (cpu_feature_enabled(X86_FEATURE_OSPKE)) {
		current->thread.pkru = st->pkru;
		write_pkru(st->pkru);
	}
}

/**
 * arch_syslet_take_leadership - per-process CPU state kept by the leader
 * @leader:	the old group leader
 *
 * Current becomes the group leader.  The permissions for dynamically
 * enabled xstate features (ARCH_REQ_XCOMP_PERM) are the process' but
 * live in the leader's struct fpu; other threads hold a copy taken at
 * their clone().  Caller holds siglock, which guards them.
 */
void arch_syslet_take_leadership(struct task_struct *leader)
{
	struct fpu *dst = &current->thread.fpu;
	struct fpu *src = &leader->thread.fpu;

	dst->perm = src->perm;
	dst->guest_perm = src->guest_perm;
}

/**
 * arch_syslet_pkru - current's protection key rights register
 *
 * Return: PKRU, or 0 when the CPU or kernel does not use protection keys.
 */
u32 arch_syslet_pkru(void)
{
	return cpu_feature_enabled(X86_FEATURE_OSPKE) ? read_pkru() : 0;
}

/**
 * arch_syslet_set_pkru - run a pool thread's next chain under @pkru
 * @pkru:	the submitter's rights, from arch_syslet_pkru()
 *
 * The thread stays in the kernel, where user accesses are checked against
 * the register; thread.pkru keeps it across context switches.
 */
void arch_syslet_set_pkru(u32 pkru)
{
	if (!cpu_feature_enabled(X86_FEATURE_OSPKE))
		return;
	current->thread.pkru = pkru;
	write_pkru(pkru);
}
