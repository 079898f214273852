# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers inside a full-stack guest. Every `fs exec` sources this file first, so each function
# is a command: `fs exec t tgt_init`, `fs exec n1 mpath_by_serial 'wF3p-?Yk8Lz2'`.
# Functions print what they found on stdout, complain on stderr naming the step, and return
# non-zero on failure. Sourcing has no side effects. Recipes: /work/shared/notes/fullstack-*.md.

IQN_PREFIX=iqn.2024-01.test.fsvm
NQN_PREFIX=nqn.2024-01.test.fsvm
CFS=/sys/kernel/config
NVMET=$CFS/nvmet

uptime_s() { local u _; read -r u _ </proc/uptime; echo "$u"; }
# Event file on the share: /share/run/ev/NAME.EVENT holds the guest uptime; its mtime is the
# host's clock, so events of different guests compare on one clock.
ev() { uptime_s >"/share/run/ev/$(hostname).$1"; }
fail() { echo "$(hostname): $*" >&2; return 1; }
need_configfs() {
	mountpoint -q "$CFS" || { modprobe configfs && mount -t configfs configfs "$CFS"; } ||
		fail "cannot mount configfs"
}

# sh_c SCRIPT ARGS...: SCRIPT (with these helpers) with ARGS as $1...; for `fs exec` one-liners.
sh_c() { local _s=$1; shift; eval "$_s"; }

# wait_until SECS WHAT CMD...: run CMD every 0.3 s until it succeeds; fail naming WHAT.
wait_until() {
	local secs=$1 what=$2 end; shift 2
	end=$(( $(date +%s) + secs ))
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || fail "timed out after ${secs}s waiting for: $what"|| return 1
		sleep 0.3
	done
	return 0
}

# -------------------------------------------------------------------------------------------
# Target side: LIO (targetcli-fb + configfs) and nvmet-tcp (configfs)

tgt_init() {
	need_configfs || return 1
	modprobe -a target_core_mod target_core_file target_core_iblock iscsi_target_mod nvmet nvmet_tcp ||
		fail "tgt_init: modprobe of the target modules failed" || return 1
	[ -d "$CFS/target" ] || fail "tgt_init: no $CFS/target" || return 1
	pgrep -x dbus-daemon >/dev/null || dbus-daemon --system --fork ||
		fail "tgt_init: dbus-daemon (targetcli needs the system bus)" || return 1
}

_targetcli() { # batch on stdin, one python start (fullstack-vm.md pitfall 5)
	local out
	out=$({ echo "set global auto_save_on_exit=false"; cat; } | targetcli 2>&1) ||
		{ echo "$out" >&2; return 1; }
	if echo "$out" | grep -qiE '^ *(error|no such path|.*failed)'; then echo "$out" >&2; return 1; fi
	return 0
}

# tgt_iscsi_export TARGET_IQN LUN NAME FILE SIZE SERIAL "PORTAL_IPS" "INITIATOR_IQNS"
# A file-backed LUN exported on the given portals to the named initiators only
# (generate_node_acls=0). The serial (VPD 0x80) is set before the LUN is exported (EINVAL after).
tgt_iscsi_export() {
	local iqn=$1 lun=$2 name=$3 file=$4 size=$5 serial=$6 ips=$7 inis=$8 t ip ini so
	t=/iscsi/$iqn/tpg1
	mkdir -p "$(dirname "$file")"
	{
		echo "/backstores/fileio create name=$name file_or_dev=$file size=$size write_back=false sparse=true"
		if [ ! -d "$CFS/target/iscsi/$iqn" ]; then
			echo "/iscsi create $iqn"
			echo "$t/portals delete 0.0.0.0 3260"
			for ip in $ips; do echo "$t/portals create $ip 3260"; done
			echo "$t set attribute authentication=0 generate_node_acls=0 demo_mode_write_protect=1 cache_dynamic_acls=0"
		fi
	} | _targetcli || fail "tgt_iscsi_export $name: targetcli (backstore, target, portals) failed" || return 1
	so=$(echo "$CFS"/target/core/fileio_*/"$name")
	[ -d "$so" ] || fail "tgt_iscsi_export $name: no backstore in configfs" || return 1
	printf '%s' "$serial" >"$so/wwn/vpd_unit_serial" ||
		fail "tgt_iscsi_export $name: setting vpd_unit_serial failed" || return 1
	{
		echo "$t/luns create /backstores/fileio/$name lun=$lun add_mapped_luns=false"
		for ini in $inis; do
			[ -d "$CFS/target/iscsi/$iqn/tpgt_1/acls/$ini" ] || echo "$t/acls create $ini add_mapped_luns=false"
			echo "$t/acls/$ini create mapped_lun=$lun tpg_lun_or_backstore=$lun write_protect=false"
		done
	} | _targetcli || fail "tgt_iscsi_export $name: targetcli (LUN, ACLs) failed" || return 1
}

