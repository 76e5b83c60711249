# shellcheck shell=bash
# Kernel configuration shared by scripts/kbuild.sh and scripts/series-build.sh.
# Source it; it defines functions only.
#
#   syslet_config_stamp FRAGMENT...        print the fragments' stamp
#   syslet_config_stale OUT STAMP          true if OUT needs configuring
#   syslet_configure SRC OUT FRAGMENT...   configure OUT, check, stamp
#
# syslet_configure runs tinyconfig in OUT, merges the fragments in order,
# runs olddefconfig and checks that every "CONFIG_X=..." and
# "# CONFIG_X is not set" line of the fragments holds; it returns 1 (after
# saying what is wrong) if one does not.  With SYSLET_CONFIG_LENIENT=1 a
# symbol that no Kconfig file of SRC defines is reported but not fatal
# (series-build.sh: CONFIG_SYSLET only exists from the patch that adds it).

syslet_config_stamp() {
	cat "$@" | sha256sum | cut -d' ' -f1
}

syslet_config_stale() { # out stamp
	[ ! -f "$1/.config" ] || [ "$(cat "$1/.syslet-config-stamp" 2>/dev/null)" != "$2" ]
}

# Is CONFIG_<sym> defined by some Kconfig file of the tree?
syslet_config_known() { # src sym
	grep -rqsE --include='Kconfig*' "^[[:space:]]*(menu)?config[[:space:]]+${2#CONFIG_}[[:space:]]*$" "$1"
}

syslet_configure() { # src out fragment...
	local src=$1 out=$2 bad=0 line sym got
	shift 2
	make -s -C "$src" O="$out" tinyconfig >/dev/null || return 1
	(cd "$src" && KCONFIG_CONFIG="$out/.config" \
		scripts/kconfig/merge_config.sh -m -O "$out" "$out/.config" "$@" >/dev/null) || return 1
	make -s -C "$src" O="$out" olddefconfig >/dev/null || return 1
	while read -r line; do
		got=
		case "$line" in
		CONFIG_*=*)
			sym=${line%%=*}
			grep -qxF "$line" "$out/.config" ||
				got="wanted $line, got: $(grep "^$sym=" "$out/.config" || echo unset)" ;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }; sym=${sym%% *}
			if grep -q "^$sym=" "$out/.config"; then
				got="wanted $sym unset, got $(grep "^$sym=" "$out/.config")"
			fi ;;
		esac
		[ -n "$got" ] || continue
		if [ "${SYSLET_CONFIG_LENIENT:-0}" = 1 ] && ! syslet_config_known "$src" "$sym"; then
			echo "config: $sym is not defined in this tree (yet): ignored" >&2
		else
			echo "config: $got" >&2
			bad=1
		fi
	done < <(cat "$@")
	[ $bad -eq 0 ] || { echo "kbuild: config fragments not satisfied" >&2; return 1; }
}
