#!/bin/bash
# Partition 2|1: the single node has no leader, is not quorate and refuses `spec apply` with a
# clear message; the pair keeps a leader and accepts `spec apply`; after heal all three converge.
. "$(dirname "$0")/lib.sh"
mn_begin partition 200
mn_up 3

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
# Isolate a node that is not the leader (the pair keeps its leader).
X=3; [ "$L" = 3 ] && X=2
P=""; for i in 1 2 3; do [ "$i" = "$X" ] || P+="$i "; done
PC=${P// /,}; PC=${PC%,}
"$CLUSTER" partition "$PC" "$X" || fail "partition failed"
log "partition: {$P} | {$X}"

wait_until 20 "n$X (alone) is not quorate" eval '! node_quorate '"$X"
wait_until 20 "n$X (alone) has no leader" node_no_leader "$X"
wait_until 20 "the pair ($P) agrees on a leader" all_agree_leader $P
assert_eq "${AGREED_LEADER%/*}" "$L" "the pair's leader (unchanged)"
show_status 1 2 3

if apply_spec "$X" "$(spec_json side minority)"; then
	fail "n$X accepted spec apply without quorum"
fi
assert_true "n$X refused with a message mentioning quorum: '$APPLY_OUT'" grep -qiE 'quor' <<<"$APPLY_OUT"

v0=$(jget "${P%% *}" .state_version)
SPEC=$(spec_json side majority round 1)
for i in $P; do
	apply_spec "$i" "$SPEC" || fail "n$i (in the quorate pair) refused spec apply: $APPLY_OUT"
	break
done
wait_until 15 "the pair has the new spec" spec_is_all "$SPEC" $P
assert_true "pair version advanced from $v0" has_version "${P%% *}" $((v0 + 1))
if spec_is "$X" "$SPEC"; then fail "n$X got the pair's spec while partitioned"; fi
log "ok: n$X still has its old spec (no change without quorum)"

"$CLUSTER" heal
t0=$(now_ms)
wait_until 30 "after heal all 3 agree on a leader" all_agree_leader 1 2 3
wait_until 30 "after heal all 3 have the same state_version and spec" same_state 1 2 3
log "MEASURED: heal -> converged in $(( $(now_ms) - t0 )) ms (version $SAME_VERSION)"
assert_true "n$X has the pair's spec" spec_is "$X" "$SPEC"
show_status 1 2 3
mn_pass
