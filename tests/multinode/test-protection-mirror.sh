#!/bin/bash
# SnapMirror and DR by the leader (issue 10) on the multi-node tier: 3 nodes with real corosync
# and kvmcd, the ONTAP simulator (its SnapMirror state machine), the simulated host backend, and
# the snapshot schedules' TEST CLOCK (as test-protection.sh: "@T" in [protection]
# test_clock_offset_file, moved with the simulator's clock, so no test waits for a real minute).
# What an admin would check:
#   - a spec whose mirror destination is a datastore's own volume is refused before anything is
#     touched;
#   - SVM peering first: the spec applied before svm1 and svm_dr are peered creates nothing, and
#     `dr status`, `kvmcctl status` and `kvmcctl preflight` say the SVMs are not peered and how to
#     peer them; once peered (POST /api/svm/peers on the simulator) the rest follows;
#   - a policy "gold" {every 1m, keep 3, snapmirror {destination_svm svm_dr, rpo 5m}} on ds1: the
#     DP volume <volume>_dr on svm_dr, the relationship (MirrorAllSnapshots) initialized, then
#     one update transfer after each snapshot the schedule takes (the simulator's request log);
#   - `protection status --json`: snapmirror state, lag, rpo, rpo_ok, health;
#   - transfers failing (a fault) and the lag growing past the RPO (the simulator's clock): the
#     relationship unhealthy, `protection status` and `kvmcctl status` (and --json) warn; the fault
#     gone, the next snapshot's update brings the lag back and the warning goes;
#   - `dr failover ds1`: quiesce + break, the destination volume writable (broken_off, type rw),
#     no update while failed over, also after the leader's node is killed (the next leader reads
#     the record and leaves the relationship broken off); refused transitions say why (unknown datastore, a datastore
#     without snapmirror, resync of a relationship that is not broken off, failover while a
#     transfer runs); `dr resync ds1`: back
#     to snapmirrored, the destination read-only (dp), updates again; `dr status`;
#   - a destination SVM on another cluster (a second simulator, the ONTAP cluster "cluster2", which
#     kvmcd reaches through its [ontap_peer] section: `cluster up --ontap-peer cluster2`): one peered
#     from a cluster kvmcd has no connection to (cluster3) fails its setup, and dr status and
#     kvmcctl status say what to configure, naming the cluster; svm_far on cluster2: the DP volume
#     and the relationship are made on cluster2 (none on the source cluster), initialized, updated
#     after the policy's snapshot, failed over and resynced there; the record names the cluster and
#     `kvmcctl status --json` the peer link;
#   - the snapmirror (and a policy) leaving the spec: the relationship and its destination volume
#     stay on ONTAP, no more updates, `kvmcctl status` warns that it was left and what to do; the
#     admin deletes it on ONTAP -> its record goes (`kvmcctl records`) and the warning with it; the
#     policy's schedule record goes, its snapshots stay.
. "$(dirname "$0")/lib.sh"
export MN_HOST_SIM=1
CLOCK=$MN_RUN_BASE/protection-clock.${MN_PREFIX:-kvmcd}
T=$(( ($(date +%s) / 86400) * 86400 + 3600 + 30 ))   # today 01:00:30 UTC: slots are whole minutes
mkdir -p "$MN_RUN_BASE"
echo "@$T" >"$CLOCK.tmp" && mv "$CLOCK.tmp" "$CLOCK"
export MN_KVMCD_EXTRA="[protection]
test_clock_offset_file = $CLOCK"
mn_begin protection-mirror 290
mn_up 3 --ontap --ontap-peer cluster2

