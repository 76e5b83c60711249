#!/bin/sh
# Guest job of "make bench-concurrency", second boot: the hot-cache "ls -l"
# passes under QEMU -icount shift=0,sleep=off (1 ns = 1 guest instruction),
# where host load does not move the figures.  Cold passes are printed too
# but mean nothing here (disk time is not counted in instructions).
rc=0
echo "BENCH-KERNEL: $(uname -r)"
mkdir -p /mnt
mount -t ext4 -o ro /dev/vda /mnt || exit 1
for peer in seq syslet uring uring64 pool8 pool64; do
	./lsbench $peer /mnt/tree 5 || rc=1
done
umount /mnt
exit $rc
