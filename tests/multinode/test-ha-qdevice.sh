#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A two-node cluster with a quorum device losing a node (issue 9): corosync-qdevice (model net,
# ffsplit, TLS) on both nodes voting through a corosync-qnetd in a namespace of its own
# (cluster up --qdevice: 2 node votes + 1 device vote = 3 expected, no two_node flag), libvirtd +
# QEMU counter guests on a kvmcd datastore, ontap-sim, every node's simulated watchdog fed by
# kvmcd, the invariant monitor on all along:
#   1. both nodes up: kvmcd counts the NODES' votes (2 expected, not votequorum's 3), one leader,
#      normally n1 (S, the survivor; the follower is V, the victim: normally n2 -- whichever
#      kvmcd is first alone in the group leads, as in multinode-ha-two-node, so the roles are
#      read, not assumed), h2 (HA) prefers V and runs there, h1 (HA) on S, no claim on ONTAP yet;
#   2. `cluster kill V node` (a power cut) -> S, alone, stays quorate by qnetd's vote (1 node
#      vote + 1 device vote of 3), is elected and acts only once it won the atomic claim on ONTAP:
#      the simulator's request log shows the claim's POST BEFORE the DELETEs that cut V's
#      access, and S starts h2 only after both; `kvmcctl fence history --json`: V confirmed by
#      ontap; h1 ran on S throughout;
#   3. the refusal side: `cluster qnetd kill` -> S has lost its peer AND the device: corosync
#      says not quorate, kvmcd drops the leadership, makes no ONTAP request that changes
#      anything, stops its HA guests and stops feeding its watchdog, which resets it.
. "$(dirname "$0")/lib.sh"
. "$MN_DIR/vm/kvmcd-vms.sh"
export MN_HOST_SIM=1
export MN_KVMCD_EXTRA=$'[ha]\nwatchdog=sim:/run/watchdog.sock'
mn_begin ha-qdevice 300
mn_need_libvirt
mn_need_guest_tools
command -v corosync-qnetd >/dev/null && command -v corosync-qdevice >/dev/null ||
	mn_skip "corosync-qnetd / corosync-qdevice not installed (packaging/install-deps.sh)"
mn_up 2 --ontap --libvirt --watchdog --qdevice
RUNDIR=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}
REQLOG=$RUNDIR/ontap/requests.log
[ -f "$REQLOG" ] || fail "no ontap-sim request log ($REQLOG)"
grep -q 'model: net' "$RUNDIR/n1/etc-corosync/corosync.conf" || fail "corosync.conf has no quorum device"
if grep -q 'two_node' "$RUNDIR/n1/etc-corosync/corosync.conf"; then fail "corosync.conf has two_node"; fi

# corosync-quorumtool -s of node I: "Expected votes", "Total votes", "Quorate" and node I's own
# qdevice flags (A,V = the device is alive and votes for this partition).
qt() { nx "$1" corosync-quorumtool -s; }
qt_field() { qt "$1" | sed -n "s/^$2:[[:space:]]*\([^[:space:]]*\).*/\1/p"; }
qt_own_flags() { qt "$1" | awk '/\(local\)/ { print $3 }'; }