RUN=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}
HUB=/run/netns/${MN_PREFIX:-kvmcd}-hub
P=kvmcd_${MN_PREFIX:-kvmcd}_mn
SRC=${P}_ds1
DST=${P}_ds1_dr
REQLOG=$RUN/ontap/requests.log
SIM=https://10.213.0.254:8443
AUTH="kvmcd:$(sed -n 's/^password=//p' "$RUN/ontap/credentials")"
sim() { nsenter --net="$HUB" curl -sk --max-time 5 "$@"; }
state() { sim "$SIM/_sim/state"; }
SIM2=https://10.213.0.254:8444                    # the peer cluster "cluster2" (svm_far)
AUTH2="kvmcd:$(sed -n 's/^password=//p' "$RUN/ontap-peer/credentials")"
REQLOG2=$RUN/ontap-peer/requests.log
state2() { sim "$SIM2/_sim/state"; }
rel() { state | jq -c --arg d "svm_dr:$DST" '[.snapmirror_relationships[] | select(.destination.path == $d)][0]'; }
rel_state() { rel | jq -r '.state // "none"'; }
dst_type() { state | jq -r --arg v "$DST" '[.volumes[] | select(.name == $v)][0] | "\(.svm.name) \(.type)"'; }
gold() { state | jq -r --arg v "$SRC" '[.volumes[] | select(.name == $v) | .uuid] as $u |
	[.snapshots[] | select(.volume.uuid == $u[0]) | .name] | sort | .[]' | grep -c '^kvmcd\.gold\.1m\.'; }
transfers() { grep -c '"method":"POST","path":"/api/snapmirror/relationships/[^"]*/transfers[?"]' "$REQLOG"; }
snap_posts() { grep -c '"method":"POST","path":"/api/storage/volumes/[^"]*/snapshots' "$REQLOG"; }
advance() { # seconds: the test clock and the simulator's, together
	T=$((T + $1))
	echo "@$T" >"$CLOCK.tmp" && mv "$CLOCK.tmp" "$CLOCK"
	sim_advance "$1"
	log "clock -> $(date -u -d "@$T" +%FT%TZ)"
}
sim_advance() { sim -X POST "$SIM/_sim/clock" -d "{\"advance_seconds\":$1}" >/dev/null || fail "cannot advance the simulator's clock"; }
ctl() { # NODE ARGS...: kvmcctl on NODE; sets OUT (stdout+stderr) and RC
	OUT=$("$CLUSTER" exec "$1" timeout 200 kvmcctl "${@:2}" 2>&1); RC=$?
	log "n$1: kvmcctl ${*:2} -> exit $RC: $(printf '%s' "$OUT" | tr '\n' ' ' | cut -c1-300)"
}
records() { "$CLUSTER" exec "$s1" timeout 20 kvmcctl records "$1" 2>/dev/null; }
pstatus() { "$CLUSTER" exec "$1" timeout 20 kvmcctl protection status --json | jq -c '.policies[] | select(.name == "gold") | .snapmirror'; }

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
log "n$L leads"
ha_disarm 1 # the leader's node is killed below: this test is about the mirror, not HA's fence
# the destination SVM (on a real system: its own cluster, peered; here the same simulated cluster)
sim -u "$AUTH" -X POST "$SIM/api/svm/svms" -d '{"name":"svm_dr"}' >/dev/null || fail "cannot create svm_dr"
wait_until 20 "svm_dr exists" eval 'state | jq -e ".svms[] | select(.name == \"svm_dr\")" >/dev/null'
# short transfers keep the test quick (a real transfer takes what the data takes)
sim -X POST "$SIM/_sim/config" -d '{"transfer_ms":300}' >/dev/null

# a destination that is a datastore's own volume (the source SVM, <prefix>_<datastore>): refused
BAD='{"datastores":[{"name":"ds1","protocol":"iscsi","size":"1G"},{"name":"ds2","protocol":"iscsi","size":"1G"}],
 "protection":[{"name":"gold","datastores":["ds1"],"schedules":[{"every":"1m","keep":3}],
   "snapmirror":{"destination_svm":"svm1","destination_volume":"'"$P"'_ds2"}}]}'
apply_spec 2 "$BAD"
rc=$?
assert_eq "$rc" 2 "spec apply of a mirror onto ds2's volume: refused"
assert_true "it says why" grep -q "is the volume of datastore ds2: the mirror would overwrite it" <<<"$APPLY_OUT"
assert_eq "$(state | jq '[.volumes[] | select(.name | startswith("'"$P"'"))] | length')" 0 "nothing was touched"

