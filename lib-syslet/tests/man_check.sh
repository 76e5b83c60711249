#!/bin/sh
# Lints the syslet man pages (man/man2, man/man7) with groff -man -ww and
# mandoc -Tlint: any message from either fails the page.  Also checks
# that every system call of the uapi header has a page and that each page
# is titled after its file.  Prints one KTAP line per check, so that
# results.py counts them in make check's tally; exits non-zero on any
# failure.
#   man_check.sh MANDIR UAPI_HEADER
set -u
mandir=$1
uapi=$2
n=0
failures=0

ok() { n=$((n + 1)); echo "ok $n man_check.$1"; }
not_ok() {
	n=$((n + 1)); echo "not ok $n man_check.$1"; failures=$((failures + 1))
}

for tool in groff mandoc; do
	if ! command -v $tool > /dev/null; then
		echo "not ok 1 man_check.tools_present # $tool is missing (scripts/setup.sh installs it)"
		exit 1
	fi
done

# The messages of both linters for page $2 (man2/x.2) under directory
# $1, run from $1 as man(1) would; empty when the page is clean.
lint() {
	(cd "$1" && groff -man -ww -z "$2" 2>&1; mandoc -Tlint "$2" 2>&1)
}

# The linters must catch a broken page, or a clean run proves nothing.
work=$(mktemp -d /tmp/syslet-man-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/man2"
printf '.TH broken 2 2026-13-45\n.SH NAME\nbroken \\- page\n.SH DESCRIPTION\n.BR\n.XY macro\n' \
	> "$work/man2/broken.2"
if [ -n "$(lint "$work" man2/broken.2)" ]; then
	ok linters_report_a_broken_page
else
	not_ok linters_report_a_broken_page
fi

pages=$(cd "$mandir" && ls man2/*.2 man7/*.7 2>/dev/null)
if [ -z "$pages" ]; then
	not_ok pages_found
	exit 1
fi

for page in $pages; do
	name=$(basename "$page")
	msgs=$(lint "$mandir" "$page")
	if [ -z "$msgs" ]; then
		ok "lint.$name"
	else
		not_ok "lint.$name"
		printf '%s\n' "$msgs" | sed 's/^/# /'
	fi
	# .TH NAME SECTION: the file's name and section, upper case.
	[ -L "$mandir/$page" ] && continue
	want=$(echo "${name%.*} ${name##*.}" | tr '[:lower:]' '[:upper:]')
	got=$(awk '/^\.TH / { print $2, $3; exit }' "$mandir/$page")
	if [ "$got" = "$want" ]; then
		ok "title.$name"
	else
		not_ok "title.$name"
		echo "# .TH says '$got', the file name '$want'"
	fi
done

# Every system call the uapi header numbers has a page in section 2.
calls=$(sed -n 's/^#define __NR_\([a-z_]*\)[[:space:]].*/\1/p' "$uapi")
if [ -z "$calls" ]; then
	not_ok syscalls_found_in_uapi_header
fi
for call in $calls; do
	if [ -e "$mandir/man2/$call.2" ]; then
		ok "page_for.$call"
	else
		not_ok "page_for.$call"
	fi
done

echo "# man_check: $n checks, $failures failed"
[ "$failures" -eq 0 ]
