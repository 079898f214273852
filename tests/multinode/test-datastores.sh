#!/bin/bash
# Datastores on the multi-node tier: 3 nodes with real corosync, kvmcd and libvirtd, the ONTAP
# simulator, and kvmcd's SIMULATED host backend ([host] backend = sim: this kernel has no
# iSCSI / NVMe / NFS / OCFS2 / GFS2, so a LUN is the simulator's backing file, usable by a node
# only while the array maps it to that node, and the cluster file system is a directory every
# node sees). What an admin would check:
#   - one spec with an iSCSI, an NVMe/TCP and an NFS datastore -> the array grants exactly each
#     node's IQN / host NQN / address (one igroup per node), every node's libvirtd has the same
#     active pools (`kvmcctl pool verify`), `datastore show` tells it per node;
#   - the same spec applied again changes nothing on the array;
#   - a node's kvmcd down and back: its access is never taken away meanwhile;
#   - a datastore removed from the spec: pool gone on every node, the array no longer grants it,
#     its volume (the data) kept, status says so;
#   - a cloned host (n3 restarted with n1's IQN): status names the IQN and says the leader keeps
#     both nodes off the array for it, the array grants that IQN nothing (never merged into one
#     igroup), datastore show gives n1 and n3 the error; n3's own NQN keeps its namespace; with
#     its own IQN back, both reach the LUN again.
. "$(dirname "$0")/lib.sh"
export MN_HOST_SIM=1
mn_begin datastores 300
mn_up 3 --ontap --libvirt

RUN=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}
HUB=/run/netns/${MN_PREFIX:-kvmcd}-hub
access() { nsenter --net="$HUB" curl -sk --max-time 5 "https://10.213.0.254:8443/sim/access?$1"; }
iqn_of() { cut -d= -f2 "$RUN/n$1/etc-iscsi/initiatorname.iscsi"; }
nqn_of() { head -1 "$RUN/n$1/etc-nvme/hostnqn"; }
mutations() { jq -c 'select(.method != "GET")' "$RUN/ontap/requests.log" | wc -l; }

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
# n3's kvmcd stays away longer than the agent grace below: this test checks that the DATASTORE
# PLAN never takes a node's access away while it is away; with HA armed the leader would fence
# n3 (multinode-ha-failover's subject). An operator's maintenance window: HA disarmed.
ha_disarm 1
SPEC='{"datastores":[{"name":"ds1","protocol":"iscsi","size":"2G"},
 {"name":"ds2","protocol":"nvme-tcp","size":"2G","fs":"gfs2"},
 {"name":"nfs1","protocol":"nfs","size":"1G"}]}'
apply_spec 2 "$SPEC" || fail "apply: $APPLY_OUT"
pools_ok() { nx 2 kvmcctl pool verify >/dev/null 2>&1; }
wait_until 90 "every node's pools identical and active (kvmcctl pool verify)" pools_ok
nx 3 kvmcctl datastore list | while read -r l; do log "  $l"; done

for i in 1 2 3; do
	a=$(access "initiator=$(iqn_of "$i")")
	assert_eq "$(jq -r '[.luns[].name] | join(",")' <<<"$a")" "/vol/kvmcd_${MN_PREFIX:-kvmcd}_mn_ds1/lun0" \
		"n$i's IQN reaches exactly the ds1 LUN"
	assert_eq "$(jq -r '[.luns[].igroups[]] | join(",")' <<<"$a")" "kvmcd_${MN_PREFIX:-kvmcd}_mn_n$i" \
		"through its own igroup"
	a=$(access "hostnqn=$(nqn_of "$i")")
	assert_eq "$(jq -r '[.namespaces[].name] | join(",")' <<<"$a")" "/vol/kvmcd_${MN_PREFIX:-kvmcd}_mn_ds2/ns0" \
		"n$i's host NQN reaches exactly the ds2 namespace"
	a=$(access "client=10.213.0.$i")
	assert_eq "$(jq -r '[.exports[] | select(.nfs == "rw") | .volume] | join(",")' <<<"$a")" \
		"kvmcd_${MN_PREFIX:-kvmcd}_mn_nfs1" "n$i's address has the NFS export rw"
	assert_eq "$(nx "$i" virsh -q pool-list --all | awk '{print $1":"$2}' | sort | tr '\n' ' ')" \
		"ds1:active ds2:active nfs1:active " "n$i's libvirtd has the three pools, active"
done
assert_true "a node that is not in the cluster reaches nothing" \
	test "$(access "initiator=iqn.2024-01.test.kvmcd:stranger" | jq '.luns | length')" = 0
show=$(nx 1 kvmcctl datastore show ds1 --json)
assert_eq "$(jq -r '[.nodes[] | select(.attached and .mounted and .pool_active)] | length' <<<"$show")" 3 \
	"datastore show: attached, mounted and pooled on 3 nodes"
assert_eq "$(jq -r '.ontap.lun_serial | length' <<<"$show")" 12 "the LUN's serial is recorded"

