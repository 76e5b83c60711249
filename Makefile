# Syslets: build, boot and test.  See README.md.
#
#   make run     build what is missing, boot the syslet kernel, run the demo
#   make check   host tests of lib-syslet, then the kselftests in the guest
#                on the debug kernel; ends with "N passed, N failed"
#   make fuzz    long seeded fuzz runs, also racing the hand-off (-r)
#   make stress  long runs of the hand-off stress test (STRESS_SEEDS, STRESS_ARGS)
#   make FLAVOR=perf bench   per-call cost against io_uring, libaio, POSIX
#                AIO and threads on the perf kernel -> bench/results/percall.md
#   make FLAVOR=perf bench-concurrency   blocking concurrency, memory per
#                blocked op, "ls -l" on a throttled virtio disk
#                -> bench/results/concurrency.md (+ PNG plots)
#   make FLAVOR=perf bench-fio   fio 4 KiB random reads on a virtio disk:
#                io_uring, libaio, posixaio (glibc and the syslet shim),
#                psync -> bench/results/fio.md (+ fio.png)
#   make series  export the patch series (git format-patch) for mailing
#                into build/series/out, checkpatch'ed; series-build
#                then builds each patch of it in turn (slow)

TOP      := $(CURDIR)
BUILD    := $(TOP)/build
FLAVOR   ?= debug
KERNEL   := $(BUILD)/$(FLAVOR)/arch/x86/boot/bzImage
GUEST    := $(BUILD)/guest
LOGS     := $(BUILD)/logs
SELFTEST := tools/testing/selftests/syslet
KSELFTEST_INC := $(BUILD)/src/tools/testing/selftests
GUEST_CFLAGS := -Wall -O2 -static -I$(TOP)/include/uapi -I$(KSELFTEST_INC)
GUEST_CXXFLAGS := -std=c++20 -Wall -O2 -static -I$(TOP)/lib-syslet/include -I$(TOP)/include/uapi
BENCH_KERNEL := $(BUILD)/perf/arch/x86/boot/bzImage
QEMU_TIMEOUT ?= 1200
# make check's guest: the suite with the hand-off stress takes ~20 min under TCG
CHECK_TIMEOUT ?= 2100

.PHONY: all setup kernel kernel-debug kernel-perf guest run check percall statbench itrace fuzz stress \
	bench bench-smoke bench-concurrency bench-fio \
	host-tests guest-check series series-build clean help

all: kernel guest

help:
	@sed -n '2,19p' Makefile

setup:
	@$(TOP)/scripts/setup.sh

kernel: setup
	@$(TOP)/scripts/kbuild.sh $(FLAVOR)

kernel-debug kernel-perf: setup
	@$(TOP)/scripts/kbuild.sh $(@:kernel-%=%)

# Static guest programs: selftests, demo, lib-syslet tests and examples.
guest: setup kernel
	@mkdir -p $(GUEST)/bin
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/syslet_test $(SELFTEST)/syslet_test.c -lpthread
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/cachemiss_test $(SELFTEST)/cachemiss_test.c -lpthread
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/security_test $(SELFTEST)/security_test.c -lpthread
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/isolation_test $(SELFTEST)/isolation_test.c -lpthread
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/syslet_fuzz $(SELFTEST)/syslet_fuzz.c -lpthread
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/teardown_test $(SELFTEST)/teardown_test.c -lpthread
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/handoff_test $(SELFTEST)/handoff_test.c -lpthread
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/handoff_stress $(SELFTEST)/handoff_stress.c -lpthread
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/restart_test $(SELFTEST)/restart_test.c -lpthread
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/cancel_test $(SELFTEST)/cancel_test.c -lpthread
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/depth_test $(SELFTEST)/depth_test.c -lpthread
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/load_test $(SELFTEST)/load_test.c -lpthread
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/surface_test $(SELFTEST)/surface_test.c -lpthread
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/race_test $(SELFTEST)/race_test.c -lpthread
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/hello_syslet $(SELFTEST)/hello_syslet.c
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/dirscan demo/dirscan.c
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/handoff demo/handoff.c
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/percall bench/percall.c
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/itrace bench/itrace.c
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/peers bench/peers.c -luring -laio -lpthread
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/peers-first bench/peers-first.c -luring -laio -lpthread
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/blocking bench/blocking.c -luring -lpthread
	gcc $(GUEST_CFLAGS) -o $(GUEST)/bin/lsbench bench/lsbench.c -luring -lpthread
	g++ $(GUEST_CXXFLAGS) -o $(GUEST)/bin/peers-lib bench/peers-lib.cpp -pthread
	g++ $(GUEST_CXXFLAGS) -o $(GUEST)/bin/libsyslet_stat bench/libsyslet_stat.cpp
	@# jobs that other jobs run (check.sh runs bench-smoke.sh, which runs fio.sh)
	cp scripts/guest/fio.sh scripts/guest/bench-smoke.sh $(GUEST)/bin/
	@if [ -f lib-syslet/Makefile ]; then \
		$(MAKE) -s -C lib-syslet guest OUT=$(GUEST)/bin; fi