SPEC='{"datastores":[{"name":"ds1","protocol":"iscsi","size":"1G"},{"name":"ds2","protocol":"iscsi","size":"1G"}],
 "protection":[{"name":"gold","datastores":["ds1"],"schedules":[{"every":"1m","keep":3}],
   "snapmirror":{"destination_svm":"svm_dr","rpo":"5m"}},
  {"name":"plain","datastores":["ds2"],"schedules":[{"every":"1h","keep":2}]}]}'
apply_spec 2 "$SPEC" || fail "apply: $APPLY_OUT"

# --- SVM peering is a prerequisite: without it nothing is created, and every view says why ---
notpeered() { OUT=$("$CLUSTER" exec "$s1" kvmcctl dr status ds1 --json) &&
	jq -e '.datastores[0].error | test("SVM svm1 is not peered with SVM svm_dr for SnapMirror")' <<<"$OUT" >/dev/null; }
s1=$(printf '%s\n' 1 2 3 | grep -vx "$L" | head -1)
wait_until 30 "dr status: not peered" notpeered
assert_eq "$(rel_state)" none "no relationship without the peering"
ctl "$s1" status
assert_true "kvmcctl status says the SVMs are not peered" grep -q "WARNING: .*SnapMirror of datastore ds1 (policy gold): .*not peered" <<<"$OUT"
ctl "$s1" preflight --json
assert_eq "$(jq -r '.findings[] | select(.check == "ontap-snapmirror-peer:svm_dr") | "\(.ok) \(.fix | test("vserver peer create -vserver svm1 -peer-vserver svm_dr -applications snapmirror"))"' <<<"$OUT")" \
	"false true" "preflight: the peering check fails and says how to peer"
sim -u "$AUTH" -X POST "$SIM/api/svm/peers" -d '{"svm":{"name":"svm1"},"peer":{"svm":{"name":"svm_dr"}},"applications":["snapmirror"]}' >/dev/null ||
	fail "cannot peer svm1 with svm_dr"
log "svm1 and svm_dr peered (snapmirror)"

# --- the relationship: DP volume, created, initialized, updated after the first snapshot ---
wait_until 60 "the relationship to svm_dr:$DST is snapmirrored" eval '[ "$(rel_state)" = snapmirrored ]'
assert_eq "$(dst_type)" "svm_dr dp" "the destination volume $DST is on svm_dr, type dp"
assert_eq "$(rel | jq -r '"\(.source.path) \(.policy.name)"')" "svm1:$SRC MirrorAllSnapshots" "source and policy"
assert_true "the relationship was created by kvmcd (request log)" \
	grep -q '"method":"POST","path":"/api/snapmirror/relationships?' "$REQLOG"
wait_until 30 "an update after the first snapshot" eval '[ "$(transfers)" -ge 1 ]'
sleep 6
t0=$(transfers); s0=$(snap_posts)
log "transfers so far: $t0 (snapshot POSTs $s0)"
for i in 1 2; do
	advance 60
	wait_until 30 "snapshot $((s0 + i)) taken" eval '[ "$(snap_posts)" -ge $((s0 + i)) ]'
	wait_until 30 "its update transfer" eval '[ "$(transfers)" -ge $((t0 + i)) ]'
done
sleep 6 # a few passes: no update without a new snapshot
assert_eq "$(transfers)" "$((t0 + 2))" "one update per snapshot, none in between"

ok_status() { SM=$(pstatus "$s1") && [ "$(jq -r '"\(.state) \(.health) \(.rpo_ok) \(.rpo_seconds)"' <<<"$SM")" = "snapmirrored ok true 300" ]; }
wait_until 20 "protection status: snapmirrored, ok, within the RPO" ok_status
log "snapmirror: $SM"
assert_true "lag_seconds is a number below the RPO" jq -e '.lag_seconds | type == "number" and . < 300' <<<"$SM"
assert_true "last_transfer is a time" jq -e '.last_transfer | type == "string"' <<<"$SM"

