#!/bin/bash
# Asymmetric partition (node 1 and node 3 cannot reach each other, node 2 sees both): corosync
# re-forms without ever completing, so no CPG/quorum callbacks come. kvmcd must notice on its
# own (stall_timeout): status reports the membership as stalled and the leader stops accepting
# changes. After heal everything recovers.
. "$(dirname "$0")/lib.sh"
export MN_STALL_TIMEOUT=${MN_STALL_TIMEOUT:-8000}
mn_begin asymmetric-stall 200
mn_up 3

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
apply_spec 2 "$(spec_json before stall)" || fail "apply before the partition: $APPLY_OUT"
wait_until 10 "same state" same_state 1 2 3
V=$SAME_VERSION

t0=$(now_ms)
"$CLUSTER" partition 1 3 || fail "partition failed"
log "asymmetric partition: n1 x n3 dropped, n2 sees both (stall_timeout ${MN_STALL_TIMEOUT} ms)"
any_stalled() { node_stalled 1 || node_stalled 2 || node_stalled 3; }
wait_until $(( MN_STALL_TIMEOUT / 1000 + 25 )) "some node reports the membership as stalled (status .sync.state == \"stalled\")" any_stalled
log "MEASURED: partition -> first node stalled after $(( $(now_ms) - t0 )) ms"
show_status 1 2 3
for i in 1 2 3; do
	s=$(jget "$i" '{sync, leader, is_leader, quorate} | tostring'); log "n$i: $s"
done
if node_stalled "$L"; then log "ok: the leader n$L itself reports stalled"; else log "note: the leader n$L does not report stalled"; fi
wait_until 15 "old leader n$L no longer acts as leader (.is_leader false)" eval '[ "$(jget '"$L"' ".is_leader // false")" = false ]'

# Followers notice the stall on their own clock (their last delivery may be later than the
# leader's): wait until every node is stalled or has no leader, then no node may accept a change.
settled() {
	local i
	for i in 1 2 3; do node_stalled "$i" || node_no_leader "$i" || return 1; done
}
wait_until $(( MN_STALL_TIMEOUT / 1000 + 15 )) "every node is stalled or has no leader" settled
show_status 1 2 3
for i in 1 2 3; do
	APPLY_TIMEOUT=45 apply_spec "$i" "$(spec_json during stall via "n$i")"
	rc=$?
	[ "$rc" -ne 0 ] || fail "n$i accepted spec apply during the asymmetric partition"
	[ "$rc" -ne 124 ] || fail "n$i: kvmcctl spec apply hung for 45 s during the stall (expected a refusal)"
	assert_true "n$i: refusal has a message" test -n "$APPLY_OUT"
	if [ "$rc" = 2 ]; then log "ok: n$i refused at once (exit 2: not ready)"
	else log "note: n$i answered exit $rc (not 2 = refused/not ready)"; fi
done
for i in 1 2 3; do
	v=$(jget "$i" .state_version)
	assert_true "n$i: state_version $v not advanced past $V during the stall" test "$v" = ERR -o "$v" -le "$V"
done

"$CLUSTER" heal
t0=$(now_ms)
wait_until 40 "after heal all 3 agree on a leader" all_agree_leader 1 2 3
wait_until 20 "after heal nobody is stalled and the state is the same" eval '! node_stalled 1 && ! node_stalled 2 && ! node_stalled 3 && same_state 1 2 3'
log "MEASURED: heal -> recovered in $(( $(now_ms) - t0 )) ms"
SPEC=$(spec_json after heal)
apply_spec 3 "$SPEC" || fail "apply after heal: $APPLY_OUT"
for i in 1 2 3; do wait_until 10 "n$i has the spec applied after heal" spec_is "$i" "$SPEC"; done
mn_pass
