#!/bin/bash
# ONTAP is reached by the leader alone (cluster up --ontap: one ontap-sim, every node configured
# for it). The leader loads the client and discovers the cluster under its epoch; followers do
# not even map libcurl. After the leader's corosync is killed the new leader takes over the
# link under its new epoch, the old one drops it, and ontap-sim's request log shows every call
# coming from the node that led at the time, stamped with that leadership's epoch.
. "$(dirname "$0")/lib.sh"
mn_begin ontap-leader 180
[ -x "$KVMCD_BUILD_DIR/tests/ontap-sim/ontap-sim" ] || mn_skip "no ontap-sim in the build (-Dontap_sim=enabled)"
mn_up 3 --ontap
REQLOG=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}/ontap/requests.log

ontap_linked() { # I EPOCH: node I reached ONTAP as leader under EPOCH
	[ "$(jget "$1" '"\(.ontap.leader_epoch) \(.ontap.version)"')" = "$2 9.14.1" ]
}
maps_curl() { grep -c 'libcurl\.so\|kvmcd-ontap\.so' "/proc/$("$CLUSTER" pids "$1" kvmcd | head -1)/maps"; }
# Every line of the request log is "node epoch"; prints the distinct pairs.
request_stamps() { jq -r '"\(.node) \(.epoch)"' "$REQLOG" | sort -u | tr '\n' ';'; }

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}; E=${AGREED_LEADER#*/}
F=""; for i in 1 2 3; do [ "$i" = "$L" ] || F+="$i "; done
wait_until 15 "leader n$L reached ONTAP 9.14.1 under epoch $E" ontap_linked "$L" "$E"
for i in $F; do
	assert_eq "$(jget "$i" '"\(.ontap.client_loaded) \(.ontap.leader_epoch)"')" "false 0" "follower n$i: ONTAP client loaded, epoch"
	assert_eq "$(maps_curl "$i")" 0 "follower n$i: libcurl mappings"
done
assert_true "leader n$L maps libcurl (the client module)" test "$(maps_curl "$L")" -gt 0
assert_eq "$(request_stamps)" "n$L $E;" "ONTAP requests (node epoch) before the failover"

"$CLUSTER" kill "$L" corosync || fail "cannot kill corosync on n$L"
new_leader() { all_agree_leader $F && [ "${AGREED_LEADER%/*}" != "$L" ]; }
wait_until 30 "survivors ($F) agree on a new leader" new_leader
NL=${AGREED_LEADER%/*}; NE=${AGREED_LEADER#*/}
wait_until 15 "new leader n$NL reached ONTAP under epoch $NE" ontap_linked "$NL" "$NE"
wait_until 15 "old leader n$L dropped its ONTAP link" test "$(jget "$L" .ontap.leader_epoch)" = 0
# (request_stamps sorts the pairs: the old leader need not have the lower name)
assert_eq "$(request_stamps)" "$(printf 'n%s %s\nn%s %s\n' "$L" "$E" "$NL" "$NE" | sort -u | tr '\n' ';')" \
	"ONTAP requests (node epoch) after the failover"

"$CLUSTER" start "$L" corosync || fail "cannot restart corosync on n$L"
wait_until 30 "n$L rejoins; all 3 agree on leader n$NL" all_agree_leader 1 2 3
assert_eq "${AGREED_LEADER%/*}" "$NL" "leader after n$L rejoined (sticky)"
assert_eq "$(jget "$L" '"\(.is_leader) \(.ontap.leader_epoch)"')" "false 0" "rejoined n$L: is_leader, ONTAP epoch"
sleep 1
assert_eq "$(request_stamps)" "$(printf 'n%s %s\nn%s %s\n' "$L" "$E" "$NL" "$NE" | sort -u | tr '\n' ';')" \
	"ONTAP requests (node epoch) after the rejoin"
log "request log: $(wc -l <"$REQLOG") request(s): $(request_stamps)"
mn_pass
