// SPDX-License-Identifier: GPL-2.0
/*
 * Syslets: the system calls an atom may run.
 *
 * This is an allowlist.  Left out are the calls that replace or depend on
 * the caller's register frame or per-thread identity (fork, clone, exec,
 * exit, rt_sigreturn, arch_prctl, set_tid_address, rseq, sigaltstack,
 * signal-mask swaps and waits for a signal), calls that change
 * credentials, namespaces, scheduling or memory policy of "the calling
 * thread" (which for an atom might be a pool thread), system
 * administration, io_uring, and the syslet calls themselves (no
 * recursion).  A call missing here fails in the atom with -ENOSYS.
 *
 * Also left out: getrlimit, setrlimit and prlimit64.  do_prlimit() locks
 * and unlocks ->group_leader of the target without tasklist_lock, and a
 * hand-off of the group leader (cachemiss.c) moves the leadership while
 * pool threads and the blocked leader run atoms.  None of the calls
 * below reads ->group_leader that way (see "The group leader" in
 * Documentation/syslet-design.txt).
 */
#include <linux/bitmap.h>
#include <linux/cache.h>
#include <linux/init.h>
#include <linux/syslet.h>
#include <asm/unistd.h>

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

static DECLARE_BITMAP(syslet_allowed, NR_syscalls) __ro_after_init;

static int __init syslet_allow_init(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(syslet_allowed_nrs); i++)
		__set_bit(syslet_allowed_nrs[i], syslet_allowed);
	return 0;
}
core_initcall(syslet_allow_init);

/**
 * syslet_nr_allowed - may an atom run system call @nr?
 * @nr: native x86-64 system call number
 */
bool syslet_nr_allowed(unsigned long nr)
{
	return nr < NR_syscalls && test_bit(nr, syslet_allowed);
}