run: guest
	@mkdir -p $(LOGS)
	$(TOP)/scripts/mkinitramfs.sh $(GUEST)/run.cpio $(TOP)/scripts/guest/run.sh $(GUEST)/bin
	$(TOP)/scripts/qemu-run.sh --timeout $(QEMU_TIMEOUT) $(KERNEL) $(GUEST)/run.cpio $(LOGS)/run; \
		rc=$$?; cat $(LOGS)/run.out; \
		echo "== against io_uring, instructions per call (bench/results/percall.md, make FLAVOR=perf bench) =="; \
		grep -E '^\| (stat atom, with ring|io_uring STATX, persistent ring) \|' $(TOP)/bench/results/percall.md; \
		exit $$rc

host-tests: SHELL := /bin/bash
host-tests: setup
	@mkdir -p $(LOGS)
	@if [ -f lib-syslet/Makefile ]; then \
		$(MAKE) -s -C lib-syslet test 2>&1 | tee $(LOGS)/host-tests.log; \
		echo "$${PIPESTATUS[0]}" > $(LOGS)/host-tests.rc; \
	else echo 0 > $(LOGS)/host-tests.rc; : > $(LOGS)/host-tests.log; fi
	@$(TOP)/scripts/readme-links.py $(TOP) README.md bench/README.md lib-syslet/README.md \
		> $(LOGS)/readme-links.log || grep '^# ' $(LOGS)/readme-links.log || true

# The teardown tests read a virtio disk throttled to 200 operations a
# second, so that chains really wait for disk I/O when they are killed.
CHECK_DISK := file=$(GUEST)/disk.img,if=virtio,format=raw,readonly=on,throttling.iops-total=200
# Debian's fio (dynamic: mkinitramfs.sh --prog brings its libraries along),
# for the fio smoke runs of make check and bench-smoke, and bench-fio.
FIO := /usr/bin/fio

guest-check: guest
	@mkdir -p $(LOGS)
	@[ -f $(GUEST)/disk.img ] || truncate -s 64M $(GUEST)/disk.img
	$(TOP)/scripts/mkinitramfs.sh --prog $(FIO) $(GUEST)/check.cpio $(TOP)/scripts/guest/check.sh $(GUEST)/bin
	@$(TOP)/scripts/qemu-run.sh --timeout $(CHECK_TIMEOUT) --drive $(CHECK_DISK) \
		$(KERNEL) $(GUEST)/check.cpio $(LOGS)/check; \
		echo $$? > $(LOGS)/guest.rc

check: SHELL := /bin/bash
check: host-tests guest-check
	@$(TOP)/scripts/results.py \
		--tests $(LOGS)/host-tests.log --status host-tests=$$(cat $(LOGS)/host-tests.rc) \
		--tests $(LOGS)/readme-links.log \
		--tests $(LOGS)/check.out --console $(LOGS)/check.console \
		--status guest=$$(cat $(LOGS)/guest.rc)

# A long fuzz run on the debug kernel (make check runs a short one).
# FUZZ_ARGS go to each syslet_fuzz run; FUZZ_SEEDS seeds are run in turn.
FUZZ_SEEDS ?= 1 2 3 4 5 6 7 8
FUZZ_ARGS ?= -p 9 -t 6 -n 1000
# and each seed once more with the hand-off races of issue 13 (-r)
FUZZ_RACE_ARGS ?= -r -p 9 -t 6 -n 1000
FUZZ_TIMEOUT ?= 2400
fuzz: guest
	@mkdir -p $(LOGS)
	$(TOP)/scripts/mkinitramfs.sh --env 'FUZZ_SEEDS=$(FUZZ_SEEDS)' --env 'FUZZ_ARGS=$(FUZZ_ARGS)' \
		--env 'FUZZ_RACE_ARGS=$(FUZZ_RACE_ARGS)' $(GUEST)/fuzz.cpio $(TOP)/scripts/guest/fuzz.sh $(GUEST)/bin
	@$(TOP)/scripts/qemu-run.sh --timeout $(FUZZ_TIMEOUT) $(KERNEL) $(GUEST)/fuzz.cpio $(LOGS)/fuzz; \
		echo $$? > $(LOGS)/fuzz.rc
	@$(TOP)/scripts/results.py --tests $(LOGS)/fuzz.out --console $(LOGS)/fuzz.console \
		--status guest=$$(cat $(LOGS)/fuzz.rc)

