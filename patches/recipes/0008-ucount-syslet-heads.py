HEADER = """ucount: count syslet completion ring heads per user

Every syslet completion ring a process sets up (async_register(), or
lazily async_exec()) costs kernel memory for its head.  Each process
may have SYSLET_MAX_HEADS of them; this bounds them per user as well,
so that forking does not multiply the bound, like inotify instances:
/proc/sys/user/max_syslet_heads, per user namespace.

A ring is set up by a process' first asynchronous call, whose cost must
stay that of the plain call: inc_current_ucount() charges the current
user namespace and euid like inc_ucount(), but takes the entry from the
credentials (cred->ucounts, for the real uid) when euid is the real
uid, instead of looking it up in the hash table under ucounts_lock.

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
("include/linux/user_namespace.h",
"""struct ucounts *inc_ucount(struct user_namespace *ns, kuid_t uid, enum ucount_type type);
""",
"""struct ucounts *inc_ucount(struct user_namespace *ns, kuid_t uid, enum ucount_type type);
struct ucounts *inc_current_ucount(enum ucount_type type);
"""),
("kernel/ucount.c",
"""struct ucounts *inc_ucount(struct user_namespace *ns, kuid_t uid,
			   enum ucount_type type)
{
	struct ucounts *ucounts, *iter, *bad;
	struct user_namespace *tns;
	ucounts = alloc_ucounts(ns, uid);
	for (iter = ucounts; iter; iter = tns->ucounts) {
""",
"""/* Count one more @type at every level of @ucounts, a reference we own. */
static struct ucounts *inc_ucounts_of(struct ucounts *ucounts,
				      enum ucount_type type)
{
	struct ucounts *iter, *bad;
	struct user_namespace *tns;

	for (iter = ucounts; iter; iter = tns->ucounts) {
"""),
("kernel/ucount.c",
"""	put_ucounts(ucounts);
	return NULL;
}

void dec_ucount(struct ucounts *ucounts, enum ucount_type type)
""",
"""	put_ucounts(ucounts);
	return NULL;
}

struct ucounts *inc_ucount(struct user_namespace *ns, kuid_t uid,
			   enum ucount_type type)
{
	return inc_ucounts_of(alloc_ucounts(ns, uid), type);
}

/**
 * inc_current_ucount - inc_ucount() for the current user namespace and euid
 * @type: what to count
 *
 * When euid is the real uid, the credentials hold the entry inc_ucount()
 * would look up in the hash table (cred->ucounts is the real uid's, in
 * cred->user_ns): take it from there, without ucounts_lock.
 *
 * Return: the ucounts charged, to give to dec_ucount(), or NULL if a
 * limit was reached.
 */
struct ucounts *inc_current_ucount(enum ucount_type type)
{
	const struct cred *cred = current_cred();

	if (uid_eq(cred->euid, cred->uid))
		return inc_ucounts_of(get_ucounts(cred->ucounts), type);
	return inc_ucount(cred->user_ns, cred->euid, type);
}

void dec_ucount(struct ucounts *ucounts, enum ucount_type type)
"""),
]
