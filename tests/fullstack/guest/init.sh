#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Stage 2 of a full-stack guest: PID 1, started by stage 1 (guest/stage1-init) from the control
# share, so editing this file needs no image rebuild.
#
# Sets the guest up from its kernel command line (fsvm.KEY=VALUE, exported to every command
# as FSVM_KEY), starts udev (coldplug of block/misc/net/virtio-ports only: a full coldplug costs
# 5 s under TCG) and the network, writes the guest's own identities, then runs the exec agent
# (guest/agent.sh) for ever. Knobs:
#   fsvm.name=NAME         guest name (hostname; iqn.2024-01.test.fsvm:NAME,
#                          nqn.2024-01.test.fsvm:host:NAME, a hostid derived from NAME)
#   fsvm.ip=A/P[,B/P...]   addresses of eth0
#   fsvm.role=target|node
#   fsvm.data=1            mount the disk with virtio serial fsvmdata (XFS with reflink, or ext4) at /srv
# Progress goes to the serial console (the host's <guest>.serial log) and as event files
# /share/run/ev/NAME.EVENT holding the guest uptime.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
exec </dev/null >/dev/console 2>&1

uptime_s() { local u _; read -r u _ </proc/uptime; echo "$u"; }
log() { echo "fsvm-init[$(uptime_s)]: $*"; }
ev() { uptime_s >"/share/run/ev/${FSVM_NAME:-unknown}.$1" 2>/dev/null; }

mount_base() {
	mount -t tmpfs -o mode=755,size=64m tmpfs /run
	mount -t tmpfs -o mode=1777 tmpfs /tmp
	mkdir -p /dev/pts /dev/shm /run/lock /run/fsvm
	mount -t devpts -o gid=5,mode=620 devpts /dev/pts
	mount -t tmpfs tmpfs /dev/shm
	modprobe configfs 2>/dev/null; mount -t configfs configfs /sys/kernel/config 2>/dev/null
	mount -o remount,rw,noatime /
	ln -sf /proc/self/fd /dev/fd
}

# fsvm.a.b=v → FSVM_A_B=v in /run/fsvm/env (sourced by every exec'd command).
read_knobs() {
	local w k v
	: >/run/fsvm/env
	# shellcheck disable=SC2013
	for w in $(cat /proc/cmdline); do
		case $w in fsvm.*=*) ;; *) continue ;; esac
		k=${w%%=*}; v=${w#*=}; k=${k#fsvm.}
		k=FSVM_$(echo "$k" | tr 'a-z.-' 'A-Z__')
		printf 'export %s=%q\n' "$k" "$v" >>/run/fsvm/env
	done
	# shellcheck disable=SC1091
	. /run/fsvm/env
	: "${FSVM_NAME:=fsvm}" "${FSVM_ROLE:=node}"
}

identities() {
	local h
	hostname "$FSVM_NAME"; echo "$FSVM_NAME" >/etc/hostname
	{ echo "127.0.0.1 localhost"; cat /share/run/hosts 2>/dev/null; } >/etc/hosts
	echo "InitiatorName=iqn.2024-01.test.fsvm:$FSVM_NAME" >/etc/iscsi/initiatorname.iscsi
	echo "nqn.2024-01.test.fsvm:host:$FSVM_NAME" >/etc/nvme/hostnqn
	h=$(echo "fsvm-hostid-$FSVM_NAME" | md5sum | cut -c1-32)
	echo "${h:0:8}-${h:8:4}-4${h:13:3}-8${h:17:3}-${h:20:12}" >/etc/nvme/hostid
	echo "$h" >/etc/machine-id
}

start_udev() {
	/lib/systemd/systemd-udevd --daemon --resolve-names=never
	udevadm trigger --action=add --subsystem-match=block --subsystem-match=misc \
		--subsystem-match=net --subsystem-match=virtio-ports
	udevadm settle -t 15 || log "udevadm settle timed out"
}

network() {
	local a
	ip link set lo up
	modprobe virtio_net
	ip link set eth0 up || { log "no eth0"; return 1; }
	for a in ${FSVM_IP//,/ }; do ip addr add "$a" dev eth0; done
}

data_disk() {
	local s d=""
	for s in /sys/block/vd*/serial; do
		[ "$(cat "$s")" = fsvmdata ] && { d=${s%/serial}; d=/dev/${d##*/}; }
	done
	[ -n "$d" ] || { log "no data disk (serial fsvmdata)"; return 1; }
	modprobe xfs 2>/dev/null   # XFS with reflink (fs up; FS_DATA_FSTYPE=ext4 for ext4)
	mkdir -p /srv && mount -o noatime "$d" /srv
}

main() {
	mount_base
	read_knobs
	mkdir -p /share/run/ev
	log "stage 2 on $(uname -r), name $FSVM_NAME role $FSVM_ROLE"
	identities
	modprobe -a virtio_console virtio_rng 2>/dev/null
	start_udev
	network || log "network setup failed"
	[ "${FSVM_DATA:-0}" = 1 ] && { data_disk || log "data disk setup failed"; }
	sysctl -q -w kernel.hung_task_timeout_secs=0 kernel.printk="4 4 1 7"
	dbus-uuidgen --ensure 2>/dev/null
	mkdir -p /run/dbus && dbus-daemon --system --fork 2>/dev/null || log "dbus-daemon failed"
	ev booted
	log "booted in $(uptime_s) s; starting the exec agent"
	while :; do
		/bin/bash /share/guest/agent.sh
		log "agent exited (rc $?), restarting in 1 s"
		sleep 1
	done
}

main
