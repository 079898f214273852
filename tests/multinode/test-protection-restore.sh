#!/bin/bash
# Clones of datastores from snapshots (issue 10, "Restore and clones") on the multi-node tier:
# 3 nodes with real corosync, kvmcd and libvirtd, the ONTAP simulator, the simulated host backend.
# What an admin would check:
#   - a snapshot of ds1 (iSCSI + OCFS2), ds2 (NVMe/TCP + GFS2) and nfs1 (NFS) taken on demand (`snapshot create`), a
#     file written on each before it and another after it;
#   - `datastore clone ds1 SNAP ds1c` (and nfs1 -> nfs1c, ds2 -> ds2c): the clone is listed, attached, mounted
#     and pooled on every node beside its parent (`datastore show`, `pool verify`, virsh), its
#     file system distinct (another UUID, its own label), holding the snapshot's content: the
#     file written before the snapshot, not the one written after it; the parent is untouched;
#   - the same clone requested again is "unchanged" (0); a clone named like an existing
#     datastore, of an unknown datastore or of a snapshot the parent does not have is refused;
#   - `snapshot restore ds1 SNAP` while a VM with its disk on ds1 runs: refused (2), the reply
#     names the VM; with --stop-vms: the VM is stopped, every node takes ds1 down, the leader
#     reverts the volume (one PATCH restore_to in the simulator's request log), every node
#     brings ds1 back (mounted, pool active), then the VM runs again on one node (the spec
#     says "started", restart_vms gone); with --leave-stopped too it stays stopped; the file
#     written after the snapshot is gone
#     on every node, the one before it is there; nfs1 likewise without VMs; the clones are
#     untouched; a plain `spec apply` that asks for a restore is refused;
#   - a node cut off (a partition) with HA disarmed (not fenced): a restore waits ("down", restore-status
#     says for whom), nothing is sent to ONTAP; armed again, the node is fenced and the restore
#     goes on; the node back, unfenced, its pools active;
#   - the leader's node killed while its ONTAP restore of ds2 is in flight (a 4 s latency fault
#     on the simulator's volume PATCH): the next leader resumes from the record ("restoring"),
#     reverts the volume and the survivors bring ds2 back without its file written after the
#     snapshot;
#   - `datastore split ds1c` (and refused for a datastore that is not a clone): ONTAP splits the
#     volume once (request log), ds1c stays mounted and in use, `datastore show` says it is
#     split, and `snapshot delete SNAP` then deletes ds1's copy while ds2's (held by the clone
#     ds2c) is kept as busy.
. "$(dirname "$0")/lib.sh"
. "$MN_DIR/vm/kvmcd-vms.sh"
export MN_HOST_SIM=1
mn_begin protection-restore 290
mn_need_libvirt
mn_need_guest_tools
mn_up 3 --ontap --libvirt

RUN=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}
HUB=/run/netns/${MN_PREFIX:-kvmcd}-hub
P=kvmcd_${MN_PREFIX:-kvmcd}_mn
SIM=https://10.213.0.254:8443
sim() { nsenter --net="$HUB" curl -sk --max-time 5 "$@"; }
state() { sim "$SIM/_sim/state"; }
ctl() { # NODE ARGS...: kvmcctl on NODE; sets OUT (stdout+stderr) and RC
	OUT=$("$CLUSTER" exec "$1" timeout 60 kvmcctl "${@:2}" 2>&1); RC=$?
	log "n$1: kvmcctl ${*:2} -> exit $RC: $(printf '%s' "$OUT" | tr '\n' ' ' | cut -c1-300)"
}
pools_ok() { nx 2 kvmcctl pool verify >/dev/null 2>&1; }
# the file system a node's probe found on a datastore ("ocfs2 label=ds1 uuid=...")
fs_of() { nx "$1" kvmcctl datastore show "$2" --json | jq -r --arg n "n$1" '.nodes[$n].fs // ""'; }
uuid_of() { fs_of "$1" "$2" | sed -n 's/.* uuid=\([^ ]*\).*/\1/p'; }
ready_everywhere() { # DS: attached, mounted, pooled on the 3 nodes
	[ "$(nx 1 kvmcctl datastore show "$1" --json | jq -r '[.nodes[] | select(.attached and .mounted and .pool_active)] | length')" = 3 ]
}

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
ha_disarm 1
SPEC='{"datastores":[{"name":"ds1","protocol":"iscsi","size":"1G"},{"name":"nfs1","protocol":"nfs","size":"1G"},
 {"name":"ds2","protocol":"nvme-tcp","size":"1G","fs":"gfs2"}],
 "protection":[{"name":"gold","datastores":["ds1","nfs1","ds2"],"schedules":[{"every":"1h","keep":3}]}]}'