# tgt_iscsi_revoke TARGET_IQN INITIATOR_IQN HOST_IP: the initiator out of the "igroup".
# Its live connections are dropped first (ss -K), then its ACL goes (configfs wants the mapped
# LUNs out first: deleting a mapped LUN under a live session gives the host "Write protected"
# EIOs and OCFS2 panics, fullstack-fencing.md pitfall 3). While this runs, a policy rule that
# drops the target's iSCSI replies to that host (only those: its NVMe/TCP is left alone) keeps
# iscsid from logging in again between the ss -K and the ACL removal.
tgt_iscsi_revoke() {
	local iqn=$1 ini=$2 ip=$3 a m rc=0 guard
	a=$CFS/target/iscsi/$iqn/tpgt_1/acls/$ini
	guard="to $ip/32 ipproto 6 sport 3260 prohibit pref 100"   # 6 = tcp (no /etc/protocols in minbase)
	# shellcheck disable=SC2086
	ip rule add $guard || fail "tgt_iscsi_revoke: cannot add the guard rule ($guard)" || return 1
	ss -K dst "$ip" and sport = :3260 >/dev/null || { fail "tgt_iscsi_revoke: ss -K for $ip failed"; rc=1; }
	if [ -d "$a" ]; then
		for m in "$a"/lun_*; do
			[ -d "$m" ] || continue
			find "$m" -maxdepth 1 -type l -exec rm {} + && rmdir "$m" ||
				{ fail "tgt_iscsi_revoke: removing mapped LUN $m failed"; rc=1; }
		done
		rmdir "$a" || { fail "tgt_iscsi_revoke: rmdir of ACL $ini failed"; rc=1; }
	fi
	# shellcheck disable=SC2086
	ip rule del $guard 2>/dev/null
	return $rc
}

# tgt_iscsi_allow TARGET_IQN INITIATOR_IQN LUN...: the initiator back in, with these LUNs.
tgt_iscsi_allow() {
	local iqn=$1 ini=$2 lun t; shift 2
	t=$CFS/target/iscsi/$iqn/tpgt_1
	mkdir -p "$t/acls/$ini" || fail "tgt_iscsi_allow: mkdir ACL $ini failed" || return 1
	for lun in "$@"; do
		[ -d "$t/acls/$ini/lun_$lun" ] && continue
		mkdir "$t/acls/$ini/lun_$lun" && ln -s "$t/lun/lun_$lun" "$t/acls/$ini/lun_$lun/lun$lun" ||
			fail "tgt_iscsi_allow: mapping LUN $lun for $ini failed" || return 1
	done
}

