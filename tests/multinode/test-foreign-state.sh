#!/bin/bash
# A state file of ANOTHER cluster -- restored from the wrong backup, copied from a lab, forged --
# with a far higher epoch and version than this cluster's, put on one node. kvmcd must never
# take it: the node holding it is "foreign" (status says so on every node, its own log says
# why), the cluster's spec stays, changes still commit, and once the admin moves the file away
# the node rejoins with the cluster's state and identity.
. "$(dirname "$0")/lib.sh"
mn_begin foreign-state 200
mn_up 3

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
OURS=$(spec_json site ours)
apply_spec 1 "$OURS" || fail "apply: $APPLY_OUT"
wait_until 10 "all 3 have our spec" spec_is_all "$OURS" 1 2 3
ID=$(jget 1 .cluster_id)
[ ${#ID} = 32 ] || fail "no cluster identity in status (got '$ID')"
assert_eq "$(jget 2 .cluster_id) $(jget 3 .cluster_id)" "$ID $ID" "every node holds the identity"

STATE=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}/n3/state
"$CLUSTER" kill 3 kvmcd || fail "kill kvmcd n3"
rm -f "$STATE/journal.jsonl"
cat >"$STATE/state.json" <<JSON
{"format":2,"version":500,"state_epoch":90,"max_epoch":90,"leader_id":3,"leader_epoch":90,
 "cluster_id":"0123456789abcdef0123456789abcdef","spec":{"labels":{"site":"theirs"}},"records":{}}
JSON
"$CLUSTER" start 3 kvmcd || fail "start kvmcd n3 on the foreign state"
foreign_seen() { [ "$(jget 1 '[.members[] | select(.id == 3) | .state] | .[0]')" = foreign ]; }
wait_until 20 "n1 reports n3 as foreign" foreign_seen
grep -q "holds the state of another cluster" "$MN_RUN_BASE/${MN_PREFIX:-kvmcd}/n1/kvmcd.log" ||
	fail "n1's log does not say why n3 takes no part"
wait_until 10 "n3 says why it has no leader" eval \
	'jget 3 .no_leader_reason | grep -q "belongs to another cluster"'
assert_true "n1 and n2 keep our spec" spec_is_all "$OURS" 1 2
assert_eq "$(jget 1 .cluster_id)" "$ID" "the cluster keeps its identity"
MORE=$(spec_json site still-ours)
apply_spec 2 "$MORE" || fail "a change with a foreign member in the view: $APPLY_OUT"
wait_until 10 "n1 and n2 commit it" spec_is_all "$MORE" 1 2
assert_true "n3 still holds its own file, untouched" grep -q theirs "$STATE/state.json"

log "the admin moves the foreign state away"
"$CLUSTER" kill 3 kvmcd || fail "kill kvmcd n3"
mkdir -p "$STATE.moved" && mv "$STATE"/state.json "$STATE.moved"/
"$CLUSTER" start 3 kvmcd || fail "start kvmcd n3 fresh"
wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
wait_until 20 "n3 took the cluster's state" spec_is_all "$MORE" 1 2 3
assert_eq "$(jget 3 .cluster_id)" "$ID" "n3 took the cluster's identity"
mn_pass
