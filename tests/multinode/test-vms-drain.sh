#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# kvmcctl node drain / undrain / list and cluster rebalance (issue 8) on 3 nodes: real libvirtd +
# QEMU TCG counter guests with their disks on a kvmcd datastore, the invariant monitor on all
# along (no domain of the spec ever runs on two nodes):
#   1. a1, a2, a3 prefer n1 and run there; b1 prefers n2; `node list`: n1 has the three;
#   2. `kvmcctl node drain n1` (asked on n2): all three leave n1 by live migration, at most one
#      at a time from n1 ([vms] migrations_per_node = 1: at no sample do two of them migrate),
#      each counter going on in one stream (nothing lost, nothing twice); `node list`: n1
#      drained, then "maintenance" (nothing left there);
#   3. maintenance survives a restart: n1's kvmcd SIGKILLed and started again: n1 still drained;
#      a VM added that prefers n1 goes elsewhere;
#   4. `kvmcctl node undrain n1`: n1 takes VMs again, nothing moves back by itself;
#      `cluster rebalance --dry-run` prints the plan (the a-VMs back to n1, "prefers n1") and
#      moves nothing; `cluster rebalance` moves them back, live, one after the other.
. "$(dirname "$0")/lib.sh"
. "$MN_DIR/vm/kvmcd-vms.sh"
export MN_HOST_SIM=1
mn_begin vms-drain 480
mn_need_libvirt
mn_need_guest_tools
mn_up 3 --ontap --libvirt

A="a1 a2 a3"
log "a datastore for the VMs' disks"
wait_until 30 "a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
apply_spec "$L" "{\"datastores\":[$(kv_ds1_spec)]}" || fail "apply: $APPLY_OUT"
wait_until 60 "ds1 ready on the 3 nodes" nx 1 kvmcctl pool verify
kv_disks a1 a2 a3 b1 c1

MN_VM_MON_INTERVAL=0.2 mn_vm_monitor_start "a1 a2 a3 b1 c1"
spec=$(jq -n --arg a1 "$(kv_xml a1)" --arg a2 "$(kv_xml a2)" --arg a3 "$(kv_xml a3)" --arg b1 "$(kv_xml b1)" \
	--argjson ds "$(kv_ds1_spec)" '{
	datastores: [$ds],
	vms: [
	  {name: "a1", domain_xml: $a1, placement: {prefer: ["n1"]}},
	  {name: "a2", domain_xml: $a2, placement: {prefer: ["n1"]}},
	  {name: "a3", domain_xml: $a3, placement: {prefer: ["n1"]}},
	  {name: "b1", domain_xml: $b1, placement: {prefer: ["n2"]}}]}')
apply_spec "$L" "$spec" || fail "apply the VMs: $APPLY_OUT"

# 1.
for v in $A; do wait_until 90 "$v runs on n1 only" kv_runs_only_on "$v" n1; done
wait_until 60 "b1 runs on n2 only" kv_runs_only_on b1 n2
for v in $A; do wait_until 30 "$v counts" mn_vm_counting "$v" 3; done
assert_eq "$(kv_node 2 n1 '.vms | sort | join(",")')" "a1,a2,a3" "node list (n2): n1's VMs"
assert_eq "$(kv_node 2 n1 '"\(.member) \(.drained) \(.maintenance)"')" "true false false" "node list: n1 member / drained / maintenance"
nx 3 kvmcctl node list | sed 's/^/    /'

# 2. Drain n1.
declare -A c0
for v in $A; do c0[$v]=$(mn_vm_last_counter "$v"); done
out=$("$CLUSTER" exec 2 timeout 60 kvmcctl node drain n1 2>&1) || fail "kvmcctl node drain n1: $out"
log "n2: kvmcctl node drain n1: $(tr '\n' ' ' <<<"$out")"
assert_eq "$(kv_node 3 n1 .drained)" true "node list (n3): n1 drained"
max_migrating=0
drained_off() {
	local v m
	m=$(kv_vmlist 3 | jq '[.[] | select(.state == "migrating")] | length')
	[ "$m" -gt "$max_migrating" ] && max_migrating=$m
	for v in $A; do
		[ "$(kv_owner 3 "$v")" != n1 ] && [ "$(kv_vstate 3 "$v")" = running ] || return 1
		case $(kv_running_on "$v") in n2|n3) ;; *) return 1 ;; esac
	done
}
wait_until 120 "a1, a2, a3 off n1, each running on exactly one other node" drained_off
log "ok: n1 drained in ${WAITED_MS} ms; most VMs seen migrating at once: $max_migrating"
[ "$max_migrating" -le 1 ] || fail "$max_migrating migrations at once from n1 (migrations_per_node = 1)"
for v in $A; do
	wait_until 15 "$v's counter goes on (past $(( ${c0[$v]} + 5 )))" mn_vm_counting "$v" $(( ${c0[$v]} + 5 ))
	mn_vm_continuous "$v" || fail "$v's serial stream across the drain: $VM_BAD"
	assert_eq "$(nx 1 kvmcctl vm show "$v" --json | jq -r '.last_migration | "\(.from) \(.ok) \(.why)"')" "n1 true n1 is drained" \
		"vm show $v: last migration"
	log "ok: $v moved live to $(kv_owner 1 "$v"), one serial stream 0..$VM_LAST"
