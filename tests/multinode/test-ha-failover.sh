#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# HA failover with the ONTAP storage fence (issue 9) on 3 nodes: real corosync, libvirtd + QEMU
# counter guests on a kvmcd datastore, ontap-sim, every node's simulated watchdog fed by kvmcd
# ([ha] watchdog = sim:/run/watchdog.sock), the invariant monitor on all along:
#   1. h1, h2 prefer n3 and run there, h3 prefers n1; n3's section says its watchdog is armed;
#   2. `cluster kill 3 node` (a power cut: its guests die with it) -> the leader fences n3 on
#      ONTAP: the simulator's request log shows n3's access removed (DELETE of its igroup's
#      initiators) BEFORE the leader records the fence confirmed, BEFORE it gives h1 / h2 new
#      owners and BEFORE a survivor's kvmcd starts them; h1, h2 run on the survivors, h3 never
#      moved; `kvmcctl fence history --json`: n3 confirmed by ontap; the DLM fence device
#      (fence_kvmcd, fed on stdin as dlm_controld does) on n2 returns 0, after the confirmation;
#   3. n3's watchdog, no longer fed, fires (the sim's log); `cluster start 3 node` -> n3 is back,
#      clean (it runs nothing), unfenced: its initiator is added back on ONTAP, the fence record
#      is gone, the history says so; a VM that prefers n3 is placed there again (its owner).
. "$(dirname "$0")/lib.sh"
. "$MN_DIR/vm/kvmcd-vms.sh"
export MN_HOST_SIM=1
export MN_KVMCD_EXTRA=$'[ha]\nwatchdog=sim:/run/watchdog.sock'
mn_begin ha-failover 420
mn_need_libvirt
mn_need_guest_tools
mn_up 3 --ontap --libvirt --watchdog
REQLOG=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}/ontap/requests.log
[ -f "$REQLOG" ] || REQLOG=$("$CLUSTER" status 2>/dev/null | sed -n 's/.*request log \([^,]*\),.*/\1/p' | head -1)
[ -f "$REQLOG" ] || fail "no ontap-sim request log ($REQLOG)"

wait_until 30 "a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
[ "$L" != 3 ] || fail "n3 leads: this test kills a follower"
apply_spec "$L" "{\"datastores\":[$(kv_ds1_spec)]}" || fail "apply: $APPLY_OUT"
wait_until 60 "ds1 ready on the 3 nodes" nx 1 kvmcctl pool verify
kv_disks h1 h2 h3 h4

MN_VM_MON_INTERVAL=0.2 mn_vm_monitor_start "h1 h2 h3 h4"
spec=$(jq -n --arg h1 "$(kv_xml h1)" --arg h2 "$(kv_xml h2)" --arg h3 "$(kv_xml h3)" --argjson ds "$(kv_ds1_spec)" '{
	datastores: [$ds],
	vms: [
	  {name: "h1", domain_xml: $h1, placement: {prefer: ["n3"]}},
	  {name: "h2", domain_xml: $h2, placement: {prefer: ["n3"]}, ha: {enabled: true, priority: 5}},
	  {name: "h3", domain_xml: $h3, placement: {prefer: ["n1"]}}]}')
apply_spec "$L" "$spec" || fail "apply the VMs: $APPLY_OUT"

# 1.
for v in h1 h2; do wait_until 90 "$v runs on n3 only" kv_runs_only_on "$v" n3; done
wait_until 60 "h3 runs on n1 only" kv_runs_only_on h3 n1
wd_armed() { [ "$(nx "$1" kvmcctl status --json | jq -r '.ha.watchdog.armed')" = true ]; }
for i in 1 2 3; do wait_until 30 "n$i's watchdog armed" wd_armed "$i"; done
fenced_none() { [ "$(nx "$L" kvmcctl fence history --json | jq '.fences | length')" = 0 ]; }
assert_true "no fence before the failure" fenced_none
deletes_before=$(jq -s '[.[] | select(.method == "DELETE")] | length' "$REQLOG")

# 2. Power cut on n3.
t0=$(now_ms)
"$CLUSTER" kill 3 node || fail "cluster kill 3 node"
log "n3 killed (every process of the node, its guests included)"
# The DLM fence device on a survivor, run as dlm_controld runs it (stdin, no arguments): it
# returns 0 only once kvmcd's fence of n3 is confirmed in the replicated state.
DEV=$(mktemp -d)
( printf 'cluster=mn
node=3
host=n3
fail_time=%s
timeout=120
' "$(date +%s)" |
	"$CLUSTER" exec 2 fence_kvmcd >"$DEV/out" 2>&1
  echo "$? $(date -u +%FT%T.%3NZ)" >"$DEV/rc" ) &
DEV_PID=$!
on_survivors() { local v o; for v in h1 h2; do kv_runs_only_on_owner "$v" || return 1; o=$(kv_owner 1 "$v"); case $o in n1|n2) ;; *) return 1 ;; esac; done; }
wait_until 120 "h1, h2 run again on a survivor" on_survivors
log "MEASURED: node kill -> h1, h2 running on survivors: $(( $(now_ms) - t0 )) ms"
hist=$(nx "$L" kvmcctl fence history --json) || fail "fence history"
printf '%s\n' "$hist" | jq -c '.fences[], .history[]' | sed 's/^/    /'
assert_eq "$(jq -r '.fences[] | select(.node == "n3") | "\(.status) \(.confirmed_by)"' <<<"$hist")" "confirmed ontap" \
	"fence history: n3"
