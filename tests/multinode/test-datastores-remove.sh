#!/bin/bash
# kvmcctl datastore remove NAME [--destroy-data] on the multi-node tier (3 nodes, real corosync,
# kvmcd and libvirtd, the ONTAP simulator, the simulated host backend). What an admin would check:
#   - bad input: an unknown name is refused (exit 2, nothing applied), a missing one is a usage
#     error (1); a plain `spec apply` that adds a name to "destroy_data" is refused (2): only
#     `datastore remove --destroy-data` asks to destroy data; a name in both "datastores" and
#     "destroy_data" is refused (2);
#   - remove WITHOUT the flag: the pool leaves every node, the LUN is unmapped, the volume (the
#     data) stays on the array; `datastore list/show` and `status` say it is kept;
#   - remove WITH --destroy-data while n3's kvmcd is down: n1 and n2 detach, but nothing is
#     unmapped or deleted while n3 cannot confirm (status says it waits for n3, not a member);
#     n3's kvmcd comes back, takes the datastore down from the leader's record, and only then is
#     the volume deleted: the simulator's request log has no DELETE before n3's "detached" line;
#   - remove WITH --destroy-data with every node up: every DELETE after the last node detached;
#   - a datastore kept earlier, removed again with --destroy-data: its volume goes.
. "$(dirname "$0")/lib.sh"
export MN_HOST_SIM=1
mn_begin datastores-remove 420
mn_up 3 --ontap --libvirt

RUN=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}
HUB=/run/netns/${MN_PREFIX:-kvmcd}-hub
P=kvmcd_${MN_PREFIX:-kvmcd}_mn
REQLOG=$RUN/ontap/requests.log
sim() { nsenter --net="$HUB" curl -sk --max-time 5 "https://10.213.0.254:8443$1"; }
access() { sim "/sim/access?$1"; }
iqn_of() { cut -d= -f2 "$RUN/n$1/etc-iscsi/initiatorname.iscsi"; }
volume_on_array() { sim /_sim/state | jq -e --arg n "${P}_$1" '[.volumes[]? | select(.name == $n)] | length == 1' >/dev/null; }
volume_gone() { sim /_sim/state | jq -e --arg n "${P}_$1" '[.volumes[]? | select(.name == $n)] | length == 0' >/dev/null; }
no_pool() { # NAME NODES...: none of the nodes' libvirtd has the pool
	local n=$1 i; shift
	for i in "$@"; do nx "$i" virsh -q pool-list --all | awk '{print $1}' | grep -qx "$n" && return 1; done
	return 0
}
state_of() { nx 1 kvmcctl datastore list --json | jq -r --arg n "$1" '.[] | select(.name == $n) | .state'; }
is_state() { [ "$(state_of "$1")" = "$2" ]; }
ctl() { # NODE ARGS...: kvmcctl on NODE; sets OUT (stdout+stderr) and RC
	OUT=$("$CLUSTER" exec "$1" timeout 20 kvmcctl "${@:2}" 2>&1); RC=$?
	log "n$1: kvmcctl ${*:2} -> exit $RC: $(printf '%s' "$OUT" | tr '\n' ' ' | cut -c1-240)"
}
ms_of() { date -u -d "$1" +%s%3N; }
# The time (ms) node I's kvmcd logged that datastore NAME is detached from it (the last such line).
detached_ms() {
	local t
	t=$(grep "Datastore '$2' is detached from this node" "$RUN/n$1/kvmcd.log" | tail -1 | cut -d' ' -f1)
	[ -n "$t" ] && ms_of "$t"
}
# Every mutating request the simulator logged after line MARK: "ms method path".
mutations_after() {
	tail -n +"$(( $1 + 1 ))" "$REQLOG" | jq -r 'select(.method != "GET") | "\(.time) \(.method) \(.path)"' |
		while read -r t m p; do echo "$(ms_of "$t") $m $p"; done
}

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
# n3's kvmcd stays away longer than the agent grace below: this test checks that a removal with
# --destroy-data deletes nothing while n3 cannot confirm; with HA armed the leader would fence
# n3 (DELETEs of its initiators: multinode-ha-failover's subject). A maintenance window: disarmed.
ha_disarm 1
SPEC='{"datastores":[{"name":"keep1","protocol":"iscsi","size":"2G"},
 {"name":"gone1","protocol":"nvme-tcp","size":"2G"},
 {"name":"gone2","protocol":"iscsi","size":"2G"}]}'
