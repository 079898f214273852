#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# test-smoke.sh -- the full-stack harness end to end, on real kernels in TCG guests:
#   t exports a file-backed LUN over LIO iSCSI (two portals, per-initiator ACLs) and a
#   file-backed namespace over nvmet-tcp (two ports, allowed_hosts); n1..n3 log in to both
#   portals (dm-multipath, 2 paths, the LUN found by its VPD 0x80 serial) and connect to both
#   ports (native NVMe multipath, the namespace found by its uuid); corosync (knet) + dlm_controld
#   on all three; OCFS2 on the iSCSI LUN and GFS2 on the namespace, mounted everywhere; a file
#   written on one node is read on the others; n3's access is revoked on the target (ss -K first,
#   then its ACL and its allowed host go): its writes block while n1 and n2 keep writing; access
#   restored: n3 resumes by itself.
# Prints the wall time of each phase ("phase NAME SECONDS") and ends with PASS or FAIL.
# Skips (77) when KVMCD_FULLSTACK=0, without root, or when a host prerequisite is missing.
set -eu
set -o pipefail

HERE=$(dirname "$(readlink -f "$0")")
TEST_NAME=test-smoke
export FS_NAME=${FS_NAME:-smoke}
export FS_LIFETIME=${FS_LIFETIME:-1200}      # guests die by themselves if everything else fails
OVERALL=${SMOKE_TIMEOUT:-870}                 # below meson's 900 s, so our cleanup runs
TOKEN=${SMOKE_TOKEN:-3000}                    # corosync totem token (ms)

IQN=iqn.2024-01.test.fsvm:target
LUN_SERIAL='wF3p-?Yk8Lz2'                     # ONTAP-like, with characters that are not hex
NVME_NQN=nqn.2024-01.test.fsvm:smoke1
NS_UUID=5c0ffee0-1d2e-4f60-8a9b-0c1d2e3f4a5b
CLUSTER=fsvm
NODES="n1 n2 n3"
VICTIM=n3

# shellcheck source=tests/fullstack/test-lib.sh
. "$HERE/test-lib.sh"

# "writes errors last_ok last_err" of writer TAG on every node → $TMP/w.NODE.TAG
sample_writers() {
	local n tag pids=()
	for n in $NODES; do
		for tag in ocfs2 gfs2; do
			"$FS" exec -t 30 "$n" writer_status "$tag" >"$TMP/w.$n.$tag" 2>&1 &
			pids+=($!)
		done
	done
	wait "${pids[@]}" || true
}
writes() { cut -d' ' -f1 "$TMP/w.$1.$2"; }
werrors() { cut -d' ' -f2 "$TMP/w.$1.$2"; }

