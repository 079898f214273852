#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A two-node cluster losing a node (issue 9): corosync with `two_node: 1` (cluster up --two-node),
# libvirtd + QEMU counter guests on a kvmcd datastore, ontap-sim, every node's simulated watchdog
# fed by kvmcd, the invariant monitor on all along:
#   1. both nodes up: one leader L (whichever kvmcd was first alone in the group), the other F;
#      h2 (HA) prefers F and runs there, h1 (HA) on L, no claim on ONTAP yet;
#   2. `cluster kill F node` (a power cut) -> L, alone, is quorate by corosync's rules but acts
#      only once it won the atomic claim on ONTAP: the simulator's request log shows the claim's
#      POST (a snapshot policy <prefix>_claim_<epoch>) BEFORE the DELETEs that cut F's access,
#      and L starts h2 only after both; `kvmcctl fence history --json`: F confirmed by ontap;
#      h1 ran on L throughout (the survivor, healthy while it claims, stopped nothing).
. "$(dirname "$0")/lib.sh"
. "$MN_DIR/vm/kvmcd-vms.sh"
export MN_HOST_SIM=1
export MN_KVMCD_EXTRA=$'[ha]\nwatchdog=sim:/run/watchdog.sock'
mn_begin ha-two-node 300
mn_need_libvirt
mn_need_guest_tools
mn_up 2 --ontap --libvirt --watchdog --two-node
REQLOG=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}/ontap/requests.log
[ -f "$REQLOG" ] || fail "no ontap-sim request log ($REQLOG)"
grep -q 'two_node: 1' "$MN_RUN_BASE/${MN_PREFIX:-kvmcd}/n1/etc-corosync/corosync.conf" ||
	fail "corosync.conf has no two_node: 1"

wait_until 30 "a leader" all_agree_leader 1 2
L=${AGREED_LEADER%/*}
F=$(( 3 - L ))
KV_ASK=$L # the survivor answers for the records (kvmcd-vms.sh)
log "n$L leads; the follower n$F is the one killed"
apply_spec "$L" "{\"datastores\":[$(kv_ds1_spec)]}" || fail "apply: $APPLY_OUT"
wait_until 60 "ds1 ready on the 2 nodes" nx "$L" kvmcctl pool verify
kv_disks h1 h2

MN_VM_MON_INTERVAL=0.2 mn_vm_monitor_start "h1 h2"
spec=$(jq -n --arg l "n$L" --arg f "n$F" --arg h1 "$(kv_xml h1)" --arg h2 "$(kv_xml h2)" --argjson ds "$(kv_ds1_spec)" '{
	datastores: [$ds],
	vms: [
	  {name: "h1", domain_xml: $h1, placement: {prefer: [$l]}, ha: {enabled: true, priority: 5}},
	  {name: "h2", domain_xml: $h2, placement: {prefer: [$f]}, ha: {enabled: true, priority: 5}}]}')
apply_spec "$L" "$spec" || fail "apply the VMs: $APPLY_OUT"

# 1.
wait_until 60 "h2 runs on n$F only" kv_runs_only_on h2 "n$F"
wait_until 60 "h1 runs on n$L only" kv_runs_only_on h1 "n$L"
h1_starts=$(nx "$L" kvmcctl log | grep -cF "VM 'h1': started on this node")
wd_armed() { [ "$(nx "$1" kvmcctl status --json | jq -r '.ha.watchdog.armed')" = true ]; }
for i in 1 2; do wait_until 30 "n$i's watchdog armed" wd_armed "$i"; done
claims() { jq -s '[.[] | select(.method == "POST" and (.path | test("snapshot-policies")))] | length' "$REQLOG"; }
assert_eq "$(claims)" 0 "claim POSTs while both nodes run"
n_before=$(jq -s 'length' "$REQLOG")

# 2. Power cut on nF.
t0=$(now_ms)
"$CLUSTER" kill "$F" node || fail "cluster kill $F node"
log "n$F killed (every process of the node, its guests included)"
wait_until 45 "h2 runs again on n$L" kv_runs_only_on h2 "n$L"
log "MEASURED: node kill -> h2 running on n$L: $(( $(now_ms) - t0 )) ms"
hist=$(nx "$L" kvmcctl fence history --json) || fail "fence history"
assert_eq "$(jq -r --arg f "n$F" '.fences[] | select(.node == $f) | "\(.status) \(.confirmed_by)"' <<<"$hist")" "confirmed ontap" \
	"fence history: n$F"
nx "$L" kvmcctl log | grep -E 'two-node claim' | sed 's/^/    /'
nx "$L" kvmcctl log | grep -q "Won the two-node claim '[^']*_claim_[0-9]*'" || fail "n$L's log does not say it won the claim"

# The order, by this machine's clocks (ontap-sim's request log and kvmcd's log ring, UTC ms).
since=$(jq -sc --argjson n "$n_before" '.[$n:]' "$REQLOG")
claim=$(jq -r '[.[] | select(.method == "POST" and (.path | test("snapshot-policies")))] | map(.time) | min // ""' <<<"$since")
cut=$(jq -r '[.[] | select(.method == "DELETE" and (.path | test("initiators|hosts|rules")))] | map(.time) | min // ""' <<<"$since")
first_mut=$(jq -r '[.[] | select(.method != "GET" and (.path | test("snapshot-policies") | not))] | map(.time) | min // ""' <<<"$since")
started=$(nx "$L" kvmcctl log | grep -F "VM 'h2': started on this node" | tail -1 | cut -d' ' -f1)
log "claim POST at ${claim:-?}, first other mutation at ${first_mut:-?}, first cut at ${cut:-?}, h2 started on n$L at ${started:-?}"
[ -n "$claim" ] || fail "no claim POST in the ONTAP request log after the kill"
[ -n "$cut" ] || fail "no removal of n$F's access in the ONTAP request log"
[ -n "$started" ] || fail "n$L's log does not say it started h2"
assert_eq "$(claims)" 1 "claim POSTs in all"
[[ "$claim" < "$first_mut" ]] || fail "an ONTAP mutation ($first_mut) went before the claim ($claim)"
[[ "$claim" < "$cut" ]] || fail "n$F's access was cut ($cut) before the claim ($claim)"
[[ "$cut" < "$started" ]] || fail "h2 started on n$L ($started) before n$F's access was removed ($cut)"
log "ok: n$L claimed on ONTAP, then cut n$F's access, then started h2"
kv_runs_only_on h1 "n$L" || fail "h1 does not run on n$L only"
assert_eq "$(nx "$L" kvmcctl log | grep -cF "VM 'h1': started on this node")" "$h1_starts" "h1's starts on n$L (never stopped)"
if nx "$L" kvmcctl log | grep -F "VM 'h1'" | grep -q "stopping"; then fail "n$L stopped h1 while it claimed"; fi
mn_vm_monitor_check
mn_pass