apply_spec 2 "$SPEC" || fail "apply: $APPLY_OUT"
wait_until 90 "every node's pools identical and active (kvmcctl pool verify)" pools_ok

# --- a snapshot between two writes ---
for ds in ds1 nfs1 ds2; do
	nx 1 sh -c "echo before > /srv/kvmcd/$ds/before.txt && sync" || fail "write before.txt on $ds"
done
# vr1's disk too: a restore brings back what the snapshot holds, and vr1 runs again after it
log "vr1's disk on ds1"
kv_disks vr1
ctl 1 snapshot create gold
assert_eq "$RC" 0 "snapshot create gold"
listed() { # the leader's listing has the on-demand snapshot on both datastores
	OUT=$(nx 1 kvmcctl snapshot list --json) &&
		SNAP=$(jq -r '[.[] | select(.label == "ondemand" and .datastore == "ds1") | .name][0] // empty' <<<"$OUT") &&
		[ -n "$SNAP" ] && jq -e --arg s "$SNAP" 'any(.[]; .name == $s and .datastore == "nfs1") and any(.[]; .name == $s and .datastore == "ds2")' <<<"$OUT" >/dev/null
}
wait_until 60 "snapshot list shows the on-demand snapshot on ds1, nfs1 and ds2" listed
log "snapshot: $SNAP"
for ds in ds1 nfs1 ds2; do
	nx 2 sh -c "echo after > /srv/kvmcd/$ds/after.txt && sync" || fail "write after.txt on $ds"
done

# --- refusals ---
ctl 3 datastore clone ds1 nosuch.snapshot ds1x
assert_eq "$RC" 2 "clone of a snapshot ds1 does not have: refused"
assert_true "the refusal names the snapshot" grep -q "no snapshot 'nosuch.snapshot'" <<<"$OUT"
ctl 3 datastore clone nosuch "$SNAP" ds1x
assert_eq "$RC" 2 "clone of an unknown datastore: refused"
ctl 3 datastore clone ds1 "$SNAP" nfs1
assert_eq "$RC" 2 "clone named like an existing datastore: refused"

# --- the clones ---
ctl 3 datastore clone ds1 "$SNAP" ds1c
assert_eq "$RC" 0 "datastore clone ds1 $SNAP ds1c"
ctl 2 datastore clone nfs1 "$SNAP" nfs1c
assert_eq "$RC" 0 "datastore clone nfs1 $SNAP nfs1c"
wait_until 120 "ds1c attached, mounted and pooled on every node" ready_everywhere ds1c
wait_until 60 "nfs1c attached, mounted and pooled on every node" ready_everywhere nfs1c
ctl 1 datastore clone ds2 "$SNAP" ds2c
assert_eq "$RC" 0 "datastore clone ds2 $SNAP ds2c (NVMe/TCP + GFS2)"
wait_until 120 "ds2c attached, mounted and pooled on every node" ready_everywhere ds2c
wait_until 60 "every node's pools identical and active, the clones' too" pools_ok
ctl 1 datastore list
for ds in ds1c nfs1c; do
	assert_true "datastore list shows $ds" grep -q "^$ds " <<<"$OUT"
