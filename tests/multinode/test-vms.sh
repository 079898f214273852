#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# VMs of the spec on 3 nodes (multi-node tier: real libvirtd + QEMU TCG counter guests whose disks
# are files on a kvmcd datastore, the simulated host backend for the datastore), under the
# invariant monitor (vm-monitor: no domain of the spec ever runs on two nodes):
#   - vm1, vm2 and vm4 are pairwise anti-affine, vm3 is stopped, vm5 is anti-affine with the three
#     others: vm1, vm2, vm4 each run on exactly the node `kvmcctl vm list --json` names (three
#     different nodes), every node has every VM defined, none autostarted; vm3 runs nowhere
#     ("stopped"); vm5 waits and says why (anti-affinity);
#   - vm5 removed from the spec: undefined on every node;
#   - vm1 stopped in the spec: it stops, and runs nowhere; started again: it runs on one node;
#   - kvmcd killed on vm1's owner: vm1 keeps running there and no other node starts it (its owner
#     left the view but is not fenced); kvmcd back: still the one copy, still owned by that node.
. "$(dirname "$0")/lib.sh"
export MN_HOST_SIM=1
mn_begin vms 360
mn_need_libvirt
mn_need_guest_tools
mn_up 3 --ontap --libvirt

vmlist() { nx "$1" kvmcctl vm list --json; }
owner_of() { vmlist "$1" | jq -r --arg v "$2" '.[] | select(.name == $v) | .node // "none"'; }
vstate_of() { vmlist "$1" | jq -r --arg v "$2" '.[] | select(.name == $v) | .state'; }
# running_on VM: the nodes whose libvirtd runs VM, e.g. "n2" (space separated)
running_on() {
	local i out=""
	for i in 1 2 3; do [ "$(vm_state "$i" "$1")" = running ] && out+="n$i "; done
	echo "${out% }"
}
runs_only_on_owner() { # VM: running on exactly one node, the one the record names
	local o
	o=$(owner_of 1 "$1")
	[ "$o" != none ] && [ "$(running_on "$1")" = "$o" ] && [ "$(vstate_of 1 "$1")" = running ]
}
xml_of() { # NAME: the counter guest on the datastore, without a <uuid> (kvmcd gives one)
	mn_vm_xml "$1" 16 | sed -e '/<uuid>/d' \
		-e "s|<source file='[^']*'/>|<source file='/srv/kvmcd/ds1/$1.img'/>|" \
		-e "s|<source path='[^']*' append='on'/>|<source path='/srv/kvmcd/ds1/$1.serial' append='on'/>|"
}

log "a datastore for the VMs' disks"
wait_until 30 "a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
# vm1's owner loses its kvmcd for longer than the agent grace below: this test checks that
# placement alone never re-places a VM whose owner left the view unfenced; with HA armed the
# leader would fence that node and recover vm1 (multinode-ha-failover's subject). Disarmed, as an
# operator does for a maintenance window.
ha_disarm "$L"
apply_spec "$L" '{"datastores":[{"name":"ds1","protocol":"iscsi","size":"1G"}]}' || fail "apply: $APPLY_OUT"
wait_until 60 "ds1 ready on the 3 nodes" nx 1 kvmcctl pool verify
img=$(_mn_vm_built_image)
[ -n "$img" ] || fail "the counter guest's image is not built (tests/multinode/counter.img)"
for v in vm1 vm2 vm3 vm4 vm5; do
	nx 1 cp "$img" "/srv/kvmcd/ds1/$v.img" || fail "cannot put $v's disk on ds1"
done

MN_VM_MON_INTERVAL=0.2 mn_vm_monitor_start "vm1 vm2 vm3 vm4 vm5"
spec=$(jq -n --arg x1 "$(xml_of vm1)" --arg x2 "$(xml_of vm2)" --arg x3 "$(xml_of vm3)" \
	--arg x4 "$(xml_of vm4)" --arg x5 "$(xml_of vm5)" '{
	datastores: [{name: "ds1", protocol: "iscsi", size: "1G"}],
	vms: [
	  {name: "vm1", domain_xml: $x1, placement: {anti_affinity: ["vm2", "vm4"]}},
	  {name: "vm2", domain_xml: $x2, placement: {anti_affinity: ["vm1", "vm4"]}},
	  {name: "vm3", domain_xml: $x3, state: "stopped"},
	  {name: "vm4", domain_xml: $x4, placement: {anti_affinity: ["vm1", "vm2"]}},
	  {name: "vm5", domain_xml: $x5, ha: {priority: -1}, placement: {anti_affinity: ["vm1", "vm2", "vm4"]}}]}')
