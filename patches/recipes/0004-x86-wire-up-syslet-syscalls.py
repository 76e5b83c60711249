HEADER = """x86/syscalls: wire up the syslet system calls

Numbers 463-469, ABI "64" only: x32 and ia32 callers get -ENOSYS.  These
are out-of-tree numbers (mainline uses 463 and up from 6.13 on); user
space takes them from <linux/syslet.h>.
"""
EDITS = [
("arch/x86/entry/syscalls/syscall_64.tbl",
"""462 	common  mseal			sys_mseal
""",
"""462 	common  mseal			sys_mseal
463	64	async_register		sys_async_register
464	64	async_unregister	sys_async_unregister
465	64	async_exec		sys_async_exec
466	64	async_wait		sys_async_wait
467	64	async_thread		sys_async_thread
468	64	umem_add		sys_umem_add
469	64	async_cancel		sys_async_cancel
"""),
("include/linux/syscalls.h",
"""asmlinkage long sys_mseal(unsigned long start, size_t len, unsigned long flags);
""",
"""asmlinkage long sys_mseal(unsigned long start, size_t len, unsigned long flags);
struct syslet_uatom;
struct async_head_user;
asmlinkage long sys_async_register(struct async_head_user __user *ahu,
				   size_t size);
asmlinkage long sys_async_unregister(struct async_head_user __user *ahu,
				     size_t size);
asmlinkage long sys_async_exec(struct syslet_uatom __user *atom,
			       struct async_head_user __user *ahu, size_t size);
asmlinkage long sys_async_wait(unsigned long min_events,
			       struct async_head_user __user *ahu,
			       const struct __kernel_timespec __user *timeout);
asmlinkage long sys_async_thread(void __user *event,
				 struct async_head_user __user *ahu);
asmlinkage long sys_umem_add(u64 __user *uptr, u64 inc);
asmlinkage long sys_async_cancel(struct syslet_uatom __user *atom,
				 struct async_head_user __user *ahu,
				 unsigned int flags);
"""),
("kernel/sys_ni.c",
"""COND_SYSCALL(mseal);
""",
"""COND_SYSCALL(mseal);
COND_SYSCALL(async_register);
COND_SYSCALL(async_unregister);
COND_SYSCALL(async_exec);
COND_SYSCALL(async_wait);
COND_SYSCALL(async_thread);
COND_SYSCALL(umem_add);
COND_SYSCALL(async_cancel);
"""),
]
