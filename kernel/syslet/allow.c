// SPDX-License-Identifier: GPL-2.0
/*
 * Syslets: the system calls an atom may run.
 *
 * The promise: an atom is exactly the system call it names, made by the
 * thread that submitted it.  In the caller's own context that is plain;
 * in a SYSLET_ASYNC pool thread or a cachemiss worker it holds because
 * syslet_unfit() (fit.c) makes the thread share everything a call sees
 * with the submitter -- credentials, seccomp, no_new_privs, file table,
 * fs, namespaces, personality, thread policy flags, mempolicy, cgroup --
 * and checks the credentials again before every atom.  What is left is
 * the thread itself: a call that acts on "the calling thread" would act
 * on the pool thread.  Such calls are off this list, or restricted by
 * their arguments (syslet_atom_args_check() below).
 *
 * Refused (not on the list), with the reason:
 *  - fork, vfork, clone, clone3, execve, execveat, exit, exit_group,
 *    rt_sigreturn, arch_prctl, set_tid_address, set_robust_list, rseq,
 *    sigaltstack, modify_ldt, iopl, ioperm: replace or depend on the
 *    caller's register frame or per-thread identity.
 *  - rt_sigprocmask, rt_sigsuspend, pause, rt_sigtimedwait, pselect6,
 *    ppoll, epoll_pwait(2), io_pgetevents: signal-mask swaps and waits.
 *  - set*id, setgroups, capset: credentials are the submitter's; a pool
 *    thread changing its own would serve later chains with them.
 *  - prctl: nearly every option is per thread (PDEATHSIG, NAME,
 *    IO_FLUSHER, MCE_KILL, SECCOMP, NO_NEW_PRIVS, TSC, SPECULATION_CTRL,
 *    SYSCALL_USER_DISPATCH, SET_MM ...) and would stick to a pool thread.
 *  - unshare, setns: change the calling thread's file table, fs or
 *    namespaces; a pool thread would carry them into later chains.
 *  - personality, seccomp: per-thread, and a filter or personality
 *    installed on a pool thread outlives the chain.
 *  - set_mempolicy, sched_setattr, sched_setscheduler, sched_setparam,
 *    sched_setaffinity, setpriority, ioprio_set: the calling thread's
 *    scheduling and placement (the *get* variants are queries).
 *  - perf_event_open: pid 0 means the calling thread, a pool thread.
 *  - ptrace: PTRACE_TRACEME/ATTACH make the calling thread tracee or
 *    tracer; the relation would belong to a pool thread that retires.
 *  - io_uring_setup, io_uring_enter, io_uring_register: io_uring's
 *    task context is per thread (and a hand-off refuses a task that
 *    has one).
 *  - getrlimit, setrlimit, prlimit64: do_prlimit() locks and unlocks
 *    ->group_leader of the target without tasklist_lock, and a hand-off
 *    of the group leader (cachemiss.c) moves the leadership while pool
 *    threads and the blocked leader run atoms.  None of the calls below
 *    reads ->group_leader that way (see "The group leader" in
 *    Documentation/syslet-design.txt).
 *  - system administration, the syslet calls themselves (no recursion).
 *
 * Allowed, and why it is safe in a pool thread:
 *  - every call that takes an fd, a path or a directory fd: the file
 *    table and fs are the submitter's own objects (fit.c), so fd numbers,
 *    the cwd and the root mean what they mean to the submitter; the
 *    state such calls change (chdir, fchdir, umask, close, dup*, fcntl,
 *    flock, inotify/fanotify marks, epoll_ctl) lives in those shared
 *    objects or in the open file, not in the thread.
 *  - memory calls (mmap ... mseal, mbind, migrate_pages, move_pages,
 *    process_madvise, process_vm_*): act on the shared mm or on a pid
 *    named explicitly, with the submitter's credentials.
 *  - userfaultfd: the context belongs to the mm; creating it checks
 *    credentials, which are the submitter's.
 *  - membarrier: registrations are per mm; the expedited commands IPI
 *    the CPUs running the mm.
 *  - sockets, System V and POSIX IPC, kernel AIO, eventfd, timerfd,
 *    signalfd: objects reached through the shared table or IPC
 *    namespace (fit.c).
 *  - kill, tkill, tgkill, rt_(tg)sigqueueinfo, pidfd_*: the sender is
 *    the process with the submitter's credentials; targets are explicit.
 *  - futex: except the PI operations, whose owner is the calling thread
 *    (below).
 *  - timers: POSIX timers and itimers are the process'; a timer on the
 *    calling thread's own CPU clock is refused off the caller (below).
 *  - queries (get*id, getgroups, capget, uname, sysinfo, getcpu, ...):
 *    the answers about "the calling thread" (gettid, getcpu,
 *    sched_getaffinity(0), sched_getattr(0), getpriority, ioprio_get,
 *    get_mempolicy, getrusage(RUSAGE_THREAD), get_robust_list(0)) are the
 *    running thread's: its identity-bearing state (credentials, policy)
 *    equals the submitter's by the fit check; its ID and counters are
 *    its own.  They grant nothing.
 *
 * Restricted by argument (syslet_atom_args_check()):
 *  - ioctl: see syslet_ioctl_generic().
 *  - close_range with CLOSE_RANGE_UNSHARE: refused in every atom; it
 *    would give a pool thread (or the caller, behind the hand-off's
 *    back) a private file table it keeps.
 *  - futex PI operations: refused (owner is the calling thread).
 *  - timer_create on the calling thread's own CPU clock: refused in a
 *    pool thread or cachemiss worker (it would time the pool thread).
 *
 * A call missing here fails in the atom with -ENOSYS.
 */
