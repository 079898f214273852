#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build-image.sh -- build (once) the artefacts the full-stack guests boot from:
#   vmlinux      the Debian kernel, uncompressed (booted via its PVH entry: no decompressor
#                under TCG, ~6 s saved per boot)
#   initrd.cpio  busybox stage 1 (guest/stage1-init) + the modules it needs to reach the root
#                disk and the 9p control share
#   rootfs.img   ext4, a debootstrap --variant=minbase bookworm with the packages below and the
#                dependency closure of the kernel modules the scenarios need
# Recipe and numbers: /work/shared/notes/fullstack-vm.md, fullstack-fencing.md.
#
# Cached by a content key: sha256 of this script and of guest/stage1-init (the package and
# module lists live in this script). The result is $CACHE/<key>/, and $CACHE/current is a
# symlink to the last one built; one older build is kept, older ones are removed. A second run
# with the same key does nothing. Prints the
# directory on stdout (everything else goes to stderr).
#
# Usage: build-image.sh [--print-key] [--force]
# Env:   KVMCD_FULLSTACK_CACHE   cache dir (default /var/cache/kvmcd-fullstack)
#        KVMCD_FULLSTACK_MIRROR  Debian mirror (default: the host's first deb.debian.org-style
#                                URI from its apt sources, else http://deb.debian.org/debian)
# Needs root: debootstrap, chroot, mkfs.ext4 -d keeping owners.
set -eu
set -o pipefail

HERE=$(dirname "$(readlink -f "$0")")
CACHE=${KVMCD_FULLSTACK_CACHE:-/var/cache/kvmcd-fullstack}
SUITE=bookworm

# What the guests run. Later scenarios run kvmcd in the node guests (its runtime libraries
# below), ontap-sim in the target guest (libmicrohttpd, gnutls, jansson), and libvirt with
# nested qemu in the node guests (fullstack-fencing.md §4).
PACKAGES="
	bash coreutils util-linux procps psmisc iproute2 iputils-ping kmod udev dbus e2fsprogs
	python3 sg3-utils
	corosync dlm-controld ocfs2-tools gfs2-utils
	open-iscsi nvme-cli multipath-tools targetcli-fb
	libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86
	libjansson4 libcurl4 libinih1 libsystemd0 libcpg4 libquorum5 libvotequorum8 libcmap4
	libcfg7 libcorosync-common4 libnvme1 libdlm3 libvirt0 libmicrohttpd12 libgnutls30 libjson-c5
"
# Kernel modules, with their dependency closure (modprobe --show-depends).
# Stage 1 loads these to reach the root disk and the share:
STAGE1_MODULES="virtio_pci virtio_blk ext4 crc32c_generic 9pnet_virtio 9p"
# The root image carries these (stage 2 and the scenarios modprobe them; xfs for the target's
# data disk, which fs up formats as XFS with reflink for the simulator's LUN copies):
ROOT_MODULES="$STAGE1_MODULES virtio_net virtio_console virtio_rng
	iscsi_tcp scsi_dh_alua sd_mod sg dm_multipath dm_round_robin dm_service_time dm_queue_length
	nvme_tcp nvme_fabrics nvmet nvmet_tcp
	target_core_mod target_core_iblock target_core_file target_core_user iscsi_target_mod
	configfs dlm ocfs2 ocfs2_stack_user gfs2
	i6300esb softdog ib700wdt
	inet_diag tcp_diag udp_diag sctp tun bridge loop fuse overlay
	xfs"
ROOT_FREE_MB=384   # room left in the root image (guests write to a snapshot overlay anyway)

msg() { printf 'build-image: %s\n' "$*" >&2; }
die() { printf 'build-image: error: %s\n' "$*" >&2; exit 1; }

cache_key() {
	{ cat "$0" "$HERE/guest/stage1-init"; echo "$SUITE"; } | sha256sum | cut -c1-16
}

default_mirror() {
	local m
	m=$(grep -h -E '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
		grep -v security | grep -o -E 'https?://[^ ]+/debian/?' | head -1)
	echo "${m:-http://deb.debian.org/debian}"
}

need_tools() {
	local t missing=""
	for t in debootstrap busybox cpio depmod modprobe mkfs.ext4 xz dpkg-deb apt-get chroot sha256sum; do
		command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
	done
	[ -z "$missing" ] || die "missing host tools:$missing (packaging/install-deps.sh with KVMCD_FULLSTACK=1)"
	[ -e /bin/busybox ] && busybox --list 2>/dev/null | grep -qx switch_root ||
		die "need a static busybox with switch_root (package busybox-static)"
	file_is_static /bin/busybox || die "/bin/busybox is not static (install busybox-static)"
	[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot)"
}

