#!/bin/bash
# All 3 nodes join and elect exactly one leader; every node agrees on the leader and its epoch.
. "$(dirname "$0")/lib.sh"
mn_begin join-leader 180
mn_up 3

wait_until 30 "all 3 nodes report the same leader and epoch" all_agree_leader 1 2 3
show_status 1 2 3
L=${AGREED_LEADER%/*}; E=${AGREED_LEADER#*/}
log "leader n$L epoch $E"
assert_true "leader id $L is one of 1 2 3" test "$L" -ge 1 -a "$L" -le 3
assert_true "epoch $E >= 1" test "$E" -ge 1
for i in 1 2 3; do
	assert_eq "$(jget $i '.members | length')" 3 "n$i: number of members (kvmcctl status --json | jq '.members|length')"
	assert_eq "$(jget $i .quorate)" true "n$i: .quorate"
	assert_eq "$(jget $i .node.id)" "$i" "n$i: .node.id"
	assert_eq "$(jget $i .leader.name)" "n$L" "n$i: .leader.name"
done
# Exactly one node says it leads (status .is_leader).
leaders=0
for i in 1 2 3; do [ "$(jget $i '.is_leader // (.leader.id == .node.id)')" = true ] && leaders=$((leaders + 1)); done
assert_eq "$leaders" 1 "number of nodes whose status says is_leader"
assert_eq "$(jget "$L" '.is_leader // (.leader.id == .node.id)')" true "n$L (the agreed leader) says is_leader"
mn_pass