done
vol=$(state | jq -r --arg v "${P}_ds1c" '.volumes[] | select(.name == $v) | "\(.clone.is_flexclone) \(.clone.parent_volume.name) \(.clone.parent_snapshot.name)"')
assert_eq "$vol" "true ${P}_ds1 $SNAP" "ONTAP: ${P}_ds1c is a FlexClone of ${P}_ds1 at the snapshot"
for i in 1 2 3; do
	assert_eq "$(nx "$i" virsh -q pool-list --all | awk '{print $1":"$2}' | sort | tr '\n' ' ')" \
		"ds1:active ds1c:active ds2:active ds2c:active nfs1:active nfs1c:active " "n$i's libvirtd has the parents' and the clones' pools, active"
	assert_true "n$i: ds1c's file system carries its own label" grep -q "^ocfs2 label=ds1c " <<<"$(fs_of "$i" ds1c)"
	u=$(uuid_of "$i" ds1c) pu=$(uuid_of "$i" ds1)
	assert_true "n$i: ds1c's UUID ($u) differs from ds1's ($pu)" test -n "$u" -a -n "$pu" -a "$u" != "$pu"
	assert_true "n$i: ds2c's GFS2 carries its own lock table name" grep -q "^gfs2 label=ds2c " <<<"$(fs_of "$i" ds2c)"
	u=$(uuid_of "$i" ds2c) pu=$(uuid_of "$i" ds2)
	assert_true "n$i: ds2c's UUID ($u) differs from ds2's ($pu)" test -n "$u" -a -n "$pu" -a "$u" != "$pu"
	for ds in ds1c nfs1c ds2c; do
		assert_eq "$(nx "$i" cat /srv/kvmcd/$ds/before.txt 2>&1)" before "n$i: $ds holds the file written before the snapshot"
		assert_true "n$i: $ds does not hold the file written after the snapshot" nx "$i" test ! -e /srv/kvmcd/$ds/after.txt
	done
	assert_eq "$(nx "$i" cat /srv/kvmcd/ds1/after.txt 2>&1)" after "n$i: the parent ds1 is untouched (its file written after the snapshot)"
done
nx 1 sh -c 'echo clone-only > /srv/kvmcd/ds1c/clone.txt' || fail "write on ds1c"
assert_true "a file written on the clone is not on its parent" nx 2 test ! -e /srv/kvmcd/ds1/clone.txt
assert_eq "$(nx 3 cat /srv/kvmcd/ds1c/clone.txt)" clone-only "the clone is shared: n3 reads what n1 wrote"
ctl 1 datastore clone ds1 "$SNAP" ds1c
assert_eq "$RC" 0 "the same clone again"
assert_true "... is unchanged" grep -q "^unchanged" <<<"$OUT"