apply_spec 2 "$SPEC" || fail "apply: $APPLY_OUT"
pools_ok() { nx 2 kvmcctl pool verify >/dev/null 2>&1; }
wait_until 120 "every node's pools identical and active (kvmcctl pool verify)" pools_ok

log "--- bad input"
ctl 1 datastore remove nosuch
assert_eq "$RC" 2 "datastore remove of an unknown name: exit 2 (refused, nothing applied)"
assert_true "the error names the datastore" grep -q "no datastore 'nosuch' in the spec" <<<"$OUT"
ctl 1 datastore remove
assert_eq "$RC" 1 "datastore remove without a name: usage error"
ctl 1 datastore remove keep1 --destroy-everything
assert_eq "$RC" 1 "datastore remove with an unknown option: usage error"
spec_before=$(nx 1 kvmcctl spec get | jq -cS .)
apply_spec 3 '{"datastores":[{"name":"keep1","protocol":"iscsi","size":"2G"},{"name":"gone2","protocol":"iscsi","size":"2G"}],"destroy_data":["gone1"]}'
assert_eq "$?" 2 "a plain spec apply that asks to destroy gone1's data: exit 2"
assert_true "it says to use datastore remove --destroy-data" grep -q "kvmcctl datastore remove gone1 --destroy-data" <<<"$APPLY_OUT"
assert_eq "$(nx 1 kvmcctl spec get | jq -cS .)" "$spec_before" "the spec is unchanged"

log "--- keep1 removed WITHOUT --destroy-data: detached everywhere, the data stays"
m0=$(wc -l <"$REQLOG")
ctl 2 datastore remove keep1
assert_eq "$RC" 0 "datastore remove keep1"
assert_true "it says the data is kept" grep -q "KEPT" <<<"$OUT"
assert_eq "$(nx 3 kvmcctl spec get | jq -c '[.datastores[].name]')" '["gone1","gone2"]' "keep1 left the spec"
assert_eq "$(nx 3 kvmcctl spec get | jq -c '.destroy_data')" 'null' "nothing asked to be destroyed"
wait_until 60 "no node has the keep1 pool any more" no_pool keep1 1 2 3
wait_until 60 "datastore list says keep1 is kept" is_state keep1 kept
assert_true "the keep1 volume is still on the array" volume_on_array keep1
assert_eq "$(access "initiator=$(iqn_of 1)" | jq -r '[.luns[].name] | join(",")')" "/vol/${P}_gone2/lun0" \
	"n1's IQN reaches gone2's LUN only: keep1's LUN is unmapped"
assert_eq "$(mutations_after "$m0" | grep -c "DELETE /api/storage/volumes")" 0 "no volume DELETE"
assert_true "datastore show keep1 says the data is kept" eval 'nx 3 kvmcctl datastore show keep1 | grep -q "its volume and data are KEPT on ONTAP"'
assert_true "kvmcctl status says keep1 is kept" eval 'nx 3 kvmcctl status | grep -q "Removed: *datastore keep1: its volume and data are KEPT on ONTAP"'
ctl 1 datastore remove keep1
assert_eq "$RC" 0 "datastore remove keep1 again: already in place"
assert_true "it says unchanged" grep -q "^unchanged" <<<"$OUT"
wait_until 10 "pool verify after keep1's removal" pools_ok

