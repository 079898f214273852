#!/bin/bash
# Scheduled snapshots by the leader (issue 10, crash-consistent part) on the multi-node tier:
# 3 nodes with real corosync and kvmcd, the ONTAP simulator, the simulated host backend. The
# schedules read a TEST CLOCK ([protection] test_clock_offset_file = a file holding "@T", the
# schedules' now frozen at T): the test moves it forward a minute at a time, together with the
# simulator's clock (POST /_sim/clock), so no test waits for a real minute and real minutes add
# no slot. What an admin would check:
#   - a policy "gold" {every 1m, keep 3} on ds1 (one volume: volume snapshots) and "multi"
#     {every 1h, keep 2} on ds2 + nfs1 (two volumes: a consistency group and its snapshot):
#     the first slot is taken at once, then one snapshot per minute the clock moves, named
#     kvmcd.gold.1m.<slot>; the 4th makes the oldest go (keep 3);
#   - the leader's node killed between runs, the clock moved a minute: the next leader takes
#     that slot exactly once -- no slot skipped or doubled (the slots on ONTAP are consecutive
#     minutes, and the simulator's request log has exactly one snapshot POST per slot);
#   - `snapshot create gold` (an on-demand one, which retention keeps) and `snapshot delete`;
#     a name that is not kvmcd's is refused (2);
#   - `protection status --json`: last and next per policy, health ok, snapmirror null.
. "$(dirname "$0")/lib.sh"
export MN_HOST_SIM=1
# (not under $MN_RUN_BASE/$MN_PREFIX*: `cluster up` makes those afresh)
CLOCK=$MN_RUN_BASE/protection-clock.${MN_PREFIX:-kvmcd}
T=$(( ($(date +%s) / 86400) * 86400 + 3600 + 30 ))   # today 01:00:30 UTC: slots are whole minutes
mkdir -p "$MN_RUN_BASE"
echo "@$T" >"$CLOCK.tmp" && mv "$CLOCK.tmp" "$CLOCK"
export MN_KVMCD_EXTRA="[protection]
test_clock_offset_file = $CLOCK"
mn_begin protection 240
mn_up 3 --ontap

RUN=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}
HUB=/run/netns/${MN_PREFIX:-kvmcd}-hub
P=kvmcd_${MN_PREFIX:-kvmcd}_mn
REQLOG=$RUN/ontap/requests.log
SIM=https://10.213.0.254:8443
sim() { nsenter --net="$HUB" curl -sk --max-time 5 "$@"; }
state() { sim "$SIM/_sim/state"; }
# the snapshot names on a datastore's volume, sorted
snaps() { state | jq -r --arg v "${P}_$1" '[.volumes[] | select(.name == $v) | .uuid] as $u |
	[.snapshots[] | select(.volume.uuid == $u[0]) | .name] | sort | .[]'; }
gold() { snaps ds1 | grep '^kvmcd\.gold\.1m\.' | tr '\n' ' '; }
slot_name() { date -u -d "@$1" +kvmcd.gold.1m.%Y%m%dT%H%MZ; }
advance() { # seconds: the test clock and the simulator's, together
	T=$((T + $1))
	echo "@$T" >"$CLOCK.tmp" && mv "$CLOCK.tmp" "$CLOCK"
	sim -X POST "$SIM/_sim/clock" -d "{\"advance_seconds\":$1}" >/dev/null || fail "cannot advance the simulator's clock"
	log "clock -> $(date -u -d "@$T" +%FT%TZ)"
}
posts() { grep -c '"method":"POST","path":"/api/storage/volumes/[^"]*/snapshots' "$REQLOG"; }
ctl() { # NODE ARGS...: kvmcctl on NODE; sets OUT (stdout+stderr) and RC
	OUT=$("$CLUSTER" exec "$1" timeout 60 kvmcctl "${@:2}" 2>&1); RC=$?
	log "n$1: kvmcctl ${*:2} -> exit $RC: $(printf '%s' "$OUT" | tr '\n' ' ' | cut -c1-240)"
}
# the gold snapshots expected after the slots from $1 to $T, keep 3
want_gold() {
	local s=$(( T - T % 60 )) out="" i
	for i in 2 1 0; do [ $((s - i * 60)) -ge "$1" ] && out+="$(slot_name $((s - i * 60))) "; done
	printf '%s' "$out"
}

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
log "n$L leads"
ha_disarm 1 # the leader's node is killed below: this test is about the schedule, not HA's fence
SPEC='{"datastores":[{"name":"ds1","protocol":"iscsi","size":"1G"},
 {"name":"ds2","protocol":"iscsi","size":"1G"},{"name":"nfs1","protocol":"nfs","size":"1G"}],
 "protection":[{"name":"gold","datastores":["ds1"],"schedules":[{"every":"1m","keep":3}]},
  {"name":"multi","datastores":["ds2","nfs1"],"schedules":[{"every":"1h","keep":2}]}]}'
apply_spec 2 "$SPEC" || fail "apply: $APPLY_OUT"
FIRST=$(( T - T % 60 ))

# --- on schedule ---
wait_until 60 "the first slot of gold on ds1" eval '[ "$(gold)" = "$(want_gold $FIRST)" ]'
mslot=$(date -u -d "@$(( T - T % 3600 ))" +kvmcd.multi.1h.%Y%m%dT%H%MZ)
wait_until 30 "multi's first slot on ds2 and nfs1 (a consistency group snapshot)" \
	eval 'snaps ds2 | grep -qx "$mslot" && snaps nfs1 | grep -qx "$mslot"'