# --- restore ---
log "a VM with its disk on ds1"
SPECV=$(nx 1 kvmcctl spec get | jq --arg x "$(kv_xml vr1)" '.vms = [{name: "vr1", domain_xml: $x}]')
apply_spec 1 "$SPECV" || fail "apply with the VM: $APPLY_OUT"
wait_until 90 "vr1 runs on its owner" kv_runs_only_on_owner vr1
ctl 2 snapshot restore ds1 "$SNAP"
assert_eq "$RC" 2 "restore while vr1 runs on ds1: refused"
assert_true "the refusal names the running VM and --stop-vms" grep -q "VMs of datastore 'ds1' run: \[\"vr1\"\].*--stop-vms" <<<"$OUT"
assert_eq "$(kv_running_on vr1 | wc -w)" 1 "vr1 still runs"
ctl 2 snapshot restore nfs1 nosuch.snapshot
assert_eq "$RC" 2 "restore to a snapshot nfs1 does not have: refused"
log "request log lines with restore_to before: $(grep -c restore_to "$RUN/ontap/requests.log")"
r0=$(grep -c restore_to "$RUN/ontap/requests.log")
ctl 2 snapshot restore ds1 "$SNAP" --stop-vms
assert_eq "$RC" 0 "restore ds1 --stop-vms"
phase() { nx 1 kvmcctl snapshot restore-status --json | jq -r --arg d "$1" '.[$d].phase // "none"'; }
assert_eq "$(nx 1 kvmcctl spec get | jq -c '.restore.ds1.restart_vms')" '["vr1"]' "the request names vr1 to start again"
assert_eq "$(nx 1 kvmcctl spec get | jq -r '.vms[] | select(.name == "vr1") | .state')" stopped "vr1 is stopped in the spec meanwhile"
wait_until 120 "ds1's restore done (snapshot restore-status)" eval '[ "$(phase ds1)" = done ]'
ctl 3 snapshot restore-status
wait_until 90 "ds1 attached, mounted and pooled on every node again" ready_everywhere ds1
started_again() { [ "$(nx 1 kvmcctl spec get | jq -r '.vms[] | select(.name == "vr1") | .state')" = started ]; }
wait_until 60 "vr1 started again in the spec once ds1 is back" started_again
assert_eq "$(nx 1 kvmcctl spec get | jq -c '.restore.ds1.restart_vms')" null "restart_vms gone from the request"
wait_until 90 "vr1 runs again on its owner" kv_runs_only_on_owner vr1
log "--leave-stopped: vr1 stopped for the restore and left so"
ctl 2 snapshot restore ds1 "$SNAP" --leave-stopped
assert_eq "$RC" 1 "--leave-stopped without --stop-vms: a usage error"
ctl 2 snapshot restore ds1 "$SNAP" --stop-vms --leave-stopped
assert_eq "$RC" 0 "restore ds1 --stop-vms --leave-stopped"
assert_eq "$(nx 1 kvmcctl spec get | jq -c '.restore.ds1.restart_vms')" null "the request names no VM to start again"
wait_until 120 "that restore done" eval '[ "$(phase ds1)" = done ]'
wait_until 90 "ds1 back on every node" ready_everywhere ds1
sleep 3
assert_eq "$(kv_running_on vr1)" "" "vr1 runs nowhere"
assert_eq "$(nx 1 kvmcctl spec get | jq -r '.vms[] | select(.name == "vr1") | .state')" stopped "vr1 stays stopped in the spec"
wait_until 60 "every node's pools identical and active again" pools_ok
assert_eq "$(( $(grep -c restore_to "$RUN/ontap/requests.log") - r0 ))" 2 "one restore_to request per restore on ONTAP (request log)"
for i in 1 2 3; do
	assert_eq "$(nx "$i" cat /srv/kvmcd/ds1/before.txt 2>&1)" before "n$i: ds1 holds the file written before the snapshot"
	assert_true "n$i: the file written on ds1 after the snapshot is gone" nx "$i" test ! -e /srv/kvmcd/ds1/after.txt
	assert_eq "$(nx "$i" cat /srv/kvmcd/ds1c/clone.txt 2>&1)" clone-only "n$i: the clone ds1c is untouched"
done
ctl 3 snapshot restore nfs1 "$SNAP"
assert_eq "$RC" 0 "restore nfs1 (no VMs on it)"
wait_until 120 "nfs1's restore done" eval '[ "$(phase nfs1)" = done ]'
wait_until 90 "nfs1 attached, mounted and pooled on every node again" ready_everywhere nfs1
for i in 1 2 3; do
	assert_eq "$(nx "$i" cat /srv/kvmcd/nfs1/before.txt 2>&1)" before "n$i: nfs1 holds the file written before the snapshot"
	assert_true "n$i: the file written on nfs1 after the snapshot is gone" nx "$i" test ! -e /srv/kvmcd/nfs1/after.txt