log "--- gone1 removed WITH --destroy-data while n3's kvmcd is down"
"$CLUSTER" stop 3 kvmcd || fail "stop kvmcd n3"
wait_until 30 "n1 sees 2 kvmcd members" has_members 1 2
m1=$(wc -l <"$REQLOG")
ctl 1 datastore remove gone1 --destroy-data
assert_eq "$RC" 0 "datastore remove gone1 --destroy-data"
assert_true "it says the data will be destroyed" grep -q "DESTROYED once every node has detached it" <<<"$OUT"
assert_eq "$(nx 2 kvmcctl spec get | jq -c '.destroy_data')" '["gone1"]' "the spec lists gone1 in destroy_data"
wait_until 60 "n1 and n2 no longer have the gone1 pool" no_pool gone1 1 2
waits_n3() { nx 1 kvmcctl datastore show gone1 --json | jq -e '.ontap.blocked | test("n3.*not a member")' >/dev/null; }
wait_until 60 "datastore show gone1 says it waits for n3 (not a member)" waits_n3
sleep 8
assert_true "the gone1 volume is still on the array while n3 cannot confirm" volume_on_array gone1
assert_eq "$(mutations_after "$m1" | grep -c DELETE)" 0 "no DELETE at all while n3 is away"
assert_true "HA is still disarmed (n2's status)" ha_disarmed 2
assert_true "kvmcctl status says gone1 is being destroyed" eval 'nx 2 kvmcctl status | grep -q "Removed: *datastore gone1: its volume is being DESTROYED"'
assert_true "n3's libvirtd still has the gone1 pool (its kvmcd is down)" eval '! no_pool gone1 3'
"$CLUSTER" start 3 kvmcd || fail "start kvmcd n3"
wait_until 90 "n3 took gone1 down from the leader's record" no_pool gone1 3
wait_until 60 "the gone1 volume is gone from the array" volume_gone gone1
t3=$(detached_ms 3 gone1) || fail "n3 logged no detach of gone1"
first=$(mutations_after "$m1" | grep DELETE | head -1)
log "n3 detached gone1 at $t3; first DELETE after: $first"
[ -n "$first" ] || fail "no DELETE in the request log"
assert_true "the first DELETE came after n3 detached" test "${first%% *}" -gt "$t3"
assert_true "the namespace and volume DELETEs are in the request log" \
	eval 'mutations_after "$m1" | grep -q "DELETE /api/storage/namespaces/" && mutations_after "$m1" | grep -q "DELETE /api/storage/volumes/"'
wait_until 30 "datastore list says gone1 is destroyed" is_state gone1 destroyed
ctl 2 datastore remove gone1
assert_eq "$RC" 2 "datastore remove gone1 without the flag after it was destroyed: refused"
apply_spec 2 "$(nx 2 kvmcctl spec get | jq -c '.datastores += [{"name":"gone1","protocol":"nvme-tcp","size":"2G"}]')"
assert_eq "$?" 2 "re-creating gone1 while destroy_data lists it: refused"
assert_true "the refusal names destroy_data" grep -q 'destroy_data\[0\]: "gone1" is also datastores' <<<"$APPLY_OUT"

log "--- gone2 removed WITH --destroy-data, every node up"
m2=$(wc -l <"$REQLOG")
ctl 3 datastore remove gone2 --destroy-data
assert_eq "$RC" 0 "datastore remove gone2 --destroy-data"
wait_until 60 "no node has the gone2 pool" no_pool gone2 1 2 3
wait_until 60 "the gone2 volume is gone from the array" volume_gone gone2
last=0
for i in 1 2 3; do
	t=$(detached_ms "$i" gone2) || fail "n$i logged no detach of gone2"
	[ "$t" -gt "$last" ] && last=$t
done
first=$(mutations_after "$m2" | grep DELETE | head -1)
log "the last node detached gone2 at $last; first DELETE after: $first"
assert_true "the first DELETE (an unmap) came after the last node detached" test "${first%% *}" -gt "$last"
assert_eq "$(mutations_after "$m2" | grep -c "DELETE /api/storage/volumes/")" 1 "one volume DELETE"
assert_eq "$(nx 1 kvmcctl spec get | jq -c '.destroy_data')" '["gone1","gone2"]' "destroy_data lists both"

log "--- keep1 (kept) now removed WITH --destroy-data: its volume goes"
ctl 1 datastore remove keep1 --destroy-data
assert_eq "$RC" 0 "datastore remove keep1 --destroy-data"
wait_until 60 "the keep1 volume is gone from the array" volume_gone keep1
wait_until 30 "datastore list says keep1 is destroyed" is_state keep1 destroyed
nx 1 kvmcctl datastore list | while read -r l; do log "  $l"; done
assert_eq "$(sim /_sim/state | jq --arg p "$P" '[.volumes[]? | select(.name | startswith($p))] | length')" 0 \
	"no volume of ours left on the array"
mn_pass