assert_eq "$(kv_running_on h3)" n1 "h3 (never touched) runs on"
nx "$L" kvmcctl fence history | sed 's/^/    /'

# The order, by the clocks of this machine (ontap-sim's request log and kvmcd's log ring, UTC ms).
cut=$(jq -rs --argjson n "$deletes_before" '[.[] | select(.method == "DELETE")] | .[$n:] |
	map(select(.path | test("initiators|hosts|rules"))) | map(.time) | max // ""' "$REQLOG")
[ -n "$cut" ] || fail "no removal of n3's access in the ONTAP request log"
confirmed=$(nx "$L" kvmcctl log | grep -m1 'Fence of n3: pending -> confirmed' | cut -d' ' -f1)
[ -n "$confirmed" ] || fail "the leader's log has no 'Fence of n3: pending -> confirmed'"
log "n3's access removed on ONTAP at $cut (last cut); fence confirmed at $confirmed"
[[ "$cut" < "$confirmed" ]] || fail "the fence was confirmed ($confirmed) before n3's access was removed ($cut)"
wait "$DEV_PID"
read -r dev_rc dev_at <"$DEV/rc"
sed 's/^/    fence_kvmcd: /' "$DEV/out"
[ "$dev_rc" = 0 ] || fail "the DLM fence device on n2 exited $dev_rc: $(cat "$DEV/out")"
[[ "$confirmed" < "$dev_at" ]] || fail "the DLM fence device returned ($dev_at) before the fence was confirmed ($confirmed)"
log "ok: the DLM fence device (fence_kvmcd, on n2) returned 0 at $dev_at, after the fence was confirmed"
rm -rf "$DEV"
for v in h1 h2; do
	o=$(kv_owner 1 "$v"); oi=${o#n}
	rec=$(nx "$L" kvmcctl log | grep 'VMs: recording' | grep "\"vm/$v\":{[^}]*\"owner\":\"$o\"" | head -1 | cut -d' ' -f1)
	started=$(nx "$oi" kvmcctl log | grep -F "VM '$v': started on this node" | tail -1 | cut -d' ' -f1)
	log "$v: owner $o recorded at ${rec:-?}, started on $o at ${started:-?}"
	[ -n "$started" ] || fail "$o's log does not say it started $v"
	[[ "$cut" < "$started" ]] || fail "$v started on $o ($started) before n3's access was removed ($cut)"
	[[ "$confirmed" < "$started" ]] || fail "$v started on $o ($started) before n3's fence was confirmed ($confirmed)"
	[ -z "$rec" ] || [[ "$confirmed" < "$rec" ]] || fail "$v's new owner recorded ($rec) before the fence was confirmed ($confirmed)"
done
log "ok: n3's access was removed on ONTAP, then the fence confirmed, then h1 and h2 started on the survivors"

# 3. n3's watchdog fires (nobody feeds it), then n3 boots again.
wd_fired() { grep -q 'reset done' "$MN_RUN_BASE/${MN_PREFIX:-kvmcd}/n3/watchdog-sim.log" 2>/dev/null; }
wait_until 30 "n3's simulated watchdog fired (not fed since the kill)" wd_fired
"$CLUSTER" start 3 node || fail "cluster start 3 node"
wait_until 60 "all 3 agree on a leader" all_agree_leader 1 2 3
wait_until 60 "n3 unfenced (no fence record)" fenced_none
hist=$(nx 1 kvmcctl fence history --json)
assert_eq "$(jq -r '[.history[] | select(.node == "n3") | .status] | join(",")' <<<"$hist")" "pending,confirmed,unfencing,cleared" \
	"fence history of n3"
readded=$(jq -rs --arg t "$confirmed" '[.[] | select(.method == "POST" and .time > $t and (.path | test("initiators")))] | length' "$REQLOG")
[ "$readded" -ge 1 ] || fail "n3's initiator was not added back on ONTAP"
log "ok: n3 is back and unfenced ($readded initiator add(s) on ONTAP since the fence)"
xml_h4=$(kv_xml h4)
"$CLUSTER" exec 1 sh -c 'cat >/tmp/h4.xml' <<<"$xml_h4"
out=$(nx 1 kvmcctl vm add /tmp/h4.xml --prefer n3 2>&1) || fail "vm add h4: $out"
# n3 takes VMs again: placement gives it h4. (That h4 then RUNS there is not checked: after the
# kill, n3's ds1 mount point is a dead FUSE mount -- "Transport endpoint is not connected" --
# which the datastore service does not recover from yet; that is the datastores' issue.)
wait_until 60 "h4 (prefers n3) placed on n3" eval '[ "$(kv_owner 1 h4)" = n3 ]'
for v in h1 h2 h3; do kv_runs_only_on_owner "$v" || fail "$v does not run on exactly its owner"; done
mn_vm_monitor_check
mn_pass
