#!/bin/sh
# tools/deps.sh -- install the Debian 12 packages rasd builds, tests and
# demos with. Installs only what is missing; needs root (or sudo).
set -e
PKGS="build-essential pkg-config libevent-dev libprotobuf-c-dev protobuf-c-compiler
libsqlite3-dev sqlite3 libcriterion-dev acpica-tools jq procps libvirt-dev
libvirt-daemon-system libvirt-clients qemu-system-x86 nettle-dev libgnutls28-dev gnutls-bin busybox-static cpio xz-utils
prometheus curl debhelper dpkg-dev fakeroot lintian man-db systemd
libjansson-dev etcd-server etcd-client"
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "deps: installing$missing"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