# tgt_nvme_export SUBSYS_NQN NSID FILE SIZE UUID "IPS" "HOST_NQNS"
# A file-backed namespace (uuid set before enable) on nvmet-tcp ports on every IP (port id =
# position), reachable only by the named hosts (attr_allow_any_host=0).
tgt_nvme_export() {
	local nqn=$1 nsid=$2 file=$3 size=$4 uuid=$5 ips=$6 hosts=$7 s h ip p=0 pd
	s=$NVMET/subsystems/$nqn
	mkdir -p "$(dirname "$file")" && truncate -s "$size" "$file" ||
		fail "tgt_nvme_export: creating $file failed" || return 1
	mkdir -p "$s" && echo 0 >"$s/attr_allow_any_host" ||
		fail "tgt_nvme_export: subsystem $nqn" || return 1
	for h in $hosts; do
		mkdir -p "$NVMET/hosts/$h"
		[ -e "$s/allowed_hosts/$h" ] || ln -s "$NVMET/hosts/$h" "$s/allowed_hosts/$h" ||
			fail "tgt_nvme_export: allowing host $h" || return 1
	done
	mkdir -p "$s/namespaces/$nsid" &&
		printf '%s' "$file" >"$s/namespaces/$nsid/device_path" &&
		echo "$uuid" >"$s/namespaces/$nsid/device_uuid" &&
		echo 1 >"$s/namespaces/$nsid/enable" ||
		fail "tgt_nvme_export: namespace $nsid ($file, uuid $uuid)" || return 1
	for ip in $ips; do
		p=$((p + 1)); pd=$NVMET/ports/$p
		if [ ! -d "$pd" ]; then
			mkdir "$pd" && echo tcp >"$pd/addr_trtype" && echo ipv4 >"$pd/addr_adrfam" &&
				echo "$ip" >"$pd/addr_traddr" && echo 4420 >"$pd/addr_trsvcid" ||
				fail "tgt_nvme_export: port $p on $ip" || return 1
		fi
		[ -e "$pd/subsystems/$nqn" ] || ln -s "$s" "$pd/subsystems/$nqn" ||
			fail "tgt_nvme_export: linking $nqn to port $p" || return 1
	done
}

# tgt_nvme_revoke SUBSYS_NQN HOST_NQN HOST_IP: out of allowed_hosts, then its live queues are
# aborted (allowed_hosts is checked only at connect: fullstack-fencing.md pitfall 2).
tgt_nvme_revoke() {
	local nqn=$1 h=$2 ip=$3
	rm -f "$NVMET/subsystems/$nqn/allowed_hosts/$h" || fail "tgt_nvme_revoke: unlinking $h" || return 1
	ss -K dst "$ip" and sport = :4420 >/dev/null || fail "tgt_nvme_revoke: ss -K for $ip failed"
}

tgt_nvme_allow() { # SUBSYS_NQN HOST_NQN
	mkdir -p "$NVMET/hosts/$2"
	[ -e "$NVMET/subsystems/$1/allowed_hosts/$2" ] ||
		ln -s "$NVMET/hosts/$2" "$NVMET/subsystems/$1/allowed_hosts/$2" || fail "tgt_nvme_allow: $2" || return 1
}

tgt_iscsi_acls() { ls "$CFS/target/iscsi/$1/tpgt_1/acls"; }             # TARGET_IQN
tgt_nvme_hosts() { ls "$NVMET/subsystems/$1/allowed_hosts"; }           # SUBSYS_NQN

# -------------------------------------------------------------------------------------------
# Node side: open-iscsi, dm-multipath, nvme-cli, corosync, dlm_controld, OCFS2, GFS2

# node_iscsi_login "PORTAL_IPS": discovery and login on every portal (replacement_timeout 5 s).
node_iscsi_login() {
	local ips=$1 ip n
	modprobe -a iscsi_tcp sd_mod sg scsi_dh_alua || fail "iscsi: modprobe" || return 1
	sed -i -e 's/^node.session.timeo.replacement_timeout = .*/node.session.timeo.replacement_timeout = 5/' \
		-e 's/^node.startup = .*/node.startup = manual/' /etc/iscsi/iscsid.conf
	pgrep -x iscsid >/dev/null || iscsid || fail "iscsi: iscsid did not start" || return 1
	for ip in $ips; do
		iscsiadm -m discovery -t sendtargets -p "$ip:3260" >/dev/null ||
			fail "iscsi: discovery on $ip failed" || return 1
	done
	for ip in $ips; do
		iscsiadm -m node -p "$ip:3260" --login >/dev/null 2>&1 ||
			iscsiadm -m session 2>/dev/null | grep -q " $ip:3260," ||
			fail "iscsi: login on $ip failed" || return 1
	done
	n=$(echo "$ips" | wc -w)
	wait_until 30 "$n iSCSI sessions" _iscsi_sessions_ge "$n"
}
_iscsi_sessions_ge() { [ "$(iscsiadm -m session 2>/dev/null | wc -l)" -ge "$1" ]; }

