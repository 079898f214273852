#!/bin/bash
# Whole cluster restarted (SIGKILL every kvmcd, start again): the newest state is recovered
# from disk.
. "$(dirname "$0")/lib.sh"
mn_begin cluster-restart 180
mn_up 3

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
E0=${AGREED_LEADER#*/}
apply_spec 2 "$(spec_json gen 1)" || fail "apply 1: $APPLY_OUT"
SPEC=$(spec_json gen 2 keep me)
apply_spec 3 "$SPEC" || fail "apply 2: $APPLY_OUT"
wait_until 10 "all 3 have the same state" same_state 1 2 3
V=$SAME_VERSION
log "state before restart: version $V spec $SPEC epoch $E0"

for i in 1 2 3; do "$CLUSTER" kill "$i" kvmcd || fail "kill kvmcd n$i"; done
log "all kvmcd SIGKILLed"
for i in 1 2 3; do log "n$i state dir: $(ls "$MN_RUN_BASE/${MN_PREFIX:-kvmcd}/n$i/state" 2>&1 | tr '\n' ' ')"; done
for i in 1 2 3; do "$CLUSTER" start "$i" kvmcd --no-wait || fail "start kvmcd n$i"; done
wait_until 30 "all 3 agree on a leader after the restart" all_agree_leader 1 2 3
wait_until 20 "all 3 have the same state" same_state 1 2 3
assert_eq "$SAME_VERSION" "$V" "state_version after restart"
for i in 1 2 3; do assert_true "n$i spec recovered" spec_is "$i" "$SPEC"; done
E1=${AGREED_LEADER#*/}
assert_true "new leadership epoch $E1 > $E0" test "$E1" -gt "$E0"
apply_spec 1 "$(spec_json gen 3)" || fail "apply after restart: $APPLY_OUT"
wait_until 10 "version advances past $V on all" eval 'same_state 1 2 3 && [ "$SAME_VERSION" -gt '"$V"' ]'

# Once more, restarting the nodes in the opposite order with a short pause in between.
V=$SAME_VERSION
for i in 1 2 3; do "$CLUSTER" kill "$i" kvmcd; done
for i in 3 2 1; do "$CLUSTER" start "$i" kvmcd --no-wait; sleep 0.5; done
wait_until 30 "all 3 agree on a leader after the second restart" all_agree_leader 1 2 3
wait_until 20 "all 3 have the same state" same_state 1 2 3
assert_eq "$SAME_VERSION" "$V" "state_version after the second restart"
mn_pass
