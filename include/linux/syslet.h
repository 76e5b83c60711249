/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Syslets: kernel-internal interface, called from the process life-cycle
 * code (fork, exec, exit) and from the scheduler (a blocking atom).
 */
#ifndef _LINUX_SYSLET_H
#define _LINUX_SYSLET_H

struct signal_struct;
struct task_struct;

#include <linux/types.h>

#ifdef CONFIG_SYSLET
/* syslet_atom_args_check(): */
#define SYSLET_ATOM_RUN		0	/* run it */
#define SYSLET_ATOM_STAY	1	/* run it, never hand off in it */
#define SYSLET_ATOM_REFUSE	2	/* -ENOSYS, end the chain */
bool syslet_nr_allowed(unsigned long nr);
bool syslet_pool_thread(struct task_struct *tsk);
int syslet_atom_args_check(unsigned long nr, const u64 *args, bool in_worker);
void syslet_free_process(struct signal_struct *sig);
void syslet_exec(struct task_struct *tsk);
void syslet_exit(struct task_struct *tsk, long code);
void syslet_thread_gone(struct task_struct *tsk, bool group_dead);
struct task_struct *syslet_sched_block(struct task_struct *tsk);
#else
static inline bool syslet_pool_thread(struct task_struct *tsk)
{
	return false;
}
static inline void syslet_free_process(struct signal_struct *sig) { }
static inline void syslet_exec(struct task_struct *tsk) { }
static inline void syslet_exit(struct task_struct *tsk, long code) { }
static inline void syslet_thread_gone(struct task_struct *tsk,
				      bool group_dead) { }
static inline struct task_struct *syslet_sched_block(struct task_struct *tsk)
{
	return NULL;
}
#endif

#endif /* _LINUX_SYSLET_H */
