#!/bin/bash
# kvmcd SIGKILLed on a node and restarted resyncs: same state_version/spec as the others,
# including a spec applied while it was down. Done for a follower, then for the leader.
. "$(dirname "$0")/lib.sh"
mn_begin agent-restart 200
mn_up 3

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
apply_spec 1 "$(spec_json round 0)" || fail "initial spec apply failed: $APPLY_OUT"
wait_until 10 "all 3 have the same state" same_state 1 2 3

round=0
for role in follower leader; do
	round=$((round + 1))
	all_agree_leader 1 2 3 || fail "no agreed leader before round $round"
	L=${AGREED_LEADER%/*}
	if [ "$role" = leader ]; then V=$L; else V=3; [ "$L" = 3 ] && V=2; fi
	O=""; for i in 1 2 3; do [ "$i" = "$V" ] || O+="$i "; done
	log "--- round $round: SIGKILL kvmcd on the $role n$V (leader n$L)"
	"$CLUSTER" kill "$V" kvmcd || fail "kill kvmcd on n$V"
	wait_until 20 "the others ($O) see 2 members and agree on a leader" eval "all_agree_leader $O && has_members ${O%% *} 2"
	SPEC=$(spec_json round "$round" while_down "n$V")
	apply_spec "${O%% *}" "$SPEC" || fail "spec apply while n$V's kvmcd is down failed: $APPLY_OUT"
	for i in $O; do wait_until 10 "n$i has the spec applied while n$V was down" spec_is "$i" "$SPEC"; done
	t0=$(now_ms)
	"$CLUSTER" start "$V" kvmcd || fail "restart kvmcd on n$V"
	wait_until 20 "restarted n$V has the same state_version and spec as the others" same_state 1 2 3
	log "MEASURED: n$V kvmcd restart -> resynced in $(( $(now_ms) - t0 )) ms (version $SAME_VERSION)"
	assert_true "n$V has the spec applied while it was down" spec_is "$V" "$SPEC"
	wait_until 15 "all 3 agree on a leader again" all_agree_leader 1 2 3
	show_status 1 2 3
done
mn_pass
