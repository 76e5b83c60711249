/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Syslets: kernel-internal interface, called from the process life-cycle
 * code (fork, exec, exit) and from the scheduler (a blocking atom).
 */
#ifndef _LINUX_SYSLET_H
#define _LINUX_SYSLET_H

struct signal_struct;
struct task_struct;

#ifdef CONFIG_SYSLET
bool syslet_nr_allowed(unsigned long nr);
void syslet_free_process(struct signal_struct *sig);
void syslet_exec(struct task_struct *tsk);
void syslet_exit(struct task_struct *tsk, long code);
void syslet_thread_gone(struct task_struct *tsk, bool group_dead);
void syslet_sched_block(struct task_struct *tsk);
#else
static inline void syslet_free_process(struct signal_struct *sig) { }
static inline void syslet_exec(struct task_struct *tsk) { }
static inline void syslet_exit(struct task_struct *tsk, long code) { }
static inline void syslet_thread_gone(struct task_struct *tsk,
				      bool group_dead) { }
static inline void syslet_sched_block(struct task_struct *tsk) { }
#endif

#endif /* _LINUX_SYSLET_H */