#include <linux/cache.h>
#include <linux/close_range.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/futex.h>
#include <linux/init.h>
#include <linux/posix-timers.h>
#include <linux/syslet.h>
#include <asm/ioctls.h>
#include <asm/unistd.h>
#include "syslet.h"

static const u16 syslet_allowed_nrs[] __initconst = {
	/* file and directory I/O */
	__NR_read, __NR_write, __NR_open, __NR_close, __NR_stat, __NR_fstat,
	__NR_lstat, __NR_poll, __NR_lseek, __NR_ioctl, __NR_pread64,
	__NR_pwrite64, __NR_readv, __NR_writev, __NR_access, __NR_pipe,
	__NR_select, __NR_dup, __NR_dup2, __NR_sendfile, __NR_fcntl,
	__NR_flock, __NR_fsync, __NR_fdatasync, __NR_truncate,
	__NR_ftruncate, __NR_getdents, __NR_getcwd, __NR_chdir, __NR_fchdir,
	__NR_rename, __NR_mkdir, __NR_rmdir, __NR_creat, __NR_link,
	__NR_unlink, __NR_symlink, __NR_readlink, __NR_chmod, __NR_fchmod,
	__NR_chown, __NR_fchown, __NR_lchown, __NR_umask, __NR_utime,
	__NR_mknod, __NR_ustat, __NR_statfs, __NR_fstatfs, __NR_sync,
	__NR_readahead, __NR_setxattr, __NR_lsetxattr, __NR_fsetxattr,
	__NR_getxattr, __NR_lgetxattr, __NR_fgetxattr, __NR_listxattr,
	__NR_llistxattr, __NR_flistxattr, __NR_removexattr,
	__NR_lremovexattr, __NR_fremovexattr, __NR_getdents64,
	__NR_fadvise64, __NR_utimes, __NR_inotify_init,
	__NR_inotify_add_watch, __NR_inotify_rm_watch, __NR_openat,
	__NR_mkdirat, __NR_mknodat, __NR_fchownat, __NR_futimesat,
	__NR_newfstatat, __NR_unlinkat, __NR_renameat, __NR_linkat,
	__NR_symlinkat, __NR_readlinkat, __NR_fchmodat, __NR_faccessat,
	__NR_splice, __NR_tee, __NR_sync_file_range, __NR_vmsplice,
	__NR_utimensat, __NR_fallocate, __NR_dup3, __NR_pipe2,
	__NR_inotify_init1, __NR_preadv, __NR_pwritev, __NR_fanotify_init,
	__NR_fanotify_mark, __NR_name_to_handle_at, __NR_open_by_handle_at,
	__NR_syncfs, __NR_renameat2, __NR_memfd_create, __NR_copy_file_range,
	__NR_preadv2, __NR_pwritev2, __NR_statx, __NR_close_range,
	__NR_openat2, __NR_faccessat2, __NR_cachestat, __NR_fchmodat2,
	__NR_statmount, __NR_listmount,
	/* events and polling */
	__NR_epoll_create, __NR_epoll_wait, __NR_epoll_ctl, __NR_signalfd,
	__NR_timerfd_create, __NR_eventfd, __NR_timerfd_settime,
	__NR_timerfd_gettime, __NR_signalfd4, __NR_eventfd2,
	__NR_epoll_create1,
	/* memory */
	__NR_mmap, __NR_mprotect, __NR_munmap, __NR_brk, __NR_mremap,
	__NR_msync, __NR_mincore, __NR_madvise, __NR_mlock, __NR_munlock,
	__NR_mlockall, __NR_munlockall, __NR_remap_file_pages, __NR_mbind,
	__NR_get_mempolicy, __NR_migrate_pages, __NR_move_pages,
	__NR_process_vm_readv, __NR_process_vm_writev, __NR_membarrier,
	__NR_mlock2, __NR_pkey_mprotect, __NR_pkey_alloc, __NR_pkey_free,
	__NR_process_madvise, __NR_memfd_secret, __NR_process_mrelease,
	__NR_mseal, __NR_userfaultfd,
	/* networking */
	__NR_socket, __NR_connect, __NR_accept, __NR_sendto, __NR_recvfrom,
	__NR_sendmsg, __NR_recvmsg, __NR_shutdown, __NR_bind, __NR_listen,
	__NR_getsockname, __NR_getpeername, __NR_socketpair,
	__NR_setsockopt, __NR_getsockopt, __NR_accept4, __NR_recvmmsg,
	__NR_sendmmsg,
	/* System V and POSIX IPC */
	__NR_shmget, __NR_shmat, __NR_shmctl, __NR_shmdt, __NR_semget,
	__NR_semop, __NR_semctl, __NR_semtimedop, __NR_msgget, __NR_msgsnd,
	__NR_msgrcv, __NR_msgctl, __NR_mq_open, __NR_mq_unlink,
	__NR_mq_timedsend, __NR_mq_timedreceive, __NR_mq_notify,
	__NR_mq_getsetattr,
	/* futexes (PI operations are refused per operation in exec.c) */
	__NR_futex, __NR_futex_waitv, __NR_futex_wake, __NR_futex_wait,
	__NR_futex_requeue,
	/* time and timers */
	__NR_nanosleep, __NR_getitimer, __NR_alarm, __NR_setitimer,
	__NR_gettimeofday, __NR_time, __NR_timer_create, __NR_timer_settime,
	__NR_timer_gettime, __NR_timer_getoverrun, __NR_timer_delete,
	__NR_clock_gettime, __NR_clock_getres, __NR_clock_nanosleep,
	__NR_times,
	/* processes and signals: queries and sending */
	__NR_getpid, __NR_gettid, __NR_getppid, __NR_getpgrp, __NR_getpgid,
	__NR_getsid, __NR_getuid, __NR_geteuid, __NR_getgid, __NR_getegid,
	__NR_getresuid, __NR_getresgid, __NR_getgroups, __NR_capget,
	__NR_kill, __NR_tkill, __NR_tgkill, __NR_rt_sigqueueinfo,
	__NR_rt_tgsigqueueinfo, __NR_rt_sigpending, __NR_wait4, __NR_waitid,
	__NR_pidfd_open, __NR_pidfd_send_signal, __NR_pidfd_getfd,
	__NR_kcmp,
	__NR_getrusage, __NR_getpriority, __NR_sched_yield,
	__NR_sched_getparam, __NR_sched_getscheduler,
	__NR_sched_get_priority_max, __NR_sched_get_priority_min,
	__NR_sched_rr_get_interval, __NR_sched_getaffinity,
	__NR_sched_getattr, __NR_get_robust_list, __NR_ioprio_get,
	/* kernel AIO */
	__NR_io_setup, __NR_io_destroy, __NR_io_getevents, __NR_io_submit,
	__NR_io_cancel,
	/* miscellaneous queries */
	__NR_uname, __NR_sysinfo, __NR_getcpu, __NR_getrandom, __NR_sysfs,
	__NR_lsm_get_self_attr, __NR_lsm_list_modules,
};

