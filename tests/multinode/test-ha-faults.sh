#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# HA under faults (issue 9): libvirtd + QEMU counter guests with `ha: {enabled: true}` on a kvmcd
# datastore, ontap-sim, every node's simulated watchdog fed by kvmcd ([ha] watchdog =
# sim:/run/watchdog.sock), MN_HOST_SIM=1, the invariant monitor on all along. Two clusters, one
# after the other:
#
# A. FIRST a separate 5-node cluster (`up 5`): killing the leader mid-fence is a SECOND node
#    loss, and plain votequorum keeps quorum only while a majority of the expected votes is up --
#    3 of 3 minus 2 is 1, 4 minus 2 is 2 (quorum is 3 of 4): only 5 nodes keep a quorate
#    remainder (3 of 5).
#    3. An ontap-sim latency fault (3 s) on the DELETEs that cut an igroup initiator; `cluster
#       kill F node` (a follower running the HA VMs f1, f2); once `fence history --json` shows
#       nF pending -- its cut still in flight, not in the request log -- `cluster kill L node`
#       (the leader, running the HA VM l1). The new leader RESUMES the same fence: nF's record
#       counts the dead leader's attempt (attempt >= 2, same failure), nF's history is exactly
#       pending,confirmed (one confirmation), confirmed by ontap after every cut of nF's access
#       in the request log (which shows, with its node and epoch, the dead leader's own DELETE
#       landing after its death); f1, f2 (and l1) run exactly once on a survivor, started only
#       after their node's fence was confirmed. The dead leader's own host is fenced WITHOUT the
#       ONTAP quiet point: the grants record said it had no access grant in flight, so the new
#       leader's read-back confirms at once -- well under the quiet point after it began
#       recording -- and l1 runs again about as soon as f1, f2.
# B. Then one 3-node cluster (`up 3`) for:
#    1. kvmcd SIGKILLed on a follower K and started again at once (`cluster kill K kvmcd`,
#       `cluster start K kvmcd`), well within the agent grace -> NO fence: `fence history --json`
#       has no entry for nK (checked past the grace), the request log has no DELETE of its
#       access, its HA VM a1 kept running on it with the same QEMU pid and started nowhere
#       else, its simulated watchdog never fired; the leader did see the agent leave (its status
#       reason for nK: waiting for it to come back).
#    2. `cluster partition L,K C` (C, a follower running the HA VM c1, alone): nC, no longer
#       quorate, stops c1 by itself (its libvirt: not running); the pair fences nC on ONTAP (the
#       DELETE of its initiator BEFORE c1 starts on the pair; fence history: confirmed by ontap;
#       in under 7 s: the leader survived, so no new ONTAP quiet point is waited for) and starts
#       c1 there, after nC decided to stop it; nC's watchdog, no longer fed, resets it (the
#       sim's log); `cluster heal` and `cluster start C node` (the host reboots): nC is back,
#       unfenced (no fence record; history pending,confirmed,unfencing,cleared), runs nothing,
#       and every VM runs exactly once, on its owner.
# [ontap] request_timeout = 5 s: the ONTAP quiet point a new leader waits for before its fence
# read-back counts (coord/timeouts.h 6.: notice_max + ontap_request_timeout + margin) is 14 s
# instead of 39 s, which keeps scenario 3 short; the 3 s latency stays well within one request.
. "$(dirname "$0")/lib.sh"
. "$MN_DIR/vm/kvmcd-vms.sh"
export MN_HOST_SIM=1
export MN_KVMCD_EXTRA=$'[ha]\nwatchdog=sim:/run/watchdog.sock\n\n[ontap]\nrequest_timeout=5s'
mn_begin ha-faults 330
mn_need_libvirt
mn_need_guest_tools

RUN=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}
REQLOG=$RUN/ontap/requests.log
sim() { nsenter --net="/run/netns/${MN_PREFIX:-kvmcd}-hub" curl -sk --max-time 5 "$@"; }
SIM=https://10.213.0.254:8443