log "the same spec again: nothing changes on the array"
m0=$(mutations)
apply_spec 3 "$SPEC" || fail "re-apply: $APPLY_OUT"
sleep 8
assert_eq "$(mutations)" "$m0" "no mutating ONTAP request after re-applying the same spec"

log "n3's kvmcd down and back: its access stays"
"$CLUSTER" kill 3 kvmcd || fail "kill kvmcd n3"
sleep 12
assert_eq "$(mutations)" "$m0" "no mutating ONTAP request while n3's kvmcd is down"
assert_eq "$(access "initiator=$(iqn_of 3)" | jq '.luns | length')" 1 "n3 keeps its LUN"
assert_true "HA is still disarmed (n2's status)" ha_disarmed 2
"$CLUSTER" start 3 kvmcd || fail "start kvmcd n3"
wait_until 60 "pools identical and active again" pools_ok

log "nfs1 removed from the spec: detached everywhere, data kept"
SPEC2='{"datastores":[{"name":"ds1","protocol":"iscsi","size":"2G"},
 {"name":"ds2","protocol":"nvme-tcp","size":"2G","fs":"gfs2"}]}'
apply_spec 1 "$SPEC2" || fail "apply without nfs1: $APPLY_OUT"
no_nfs1_pool() { for i in 1 2 3; do nx "$i" virsh -q pool-list --all | grep -q nfs1 && return 1; done; return 0; }
wait_until 60 "no node has the nfs1 pool any more" no_nfs1_pool
kept() { nx 1 kvmcctl datastore list --json | jq -e '.[] | select(.name == "nfs1" and .removed == true and .state == "kept")' >/dev/null; }
wait_until 60 "datastore list says nfs1's volume is kept" kept
assert_eq "$(access "client=10.213.0.1" | jq -r '[.exports[] | select(.nfs == "rw") | .volume] | join(",")')" "" \
	"the array no longer exports nfs1 to n1 (the volume is unmounted, its data kept)"
wait_until 10 "pool verify after the removal" pools_ok

log "a cloned host: n3 restarted with n1's initiator name"
IQN1=$(iqn_of 1) IQN3=$(iqn_of 3)
cp "$RUN/n3/etc-iscsi/initiatorname.iscsi" "$RUN/n3-initiatorname.iscsi.orig"
cp "$RUN/n1/etc-iscsi/initiatorname.iscsi" "$RUN/n3/etc-iscsi/initiatorname.iscsi"
"$CLUSTER" stop 3 kvmcd || fail "stop kvmcd n3"
"$CLUSTER" start 3 kvmcd || fail "start kvmcd n3"
cloned() { nx 1 kvmcctl status | grep -q "ERROR: *iqn $IQN1 is on several nodes"; }
wait_until 30 "status names the IQN held by two nodes" cloned
kept_off() { nx 2 kvmcctl status | grep -q "ERROR: *node n3 is kept off the array: cloned host: its iSCSI IQN $IQN1 is also node n1's"; }
wait_until 60 "status (on n2) says the leader keeps n3 off the array for n1's IQN" kept_off
no_lun() { [ "$(access "initiator=$IQN1" | jq '.luns | length')" = 0 ]; }
wait_until 30 "the array grants the shared IQN nothing: no igroup holds it (never merged)" no_lun
assert_eq "$(access "initiator=$IQN3" | jq '.luns | length')" 0 "n3's old IQN left its igroup too"
show=$(nx 2 kvmcctl datastore show ds1 --json)
assert_true "datastore show ds1: n1's error names the clone" \
	grep -q "cloned host: its iSCSI IQN $IQN1 is also node n3's" <<<"$(jq -r '.nodes.n1.error // ""' <<<"$show")"
assert_true "datastore show ds1: n3's error names the clone" \
	grep -q "cloned host: its iSCSI IQN $IQN1 is also node n1's" <<<"$(jq -r '.nodes.n3.error // ""' <<<"$show")"
assert_eq "$(access "hostnqn=$(nqn_of 3)" | jq '.namespaces | length')" 1 "n3's own host NQN keeps the ds2 namespace"
log "n3 gets its own initiator name back"
cp "$RUN/n3-initiatorname.iscsi.orig" "$RUN/n3/etc-iscsi/initiatorname.iscsi"
"$CLUSTER" stop 3 kvmcd || fail "stop kvmcd n3"
"$CLUSTER" start 3 kvmcd || fail "start kvmcd n3"
not_kept_off() { ! nx 2 kvmcctl status | grep -q "kept off the array"; }
wait_until 60 "status no longer reports a cloned host" not_kept_off
back() { [ "$(access "initiator=$IQN1" | jq '.luns | length')" = 1 ] && [ "$(access "initiator=$IQN3" | jq '.luns | length')" = 1 ]; }
wait_until 30 "n1 and n3 reach the ds1 LUN again" back
wait_until 120 "every node's pools identical and active again" pools_ok
mn_pass
