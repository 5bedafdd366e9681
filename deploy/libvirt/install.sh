#!/bin/sh
# install.sh -- install rasd's libvirt hook and its settings file.
#
#   deploy/libvirt/install.sh [--hooks-dir DIR] [--conf PATH] [--drop-in]
#
# The hook goes to DIR/qemu (default /etc/libvirt/hooks/qemu). When another
# program's hook already lives there, it goes to DIR/qemu.d/rasd instead
# (libvirt >= 6.5 runs every script in qemu.d; older libvirt: refused,
# chain the two by hand). --drop-in always uses qemu.d. A hook of ours found
# in either place is replaced in place.
# The settings go to PATH (default /etc/rasd/hook.conf) unless that file
# exists; a PATH other than the default is written into the installed hook.
# libvirtd looks for hooks only when it starts: restart it afterwards.
set -eu
PATH=$PATH:/usr/sbin:/sbin

here=$(cd "$(dirname "$0")" && pwd)
hooks=/etc/libvirt/hooks
conf=/etc/rasd/hook.conf
dropin=no

usage() {
	echo "usage: $0 [--hooks-dir DIR] [--conf PATH] [--drop-in]" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--hooks-dir) [ $# -ge 2 ] || usage; hooks=$2; shift 2 ;;
	--conf) [ $# -ge 2 ] || usage; conf=$2; shift 2 ;;
	--drop-in) dropin=yes; shift ;;
	-h|--help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) usage ;;
	esac
done

# Is FILE a hook this script installed?
ours() {
	[ -f "$1" ] && grep -q '^# rasd-hook:' "$1"
}

# Does the installed libvirt run qemu.d/ drop-ins (6.5 and later)?
libvirt_has_dropins() {
	v=$( (libvirtd --version || virtqemud --version) 2>/dev/null |
	    sed -n 's/.* \([0-9][0-9]*\.[0-9][0-9]*\)\..*/\1/p' |
	    head -n 1)
	[ -n "$v" ] || return 1
	major=${v%.*} minor=${v#*.}
	[ "$major" -gt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -ge 5 ]; }
}

if ours "$hooks/qemu.d/rasd"; then
	target=$hooks/qemu.d/rasd
elif [ "$dropin" = no ] && { [ ! -e "$hooks/qemu" ] || ours "$hooks/qemu"; }; then
	target=$hooks/qemu
else
	if ! libvirt_has_dropins; then
		echo "$0: $hooks/qemu is another program's hook and this" \
		    "libvirt does not run $hooks/qemu.d/ (needs 6.5 or later):" \
		    "call $here/qemu from that hook with the same arguments" \
		    "and stdin" >&2
		exit 1
	fi
	target=$hooks/qemu.d/rasd
fi

mkdir -p "$(dirname "$target")"
tmp=$target.rasd-new
if [ "$conf" = /etc/rasd/hook.conf ]; then
	cp "$here/qemu" "$tmp"
else
	sed "s|^RASD_HOOK_CONF=.*|RASD_HOOK_CONF=\${RASD_HOOK_CONF:-$conf}|" \
	    "$here/qemu" >"$tmp"
fi
chmod 0755 "$tmp"
mv -f "$tmp" "$target"
echo "installed the libvirt hook as $target"
if [ "$target" = "$hooks/qemu.d/rasd" ] && [ -e "$hooks/qemu" ]; then
	echo "  (next to the existing $hooks/qemu, which libvirt runs first)"
fi

if [ -e "$conf" ]; then
	echo "kept the existing settings in $conf"
else
	mkdir -p "$(dirname "$conf")"
	cp "$here/hook.conf" "$conf"
	chmod 0644 "$conf"
	echo "installed the hook settings as $conf (REQUIRED=no)"
fi
echo "restart libvirtd so that it finds the hook (it looks only at start)"