hist() { nx "$1" kvmcctl fence history --json; }
fenced_none() { [ "$(hist "$1" | jq '.fences | length')" = 0 ]; }
# The ONTAP request log's DELETEs of node N's initiator (the storage fence's cut), as JSON lines.
cuts_of() { jq -c --arg n "$1" 'select(.method == "DELETE" and (.path | test("/initiators/[^?]*(:|%3[aA])" + $n + "([?]|$)")))' "$REQLOG"; }
# Node I's kvmcd log (every start of it; each line stamped with the UTC time in ms by the harness):
# read from the host, so also once the node is dead.
klog() { cat "$RUN/n$1/kvmcd.log" 2>/dev/null; }
# The UTC time of the last line of node I's log matching a fixed string ("" if none).
log_time() { klog "$1" | grep -F -- "$2" | tail -1 | cut -d' ' -f1; }
starts_of() { klog "$1" | grep -cF "VM '$2': started on this node"; }
ms_between() { echo $(( $(date -d "$2" +%s%3N) - $(date -d "$1" +%s%3N) )); }
qemu_pid() { nx "$1" cat "/run/libvirt/qemu/$2.pid" 2>/dev/null; }
wd_armed() { [ "$(jget "$1" '.ha.watchdog.armed')" = true ]; }
wd_fired() { grep -q 'fired' "$RUN/n$1/watchdog-sim.log" 2>/dev/null; }
# on_owner VM: running on exactly the node its record names, as node $Q sees it (lib's
# kv_runs_only_on_owner asks n1, which scenario 3 may kill); owned_by_one_of VM NODES...: and that
# node is one of NODES.
on_owner() {
	local o
	o=$(kv_owner "$Q" "$1")
	[ -n "$o" ] && [ "$o" != none ] && [ "$(kv_running_on "$1")" = "$o" ] && [ "$(kv_vstate "$Q" "$1")" = running ]
}
owned_by_one_of() {
	local v=$1 o; shift
	on_owner "$v" || return 1
	o=$(kv_owner "$Q" "$v")
	case " $* " in *" ${o#n} "*) return 0 ;; esac
	return 1
}
# The sanitizers' reports in the logs `cluster down` kept (lib.sh checks only the last cluster's).
no_sanitizer_reports() {
	local san
	san=$(grep -l -E "ERROR: [A-Za-z]+Sanitizer|runtime error:" "$MN_RUN_BASE"/last-"${MN_PREFIX:-kvmcd}"/*.log 2>/dev/null)
	[ -z "$san" ] && return 0
	grep -h -A25 -E "ERROR: [A-Za-z]+Sanitizer|runtime error:" $san | head -60 | sed 's/^/    /'
	fail "sanitizer reports in $san"
}
ha_spec() { # NAME:NODE...: HA VMs on ds1, each preferring NODE
	local vms="[]" nv v n
	for nv in "$@"; do
		v=${nv%%:*}; n=${nv#*:}
		vms=$(jq -c --arg v "$v" --arg n "$n" --arg x "$(kv_xml "$v")" \
			'. + [{name: $v, domain_xml: $x, placement: {prefer: [$n]}, ha: {enabled: true, priority: 5}}]' <<<"$vms")
	done
	jq -cn --argjson ds "$(kv_ds1_spec)" --argjson vms "$vms" '{datastores: [$ds], vms: $vms}'
}

# =============================================================================================
# A. Scenario 3 on 5 nodes: the leader killed mid-fence.
# =============================================================================================
mn_up 5 --ontap --libvirt --watchdog
[ -f "$REQLOG" ] || fail "no ontap-sim request log ($REQLOG)"
wait_until 30 "a leader" all_agree_leader 1 2 3 4 5
L=${AGREED_LEADER%/*}
F=$(( L % 5 + 1 ))  # a follower
SURV=""; for i in 1 2 3 4 5; do [ "$i" = "$L" ] || [ "$i" = "$F" ] || SURV+="$i "; done
Q=${SURV%% *}       # a survivor to ask
log "leader n$L; follower to kill nF = n$F; survivors: $SURV"
apply_spec "$L" "{\"datastores\":[$(kv_ds1_spec)]}" || fail "apply: $APPLY_OUT"
wait_until 60 "ds1 ready on the 5 nodes" nx 1 kvmcctl pool verify
kv_disks f1 f2 l1
MN_VM_MON_INTERVAL=0.2 mn_vm_monitor_start "f1 f2 l1"
apply_spec "$L" "$(ha_spec f1:n$F f2:n$F l1:n$L)" || fail "apply the VMs: $APPLY_OUT"
for v in f1 f2; do wait_until 90 "$v runs on n$F only" kv_runs_only_on "$v" "n$F"; done
wait_until 60 "l1 runs on n$L only" kv_runs_only_on l1 "n$L"
for i in 1 2 3 4 5; do wait_until 30 "n$i's watchdog armed" wd_armed "$i"; done
assert_true "no fence before the failures" fenced_none "$L"

# The cut of an initiator takes 3 s on the array: the fence stays in flight.
fault=$(sim -X POST "$SIM/_sim/faults" -d '{"type":"latency","method":"DELETE","path":"/api/protocols/san/igroups/*/initiators/*","ms":3000}' | jq -r .id)
[ -n "$fault" ] && [ "$fault" != null ] || fail "cannot install the latency fault"
log "ontap-sim: 3 s latency on every initiator DELETE (fault $fault)"

t0=$(now_ms)
"$CLUSTER" kill "$F" node || fail "cluster kill $F node"
log "n$F killed (every process of the node, its guests included)"
# The leader is killed as soon as its record says pending (its cut is then on the wire).
pending_F() { PEND=$(hist "$L" | jq -c --arg n "n$F" '.fences[] | select(.node == $n and .status == "pending")') && [ -n "$PEND" ]; }
wait_until 20 "the leader n$L has a pending fence of n$F" pending_F
t1=$(now_ms)
kill_L_utc=$(date -u +%FT%T.%3NZ)
"$CLUSTER" kill "$L" node || fail "cluster kill $L node"
pend_failure=$(jq -r .failure <<<"$PEND")
old_epoch=$(jq -r .epoch <<<"$PEND")
early=$(cuts_of "n$F" | jq -rs --arg k "$kill_L_utc" '[.[] | select(.time <= $k)] | length')
assert_eq "$early" 0 "cuts of n$F's access done on ONTAP before the leader's kill (it dies mid-fence)"
log "n$L (the leader, fencing n$F: failure $pend_failure, epoch $old_epoch, its cut not yet done) killed $(( t1 - t0 )) ms after n$F"

# shellcheck disable=SC2086
new_leader() { all_agree_leader $SURV && [ "${AGREED_LEADER%/*}" != "$L" ]; }
wait_until 30 "the 3 survivors agree on a new leader" new_leader
NL=${AGREED_LEADER%/*}
log "new leader n$NL (epoch ${AGREED_LEADER#*/})"
# shellcheck disable=SC2086
for v in f1 f2; do wait_until 90 "$v runs again, on a survivor" owned_by_one_of "$v" $SURV; done
log "MEASURED: follower kill -> f1, f2 running on survivors: $(( $(now_ms) - t0 )) ms (leader killed $(( t1 - t0 )) ms after it; leader kill -> running: $(( $(now_ms) - t1 )) ms)"
# shellcheck disable=SC2086
wait_until 60 "l1 (the dead leader's) runs again, on a survivor" owned_by_one_of l1 $SURV
log "MEASURED: leader kill -> l1 running on a survivor: $(( $(now_ms) - t1 )) ms"