done
assert_eq "$(nx 2 cat /srv/kvmcd/ds2/after.txt 2>&1)" after "ds2 (not restored) keeps its file written after the snapshot"
# a plain spec apply never asks for a restore
SPECR=$(nx 1 kvmcctl spec get | jq --arg s "$SNAP" '.restore.ds2 = {snapshot: $s, id: "by-hand-1"}')
apply_spec 1 "$SPECR" && fail "a spec apply with a new restore entry was accepted"
assert_true "the refusal points at kvmcctl snapshot restore" grep -q "snapshot restore ds2" <<<"$APPLY_OUT"

# --- a node out of the view holds a restore until its fence is confirmed ---
# (cut off but alive, it may still have the datastore mounted: reverting the volume under a
# mount corrupts it)
wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
F=$(printf '%s\n' 1 2 3 | grep -vx "$L" | tail -1)
nx "$L" kvmcctl ha disarm >/dev/null || fail "ha disarm on n$L"
# cut off, not dead (a partition: its kvmcd and mounts stay; a power cut would leave the
# simulated backend's FUSE mounts dead on its return)
others=$(printf '%s\n' 1 2 3 | grep -vx "$F" | paste -sd,)
"$CLUSTER" partition "$others" "$F" || fail "partition $others | $F"
wait_until 60 "n$F out of n$L's view" has_members "$L" 2
r0=$(grep -c restore_to "$RUN/ontap/requests.log")
ctl "$L" snapshot restore nfs1 "$SNAP"
assert_eq "$RC" 0 "restore nfs1 while n$F is out of the view and not fenced"
phase_at() { nx "$L" kvmcctl snapshot restore-status --json | jq -r --arg d "$1" '.[$d].phase // "none"'; }
waiting() { nx "$L" kvmcctl snapshot restore-status --json | jq -r '.nfs1.waiting // ""' |
	grep -q "node n$F is not a member and its fence is not confirmed"; }
wait_until 30 "restore-status says nfs1's restore waits for n$F's fence" waiting
ctl "$L" snapshot restore-status
sleep 3
assert_eq "$(phase_at nfs1)" down "nfs1's restore phase while n$F is neither back nor fenced"
assert_eq "$(( $(grep -c restore_to "$RUN/ontap/requests.log") - r0 ))" 0 "restore_to requests while n$F may have nfs1 mounted"
nx "$L" kvmcctl ha arm >/dev/null || fail "ha arm on n$L"
wait_until 90 "nfs1's restore done once n$F's fence is confirmed" eval '[ "$(phase_at nfs1)" = done ]'
assert_eq "$(nx "$L" kvmcctl fence history --json | jq -r --arg n "n$F" '.fences[] | select(.node == $n) | .status')" \
	confirmed "n$F's fence"
assert_eq "$(( $(grep -c restore_to "$RUN/ontap/requests.log") - r0 ))" 1 "restore_to requests after the fence"
"$CLUSTER" heal || fail "heal"
wait_until 60 "n$F back in n$L's view" has_members "$L" 3
unfenced() { [ "$(nx "$L" kvmcctl fence history --json | jq '.fences | length')" = 0 ]; }
wait_until 90 "n$F back and unfenced" unfenced
wait_until 90 "every node's pools identical and active again (n$F back)" pools_ok

