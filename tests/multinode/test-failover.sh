#!/bin/bash
# The leader's corosync is SIGKILLed: the survivors elect a new leader within a bound; the old
# leader's kvmcd shows no leader.
. "$(dirname "$0")/lib.sh"
BOUND_MS=${FAILOVER_BOUND_MS:-8000}   # corosync detection alone is ~2.1 s with token 1000
mn_begin failover 180
mn_up 3

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}; E=${AGREED_LEADER#*/}
S=""; for i in 1 2 3; do [ "$i" = "$L" ] || S+="$i "; done
log "leader n$L epoch $E; survivors: $S"

new_leader_among_survivors() { all_agree_leader $S && [ "${AGREED_LEADER%/*}" != "$L" ]; }
t0=$(now_ms)
"$CLUSTER" kill "$L" corosync || fail "cannot kill corosync on n$L"
wait_until 30 "survivors ($S) agree on a new leader other than n$L" new_leader_among_survivors
t1=$(now_ms)
NL=${AGREED_LEADER%/*}; NE=${AGREED_LEADER#*/}
log "MEASURED: kill of n$L's corosync -> new leader n$NL epoch $NE agreed by survivors: $((t1 - t0)) ms (bound $BOUND_MS ms)"
assert_true "failover took $((t1 - t0)) ms <= $BOUND_MS ms" test $((t1 - t0)) -le "$BOUND_MS"
assert_true "new epoch $NE > old epoch $E" test "$NE" -gt "$E"
show_status $S
wait_until 15 "old leader n$L's kvmcd reports no leader (its corosync is gone)" node_no_leader "$L"
assert_eq "$(jget "$L" '.is_leader // false')" false "n$L: .is_leader"
assert_eq "$(jget "$L" .quorate)" false "n$L: .quorate"

# Bring it back: it rejoins and follows the new leader.
"$CLUSTER" start "$L" corosync || fail "cannot restart corosync on n$L"
wait_until 30 "n$L rejoins and all 3 agree on a leader" all_agree_leader 1 2 3
show_status 1 2 3
mn_pass