h=$(hist "$NL") || fail "fence history on n$NL"
printf '%s\n' "$h" | jq -c '.fences[], .history[]' | sed 's/^/    /'
assert_eq "$(jq --arg n "n$F" '[.fences[] | select(.node == $n)] | length' <<<"$h")" 1 "fence records of n$F"
assert_eq "$(jq -r --arg n "n$F" '.fences[] | select(.node == $n) | "\(.status) \(.confirmed_by) \(.failure)"' <<<"$h")" \
	"confirmed ontap $pend_failure" "n$F's fence (status, confirmed_by, failure: the one the dead leader started)"
att=$(jq -r --arg n "n$F" '.fences[] | select(.node == $n) | .attempt' <<<"$h")
assert_true "n$F's record counts the dead leader's attempt (attempt $att >= 2)" test "$att" -ge 2
assert_ne "$(jq -r --arg n "n$F" '.fences[] | select(.node == $n) | .epoch' <<<"$h")" "$old_epoch" "n$F's fence finished under epoch"
assert_eq "$(jq -r --arg n "n$F" '[.history[] | select(.node == $n) | .status] | join(",")' <<<"$h")" "pending,confirmed" \
	"n$F's fence history (one fence, one confirmation)"
assert_eq "$(jq -r --arg n "n$F" '[.history[] | select(.node == $n) | .failure] | unique | join(",")' <<<"$h")" "$pend_failure" \
	"the failure every history entry of n$F is for"
