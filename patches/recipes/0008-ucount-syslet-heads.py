HEADER = """ucount: count syslet completion ring heads per user

Every syslet completion ring a process sets up (async_register(), or
lazily async_exec()) costs kernel memory for its head.  Each process
may have SYSLET_MAX_HEADS of them; this bounds them per user as well,
so that forking does not multiply the bound, like inotify instances:
/proc/sys/user/max_syslet_heads, per user namespace.

Series-Phase: hook
"""
EDITS = [
("include/linux/user_namespace.h",
"""#ifdef CONFIG_FANOTIFY
	UCOUNT_FANOTIFY_GROUPS,
	UCOUNT_FANOTIFY_MARKS,
#endif
	UCOUNT_COUNTS,
""",
"""#ifdef CONFIG_FANOTIFY
	UCOUNT_FANOTIFY_GROUPS,
	UCOUNT_FANOTIFY_MARKS,
#endif
#ifdef CONFIG_SYSLET
	UCOUNT_SYSLET_HEADS,
#endif
	UCOUNT_COUNTS,
"""),
("kernel/ucount.c",
"""#ifdef CONFIG_FANOTIFY
	UCOUNT_ENTRY("max_fanotify_groups"),
	UCOUNT_ENTRY("max_fanotify_marks"),
#endif
""",
"""#ifdef CONFIG_FANOTIFY
	UCOUNT_ENTRY("max_fanotify_groups"),
	UCOUNT_ENTRY("max_fanotify_marks"),
#endif
#ifdef CONFIG_SYSLET
	UCOUNT_ENTRY("max_syslet_heads"),
#endif
"""),
]