file_is_static() { ! ldd "$1" >/dev/null 2>&1; }

kernel_package() {
	apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'
}

# The kernel: the package linux-image-amd64 points at, extracted (not installed) into $1.
fetch_kernel() {
	local out=$1 pkg deb
	pkg=$(kernel_package)
	if [ -z "$pkg" ]; then   # no package lists yet on a fresh machine
		apt-get update -q >&2 || die "apt-get update failed"
		pkg=$(kernel_package)
	fi
	[ -n "$pkg" ] || die "cannot resolve linux-image-amd64 with apt-cache"
	# (as root into a root-owned dir: apt's _apt sandbox user could not write there)
	( cd "$out" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2 ) ||
		die "apt-get download $pkg failed"
	deb=$(ls "$out"/"$pkg"_*.deb)
	dpkg-deb -x "$deb" "$out/k" || die "dpkg-deb -x $deb failed"
	rm -f "$deb"
	echo "$pkg"
}

# Extract the uncompressed ELF from a bzImage with an xz payload (CONFIG_KERNEL_XZ, Debian).
extract_vmlinux() { # bzImage out
	local off
	off=$(LC_ALL=C grep -abo -m1 $'\xfd7zXZ' "$1" | head -1 | cut -d: -f1) || true
	[ -n "$off" ] || die "no xz payload in $1"
	tail -c +$((off + 1)) "$1" | xz -dc 2>/dev/null >"$2" || true
	[ "$(head -c 4 "$2" | od -An -c | tr -d ' ')" = '177ELF' ] || die "extracting vmlinux from $1 failed"
}

# Prints the .ko paths (relative to $1) of the modules named and their dependencies, in load order.
module_closure() { # kroot kver modules...
	local kroot=$1 kver=$2 m; shift 2
	for m in "$@"; do
		modprobe -d "$kroot" -S "$kver" --show-depends "$m" 2>/dev/null ||
			die "module $m not found for $kver"
	done | awk '$1=="insmod"{print $2}' | sed "s|^$kroot/||" | awk '!seen[$0]++'
}

debootstrap_root() { # dir mirror
	local root=$1 mirror=$2 inc
	inc=$(echo $PACKAGES | tr ' ' ',')
	msg "debootstrap --variant=minbase $SUITE (first stage) from $mirror"
	debootstrap --foreign --variant=minbase --include="$inc" "$SUITE" "$root" "$mirror" >&2 ||
		die "debootstrap first stage failed (see $root/debootstrap/debootstrap.log)"
	# No package script may start a daemon on the HOST (the chroot shares its network).
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"
	msg "debootstrap second stage"
	chroot "$root" /debootstrap/debootstrap --second-stage >&2 ||
		die "debootstrap second stage failed (see $root/debootstrap/debootstrap.log)"
	mountpoint -q "$root/proc" && umount "$root/proc"
	mountpoint -q "$root/sys" && umount "$root/sys"
	return 0
}

configure_root() { # root
	local r=$1
	# libvirtd's qemu driver aborts the whole daemon without this user (fullstack-vm.md pitfall 9).
	chroot "$r" sh -c 'getent passwd libvirt-qemu >/dev/null || useradd -r -U -d /var/lib/libvirt libvirt-qemu'
	mkdir -p "$r/var/log/libvirt" "$r/var/lib/libvirt" "$r/etc/nvme" "$r/etc/iscsi" "$r/etc/dlm" \
		"$r/mnt/ocfs2" "$r/mnt/gfs2" "$r/share"
	ln -sf ../proc/self/mounts "$r/etc/mtab"     # mkfs.ocfs2 needs /etc/mtab (pitfall 6)
	echo fsvm >"$r/etc/hostname"
	# written at boot from fsvm.name (init.sh); remove the image-wide ones so nothing stale is used
	rm -f "$r/etc/nvme/hostnqn" "$r/etc/nvme/hostid" "$r/etc/iscsi/initiatorname.iscsi" "$r/etc/machine-id"
	: >"$r/etc/machine-id"
	printf 'enable_fencing=0\n' >"$r/etc/dlm/dlm.conf"
	rm -f "$r/usr/sbin/policy-rc.d"
	rm -rf "$r/var/cache/apt/archives/"*.deb "$r/var/lib/apt/lists/"* "$r/debootstrap" \
		"$r/usr/share/doc" "$r/usr/share/man" "$r/usr/share/locale"
}