apply_spec "$L" "$spec" || fail "apply the VMs: $APPLY_OUT"
for v in vm1 vm2 vm4; do
	wait_until 60 "$v runs on exactly its owner" runs_only_on_owner "$v"
done
owners="$(owner_of 1 vm1) $(owner_of 1 vm2) $(owner_of 1 vm4)"
assert_eq "$(echo "$owners" | tr ' ' '\n' | sort -u | wc -l)" 3 "vm1, vm2, vm4 on three different nodes ($owners)"
wait_until 20 "vm5 waits and says why" eval '[ "$(vstate_of 1 vm5)" = waiting ] && vmlist 1 | jq -e ".[] | select(.name == \"vm5\") | .reason | test(\"anti-affinity\")" >/dev/null'
log "ok: vm5 waits: $(vmlist 1 | jq -r '.[] | select(.name == "vm5") | .reason')"
assert_eq "$(running_on vm3)" "" "vm3 (stopped in the spec) runs nowhere"
assert_eq "$(vstate_of 2 vm3)" stopped "vm3's state as n2 sees it"
assert_eq "$(running_on vm5)" "" "vm5 runs nowhere"
for i in 1 2 3; do
	for v in vm1 vm2 vm3 vm4 vm5; do
		assert_eq "$(vsh "$i" dominfo "$v" 2>/dev/null | awk '/^Persistent:/{p=$2} /^Autostart:/{a=$2} END{print p"/"a}')" \
			"yes/disable" "n$i: $v defined persistently, autostart off"
	done
done

log "vm5 removed from the spec (else it would take vm1's place while vm1 is stopped)"
nx 1 kvmcctl vm remove vm5 >/dev/null || fail "kvmcctl vm remove vm5"
wait_until 30 "vm5 undefined everywhere" eval '[ "$(vm_state 1 vm5)$(vm_state 2 vm5)$(vm_state 3 vm5)" = absentabsentabsent ]'

log "vm1 stopped in the spec, then started again"
o1=$(owner_of 1 vm1)
nx 1 kvmcctl vm stop vm1 >/dev/null || fail "kvmcctl vm stop vm1"
wait_until 30 "vm1 stopped everywhere" eval '[ -z "$(running_on vm1)" ] && [ "$(vstate_of 1 vm1)" = stopped ]'
nx 2 kvmcctl vm start vm1 >/dev/null || fail "kvmcctl vm start vm1"
wait_until 60 "vm1 runs on exactly its owner again" runs_only_on_owner vm1
o1=$(owner_of 1 vm1)
log "ok: vm1 runs again on $o1"

log "kvmcd killed on vm1's owner $o1"
i1=${o1#n}
"$CLUSTER" kill "$i1" kvmcd || fail "kill kvmcd $o1"
others=""; for i in 1 2 3; do [ "$i" = "$i1" ] || others+="$i "; done
wait_until 30 "the others agree on a leader" all_agree_leader $others
sleep 8
assert_eq "$(running_on vm1)" "$o1" "vm1 still runs on $o1 only, its kvmcd gone"
assert_eq "$(owner_of "${others%% *}" vm1)" "$o1" "the record still names $o1 (not fenced: never re-placed)"
for i in $others; do assert_true "HA still disarmed (n$i's status)" ha_disarmed "$i"; done
"$CLUSTER" start "$i1" kvmcd || fail "start kvmcd $o1"
wait_until 30 "all agree on a leader" all_agree_leader 1 2 3
sleep 5
assert_eq "$(running_on vm1)" "$o1" "vm1 still runs on $o1 only after its kvmcd came back"
for v in vm2 vm4; do runs_only_on_owner "$v" || fail "$v does not run on exactly its owner"; done
mn_vm_monitor_check
mn_pass