# --- transfers fail, the lag grows past the RPO ---
fid=$(sim -X POST "$SIM/_sim/faults" -d '{"type":"transfer_failure","path":"svm_dr:*"}' | jq -r .id)
[ -n "$fid" ] && [ "$fid" != null ] || fail "cannot install the transfer fault"
advance 60
wait_until 30 "the update after that snapshot failed: unhealthy" eval 'pstatus $s1 | jq -e ".health == \"unhealthy\"" >/dev/null'
sim_advance 400
breach() { SM=$(pstatus "$s1") && jq -e '.rpo_ok == false and .health == "rpo breach" and .lag_seconds > 300' <<<"$SM" >/dev/null; }
wait_until 30 "protection status: the lag beyond the RPO" breach
log "snapmirror: $SM"
ctl "$s1" status
assert_true "kvmcctl status warns of the RPO breach" grep -q "WARNING: .*SnapMirror of datastore ds1 (policy gold): lag [0-9]* s is beyond the RPO of 300 s" <<<"$OUT"
ctl "$s1" status --json
assert_eq "$(jq -r '.mirror.rpo_breaches | map("\(.datastore) \(.rpo_seconds)") | join(",")' <<<"$OUT")" "ds1 300" \
	"status --json: mirror.rpo_breaches"
ctl "$s1" protection status
assert_true "protection status says BREACHED" grep -q 'RPO 300 s: BREACHED' <<<"$OUT"
sim -X DELETE "$SIM/_sim/faults/$fid" >/dev/null
advance 60
wait_until 60 "the next snapshot's update (a failed one is retried after 20 s): within the RPO again" ok_status
ctl "$s1" status
assert_true "no SnapMirror warning any more" eval '! grep -q "SnapMirror" <<<"$OUT"'
ctl "$s1" preflight --json
assert_eq "$(jq -r '.findings[] | select(.check == "ontap-snapmirror-peer:svm_dr") | .ok' <<<"$OUT")" true \
	"preflight: the peering check passes"

# --- DR: refusals ---
ctl "$s1" dr failover nosuch
assert_eq "$RC" 2 "dr failover of an unknown datastore: refused"
assert_true "it says so" grep -q "no datastore 'nosuch'" <<<"$OUT"
ctl "$s1" dr failover ds2
assert_eq "$RC" 2 "dr failover of a datastore without snapmirror: refused"
assert_true "it says why" grep -q "in no protection policy with snapmirror" <<<"$OUT"
ctl "$s1" dr resync ds1
assert_eq "$RC" 2 "dr resync of a relationship that is not broken off: refused"
assert_true "it says why" grep -q "needs no resync: its relationship is snapmirrored" <<<"$OUT"
ctl "$s1" dr
assert_eq "$RC" 1 "dr without a verb: a usage error"

# a transfer running (started on ONTAP, not by kvmcd): failover refused until it ends
sim -X POST "$SIM/_sim/config" -d '{"transfer_ms":60000}' >/dev/null
ruuid=$(rel | jq -r .uuid)
sim -u "$AUTH" -X POST "$SIM/api/snapmirror/relationships/$ruuid/transfers" -d '{}' >/dev/null || fail "cannot start a transfer"
xfer() { OUT=$("$CLUSTER" exec "$s1" kvmcctl dr status ds1 --json) && jq -r '.datastores[0].transfer_state' <<<"$OUT" | grep -qxE "$1"; }
wait_until 20 "dr status: a transfer queued or transferring" xfer 'queued|transferring'
ctl "$s1" dr failover ds1
assert_eq "$RC" 2 "dr failover while a transfer runs: refused"
assert_true "it says why" grep -q "a SnapMirror transfer of datastore ds1 is running" <<<"$OUT"
assert_eq "$(rel_state)" snapmirrored "nothing was done"
sim -X POST "$SIM/_sim/config" -d '{"transfer_ms":300}' >/dev/null
sim_advance 90
wait_until 20 "dr status: the transfer ended" xfer success