node_multipath_start() {
	modprobe -a dm_multipath dm_round_robin dm_service_time || fail "multipath: modprobe" || return 1
	cat >/etc/multipath.conf <<'EOF'
defaults {
	user_friendly_names no
	find_multipaths greedy
	polling_interval 2
}
blacklist {
	devnode "^(vd|nvme)"
}
# queue while no path is left (the ONTAP default); the built-in LIO-ORG entry would fail I/O
overrides {
	no_path_retry queue
}
EOF
	pgrep -x multipathd >/dev/null || multipathd || fail "multipath: multipathd did not start" || return 1
	multipath -r >/dev/null 2>&1
	return 0
}

# scsi_by_serial SERIAL: the sdX whose VPD page 0x80 serial is exactly SERIAL.
scsi_by_serial() {
	local want=$1 d s
	for d in /sys/block/sd*; do
		[ -r "$d/device/vpd_pg80" ] || continue
		s=$(tail -c +5 "$d/device/vpd_pg80" | tr -d '\0')
		s=${s%"${s##*[! ]}"}
		[ "$s" = "$want" ] && echo "${d##*/}"
	done
	return 0
}

# mpath_by_serial SERIAL [NPATHS]: /dev/mapper/WWID of the multipath map holding every SCSI
# disk with that serial (found by VPD 0x80, never by name or order); with NPATHS, only when it
# has that many paths and all of them hold it.
mpath_by_serial() {
	local want=$1 np=${2:-} sd dm="" h n=0
	for sd in $(scsi_by_serial "$want"); do
		n=$((n + 1))
		h=$(ls "/sys/block/$sd/holders" 2>/dev/null | head -1)
		[ -n "$h" ] || return 1
		[ -z "$dm" ] || [ "$dm" = "$h" ] || fail "serial $want: paths in two maps ($dm, $h)" || return 1
		dm=$h
	done
	[ -n "$dm" ] || return 1
	[ -z "$np" ] || [ "$n" -eq "$np" ] || return 1
	case $(cat "/sys/block/$dm/dm/uuid") in mpath-*) ;; *) return 1 ;; esac
	[ -z "$np" ] || [ "$(ls "/sys/block/$dm/slaves" | wc -l)" -eq "$np" ] || return 1
	echo "/dev/mapper/$(cat "/sys/block/$dm/dm/name")"
}

wait_mpath_by_serial() { # SERIAL NPATHS SECS
	wait_until "$3" "multipath map with $2 paths for serial $1" mpath_by_serial "$1" "$2" &&
		mpath_by_serial "$1" "$2"
}

# node_nvme_connect SUBSYS_NQN "IPS": one controller per IP (native NVMe multipath), queueing
# for 600 s when every path is gone, reconnecting every 2 s. Idempotent.
node_nvme_connect() {
	local nqn=$1 ips=$2 ip c connected
	modprobe -a nvme_tcp || fail "nvme: modprobe nvme_tcp" || return 1
	for ip in $ips; do
		connected=0
		for c in /sys/class/nvme/nvme*; do
			[ -r "$c/subsysnqn" ] || continue
			[ "$(cat "$c/subsysnqn")" = "$nqn" ] && grep -q "traddr=$ip," "$c/address" && connected=1
		done
		[ $connected -eq 1 ] && continue
		nvme connect -t tcp -a "$ip" -s 4420 -n "$nqn" --ctrl-loss-tmo=600 --reconnect-delay=2 >/dev/null ||
			fail "nvme: connect to $nqn at $ip failed" || return 1
	done
}