/*
 * What an atom may run, by system call number: one byte load answers it
 * on the cached path, which runs this for every atom.
 */
u8 syslet_nr_classes[NR_syscalls] __ro_after_init;

/* The allowed calls whose arguments syslet_atom_args_check() looks at. */
static const u16 syslet_checked_nrs[] __initconst = {
	__NR_ioctl, __NR_futex, __NR_close_range, __NR_timer_create,
};

static int __init syslet_allow_init(void)
{
	unsigned int i, nr;

	for (i = 0; i < ARRAY_SIZE(syslet_allowed_nrs); i++)
		syslet_nr_classes[syslet_allowed_nrs[i]] = SYSLET_NR_ALLOWED;
	/* Never allows a call the list above does not. */
	for (i = 0; i < ARRAY_SIZE(syslet_checked_nrs); i++) {
		nr = syslet_checked_nrs[i];
		if (syslet_nr_classes[nr] == SYSLET_NR_ALLOWED)
			syslet_nr_classes[nr] = SYSLET_NR_CHECK_ARGS;
	}
	return 0;
}
core_initcall(syslet_allow_init);

/**
 * syslet_nr_allowed - may an atom run system call @nr?
 * @nr: native x86-64 system call number
 */
bool syslet_nr_allowed(unsigned long nr)
{
	return syslet_nr_class(nr) != SYSLET_NR_REFUSED;
}