assert_eq "$(state | jq -r --arg c "${P}_multi" '[.consistency_groups[] | select(.name == $c) | .volumes[].name] | sort | join(",")')" \
	"${P}_ds2,${P}_nfs1" "the consistency group ${P}_multi holds ds2's and nfs1's volumes"
assert_eq "$(state | jq -r --arg n "$mslot" '[.cg_snapshots[] | select(.name == $n)] | length')" 1 \
	"one consistency group snapshot for multi's slot"
for i in 1 2 3; do
	advance 60
	wait_until 30 "gold's slot $(slot_name $((T - T % 60)))" eval '[ "$(gold)" = "$(want_gold $FIRST)" ]'
done
log "gold on ds1: $(gold)"
assert_eq "$(snaps ds1 | grep -c '^kvmcd\.gold\.')" 3 "keep 3: the oldest of the 4 slots is gone"
assert_eq "$(snaps ds1 | grep -cx "$(slot_name $FIRST)")" 0 "the first slot was deleted by retention"
assert_eq "$(snaps ds2 | grep -c '^kvmcd\.multi\.')" 1 "multi (every 1h) took no other slot meanwhile"

# --- the leader killed between runs: the next slot once ---
p0=$(posts)
ms0=$(date +%s%3N)
"$CLUSTER" kill "$L" node || fail "kill n$L node"
advance 60
survivors=$(printf '%s\n' 1 2 3 | grep -vx "$L" | tr '\n' ' ')
s1=${survivors%% *}
new_leader() { all_agree_leader $survivors && [ "${AGREED_LEADER%/*}" != "$L" ]; }
wait_until 60 "a new leader among $survivors" new_leader
all_agree_leader $survivors
NL=${AGREED_LEADER%/*}
log "n$NL leads now"
wait_until 60 "the next leader took $(slot_name $((T - T % 60)))" eval '[ "$(gold)" = "$(want_gold $FIRST)" ]'
log "slot taken $(( $(date +%s%3N) - ms0 )) ms after the kill (the new leader acts after the lease)"
sleep 3
assert_eq "$(posts)" "$((p0 + 1))" "exactly one snapshot POST for that slot (request log): not doubled"
assert_eq "$(gold)" "$(want_gold $FIRST)" "the three newest consecutive slots, none skipped"
advance 60
wait_until 30 "and the one after ($(slot_name $((T - T % 60))))" eval '[ "$(gold)" = "$(want_gold $FIRST)" ]'

# --- on demand ---
ctl "$s1" snapshot create gold
assert_eq "$RC" 0 "snapshot create gold"
OD=$(snaps ds1 | grep '^kvmcd\.gold\.ondemand\.' | head -1)
assert_true "the on-demand snapshot is on ds1 ($OD)" test -n "$OD"
advance 60
wait_until 30 "the slot after the on-demand one" eval '[ "$(gold)" = "$(want_gold $FIRST)" ]'
assert_eq "$(snaps ds1 | grep -c "^$OD\$")" 1 "the on-demand snapshot is still there after retention"
listed() { # N: snapshot list ds1 shows N of gold's schedule and the on-demand one
	OUT=$("$CLUSTER" exec "$s1" timeout 20 kvmcctl snapshot list ds1 --json) &&
		[ "$(jq -r '[.[] | select(.policy == "gold" and .label == "1m")] | length' <<<"$OUT")" = "$1" ] &&
		[ "$(jq -r --arg n "$OD" '[.[] | select(.name == $n and .label == "ondemand")] | length' <<<"$OUT")" = 1 ]
}
wait_until 20 "snapshot list ds1 --json: gold's 3 and the on-demand one" listed 3
ctl "$s1" snapshot list ds1
ctl "$s1" snapshot delete "$OD"
assert_eq "$RC" 0 "snapshot delete $OD"
assert_eq "$(snaps ds1 | grep -c "^$OD\$")" 0 "the on-demand snapshot is gone from ONTAP"
ctl "$s1" snapshot delete hourly.2025-01-01_0000
assert_eq "$RC" 2 "snapshot delete of a name that is not kvmcd's: refused"
ctl "$s1" snapshot create nosuch
assert_eq "$RC" 2 "snapshot create of an unknown policy: refused"

# --- status ---
ctl "$s1" protection status --json
assert_eq "$RC" 0 "protection status --json"
last=$(date -u -d "@$((T - T % 60))" +%Y-%m-%dT%H:%MZ)
next=$(date -u -d "@$((T - T % 60 + 60))" +%Y-%m-%dT%H:%MZ)
assert_eq "$(jq -r '.policies[] | select(.name == "gold") | "\(.last_snapshot) \(.next_due) \(.health)"' <<<"$OUT")" \
	"$last $next ok" "gold: last snapshot, next due, health"
assert_eq "$(jq -r '.policies[] | select(.name == "multi") | .consistency' <<<"$OUT")" crash "multi: crash-consistent"
assert_eq "$(jq -r '.policies[0] | has("snapmirror") and (.snapmirror == null)' <<<"$OUT")" true "snapmirror: null (none configured)"
mn_pass