# --- DR: failover ---
ctl "$s1" dr failover ds1
assert_eq "$RC" 0 "dr failover ds1"
assert_eq "$(rel_state)" broken_off "the relationship is broken off"
assert_eq "$(dst_type)" "svm_dr rw" "the destination volume is writable"
assert_true "quiesced before the break (request log)" eval 'grep -o "\"method\":\"PATCH\",\"path\":\"/api/snapmirror/relationships/[^\"]*\"[^}]*" "$REQLOG" >/dev/null'
t1=$(transfers)
advance 60
wait_until 30 "the next snapshot" eval '[ "$(gold)" -ge 3 ]'
sleep 6
assert_eq "$(transfers)" "$t1" "no update while failed over"
ctl "$s1" dr failover ds1
assert_eq "$RC" 0 "dr failover again: already in place"
assert_true "it says so" grep -q "already failed over" <<<"$OUT"
wait_until 20 "dr status: broken_off, failed over" eval 'OUT=$("$CLUSTER" exec $s1 kvmcctl dr status ds1 --json) && jq -e ".datastores[0] | .state == \"broken_off\" and .health == \"failed over\" and .dr == \"failover\"" <<<"$OUT" >/dev/null'
ctl "$s1" status
assert_true "kvmcctl status says it is failed over" grep -q "WARNING: .*broken off (failed over)" <<<"$OUT"

# --- a new leader keeps the failover (the record), it does not resync nor update ---
"$CLUSTER" kill "$L" node || fail "kill n$L node"
survivors=$(printf '%s\n' 1 2 3 | grep -vx "$L" | tr '\n' ' ')
new_leader() { all_agree_leader $survivors && [ "${AGREED_LEADER%/*}" != "$L" ]; }
wait_until 60 "a new leader among $survivors" new_leader
log "n${AGREED_LEADER%/*} leads now"
t1=$(transfers); p1=$(snap_posts)
advance 60
wait_until 60 "the new leader's snapshot" eval '[ "$(snap_posts)" -gt "$p1" ]'
wait_until 20 "the new leader read the relationship" eval 'OUT=$("$CLUSTER" exec $s1 kvmcctl dr status ds1 --json) && jq -e ".datastores[0] | .state == \"broken_off\" and .dr == \"failover\"" <<<"$OUT" >/dev/null'
sleep 6
assert_eq "$(transfers)" "$t1" "no update under the new leader either"
assert_eq "$(rel_state)" broken_off "still broken off: the new leader did not undo the failover"

# --- DR: resync ---
ctl "$s1" dr resync ds1
assert_eq "$RC" 0 "dr resync ds1"
assert_eq "$(rel_state)" snapmirrored "snapmirrored again"
assert_eq "$(dst_type)" "svm_dr dp" "the destination is read-only (dp) again"
t2=$(transfers)
advance 60
wait_until 30 "updates again after the resync" eval '[ "$(transfers)" -gt "$t2" ]'
ctl "$s1" dr status
assert_eq "$RC" 0 "dr status"
assert_true "dr status: ds1 snapmirrored" grep -q "^ds1 .*svm_dr:$DST .*snapmirrored" <<<"$OUT"

# --- a destination SVM on another cluster ---
# one kvmcd has no connection to (cluster3): its setup fails, and every view says what to configure
sim -X POST "$SIM/_sim/config" -d '{"peer_clusters":["cluster2","cluster3"]}' >/dev/null
for pc in "svm_far cluster2" "svm_x cluster3"; do
	set -- $pc
	sim -u "$AUTH" -X POST "$SIM/api/svm/peers" \
		-d '{"svm":{"name":"svm1"},"peer":{"svm":{"name":"'"$1"'"},"cluster":{"name":"'"$2"'"}},"applications":["snapmirror"]}' \
		>/dev/null || fail "cannot peer svm1 with $1 on $2"
done
X3=$(jq -c '(.protection[] | select(.name == "plain")).snapmirror = {destination_svm: "svm_x"}' <<<"$SPEC")
apply_spec 2 "$X3" || fail "apply with a mirror of ds2 to svm_x: $APPLY_OUT"
far() { OUT=$("$CLUSTER" exec "$s1" timeout 20 kvmcctl dr status ds2 --json) &&
	jq -e '.datastores[0].error | test("peered from cluster cluster3, which kvmcd has no connection to")' <<<"$OUT" >/dev/null; }