assert_eq "$(jq -r --arg n "n$L" '[.history[] | select(.node == $n) | .status] | join(",")' <<<"$h")" "pending,confirmed" \
	"n$L's fence history"
assert_true "the new leader's log: it ran the next attempt of n$F's fence" eval \
	"klog $NL | grep -qE 'Fencing n$F: ontap, attempt [2-9] \\(failure $pend_failure,'"
cuts=$(cuts_of "n$F")
printf '%s\n' "$cuts" | sed 's/^/    cut of nF: /'
last_cut=$(jq -rs 'map(.time) | max // ""' <<<"$cuts")
[ -n "$last_cut" ] || fail "no removal of n$F's initiator in the ONTAP request log"
late=$(jq -rs --arg l "n$L" --arg k "$kill_L_utc" '[.[] | select(.node == $l and .time > $k)] | length' <<<"$cuts")
log "n$F's cuts: $(jq -s length <<<"$cuts") DELETE(s), $late of them sent by the dead leader n$L and done after its kill ($kill_L_utc)"
confirmed=$(log_time "$NL" "Fence of n$F: pending -> confirmed")
[ -n "$confirmed" ] || fail "the new leader's log has no 'Fence of n$F: pending -> confirmed'"
own_cut=$(jq -rs --arg l "n$NL" 'map(select(.node == $l) | .time) | max // ""' <<<"$cuts")
[ -n "$own_cut" ] || fail "no removal of n$F's initiator by the new leader n$NL in the request log"
[[ "$own_cut" < "$confirmed" ]] || fail "n$F's fence was confirmed ($confirmed) before the new leader's cut landed ($own_cut)"
conf_L=$(log_time "$NL" "Fence of n$L: pending -> confirmed")
# The dead leader's host: fenced without the quiet point (the grants record).
rec_NL=$(grep -F "Recording as leader under epoch" "$RUN/n$NL/kvmcd.log" | awk -v k="$kill_L_utc" '$1 > k { print $1; exit }')
[ -n "$rec_NL" ] && [ -n "$conf_L" ] || fail "no 'Recording as leader' or no confirmation of n$L in n$NL's log"
assert_true "n$NL found no access grant of the dead leader in flight (the grants record)" \
	grep -q 'ONTAP access grants of earlier leaders: none in flight' "$RUN/n$NL/kvmcd.log"
fast_ms=$(ms_between "$rec_NL" "$conf_L")
log "MEASURED: the new leader began recording at $rec_NL, confirmed n$L's fence $fast_ms ms later (quiet point: 14000 ms)"
assert_true "n$L's fence confirmed within 7 s of the new leader's RECORDING start, not after the quiet point ($fast_ms ms)" \
	test "$fast_ms" -lt 7000
for v in f1 f2 l1; do
	o=$(kv_owner "$Q" "$v"); c=$confirmed
	[ "$v" = l1 ] && c=$conf_L
	started=$(log_time "${o#n}" "VM '$v': started on this node")
	log "$v: started on $o at ${started:-?}; its node's fence confirmed at ${c:-?}"
	[ -n "$started" ] && [ -n "$c" ] || fail "no start of $v in $o's log, or no confirmation"
	[[ "$c" < "$started" ]] || fail "$v started on $o ($started) before its node's fence was confirmed ($c)"
	# shellcheck disable=SC2086
	n=0; for i in $SURV; do n=$(( n + $(starts_of "$i" "$v") )); done
	assert_eq "$n" 1 "starts of $v on the survivors"
done
log "ok: the new leader resumed n$F's fence; f1, f2, l1 started once each, after the fences"
mn_vm_monitor_check
sim -X DELETE "$SIM/_sim/faults/$fault" >/dev/null
"$CLUSTER" down >/dev/null 2>&1 || "$CLUSTER" down || fail "cluster down (5 nodes)"
no_sanitizer_reports

