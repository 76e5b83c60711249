# gdb script of "make itrace" (scripts/itrace.sh): attach to the guest's
# QEMU gdb stub, and for each measured call of bench/itrace.c step
# through the kernel one instruction at a time, from entry_SYSCALL_64
# until the CPU is back in user space.  Writes, per call, how many
# instructions each kernel function ran, in the order they ran.
#
# Environment: ITRACE_OUT (report path), ITRACE_SYMS (nm -n of vmlinux).
import bisect
import os

import gdb

CALLS = ["getpid() direct", "getpid atom, no ring", "getpid atom, with ring",
         "stat() direct", "stat atom, with ring",
         ] + ["cachemiss hand-off %d of 5 (read of an empty pipe, until the "
              "spare is in user space)" % i for i in range(1, 6)]
MARK = 0x17ace17ace
DI = 14 * 8  # offsetof(struct pt_regs, di) on x86-64
USER_TOP = 0xffff800000000000

addrs, names = [], []
with open(os.environ["ITRACE_SYMS"]) as f:
    for line in f:
        a, t, n = line.split()[:3]
        if t in "tTwW":
            addrs.append(int(a, 16))
            names.append(n)


def symbol(pc):
    return names[bisect.bisect_right(addrs, pc) - 1]


gdb.execute("set pagination off")
gdb.execute("set confirm off")
gdb.execute("target remote :%s" % os.environ.get("ITRACE_PORT", "1234"))
out = open(os.environ["ITRACE_OUT"], "w")
for call in CALLS:
    gdb.execute("break __x64_sys_getpgid if *(unsigned long *)($rdi + %d) == %d"
                % (DI, MARK))
    gdb.execute("continue")
    gdb.execute("delete")
    gdb.execute("break entry_SYSCALL_64")
    gdb.execute("continue")
    gdb.execute("delete")
    runs, total = [], 0
    while True:
        pc = int(gdb.parse_and_eval("$pc")) & 0xffffffffffffffff
        if pc < USER_TOP:
            break
        name = symbol(pc)
        if runs and runs[-1][0] == name:
            runs[-1][1] += 1
        else:
            runs.append([name, 1])
        total += 1
        if total > 100000:
            break
        gdb.execute("stepi", to_string=True)
    out.write("## %s: %d kernel instructions\n" % (call, total))
    for name, n in runs:
        out.write("  %6d  %s\n" % (n, name))
    out.flush()
out.close()
gdb.execute("kill")