main() {
	start

	phase boot
	"$FS" up --nodes 3 || fail "fs up failed"

	phase target
	on t tgt_init
	on t tgt_iscsi_export "$IQN" 0 lun0 /srv/luns/lun0.img 1G "$LUN_SERIAL" \
		"$("$FS" ip t)" "$(for n in $NODES; do printf 'iqn.2024-01.test.fsvm:%s ' "$n"; done)"
	on t tgt_nvme_export "$NVME_NQN" 1 /srv/luns/ns1.img 1G "$NS_UUID" \
		"$("$FS" ip t)" "$(for n in $NODES; do printf 'nqn.2024-01.test.fsvm:host:%s ' "$n"; done)"
	[ "$(on t tgt_iscsi_acls "$IQN" | wc -l)" -eq 3 ] || fail "target: expected 3 iSCSI ACLs"
	[ "$(on t tgt_nvme_hosts "$NVME_NQN" | wc -l)" -eq 3 ] || fail "target: expected 3 allowed hosts"

	phase attach
	# per node: log in to both portals and connect to both ports, then wait for 2 paths each
	on_nodes sh_c 'node_iscsi_login "$1" && node_nvme_connect "$2" "$1" && node_multipath_start &&
		wait_mpath_by_serial "$3" 2 90 >/dev/null && wait_nvme_by_uuid "$4" 2 60 >/dev/null' \
		"$("$FS" ip t)" "$NVME_NQN" "$LUN_SERIAL" "$NS_UUID"
	local n mp nv
	mp=$(on n1 mpath_by_serial "$LUN_SERIAL" 2)
	nv=$(on n1 nvme_by_uuid "$NS_UUID" 2)
	for n in $NODES; do
		log "$n: $(on "$n" sh_c 'echo "LUN serial $1 = $(mpath_by_serial "$1" 2) over $(scsi_by_serial "$1" | tr "\n" " "); namespace $2 = $(nvme_by_uuid "$2" 2), 2 controllers"' "$LUN_SERIAL" "$NS_UUID")"
	done

	phase cluster
	on_nodes sh_c 'corosync_start "$@" && wait_until 90 "corosync quorate" quorate && dlm_start' \
		"$CLUSTER" "$TOKEN" $(for n in $NODES; do printf '%s=%s ' "$n" "$("$FS" ip "$n")"; done)

	phase mkfs
	"$FS" exec n1 mkfs_ocfs2 "$mp" "$CLUSTER" 3 >"$TMP/mkfs1" 2>&1 &
	local p1=$!
	"$FS" exec n2 mkfs_gfs2 "$nv" "$CLUSTER" gfs0 3 >"$TMP/mkfs2" 2>&1 || { cat "$TMP/mkfs2"; fail "n2: mkfs.gfs2 failed"; }
	wait $p1 || { cat "$TMP/mkfs1"; fail "n1: mkfs.ocfs2 failed"; }

	phase mount
	# each node mounts by its own lookup (by serial / by uuid), not by n1's device name
	on_nodes sh_c 'mount_cluster_fs ocfs2 "$(mpath_by_serial "$1" 2)" /mnt/ocfs2' "$LUN_SERIAL"
	on_nodes sh_c 'mount_cluster_fs gfs2 "$(nvme_by_uuid "$1" 2)" /mnt/gfs2' "$NS_UUID"
	on_nodes sh_c 'for m in /mnt/ocfs2 /mnt/gfs2; do mountpoint -q $m || exit 1; done; dlm_tool ls | grep -c "^members *1 2 3" | grep -qx 2'

	phase share
	local token
	token=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
	on_nodes sh_c 'for m in /mnt/ocfs2 /mnt/gfs2; do echo "$(hostname) $1" >$m/hello-$(hostname).tmp && sync $m/hello-$(hostname).tmp && mv $m/hello-$(hostname).tmp $m/hello-$(hostname); done' "$token"
	for n in $NODES; do
		local o
		for o in $NODES; do
			[ "$o" = "$n" ] && continue
			on "$n" sh_c 'for m in /mnt/ocfs2 /mnt/gfs2; do [ "$(cat $m/hello-$1)" = "$1 $2" ] || { echo "$m/hello-$1: $(cat $m/hello-$1 2>&1)"; exit 1; }; done' "$o" "$token" ||
				fail "$n cannot read $o's file"
		done
	done
	log "every node read the other nodes' files on OCFS2 and GFS2"

	phase writers
	on_nodes sh_c 'writer_start ocfs2 /mnt/ocfs2/w-$(hostname); writer_start gfs2 /mnt/gfs2/w-$(hostname); writers_wait ocfs2 gfs2'
	sleep 3
	sample_writers
	for n in $NODES; do log "$n writers: ocfs2 $(cat "$TMP/w.$n.ocfs2"), gfs2 $(cat "$TMP/w.$n.gfs2")"; done

	phase revoke
	local vip t_rv_i t_rv_n
	vip=$("$FS" ip "$VICTIM")
	t_rv_i=$(date +%s.%N)
	on t tgt_iscsi_revoke "$IQN" "iqn.2024-01.test.fsvm:$VICTIM" "$vip"
	t_rv_n=$(date +%s.%N)
	on t tgt_nvme_revoke "$NVME_NQN" "nqn.2024-01.test.fsvm:host:$VICTIM" "$vip"
	on t tgt_iscsi_acls "$IQN" | grep -qx "iqn.2024-01.test.fsvm:$VICTIM" && fail "target: $VICTIM's ACL still there"
	on t tgt_nvme_hosts "$NVME_NQN" | grep -qx "nqn.2024-01.test.fsvm:host:$VICTIM" && fail "target: $VICTIM still an allowed host"
	log "target: $VICTIM's connections dropped, its ACL and allowed host gone"

	phase blocked
	# In-flight writes finish or stall; then a window in which the victim must not complete
	# one write while every other node keeps writing on both file systems.
	sleep 4
	sample_writers
	for n in $NODES; do for t in ocfs2 gfs2; do cp "$TMP/w.$n.$t" "$TMP/a.$n.$t"; done; done
	sleep 10
	sample_writers
	local tag a b
	for n in $NODES; do
		for tag in ocfs2 gfs2; do
			a=$(cut -d' ' -f1 "$TMP/a.$n.$tag"); b=$(writes "$n" "$tag")
			[[ "$a" =~ ^[0-9]+$ && "$b" =~ ^[0-9]+$ ]] || fail "$n: bad writer status '$(cat "$TMP/a.$n.$tag")' / '$(cat "$TMP/w.$n.$tag")'"
			if [ "$n" = "$VICTIM" ]; then
				[ "$b" -eq "$a" ] || fail "$n: $tag writes went on after the revoke ($a → $b)"
				log "$n: $tag writes blocked ($a → $b in 10 s)"
			else
				[ "$b" -ge $((a + 5)) ] || fail "$n: $tag writes stalled while $VICTIM was revoked ($a → $b in 10 s)"
				log "$n: $tag writes went on ($a → $b in 10 s)"
			fi
		done
	done
	on "$VICTIM" sh_c 'kill -0 $(cat /run/fsvm/w.ocfs2.pid) && kill -0 $(cat /run/fsvm/w.gfs2.pid)' ||
		fail "$VICTIM: a writer died instead of blocking"

	phase restore
	# The victim's writer records the write that blocked when it completes (event w-TAG.resumed,
	# host mtime): resume = mtime - the time that access came back; the stalled write was issued
	# at mtime - (now - start).
	local t_ri t_rn end ev_o="" ev_g=""
	# (the writes blocked now have not completed: any older event is from before)
	"$FS" event "$VICTIM" w-ocfs2.resumed --rm; "$FS" event "$VICTIM" w-gfs2.resumed --rm
	on t tgt_iscsi_allow "$IQN" "iqn.2024-01.test.fsvm:$VICTIM" 0
	t_ri=$(date +%s.%N)
	on t tgt_nvme_allow "$NVME_NQN" "nqn.2024-01.test.fsvm:host:$VICTIM"
	t_rn=$(date +%s.%N)
	end=$(( $(date +%s) + 120 ))
	while [ -z "$ev_o" ] || [ -z "$ev_g" ]; do
		[ "$(date +%s)" -lt "$end" ] || fail "$VICTIM did not resume within 120 s of the restore (ocfs2: ${ev_o:-no}, gfs2: ${ev_g:-no})"
		sleep 0.5
		[ -n "$ev_o" ] || ev_o=$("$FS" event "$VICTIM" w-ocfs2.resumed) || true
		[ -n "$ev_g" ] || ev_g=$("$FS" event "$VICTIM" w-gfs2.resumed) || true
	done
	local r_o r_g s_o s_g
	r_o=$(echo "$ev_o" | awk -v t="$t_ri" '{printf "%.1f", $1 - t}')
	r_g=$(echo "$ev_g" | awk -v t="$t_rn" '{printf "%.1f", $1 - t}')
	s_o=$(echo "$ev_o" | sed 's/[a-z]*=//g' | awk -v t="$t_rv_i" '{printf "%.1f", $1 - ($3 - $2) - t}')
	s_g=$(echo "$ev_g" | sed 's/[a-z]*=//g' | awk -v t="$t_rv_n" '{printf "%.1f", $1 - ($3 - $2) - t}')
	log "$VICTIM: the blocked OCFS2 (iSCSI) write was issued +$s_o s after the iSCSI revoke began and completed $r_o s after access came back"
	log "$VICTIM: the blocked GFS2 (NVMe/TCP) write was issued +$s_g s after the NVMe revoke began and completed $r_g s after access came back"
	echo "resume ocfs2 $r_o gfs2 $r_g"
	on "$VICTIM" wait_mpath_by_serial "$LUN_SERIAL" 2 60 >/dev/null
	sample_writers
	for n in $NODES; do
		for tag in ocfs2 gfs2; do
			[ "$(werrors "$n" "$tag")" = 0 ] || fail "$n: $tag writer saw errors: $(cat "$TMP/w.$n.$tag")"
		done
	done
	for tag in ocfs2 gfs2; do
		[ "$(writes "$VICTIM" "$tag")" -gt "$(cut -d' ' -f1 "$TMP/a.$VICTIM.$tag")" ] ||
			fail "$VICTIM: $tag writes did not go on after the resume ($(cat "$TMP/w.$VICTIM.$tag"))"
	done
	log "no write errors anywhere (queue mode: blocked, never failed)"
	"$FS" status | sed 's/^/    /'
	echo "memory peak RSS total: $("$FS" status | awk '{for(i=1;i<=NF;i++) if($i=="peak") s+=$(i+1)} END{print s}') MiB"
	phase ""
	RESULT=pass
}

main "$@"