# =============================================================================================
# B. Scenarios 1 and 2 on 3 nodes.
# =============================================================================================
mn_up 3 --ontap --libvirt --watchdog
[ -f "$REQLOG" ] || fail "no ontap-sim request log ($REQLOG)"
wait_until 30 "a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
K=$(( L % 3 + 1 )); C=$(( K % 3 + 1 )); Q=$L
log "leader n$L; kvmcd restart on n$K; n$C isolated"
apply_spec "$L" "{\"datastores\":[$(kv_ds1_spec)]}" || fail "apply: $APPLY_OUT"
wait_until 60 "ds1 ready on the 3 nodes" nx 1 kvmcctl pool verify
kv_disks a1 c1
MN_VM_MON_INTERVAL=0.2 mn_vm_monitor_start "a1 c1"
apply_spec "$L" "$(ha_spec a1:n$K c1:n$C)" || fail "apply the VMs: $APPLY_OUT"
wait_until 90 "a1 runs on n$K only" kv_runs_only_on a1 "n$K"
wait_until 60 "c1 runs on n$C only" kv_runs_only_on c1 "n$C"
for i in 1 2 3; do wait_until 30 "n$i's watchdog armed" wd_armed "$i"; done
assert_true "no fence before the failures" fenced_none "$L"

# ---- 1. kvmcd killed and restarted within the agent grace ------------------------------------
pid0=$(qemu_pid "$K" a1)
[ -n "$pid0" ] || fail "no QEMU pid of a1 on n$K"
a1_elsewhere() { local i n=0; for i in 1 2 3; do [ "$i" = "$K" ] || n=$(( n + $(starts_of "$i" a1) )); done; echo "$n"; }
others0=$(a1_elsewhere)
n_req=$(wc -l <"$REQLOG")
t0=$(now_ms)
"$CLUSTER" kill "$K" kvmcd || fail "cluster kill $K kvmcd"
"$CLUSTER" start "$K" kvmcd || fail "cluster start $K kvmcd"
log "n$K's kvmcd SIGKILLed and started again ($(( $(now_ms) - t0 )) ms until it answers)"
k_member() { [ "$(jget "$L" "[.members[].name] | index(\"n$K\") != null")" = true ] && node_quorate "$K"; }
wait_until 20 "n$K's kvmcd is a member again (on the leader) and quorate" k_member
log "MEASURED: kvmcd kill -> member again: $(( $(now_ms) - t0 )) ms (agent grace 7000 ms)"
grace=$(jget "$L" ".ha.reasons[\"n$K\"] // \"\"")
log "the leader's last reason for n$K: $grace"
case $grace in *"waiting"*"come back"*) log "ok: the leader saw n$K's kvmcd leave and waited for it" ;;
*) fail "the leader's status has no 'waiting for it to come back' for n$K (did it see the agent leave?)" ;; esac
# Past the grace (+ 3 s): a fence, if any, would have been decided by now.
while [ "$(now_ms)" -lt $(( t0 + 10000 )) ]; do
	[ "$(kv_running_on a1)" = "n$K" ] || fail "a1 runs on '$(kv_running_on a1)' during n$K's kvmcd restart"
	sleep 0.5
done
h=$(hist "$L")
assert_eq "$(jq --arg n "n$K" '[.fences[], .history[] | select(.node == $n)] | length' <<<"$h")" 0 \
	"fence records and history entries of n$K, 10 s after its kvmcd was killed"
assert_eq "$(tail -n +$(( n_req + 1 )) "$REQLOG" | jq -c 'select(.method == "DELETE")' | wc -l)" 0 "DELETEs on ONTAP since the kill"
assert_eq "$(qemu_pid "$K" a1)" "$pid0" "a1's QEMU pid on n$K"
assert_eq "$(kv_running_on a1)" "n$K" "a1 runs on"
assert_eq "$(a1_elsewhere)" "$others0" "starts of a1 on the other nodes"
assert_true "n$K's watchdog never fired" eval "! wd_fired $K"
wait_until 15 "n$K's watchdog armed again by the new kvmcd" wd_armed "$K"

# ---- 2. partition 2|1 isolating nC -------------------------------------------------------------
assert_eq "$(leader_of "$L" | cut -d/ -f1)" "$L" "the leader (still)"
n_req=$(wc -l <"$REQLOG")
c1_starts0=$(( $(starts_of "$L" c1) + $(starts_of "$K" c1) ))
t0=$(now_ms)
"$CLUSTER" partition "$L,$K" "$C" || fail "cluster partition $L,$K $C"
log "partitioned: {n$L, n$K} | {n$C}"
c1_not_on_C() { [ "$(vm_state "$C" c1)" != running ]; }
wait_until 30 "n$C (not quorate) stopped c1 by itself" c1_not_on_C
log "MEASURED: partition -> c1 stopped on n$C: $(( $(now_ms) - t0 )) ms"
wait_until 60 "c1 runs again, on the pair" owned_by_one_of c1 "$L" "$K"
log "MEASURED: partition -> c1 running on the pair: $(( $(now_ms) - t0 )) ms"
h=$(hist "$L")
assert_eq "$(jq -r --arg n "n$C" '.fences[] | select(.node == $n) | "\(.status) \(.confirmed_by)"' <<<"$h")" "confirmed ontap" \
	"fence history: n$C"