build() { # dest
	local dest=$1 w kpkg kver kroot m mods mirror t0
	t0=$(date +%s)
	w=$dest.tmp.$$
	rm -rf "$w"; mkdir -p "$w"
	trap 'umount "$w/root/proc" "$w/root/sys" 2>/dev/null; rm -rf "$w"' EXIT
	mirror=${KVMCD_FULLSTACK_MIRROR:-$(default_mirror)}

	msg "kernel"
	kpkg=$(fetch_kernel "$w")
	kver=${kpkg#linux-image-}
	kroot=$w/k
	depmod -b "$kroot" "$kver" || die "depmod for $kver failed"
	extract_vmlinux "$kroot/boot/vmlinuz-$kver" "$w/vmlinux"

	msg "stage-1 initramfs"
	mkdir -p "$w/i/bin" "$w/i/proc" "$w/i/sys" "$w/i/dev" "$w/i/newroot" "$w/i/modules"
	cp /bin/busybox "$w/i/bin/busybox"
	install -m 755 "$HERE/guest/stage1-init" "$w/i/init"
	# shellcheck disable=SC2086
	mods=$(module_closure "$kroot" "$kver" $STAGE1_MODULES)
	for m in $mods; do
		cp "$kroot/$m" "$w/i/modules/"
		echo "${m##*/}" >>"$w/i/modules.list"
	done
	( cd "$w/i" && find . | cpio -o -H newc --quiet ) >"$w/initrd.cpio" || die "cpio failed"

	debootstrap_root "$w/root" "$mirror"
	configure_root "$w/root"

	msg "modules for $kver"
	# shellcheck disable=SC2086
	mods=$(module_closure "$kroot" "$kver" $ROOT_MODULES)
	for m in $mods; do
		mkdir -p "$w/root/$(dirname "$m")"
		cp "$kroot/$m" "$w/root/$m"
	done
	cp "$kroot/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$w/root/lib/modules/$kver/" 2>/dev/null || true
	depmod -b "$w/root" "$kver" || die "depmod in the root image failed"
	echo "$kver" >"$w/root/etc/fsvm-kernel"

	msg "rootfs.img"
	local used
	used=$(du -sm "$w/root" | cut -f1)
	mkfs.ext4 -q -F -L fsvmroot -d "$w/root" "$w/rootfs.img" "$((used + ROOT_FREE_MB))M" ||
		die "mkfs.ext4 -d failed"
	{
		echo "key=$(cache_key)"
		echo "kernel=$kver"
		echo "mirror=$mirror"
		echo "built=$(date -u +%FT%TZ)"
		echo "build_seconds=$(( $(date +%s) - t0 ))"
		echo "rootfs_used_mb=$used"
		echo "modules=$(find "$w/root/lib/modules" -name '*.ko' | wc -l)"
	} >"$w/manifest"
	# what is installed, for the record
	chroot "$w/root" dpkg-query -W -f '${Package} ${Version}\n' >"$w/packages.txt" 2>/dev/null || true
	rm -rf "$w/root" "$w/k" "$w/i"
	mv "$w" "$dest"
	trap - EXIT
	ln -sfn "${dest##*/}" "$CACHE/current"
	msg "built $dest in $(( $(date +%s) - t0 )) s"
	prune_cache "$dest"
}

# Keeps the newest other build beside $1 (another checkout may still boot it); older ones go.
prune_cache() {
	local keep=$1 d n=0
	for d in $(ls -1dt "$CACHE"/*/ 2>/dev/null); do
		d=${d%/}
		[ "$d" = "$keep" ] || [ -L "$d" ] && continue     # the new one, "current"
		case ${d##*/} in *.tmp.*) continue ;; esac
		[ -f "$d/manifest" ] || continue
		n=$((n + 1))
		[ "$n" -le 1 ] || { msg "removing the old build $d"; rm -rf "$d"; }
	done
}

main() {
	local force=0 key dest
	while [ $# -gt 0 ]; do
		case $1 in
		--print-key) cache_key; exit 0 ;;
		--force) force=1 ;;
		-h|--help) sed -n '2,22p' "$0"; exit 0 ;;
		*) die "unknown argument '$1'" ;;
		esac
		shift
	done
	key=$(cache_key)
	dest=$CACHE/$key
	if [ "$force" -eq 0 ] && [ -f "$dest/manifest" ]; then
		echo "$dest"
		return 0
	fi
	need_tools
	mkdir -p "$CACHE"
	# one build at a time per cache (a concurrent caller waits, then finds it built)
	exec 9>"$CACHE/.lock"
	flock -w 1800 9 || die "timed out waiting for another build (lock $CACHE/.lock)"
	if [ "$force" -eq 0 ] && [ -f "$dest/manifest" ]; then
		echo "$dest"
		return 0
	fi
	rm -rf "$dest"
	build "$dest"
	echo "$dest"
}

main "$@"