# A long run of the hand-off stress test on the debug kernel (make check
# runs 150 s of it with seed 1): STRESS_SEEDS in turn, STRESS_ARGS each.
STRESS_SEEDS ?= 1 2 3
STRESS_ARGS ?= -d 900 -w 6 -h 3
stress: guest
	@mkdir -p $(LOGS)
	$(TOP)/scripts/mkinitramfs.sh --env 'STRESS_SEEDS=$(STRESS_SEEDS)' --env 'STRESS_ARGS=$(STRESS_ARGS)' \
		$(GUEST)/stress.cpio $(TOP)/scripts/guest/stress.sh $(GUEST)/bin
	@$(TOP)/scripts/qemu-run.sh --timeout $$(( $(words $(STRESS_SEEDS)) * 1200 + 300 )) $(KERNEL) $(GUEST)/stress.cpio $(LOGS)/stress; \
		echo $$? > $(LOGS)/stress.rc
	@$(TOP)/scripts/results.py --tests $(LOGS)/stress.out --console $(LOGS)/stress.console \
		--status guest=$$(cat $(LOGS)/stress.rc)

# Per-call cost in instructions (QEMU -icount: 1 ns = 1 instruction).
percall: guest
	@mkdir -p $(LOGS)
	$(TOP)/scripts/mkinitramfs.sh $(GUEST)/percall.cpio $(TOP)/scripts/guest/percall.sh $(GUEST)/bin
	$(TOP)/scripts/qemu-run.sh --icount --timeout $(QEMU_TIMEOUT) $(KERNEL) $(GUEST)/percall.cpio $(LOGS)/percall

# Instructions per syslet::async_stat() vs stat(): steady state and the
# first call in a fresh process, on the perf kernel (like bench);
# writes bench/results/statbench.md.
statbench: guest kernel-perf
	@mkdir -p $(LOGS)
	$(TOP)/scripts/benchlog.py $(LOGS)/statbench scripts/guest/statbench.sh
	$(TOP)/scripts/mkinitramfs.sh $(GUEST)/statbench.cpio $(TOP)/scripts/guest/statbench.sh $(GUEST)/bin
	$(TOP)/scripts/qemu-run.sh --icount --timeout $(QEMU_TIMEOUT) $(BENCH_KERNEL) $(GUEST)/statbench.cpio $(LOGS)/statbench
	$(TOP)/scripts/statbench-report.py $(LOGS)/statbench -o $(TOP)/bench/results/statbench.md
	@cat $(TOP)/bench/results/statbench.md

# Where the cached path's instructions go: the perf kernel single-stepped
# under QEMU's gdb stub, function by function, for getpid and stat direct
# and as atoms (bench/itrace.c) -> bench/results/itrace.txt.
itrace: guest kernel-perf
	$(TOP)/scripts/itrace.sh $(BUILD)/perf $(GUEST)/bin $(TOP)/bench/results/itrace.txt

# Syslets against io_uring, libaio, POSIX AIO and a thread pool, per call
# and first call, in instructions, all in one boot of the perf kernel
# (whatever FLAVOR says; FLAVOR=perf avoids building the debug one too);
# writes bench/results/percall.md.
bench: guest kernel-perf
	@mkdir -p $(LOGS)
	$(TOP)/scripts/mkinitramfs.sh $(GUEST)/bench.cpio $(TOP)/scripts/guest/bench.sh $(GUEST)/bin
	$(TOP)/scripts/qemu-run.sh --icount --timeout $(QEMU_TIMEOUT) $(BENCH_KERNEL) $(GUEST)/bench.cpio $(LOGS)/bench
	$(TOP)/scripts/bench-table.py $(LOGS)/bench -o $(TOP)/bench/results/percall.md
	@cat $(TOP)/bench/results/percall.md