wait_until 30 "dr status ds2: svm_x is on a cluster kvmcd has no connection to" far
assert_true "it says what to configure" \
	jq -e '.datastores[0].error | test("\\[ontap_peer\\] is cluster cluster2") and test("an \\[ontap_peer\\] section with cluster = cluster3")' <<<"$OUT"
ctl "$s1" status
assert_true "kvmcctl status warns" grep -q "WARNING: .*SnapMirror of datastore ds2 (policy plain): .*no connection to" <<<"$OUT"
assert_eq "$(state2 | jq '[(.volumes // [])[] | select(.name | startswith("'"$P"'"))] | length')" 0 "nothing on cluster2"

# svm_far on cluster2, which kvmcd reaches through [ontap_peer]: everything of the relationship there
DST2=${P}_ds2_dr
rel2() { state2 | jq -c --arg d "svm_far:$DST2" '[(.snapmirror_relationships // [])[] | select(.destination.path == $d)][0]'; }
rel2_state() { rel2 | jq -r '.state // "none"'; }
dst2_type() { state2 | jq -r --arg v "$DST2" '[(.volumes // [])[] | select(.name == $v)][0] | "\(.svm.name) \(.type)"'; }
transfers2() { grep -c '"method":"POST","path":"/api/snapmirror/relationships/[^"]*/transfers[?"]' "$REQLOG2"; }
FAR=$(jq -c '(.protection[] | select(.name == "plain")).snapmirror = {destination_svm: "svm_far"}' <<<"$SPEC")
apply_spec 2 "$FAR" || fail "apply with a mirror of ds2 to svm_far: $APPLY_OUT"
wait_until 60 "the relationship to svm_far:$DST2 is snapmirrored on cluster2" eval '[ "$(rel2_state)" = snapmirrored ]'
assert_eq "$(dst2_type)" "svm_far dp" "the destination volume $DST2 is on cluster2's svm_far, type dp"
assert_eq "$(rel2 | jq -r '"\(.source.path) \(.policy.name)"')" "svm1:${P}_ds2 MirrorAllSnapshots" "source and policy"
assert_eq "$(state | jq '[.snapmirror_relationships[] | select(.destination.path | startswith("svm_far:"))] | length')" 0 \
	"no relationship to svm_far on the source cluster"
assert_eq "$(state | jq --arg v "$DST2" '[.volumes[] | select(.name == $v)] | length')" 0 "nor a volume $DST2"
assert_eq "$(records mirror/plain/ | jq -r '."mirror/plain/ds2".destination | "\(.cluster) \(.svm):\(.volume)"')" \
	"cluster2 svm_far:$DST2" "the record names the destination's cluster"
all_agree_leader 1 2 3 || all_agree_leader $(printf '%s\n' 1 2 3 | grep -vx "$L") || fail "no leader"
ctl "${AGREED_LEADER%/*}" status --json
assert_eq "$(jq -r '.ontap.peer | "\(.cluster) \(.client_loaded) \(.version != null) \(.last_error)"' <<<"$OUT")" \
	"cluster2 true true null" "status --json: the leader's link to the peer cluster"
ctl "$s1" ontap check --peer --json
assert_eq "$RC $(jq -r '"\(.ok) \(.peer_cluster) \(.permissions.checked | length)"' <<<"$OUT")" "0 true cluster2 3" \
	"kvmcctl ontap check --peer: the destination cluster reached, its three families usable"
t4=$(transfers2)
advance 3600
wait_until 60 "plain's hourly snapshot, then its update transfer on cluster2" eval '[ "$(transfers2)" -gt "$t4" ]'
ctl "$s1" dr failover ds2
assert_eq "$RC" 0 "dr failover ds2 (on cluster2)"
assert_eq "$(rel2_state)" broken_off "broken off on cluster2"
assert_eq "$(dst2_type)" "svm_far rw" "the destination volume on cluster2 is writable"
ctl "$s1" dr resync ds2
assert_eq "$RC" 0 "dr resync ds2 (on cluster2)"
assert_eq "$(rel2_state)" snapmirrored "snapmirrored again on cluster2"
assert_eq "$(dst2_type)" "svm_far dp" "read-only (dp) again"
wait_until 30 "protection status: ds2's mirror snapmirrored and ok" eval \
	'"$CLUSTER" exec $s1 timeout 20 kvmcctl protection status --json | jq -e ".policies[] | select(.name == \"plain\") | .snapmirror | .state == \"snapmirrored\" and .health == \"ok\"" >/dev/null'

