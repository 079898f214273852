#!/bin/bash
# Whole-cluster restart where the node with the OLDEST state comes back first: a change
# committed while that node's kvmcd was down must survive, and the lone stale kvmcd must not
# accept a change before the nodes holding the newer state are back (otherwise one of two
# acknowledged changes is lost when they meet).
. "$(dirname "$0")/lib.sh"
mn_begin restart-stale-first 200
mn_up 3

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
apply_spec 1 "$(spec_json gen A)" || fail "apply A: $APPLY_OUT"
wait_until 10 "all 3 have spec A" same_state 1 2 3

"$CLUSTER" kill 3 kvmcd || fail "kill kvmcd n3"
wait_until 15 "n1, n2 see 2 members" eval 'has_members 1 2 && has_members 2 2 && all_agree_leader 1 2'
B=$(spec_json gen B committed while-n3-down)
apply_spec 1 "$B" || fail "apply B while n3 is down: $APPLY_OUT"
wait_until 10 "n1 and n2 have spec B" spec_is_all "$B" 1 2
VB=$(jget 1 .state_version)
log "spec B committed at version $VB by n1+n2 (n3's kvmcd down, n3 holds the older spec A)"

"$CLUSTER" kill 1 kvmcd || fail "kill kvmcd n1"
"$CLUSTER" kill 2 kvmcd || fail "kill kvmcd n2"
log "all kvmcd down; starting only n3 (stale) first"
"$CLUSTER" start 3 kvmcd || fail "start kvmcd n3"
sleep 2
show_status 3
C=$(spec_json gen C on stale n3)
if APPLY_TIMEOUT=15 apply_spec 3 "$C"; then
	stale_accepted=1
	log "n3 (alone, holding the older state) ACCEPTED spec C"
else
	stale_accepted=0
	log "ok: n3 (alone, stale) refused spec C"
fi

"$CLUSTER" start 1 kvmcd --no-wait || fail "start kvmcd n1"
"$CLUSTER" start 2 kvmcd --no-wait || fail "start kvmcd n2"
wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
wait_until 20 "all 3 have the same state" same_state 1 2 3
show_status 1 2 3
final=$(nx 1 kvmcctl spec get | jq -cS .)
log "final spec: $final (version $SAME_VERSION)"
for i in 1 2 3; do grep -h 'diverged\|took state\|sync: member' "$MN_RUN_BASE/${MN_PREFIX:-kvmcd}/n$i/kvmcd.log" | tail -4 | sed "s/^/    n$i: /"; done
if [ "$stale_accepted" = 1 ]; then
	if spec_is 1 "$B"; then
		fail "spec C was acknowledged to the client by the lone stale n3 and then LOST (final spec is B)"
	elif spec_is 1 "$C"; then
		fail "spec B (committed by n1+n2 while n3 was down) was LOST: the stale n3 accepted C on top of A and won"
	else
		fail "final spec is neither B nor C"
	fi
fi
assert_true "the committed spec B survived" spec_is_all "$B" 1 2 3
mn_pass