# --- the leader killed mid-restore ---
wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
survivors=$(printf '%s\n' 1 2 3 | grep -vx "$L" | paste -sd' ')
s1=${survivors%% *}
fault=$(sim -X POST "$SIM/_sim/faults" -d '{"type":"latency","method":"PATCH","path":"/api/storage/volumes/*","ms":4000}' | jq -r .id)
[ -n "$fault" ] && [ "$fault" != null ] || fail "cannot install the latency fault"
ctl "$s1" snapshot restore ds2 "$SNAP"
assert_eq "$RC" 0 "restore ds2 (n$L leads)"
wait_until 60 "ds2's restore is at 'restoring' (the ONTAP call in flight)" eval '[ "$(phase ds2)" = restoring ]'
"$CLUSTER" kill "$L" node || fail "kill n$L node"
log "n$L killed while its restore PATCH is in flight"
new_leader() { all_agree_leader $survivors && [ "${AGREED_LEADER%/*}" != "$L" ]; }
wait_until 60 "a new leader among $survivors" new_leader
sim -X DELETE "$SIM/_sim/faults/$fault" >/dev/null
phase_on() { nx "$s1" kvmcctl snapshot restore-status --json | jq -r --arg d "$1" '.[$d].phase // "none"'; }
wait_until 90 "the new leader finished ds2's restore" eval '[ "$(phase_on ds2)" = done ]'
back_on_survivors() {
	[ "$(nx "$s1" kvmcctl datastore show ds2 --json | jq -r --arg a "n${survivors%% *}" --arg b "n${survivors##* }" \
		'[.nodes[$a], .nodes[$b]] | map(select(.attached and .mounted and .pool_active)) | length')" = 2 ]
}
wait_until 90 "ds2 attached, mounted and pooled on the survivors again" back_on_survivors
for i in $survivors; do
	assert_eq "$(nx "$i" cat /srv/kvmcd/ds2/before.txt 2>&1)" before "n$i: ds2 holds the file written before the snapshot"
	assert_true "n$i: the file written on ds2 after the snapshot is gone" nx "$i" test ! -e /srv/kvmcd/ds2/after.txt
done

# --- split: ds1c a volume of its own, ds1's snapshot no longer held by it ---
snap_on() { state | jq -r --arg v "${P}_$1" --arg s "$SNAP" '[.volumes[] | select(.name == $v) | .uuid] as $u |
	[.snapshots[] | select(.volume.uuid == $u[0] and .name == $s)] | length'; }
c_uuid=$(state | jq -r --arg v "${P}_ds1c" '.volumes[] | select(.name == $v) | .uuid')
ctl "$s1" datastore split ds2
assert_eq "$RC" 2 "datastore split of a datastore that is not a clone: refused"
assert_true "it says why" grep -q "datastore 'ds2' is not a clone" <<<"$OUT"
ctl "$s1" datastore split ds1c
assert_eq "$RC" 0 "datastore split ds1c"
wait_until 60 "ONTAP: ${P}_ds1c is no FlexClone any more" eval \
	'[ "$(state | jq -r --arg v "${P}_ds1c" ".volumes[] | select(.name == \$v) | .clone.is_flexclone")" = false ]'
split_shown() { nx "$s1" kvmcctl datastore show ds1c --json | jq -e '.ontap.clone.state == "split"' >/dev/null; }
log "ds1c's record: $(nx "$s1" kvmcctl records ds/ds1c 2>&1 | jq -c .)"
wait_until 30 "datastore show ds1c: split from its parent" split_shown
ctl "$s1" datastore show ds1c
assert_true "datastore show says so" grep -q "clone of ds1 at $SNAP: split from its parent" <<<"$OUT"
ctl "$s1" datastore split ds1c
assert_true "split again: unchanged" grep -q "^unchanged" <<<"$OUT"
sleep 3
assert_eq "$(grep -c "\"method\":\"PATCH\",\"path\":\"/api/storage/volumes/$c_uuid[?\"]" "$RUN/ontap/requests.log")" 1 \
	"one PATCH of ds1c's volume on ONTAP: the split, once (request log)"
for i in $survivors; do
	assert_eq "$(nx "$i" cat /srv/kvmcd/ds1c/clone.txt 2>&1)" clone-only "n$i: ds1c stayed mounted and in use through the split"
done
assert_eq "$(snap_on ds1) $(snap_on ds2)" "1 1" "ds1 and ds2 hold $SNAP"
ctl "$s1" snapshot delete "$SNAP"
assert_eq "$(snap_on ds1)" 0 "ds1's $SNAP is deleted: the split clone no longer holds it"
assert_eq "$(snap_on ds2)" 1 "ds2's $SNAP is kept: its clone ds2c (not split) holds it"
assert_true "the delete says ds2's copy is busy" grep -qi "busy\|in use" <<<"$OUT"
mn_pass