# --- the snapmirror leaves the spec: kvmcd deletes nothing on ONTAP, and says what it left ---
assert_eq "$(records mirror/ | jq -r '."mirror/gold/ds1".destination | "\(.svm):\(.volume)"')" "svm_dr:$DST" \
	"kvmcctl records: the mirror's record names its destination"
assert_true "the policy 'plain' has its schedule record" eval 'records prot/plain/ | jq -e "length == 1" >/dev/null'
NOMIRROR='{"datastores":[{"name":"ds1","protocol":"iscsi","size":"1G"},{"name":"ds2","protocol":"iscsi","size":"1G"}],
 "protection":[{"name":"gold","datastores":["ds1"],"schedules":[{"every":"1m","keep":3}]}]}'
apply_spec 2 "$NOMIRROR" || fail "apply without the snapmirror and the policy 'plain': $APPLY_OUT"
left_line="SnapMirror relationship svm1:$SRC -> svm_dr:$DST (datastore ds1, policy gold) is no longer in the spec"
left() { OUT=$("$CLUSTER" exec "$s1" timeout 20 kvmcctl status 2>&1) && grep -q "WARNING: .*$left_line" <<<"$OUT"; }
wait_until 30 "kvmcctl status: the relationship is left on ONTAP" left
assert_true "the warning says what to do" grep -q "delete them on ONTAP, or put the snapmirror back in the spec" <<<"$OUT"
assert_eq "$(rel_state)" snapmirrored "the relationship stays on ONTAP"
assert_eq "$(dst_type)" "svm_dr dp" "so does its destination volume"
wait_until 30 "the schedule record of 'plain' goes with the policy" eval 'records prot/plain/ | jq -e "length == 0" >/dev/null'
assert_true "its snapshot of ds2 stays on ONTAP" eval 'state | jq -e --arg v "${P}_ds2" "[.volumes[] | select(.name == \$v) | .uuid] as \$u |
	[.snapshots[] | select(.volume.uuid == \$u[0] and (.name | startswith(\"kvmcd.plain.\")))] | length >= 1" >/dev/null'
t3=$(transfers); p3=$(snap_posts)
advance 60
wait_until 30 "gold's next snapshot" eval '[ "$(snap_posts)" -gt "$p3" ]'
sleep 6
assert_eq "$(transfers)" "$t3" "no update once the snapmirror left the spec"
# the admin deletes the relationship on ONTAP: the record goes, and the warning with it
ruuid=$(rel | jq -r .uuid)
sim -u "$AUTH" -X DELETE "$SIM/api/snapmirror/relationships/$ruuid" >/dev/null || fail "cannot delete the relationship"
wait_until 30 "the relationship gone from the simulator" eval '[ "$(rel_state)" = none ]'
wait_until 30 "ds1's mirror record goes once ONTAP has no relationship" eval 'records mirror/gold/ | jq -e "length == 0" >/dev/null'
assert_eq "$(rel2_state)" snapmirrored "ds2's relationship on cluster2 stays too"
assert_true "and its record (read there)" eval 'records mirror/plain/ | jq -e "length == 1" >/dev/null'
ruuid=$(rel2 | jq -r .uuid)
sim -u "$AUTH2" -X DELETE "$SIM2/api/snapmirror/relationships/$ruuid" >/dev/null || fail "cannot delete the relationship on cluster2"
wait_until 30 "the relationship gone from cluster2" eval '[ "$(rel2_state)" = none ]'
wait_until 30 "ds2's mirror record goes once cluster2 has no relationship" eval 'records mirror/ | jq -e "length == 0" >/dev/null'
ctl "$s1" status
assert_true "no warning about it any more" eval '! grep -q "SnapMirror relationship" <<<"$OUT"'
mn_pass
