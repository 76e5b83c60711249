#!/bin/sh
# Guest job of "make series-build": the kernel of one patch of the series
# came up.  Prints its release, and the syslet heads limit once the
# patch that adds it (its ucount) is in.
echo "$(uname -r)"
if [ -r /proc/sys/user/max_syslet_heads ]; then
	echo "max_syslet_heads=$(cat /proc/sys/user/max_syslet_heads)"
fi
exit 0