o=$(kv_owner "$L" c1)
stopped=$(log_time "$C" "VM 'c1': this node is no longer in a quorate view")
confirmed=$(log_time "$L" "Fence of n$C: pending -> confirmed")
started=$(log_time "${o#n}" "VM 'c1': started on this node")
cut=$(cuts_of "n$C" | jq -rs 'map(.time) | max // ""')
log "c1: stop decided on n$C at ${stopped:-?}; n$C's initiator removed at ${cut:-?}; fence confirmed at ${confirmed:-?}; started on $o at ${started:-?}"
[ -n "$stopped" ] || fail "n$C's log does not say it stopped c1 (no longer quorate)"
[ -n "$cut" ] || fail "no removal of n$C's initiator in the ONTAP request log"
[ -n "$confirmed" ] && [ -n "$started" ] || fail "no confirmation of n$C's fence or no start of c1 in the logs"
[[ "$cut" < "$started" ]] || fail "c1 started on $o ($started) before n$C's access was removed ($cut)"
[[ "$confirmed" < "$started" ]] || fail "c1 started on $o ($started) before n$C's fence was confirmed ($confirmed)"
[[ "$stopped" < "$started" ]] || fail "c1 started on $o ($started) before n$C decided to stop it ($stopped)"
assert_eq "$(( $(starts_of "$L" c1) + $(starts_of "$K" c1) - c1_starts0 ))" 1 "starts of c1 on the pair"
# The leader never changed (its epoch kept): the quiet point it waits for before a read-back
# counts (an older leader's ONTAP request may land until then) passed long ago, so the fence is
# one round trip -- not a whole quiet period (14 s here, 39 s with the defaults).
began=$(log_time "$L" "Fencing n$C: ontap, attempt 1 ")
[ -n "$began" ] || fail "the leader's log has no 'Fencing n$C: ontap, attempt 1'"
took=$(ms_between "$began" "$confirmed")
log "MEASURED: n$C's fence, started -> confirmed: $took ms"
assert_true "n$C's fence took $took ms < 7000 ms (half the ONTAP quiet period: the surviving leader kept its quiet point)" \
	test "$took" -lt 7000
log "ok: n$C stopped c1, its access was removed on ONTAP, its fence confirmed, then c1 started on $o"
wait_until 30 "n$C's simulated watchdog fired (not fed since n$C lost quorum)" wd_fired "$C"
log "MEASURED: partition -> n$C reset by its watchdog: $(( $(now_ms) - t0 )) ms"
"$CLUSTER" heal
"$CLUSTER" start "$C" node || fail "cluster start $C node"
t2=$(now_ms)
wait_until 60 "all 3 agree on a leader" all_agree_leader 1 2 3
wait_until 60 "n$C unfenced (no fence record)" fenced_none "$L"
log "MEASURED: n$C started again -> unfenced: $(( $(now_ms) - t2 )) ms"
h=$(hist "$L")
assert_eq "$(jq -r --arg n "n$C" '[.history[] | select(.node == $n) | .status] | join(",")' <<<"$h")" "pending,confirmed,unfencing,cleared" \
	"fence history of n$C"
readded=$(jq -rs --arg t "$confirmed" --arg n "n$C" '[.[] | select(.method == "POST" and .time > $t and (.path | test("initiators")))] | length' "$REQLOG")
[ "$readded" -ge 1 ] || fail "n$C's initiator was not added back on ONTAP"
assert_eq "$(kv_running_on c1)" "$o" "c1 runs on (once, on its owner)"
assert_eq "$(vsh "$C" list --name | grep -c .)" 0 "domains running on n$C after its reboot"
for v in a1 c1; do on_owner "$v" || fail "$v does not run on exactly its owner"; done
mn_vm_monitor_check
mn_pass