# Blocking concurrency, memory per blocked operation and "ls -l" of a
# 10,000-file ext4 tree on a throttled virtio disk (CONC_DRIVE: QEMU's
# -drive options; throttling caps the request rate), syslets against
# threads and io_uring, in one boot of the perf kernel with plain TCG
# wall time, then the hot-cache "ls -l" again under -icount (instructions,
# immune to host load); writes bench/results/concurrency.md and its plots.
CONC_IMG   := $(BUILD)/bench/lstree.img
CONC_DRIVE ?= if=virtio,format=raw,readonly=on,throttling.iops-total=200,throttling.bps-total=67108864
CONC_REPS  ?= 5
bench-concurrency: guest kernel-perf
	@mkdir -p $(LOGS)
	$(TOP)/scripts/mkdiskimg.sh $(CONC_IMG)
	$(TOP)/scripts/benchlog.py $(LOGS)/concurrency scripts/guest/concurrency.sh
	cp $(LOGS)/concurrency.commit $(LOGS)/ls-icount.commit
	$(TOP)/scripts/mkinitramfs.sh --env 'REPS=$(CONC_REPS)' \
		$(GUEST)/concurrency.cpio $(TOP)/scripts/guest/concurrency.sh $(GUEST)/bin
	$(TOP)/scripts/qemu-run.sh --timeout $(QEMU_TIMEOUT) --drive file=$(CONC_IMG),$(CONC_DRIVE) \
		$(BENCH_KERNEL) $(GUEST)/concurrency.cpio $(LOGS)/concurrency
	$(TOP)/scripts/mkinitramfs.sh $(GUEST)/ls-icount.cpio $(TOP)/scripts/guest/ls-icount.sh $(GUEST)/bin
	$(TOP)/scripts/qemu-run.sh --icount --timeout $(QEMU_TIMEOUT) --drive file=$(CONC_IMG),$(CONC_DRIVE) \
		$(BENCH_KERNEL) $(GUEST)/ls-icount.cpio $(LOGS)/ls-icount
	$(TOP)/scripts/concurrency-report.py $(LOGS)/concurrency --icount $(LOGS)/ls-icount \
		-o $(TOP)/bench/results/concurrency.md
	@cat $(TOP)/bench/results/concurrency.md

# fio as a user would run it, on the perf kernel (whatever FLAVOR says):
# 4 KiB random reads of a 1 GiB virtio disk (a file of random bytes, read
# into the host's page cache first), O_DIRECT and cold buffered, depths 1,
# 16 and 64, with io_uring, libaio, posixaio (glibc's, and the syslet shim
# by LD_PRELOAD=libsyslet-aio.so) and psync; FIO_ROUNDS rounds of the whole
# matrix in one boot, FIO_RUNTIME seconds a run (about 9 minutes under TCG
# with the defaults); writes bench/results/fio.md and fio.png.
FIO_IMG     := $(BUILD)/bench/fio.img
FIO_DRIVE   ?= if=virtio,format=raw,readonly=on
FIO_ROUNDS  ?= 5
FIO_RUNTIME ?= 2
bench-fio: guest kernel-perf
	@mkdir -p $(LOGS) $(dir $(FIO_IMG))
	@[ -f $(FIO_IMG) ] || { head -c 1G /dev/urandom > $(FIO_IMG).tmp && mv $(FIO_IMG).tmp $(FIO_IMG); }
	cat $(FIO_IMG) > /dev/null
	$(TOP)/scripts/benchlog.py $(LOGS)/fio scripts/guest/fio.sh
	$(TOP)/scripts/mkinitramfs.sh --prog $(FIO) --env 'FIO_ROUNDS=$(FIO_ROUNDS)' --env 'FIO_RUNTIME=$(FIO_RUNTIME)' \
		$(GUEST)/fio.cpio $(TOP)/scripts/guest/fio.sh $(GUEST)/bin
	$(TOP)/scripts/qemu-run.sh --timeout $(QEMU_TIMEOUT) --drive file=$(FIO_IMG),$(FIO_DRIVE) \
		$(BENCH_KERNEL) $(GUEST)/fio.cpio $(LOGS)/fio
	$(TOP)/scripts/fio-report.py $(LOGS)/fio -o $(TOP)/bench/results/fio.md
	@cat $(TOP)/bench/results/fio.md

# Every peer of "bench" a few times, results checked (KTAP), on $(FLAVOR);
# fio reads make check's throttled disk.
bench-smoke: guest
	@mkdir -p $(LOGS)
	@[ -f $(GUEST)/disk.img ] || truncate -s 64M $(GUEST)/disk.img
	$(TOP)/scripts/mkinitramfs.sh --prog $(FIO) $(GUEST)/bench-smoke.cpio $(TOP)/scripts/guest/bench-smoke.sh $(GUEST)/bin
	@$(TOP)/scripts/qemu-run.sh --timeout $(QEMU_TIMEOUT) --drive $(CHECK_DISK) \
		$(KERNEL) $(GUEST)/bench-smoke.cpio $(LOGS)/bench-smoke; \
		rc=$$?; $(TOP)/scripts/results.py --tests $(LOGS)/bench-smoke.out \
		--console $(LOGS)/bench-smoke.console --status guest=$$rc

# A git format-patch series with a cover letter in build/series/out, made
# in a throwaway repository on the pristine tree; fails on checkpatch errors.
series:
	@$(TOP)/scripts/mkseries.sh

# Check out and build every patch of that series in turn (perf config,
# build/series/obj); stops at the first one that does not build.
series-build: setup series
	@$(TOP)/scripts/series-build.sh

clean:
	rm -rf $(GUEST) $(LOGS)
