#!/bin/bash
# A spec applied on a non-leader node is visible (`spec get`) on all nodes.
. "$(dirname "$0")/lib.sh"
mn_begin spec-replication 180
mn_up 3

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
F=1; [ "$L" = 1 ] && F=2
v0=$(jget 1 .state_version)
SPEC='{"labels":{"env":"test","tier":"gold"},"nodes":[{"name":"n1","id":1},{"name":"n2","id":2},{"name":"n3","id":3,"labels":{"rack":"r7"}}]}'
apply_spec "$F" "$SPEC" || fail "spec apply on follower n$F failed: $APPLY_OUT"
for i in 1 2 3; do wait_until 10 "n$i: spec get shows the new spec" spec_is "$i" "$SPEC"; done
wait_until 10 "all 3 have the same state_version" same_state 1 2 3
assert_true "version advanced ($v0 -> $SAME_VERSION)" test "$SAME_VERSION" -gt "$v0"

# diff of the applied spec against itself is empty; a changed one is reported.
d=$(printf '%s' "$SPEC" | "$CLUSTER" exec 3 timeout 10 kvmcctl spec diff - 2>&1)
log "n3: kvmcctl spec diff (same spec) -> '$d'"
# kvmcctl.c documents "like diff(1): nothing at all when there is no difference"; the daemon
# currently answers "no changes (version N)". Accept both, but never a change line.
if grep -qE '^[-+~] ' <<<"$d"; then fail "spec diff of the current spec shows changes: $d"; fi
log "ok: spec diff of the current spec shows no change lines"
SPEC2=$(jq -c '.labels.tier = "silver"' <<<"$SPEC")
d=$(printf '%s' "$SPEC2" | "$CLUSTER" exec 3 timeout 10 kvmcctl spec diff - 2>&1)
log "n3: kvmcctl spec diff (tier changed) -> '$d'"
assert_true "spec diff mentions labels.tier" grep -q 'tier' <<<"$d"

# An invalid spec is refused everywhere with the problem named.
if apply_spec 2 '{"labels":{"ok":"1"},"bogus":1}'; then fail "an invalid spec was accepted"; fi
assert_true "refusal names the bad key" grep -q bogus <<<"$APPLY_OUT"
for i in 1 2 3; do assert_true "n$i still has the valid spec" spec_is "$i" "$SPEC"; done

# A second change applied on the leader replicates too.
apply_spec "$L" "$SPEC2" || fail "spec apply on leader n$L failed: $APPLY_OUT"
for i in 1 2 3; do wait_until 10 "n$i: spec get shows the second spec" spec_is "$i" "$SPEC2"; done
mn_pass