wait_until 30 "a leader" all_agree_leader 1 2
S=${AGREED_LEADER%/*}   # the leader survives
V=$(( 3 - S ))          # the follower is killed
log "n$S leads: n$V (the follower) will be killed, n$S survives"
# VM on exactly NODE by every live libvirtd, owned by NODE and running by S's records
# (kv_runs_only_on asks node 1, which may be the victim).
on_only() { [ "$(kv_owner "$S" "$1")" = "$2" ] && [ "$(kv_running_on "$1")" = "$2" ] && [ "$(kv_vstate "$S" "$1")" = running ]; }
assert_eq "$(qt_field "$S" 'Expected votes')" 3 "votequorum's expected votes (2 nodes + the device)"
assert_eq "$(qt_own_flags "$S")" "A,V,NMW" "n$S's quorum device flags"
for i in 1 2; do
	assert_eq "$(nx "$i" kvmcctl status --json | jq -r '"\(.votes)/\(.expected_votes)"')" "2/2" \
		"n$i: kvmcd's node votes / expected (the device's vote left out)"
	nx "$i" kvmcctl log | grep -q "quorum device (1 vote): kvmcd counts the nodes' votes only, 2 expected; two nodes" ||
		fail "n$i's log does not say how it counts the quorum device"
done
apply_spec 1 "{\"datastores\":[$(kv_ds1_spec)]}" || fail "apply: $APPLY_OUT"
wait_until 60 "ds1 ready on the 2 nodes" nx 1 kvmcctl pool verify
kv_disks h1 h2

MN_VM_MON_INTERVAL=0.2 mn_vm_monitor_start "h1 h2"
spec=$(jq -n --arg h1 "$(kv_xml h1)" --arg h2 "$(kv_xml h2)" --arg s "n$S" --arg v "n$V" --argjson ds "$(kv_ds1_spec)" '{
	datastores: [$ds],
	vms: [
	  {name: "h1", domain_xml: $h1, placement: {prefer: [$s]}, ha: {enabled: true, priority: 5}},
	  {name: "h2", domain_xml: $h2, placement: {prefer: [$v]}, ha: {enabled: true, priority: 5}}]}')
apply_spec 1 "$spec" || fail "apply the VMs: $APPLY_OUT"

# 1.
wait_until 60 "h2 runs on n$V only" on_only h2 "n$V"
wait_until 60 "h1 runs on n$S only" on_only h1 "n$S"
h1_starts=$(nx "$S" kvmcctl log | grep -cF "VM 'h1': started on this node")
wd_armed() { [ "$(nx "$1" kvmcctl status --json | jq -r '.ha.watchdog.armed')" = true ]; }
for i in 1 2; do wait_until 30 "n$i's watchdog armed" wd_armed "$i"; done
claims() { jq -s '[.[] | select(.method == "POST" and (.path | test("snapshot-policies")))] | length' "$REQLOG"; }
assert_eq "$(claims)" 0 "claim POSTs while both nodes run"
n_before=$(jq -s 'length' "$REQLOG")

# 2. Power cut on V.
t0=$(now_ms)
"$CLUSTER" kill "$V" node || fail "cluster kill $V node"
log "n$V killed (every process of the node, its guests and its corosync-qdevice included)"
wait_until 45 "h2 runs again on n$S" on_only h2 "n$S"
log "MEASURED: node kill -> h2 running on n$S: $(( $(now_ms) - t0 )) ms"
qt "$S" | sed -n '/^Expected votes/,/^Flags/p;/Qdevice$/p;/(local)/p' | sed "s/^/    n$S: /"
assert_eq "$(qt_field "$S" Quorate)" Yes "n$S quorate alone"
assert_eq "$(qt_field "$S" 'Total votes')" 2 "n$S's votes: its own + the device's"
assert_eq "$(qt_own_flags "$S")" "A,V,NMW" "n$S's quorum device flags (qnetd votes for n$S)"
hist=$(nx "$S" kvmcctl fence history --json) || fail "fence history"
assert_eq "$(jq -r --arg v "n$V" '.fences[] | select(.node == $v) | "\(.status) \(.confirmed_by)"' <<<"$hist")" "confirmed ontap" \
	"fence history: n$V"
nx "$S" kvmcctl log | grep -E 'two-node claim' | sed 's/^/    /'
nx "$S" kvmcctl log | grep -q "Won the two-node claim '[^']*_claim_[0-9]*'" || fail "n$S's log does not say it won the claim"

# The order, by this machine's clocks (ontap-sim's request log and kvmcd's log ring, UTC ms).
since=$(jq -sc --argjson n "$n_before" '.[$n:]' "$REQLOG")
claim=$(jq -r '[.[] | select(.method == "POST" and (.path | test("snapshot-policies")))] | map(.time) | min // ""' <<<"$since")
cut=$(jq -r '[.[] | select(.method == "DELETE" and (.path | test("initiators|hosts|rules")))] | map(.time) | min // ""' <<<"$since")
first_mut=$(jq -r '[.[] | select(.method != "GET" and (.path | test("snapshot-policies") | not))] | map(.time) | min // ""' <<<"$since")
started=$(nx "$S" kvmcctl log | grep -F "VM 'h2': started on this node" | tail -1 | cut -d' ' -f1)
log "claim POST at ${claim:-?}, first other mutation at ${first_mut:-?}, first cut at ${cut:-?}, h2 started on n$S at ${started:-?}"
[ -n "$claim" ] || fail "no claim POST in the ONTAP request log after the kill"
[ -n "$cut" ] || fail "no removal of n$V's access in the ONTAP request log"
[ -n "$started" ] || fail "n$S's log does not say it started h2"
assert_eq "$(claims)" 1 "claim POSTs in all"
[[ "$claim" < "$first_mut" ]] || fail "an ONTAP mutation ($first_mut) went before the claim ($claim)"
[[ "$claim" < "$cut" ]] || fail "n$V's access was cut ($cut) before the claim ($claim)"
[[ "$cut" < "$started" ]] || fail "h2 started on n$S ($started) before n$V's access was removed ($cut)"
log "ok: n$S, quorate by qnetd's vote, claimed on ONTAP, then cut n$V's access, then started h2"
on_only h1 "n$S" || fail "h1 does not run on n$S only"
assert_eq "$(nx "$S" kvmcctl log | grep -cF "VM 'h1': started on this node")" "$h1_starts" "h1's starts on n$S (never stopped)"
if nx "$S" kvmcctl log | grep -F "VM 'h1'" | grep -q "stopping"; then fail "n$S stopped h1 while it claimed"; fi
mn_vm_monitor_check

# 3. The refusal side: S loses the device too (qnetd killed: its connection closes at once).
n_before=$(jq -s 'length' "$REQLOG")
t_kill=$(date -u +%FT%T.%3NZ)
"$CLUSTER" qnetd kill || fail "cluster qnetd kill"
log "corosync-qnetd killed at $t_kill: n$S has neither its peer nor the device's vote"
SLOG=$RUNDIR/n$S/kvmcd.log   # on the host: still readable once the watchdog has reset the node
lost_quorum() { awk -v t="$t_kill" '$1 > t' "$SLOG" | grep -q "quorum lost"; }
wait_until 20 "n$S's kvmcd lost quorum" lost_quorum
s_gone() { [ -z "$("$CLUSTER" pids "$S" kvmcd)" ]; }
wait_until 20 "n$S reset by its watchdog (not fed once inquorate)" s_gone
awk -v t="$t_kill" '$1 > t' "$SLOG" | grep -E "quorum|leader|VM 'h[12]'|claim|watchdog" | head -20 | sed "s/^/    n$S: /"
if awk -v t="$t_kill" '$1 > t' "$SLOG" | grep -qE "Acting as leader|Recording as leader|claiming epoch|Won the two-node claim"; then
	fail "n$S acted (or claimed) after losing its peer and the quorum device"
fi
muts=$(jq -sc --argjson n "$n_before" '[.[$n:][] | select(.method != "GET")] | length' "$REQLOG")
assert_eq "$muts" 0 "ONTAP mutations after qnetd was killed"
grep -q "fired after" "$RUNDIR/n$S/watchdog-sim.log" || fail "n$S's watchdog did not fire ($RUNDIR/n$S/watchdog-sim.log)"
log "n$S's watchdog: $(grep "fired after" "$RUNDIR/n$S/watchdog-sim.log" | tail -1)"
log "ok: without its peer and the device, n$S was not quorate and did nothing but stop and be reset"
mn_pass