done
assert_eq "$(kv_running_on b1)" n2 "b1 (never touched) runs on"
wait_until 20 "node list: n1 in maintenance (drained, nothing left)" eval '[ "$(kv_node 1 n1 .maintenance)" = true ]'
nx 3 kvmcctl node list | sed 's/^/    /'
nx 1 kvmcctl node list | grep -q '^n1 .*maintenance' || fail "node list (text) does not say maintenance for n1"

# 3. Maintenance survives a restart of n1's kvmcd; a new VM preferring n1 goes elsewhere.
"$CLUSTER" kill 1 kvmcd || fail "kill n1's kvmcd"
wait_until 30 "n2, n3 agree on a leader" all_agree_leader 2 3
"$CLUSTER" start 1 kvmcd || fail "start n1's kvmcd"
wait_until 30 "all agree on a leader" all_agree_leader 1 2 3
assert_eq "$(kv_node 1 n1 .drained)" true "node list (n1, restarted): n1 drained"
xml_c1=$(kv_xml c1)
"$CLUSTER" exec 1 sh -c 'cat >/tmp/c1.xml' <<<"$xml_c1"
out=$(nx 1 kvmcctl vm add /tmp/c1.xml --prefer n1 2>&1) || fail "vm add c1: $out"
wait_until 60 "c1 runs on exactly its owner" kv_runs_only_on_owner c1
assert_ne "$(kv_owner 1 c1)" n1 "c1 (prefers n1, which is drained) placed on"
assert_eq "$(kv_node 2 n1 .maintenance)" true "node list: n1 still in maintenance"

# 4. Undrain; rebalance.
out=$("$CLUSTER" exec 3 timeout 60 kvmcctl node undrain n1 2>&1) || fail "kvmcctl node undrain n1: $out"
log "n3: kvmcctl node undrain n1: $(tr '\n' ' ' <<<"$out")"
assert_eq "$(kv_node 2 n1 '"\(.drained) \(.maintenance)"')" "false false" "node list: n1 drained / maintenance"
sleep 4
for v in $A c1; do [ "$(kv_owner 1 "$v")" != n1 ] || fail "$v moved back to n1 by itself"; done
log "ok: nothing moved back to n1 by itself"
plan=$(nx 2 kvmcctl cluster rebalance --dry-run) || fail "cluster rebalance --dry-run"
printf '%s\n' "$plan" | sed 's/^/    /'
planned=$(nx 2 kvmcctl cluster rebalance --dry-run --json | jq -r '[.moves[] | select(.to == "n1" and (.why | test("prefers n1"))) | .vm] | sort | join(",")')
[ -n "$planned" ] || fail "the dry run plans nothing back to n1"
log "ok: the dry run plans $planned back to n1 (one per node at a time: the rest when those are done)"
sleep 2
for v in $A c1; do [ "$(kv_owner 1 "$v")" != n1 ] || fail "$v moved by the dry run"; done
out=$(nx 3 kvmcctl cluster rebalance 2>&1) || fail "cluster rebalance: $out"
printf '%s\n' "$out" | sed 's/^/    /'
for v in $A c1; do c0[$v]=$(mn_vm_last_counter "$v"); done
back_on_n1() { local v; for v in $A c1; do kv_runs_only_on "$v" n1 || return 1; done; }
wait_until 180 "a1, a2, a3, c1 back on n1 (they prefer it)" back_on_n1
log "ok: rebalanced in ${WAITED_MS} ms"
for v in $A c1; do
	wait_until 15 "$v's counter goes on" mn_vm_counting "$v" $(( ${c0[$v]} + 3 ))
	mn_vm_continuous "$v" || fail "$v's serial stream across the rebalance: $VM_BAD"
done
wait_until 30 "nothing more to rebalance" eval '[ "$(nx 2 kvmcctl cluster rebalance --dry-run --json | jq ".moves | length")" = 0 ]'
nx 3 kvmcctl node list | sed 's/^/    /'
mn_vm_monitor_check
mn_pass