# nvme_by_uuid UUID [NPATHS]: /dev/nvmeXnY with that namespace uuid (not the hidden per-path
# disks nvmeXcYnZ, pitfall 15); with NPATHS, only when that many per-path disks (= controllers,
# native NVMe multipath) carry the uuid.
nvme_by_uuid() {
	local want=$1 np=${2:-} d head="" n=0
	for d in /sys/block/nvme*n*; do
		[ "$(cat "$d/uuid" 2>/dev/null)" = "$want" ] || continue
		case ${d##*/} in nvme*c*n*) n=$((n + 1)) ;; *) head=${d##*/} ;; esac
	done
	[ -n "$head" ] || return 1
	[ -z "$np" ] || [ "$n" -eq "$np" ] || return 1
	echo "/dev/$head"
}

wait_nvme_by_uuid() { # UUID NPATHS SECS
	wait_until "$3" "NVMe namespace $1 with $2 paths" nvme_by_uuid "$1" "$2" && nvme_by_uuid "$1" "$2"
}

# corosync_start CLUSTER TOKEN_MS NAME=IP...: knet, no crypto (test network), plain votequorum;
# node ids from the names' digits (n3 → 3). Returns once corosync runs (see wait_quorate).
corosync_start() {
	local cl=$1 token=$2 nv nm ip; shift 2
	mkdir -p /etc/corosync /var/log/corosync /var/lib/corosync
	{
		printf 'totem {\n\tversion: 2\n\tcluster_name: %s\n\ttransport: knet\n' "$cl"
		printf '\tcrypto_cipher: none\n\tcrypto_hash: none\n\ttoken: %s\n}\nnodelist {\n' "$token"
		for nv in "$@"; do
			nm=${nv%%=*}; ip=${nv#*=}
			printf '\tnode {\n\t\tring0_addr: %s\n\t\tname: %s\n\t\tnodeid: %s\n\t}\n' "$ip" "$nm" "${nm//[!0-9]/}"
		done
		printf '}\nquorum {\n\tprovider: corosync_votequorum\n}\n'
		printf 'logging {\n\tto_logfile: yes\n\tlogfile: /var/log/corosync/corosync.log\n'
		printf '\tto_stderr: no\n\tto_syslog: no\n\ttimestamp: hires\n}\n'
	} >/etc/corosync/corosync.conf
	pgrep -x corosync >/dev/null || corosync || fail "corosync did not start" || return 1
}
quorate() { corosync-quorumtool -s 2>/dev/null | grep -q '^Quorate:.*Yes'; }

# dlm_start: dlm_controld (fencing off, /etc/dlm/dlm.conf in the image); ready at "quorate 1".
dlm_start() {
	need_configfs || return 1
	modprobe dlm || fail "dlm: modprobe" || return 1
	pgrep -x dlm_controld >/dev/null || dlm_controld || fail "dlm_controld did not start" || return 1
	wait_until 60 "dlm_controld quorate" _dlm_quorate
}
_dlm_quorate() { dlm_tool status 2>/dev/null | grep -q 'quorate 1'; }

# mkfs_ocfs2 DEV CLUSTER SLOTS / mkfs_gfs2 DEV CLUSTER FSNAME JOURNALS (on one node only)
mkfs_ocfs2() {
	mkfs.ocfs2 -q -F --cluster-stack=pcmk --cluster-name="$2" -N "$3" -J size=16M "$1" >/dev/null ||
		fail "mkfs.ocfs2 on $1 failed"
}
mkfs_gfs2() {
	mkfs.gfs2 -O -q -p lock_dlm -t "$2:$3" -j "$4" -J 16 "$1" >/dev/null || fail "mkfs.gfs2 on $1 failed"
}
mount_cluster_fs() { # TYPE DEV MNT
	modprobe -a "$1" $([ "$1" = ocfs2 ] && echo ocfs2_stack_user) || fail "modprobe $1" || return 1
	mkdir -p "$3"
	mountpoint -q "$3" || mount -t "$1" -o noatime "$2" "$3" || fail "mount -t $1 $2 $3 failed"
}

# writer_start TAG FILE / writer_status TAG / writer_stop TAG: guest/iowriter.py in the
# background; status "writes errors last_ok_uptime last_err_uptime"; a write that blocked 1 s or
# more leaves the event /share/run/ev/NAME.w-TAG.resumed.
writer_start() {
	local tag=$1 file=$2
	mkdir -p /run/fsvm
	rm -f "/run/fsvm/w.$tag"
	setsid python3 /share/guest/iowriter.py "$file" "/run/fsvm/w.$tag" 0.1 "/share/run/ev/$(hostname).w-$tag" \
		</dev/null >"/run/fsvm/w.$tag.log" 2>&1 &
	echo $! >"/run/fsvm/w.$tag.pid"
}
writers_wait() { # TAG...: until each has written once
	local tag
	for tag in "$@"; do wait_until 60 "writer $tag running" test -s "/run/fsvm/w.$tag" || return 1; done
}
writer_status() { cat "/run/fsvm/w.$1"; }
writer_stop() { kill "$(cat "/run/fsvm/w.$1.pid")" 2>/dev/null; return 0; }

# -------------------------------------------------------------------------------------------
# kvmcd in the guests (test-datastores.sh): the ONTAP simulator on the target, driving LIO and
# nvmet through guest/target-sync.py; kvmcd with its REAL host backend on the nodes.

# sim_start USER PASSWORD: ontap-sim on t's first address, data LIFs on both, LUN files in
# /srv/luns, the real target following its state (--target-hook); its certificate on the share.
sim_start() {
	local ips
	tgt_init || return 1
	ips=$(ip -4 -o addr show dev eth0 | awk '{sub("/.*", "", $4); print $4}')
	mkdir -p /srv/luns /srv/sim
	pgrep -x ontap-sim >/dev/null && return 0
	# shellcheck disable=SC2046
	setsid /opt/kvmcd/ontap-sim --listen "$(echo $ips | cut -d' ' -f1):8443" \
		$(for ip in $ips; do printf -- '--data-ip %s ' "$ip"; done) \
		--user "$1:$2" --svm svm1 --backing-dir /srv/luns --state /srv/sim/state.json \
		--request-log /srv/sim/requests.log --tls-cert-out /share/run/sim.pem --job-ms 300 \
		--target-hook /share/guest/target-sync.py </dev/null >/srv/sim/sim.out 2>&1 &
	wait_until 30 "ontap-sim listening" grep -q '^ontap-sim listening' /srv/sim/sim.out ||
		{ cat /srv/sim/sim.out >&2; return 1; }
}

# node_host_prepare: what a KVM host of an ONTAP cluster runs before kvmcd (the admin's or the
# distribution's job, kvmcctl preflight checks it): iscsid, multipathd with NetApp's queueing,
# the NVMe/TCP and cluster file system modules, libvirtd. libvirtd listens on TCP without auth
# (the test network only) for kvmcd's peer-to-peer live migrations ([vms] migration_uri's default
# qemu+tcp://{node}/system) with a host UUID of its own (the guests' SMBIOS gives none:
# fullstack-vm.md pitfall 9), and virtlogd runs for the qemu driver.
node_host_prepare() {
	modprobe -a iscsi_tcp sd_mod sg scsi_dh_alua nvme_tcp ocfs2 ocfs2_stack_user gfs2 ||
		fail "host: modprobe" || return 1
	sed -i -e 's/^node.session.timeo.replacement_timeout = .*/node.session.timeo.replacement_timeout = 5/' \
		/etc/iscsi/iscsid.conf
	pgrep -x iscsid >/dev/null || iscsid || fail "host: iscsid did not start" || return 1
	node_multipath_start || return 1
	mkdir -p /var/lib/libvirt /run/libvirt /var/log/libvirt
	mkdir -p /etc/libvirt && grep -qs '^host_uuid_source' /etc/libvirt/libvirtd.conf ||
		printf 'listen_tls = 0\nlisten_tcp = 1\nauth_tcp = "none"\nhost_uuid_source = "machine-id"\n' \
			>>/etc/libvirt/libvirtd.conf || fail "host: libvirtd.conf" || return 1
	pgrep -x virtlogd >/dev/null || virtlogd -d || fail "host: virtlogd did not start" || return 1
	pgrep -x libvirtd >/dev/null || libvirtd -d --listen || fail "host: libvirtd did not start" || return 1
	wait_until 60 "libvirtd answers" virsh -c qemu:///system version
}

# net_cut IP...: this guest's packets to these addresses vanish (`fs isolate`), like behind a cut
# cable: a permanent neighbour entry sends them to a MAC address no guest has, so the hub drops
# them -- every protocol, corosync's knet, the DLM's TCP, established connections too -- while
# the sender sees no error. (A route or rule "prohibit" / "blackhole" fails sendto() at once
# instead: knet retried it in a loop and corosync, real-time, took the isolated guest's only CPU.)
# Applied on both sides, nothing flows between them; the target's addresses stay reachable.
# net_uncut [IP...]: those entries go (all of them without IP); ARP resolves the peers again.
NET_CUT_MAC=02:00:00:00:77:00
net_cut() {
	local a dev
	for a in "$@"; do
		dev=$(ip -o route get "$a" | sed -n 's/.* dev \([^ ]*\).*/\1/p')
		[ -n "$dev" ] && ip neigh replace "$a" lladdr "$NET_CUT_MAC" dev "$dev" nud permanent ||
			fail "net_cut: no neighbour entry for $a" || return 1
	done
}
net_uncut() {
	local a dev
	# shellcheck disable=SC2046
	[ $# -gt 0 ] || set -- $(ip neigh show nud permanent | awk -v m="$NET_CUT_MAC" '$0 ~ "lladdr " m {print $1}')
	for a in "$@"; do
		dev=$(ip -o route get "$a" | sed -n 's/.* dev \([^ ]*\).*/\1/p')
		ip neigh show "$a" nud permanent | grep -q "$NET_CUT_MAC" || continue
		ip neigh del "$a" dev "$dev" || fail "net_uncut: $a" || return 1
	done
}

# kvmcd_start ONTAP_ADDR USER PASSWORD [EXTRA_CONF_LINES]: /etc/kvmcd/kvmcd.conf, then kvmcd
# (the build copied to /opt/kvmcd) in the background, its log in /var/log/kvmcd.log: a link to
# /share/run/kvmcd.NODE.log, so that it outlives the guest (a watchdog reset) and `fs down` keeps it.
kvmcd_start() {
	mkdir -p /etc/kvmcd /var/lib/kvmcd /run/kvmcd
	printf 'username=%s\npassword=%s\n' "$2" "$3" >/etc/kvmcd/ontap-credentials
	chmod 600 /etc/kvmcd/ontap-credentials
	cat >/etc/kvmcd/kvmcd.conf <<EOC
[node]
name=$(hostname)

[cluster]
group=kvmcd

[paths]
state_dir=/var/lib/kvmcd
run_dir=/run/kvmcd
socket=/run/kvmcd/kvmcd.sock

[log]
level=debug
target=stderr

[ontap]
address=$1:8443
svm=svm1
credentials_file=/etc/kvmcd/ontap-credentials
ca_file=/share/run/sim.pem

[host]
backend=real
${4:-}
EOC
	pgrep -x kvmcd >/dev/null && return 0
	[ -L /var/log/kvmcd.log ] || ln -sf "/share/run/kvmcd.$(hostname).log" /var/log/kvmcd.log
	KVMCD_ONTAP_MODULE=/opt/kvmcd/kvmcd-ontap.so setsid /opt/kvmcd/kvmcd --config /etc/kvmcd/kvmcd.conf \
		--foreground </dev/null >>/var/log/kvmcd.log 2>&1 &
	wait_until 60 "kvmcd answers" kvmcctl status
}
kvmcctl() { /opt/kvmcd/kvmcctl --socket /run/kvmcd/kvmcd.sock "$@"; }

# dlm_lockdebug LOCKSPACE RESOURCE: the resource's block of `dlm_tool lockdebug LOCKSPACE`
# (debugfs mounted first); nothing when this node's DLM knows no such resource (or has not
# joined the lockspace).
dlm_lockdebug() {
	mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug ||
		fail "cannot mount debugfs (dlm_tool lockdebug reads it)" || return 1
	dlm_tool lockdebug "$1" 2>/dev/null | awk -v r="\"$2\"" '/^Resource /{p = ($NF == r)} p && NF'
}
# dlm_held_here LOCKSPACE RESOURCE: a lock of THIS node is granted in EX mode on the resource
# (a master's copy of another node's lock carries "Remote: NODEID" and does not count).
dlm_held_here() {
	dlm_lockdebug "$1" "$2" |
		awk '/^Granted/{g = 1; next} /^(Conversion|Waiting)/{g = 0} g && $2 == "EX" && !/Remote/{f = 1} END{exit !f}'
}