/**
 * syslet_ioctl_generic - is @cmd an ioctl whose meaning the VFS fixes?
 * @cmd: the command number, as the atom names it
 *
 * The rule looks at the command number only, which the atom fixed when
 * it was fetched, so there is nothing to race with.  These are the
 * commands do_vfs_ioctl() claims for every file: they act on the open
 * file or its inode, never on the calling thread.  Where the VFS passes
 * one on to the file (FIONREAD on a non-regular file, the attribute
 * calls on a file system without fileattr methods) the driver sees a
 * number every driver must treat as the VFS defines it or refuse.
 * Everything else is a driver's own, and some drivers tie state to the
 * calling thread (KVM's vCPU and its FPU, binder's current->pid, ...).
 */
static bool syslet_ioctl_generic(unsigned int cmd)
{
	switch (cmd) {
	case FIOCLEX:
	case FIONCLEX:
	case FIONBIO:
	case FIOASYNC:
	case FIOQSIZE:
	case FIONREAD:
	case FIGETBSZ:
	case FS_IOC_FIEMAP:
	case FICLONE:
	case FICLONERANGE:
	case FIDEDUPERANGE:
	case FS_IOC_GETFLAGS:
	case FS_IOC_SETFLAGS:
	case FS_IOC_FSGETXATTR:
	case FS_IOC_FSSETXATTR:
	case FS_IOC_GETFSUUID:
	case FS_IOC_GETFSSYSFSPATH:
		return true;
	}
	return false;
}

/* PI futexes tie kernel state to the thread that runs the operation. */
static bool syslet_futex_op_pi(u64 op)
{
	switch (op & FUTEX_CMD_MASK) {
	case FUTEX_LOCK_PI:
	case FUTEX_LOCK_PI2:
	case FUTEX_UNLOCK_PI:
	case FUTEX_TRYLOCK_PI:
	case FUTEX_WAIT_REQUEUE_PI:
	case FUTEX_CMP_REQUEUE_PI:
		return true;
	}
	return false;
}

/* A CPU clock of the calling thread itself (pid 0 or CLOCK_THREAD_CPUTIME_ID). */
static bool syslet_own_thread_clock(u64 arg)
{
	clockid_t clk = (clockid_t)arg;

	if (clk >= 0)
		return clk == CLOCK_THREAD_CPUTIME_ID;
	return CPUCLOCK_PERTHREAD(clk) && CPUCLOCK_PID(clk) == 0;
}

/**
 * syslet_atom_args_check - the allowlist's restrictions by argument
 * @nr:		an allowed system call number
 * @args:	its arguments, as fetched (or as a tracer left them)
 * @in_worker:	it runs in a pool thread or cachemiss worker
 *
 * Return: SYSLET_ATOM_RUN; SYSLET_ATOM_STAY to run it in the caller's
 * context without handing off should it block (a non-generic ioctl:
 * the driver sees the thread that called it throughout); or
 * SYSLET_ATOM_REFUSE (-ENOSYS in ret_ptr, the chain ends).
 */
int syslet_atom_args_check(unsigned long nr, const u64 *args, bool in_worker)
{
	switch (nr) {
	case __NR_ioctl:
		if (syslet_ioctl_generic((unsigned int)args[1]))
			return SYSLET_ATOM_RUN;
		return in_worker ? SYSLET_ATOM_REFUSE : SYSLET_ATOM_STAY;
	case __NR_futex:
		return syslet_futex_op_pi(args[1]) ? SYSLET_ATOM_REFUSE :
						     SYSLET_ATOM_RUN;
	case __NR_close_range:
		return (args[2] & CLOSE_RANGE_UNSHARE) ? SYSLET_ATOM_REFUSE :
							  SYSLET_ATOM_RUN;
	case __NR_timer_create:
		return in_worker && syslet_own_thread_clock(args[0]) ?
			SYSLET_ATOM_REFUSE : SYSLET_ATOM_RUN;
	}
	return SYSLET_ATOM_RUN;
}
