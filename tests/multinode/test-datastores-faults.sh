#!/bin/bash
# A 503 burst and a failed job are survived and shown in status (multi-node tier: 3 nodes, real
# corosync, kvmcd and libvirtd, the ONTAP simulator, the simulated host backend):
#   - the simulator answers the first volume POSTs with 503 (a burst, then it recovers) and
#     fails every volume-create job with an ONTAP error of its own (code and message);
#   - a spec with an iSCSI and an NVMe/TCP datastore is applied: the client retries the 503s,
#     the leader retries the failed job with backoff; meanwhile `kvmcctl status` and
#     `kvmcctl datastore show NAME --json` on a follower show the failure with ONTAP's code and
#     message, and nothing is half-made (no LUN, no namespace, no map, no pool);
#   - the job failure ends: the datastores end ready on every node, the errors are gone from
#     status, and the array holds exactly one of each object (the request log has every retry,
#     the array no duplicate).
. "$(dirname "$0")/lib.sh"
export MN_HOST_SIM=1
mn_begin datastores-faults 300
mn_up 3 --ontap --libvirt

RUN=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}
HUB=/run/netns/${MN_PREFIX:-kvmcd}-hub
P=kvmcd_${MN_PREFIX:-kvmcd}_mn
REQLOG=$RUN/ontap/requests.log
sim() { nsenter --net="$HUB" curl -sk --max-time 5 "$@"; }
SIM=https://10.213.0.254:8443
CODE=918232
MESSAGE="kvmcd test: aggregate aggr1 is offline"
state() { sim "$SIM/_sim/state"; }
ours() { state | jq --arg p "$P" "[.$1[]? | select(.name | startswith(\"/vol/\" + \$p) or startswith(\$p))] | length"; }

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
F=$(( L % 3 + 1 )) # a follower
wait_until 30 "the leader n$L acts" eval "[ \"\$(jget $L .acting)\" = true ]"

log "faults: a burst of three 503s on volume POSTs, then every volume-create job fails"
burst=$(sim -X POST "$SIM/_sim/faults" -d '{"type":"unavailable","method":"POST","path":"/api/storage/volumes","count":3}' | jq -r .id)
job=$(sim -X POST "$SIM/_sim/faults" -d "{\"type\":\"job_failure\",\"method\":\"POST\",\"path\":\"/api/storage/volumes\",\"code\":\"$CODE\",\"message\":\"$MESSAGE\"}" | jq -r .id)
[ -n "$burst" ] && [ "$burst" != null ] && [ -n "$job" ] && [ "$job" != null ] || fail "cannot install the faults"
m0=$(wc -l <"$REQLOG")

SPEC='{"datastores":[{"name":"ds1","protocol":"iscsi","size":"2G"},{"name":"ds2","protocol":"nvme-tcp","size":"2G"}]}'
apply_spec "$F" "$SPEC" || fail "apply: $APPLY_OUT"
shows_error() { nx "$F" kvmcctl status | grep -q "ERROR: *datastore ds1 on ONTAP: volume-ensure: volume '${P}_ds1': $MESSAGE \[ONTAP error $CODE\]"; }
wait_until 60 "kvmcctl status on follower n$F shows ds1's failed job with ONTAP's message and code" shows_error
nx "$F" kvmcctl status | grep ERROR | while read -r l; do log "  $l"; done
show=$(nx "$F" kvmcctl datastore show ds1 --json)
assert_eq "$(jq -r .ontap.error_code <<<"$show")" "$CODE" "datastore show ds1 --json: .ontap.error_code"
assert_true "datastore show ds1 --json: .ontap.error has ONTAP's message" grep -q "$MESSAGE" <<<"$(jq -r .ontap.error <<<"$show")"
assert_eq "$(jq -r .ontap.ready <<<"$show")" false "ds1 is not ready"
assert_true "datastore show ds1 (text) says it" eval "nx $F kvmcctl datastore show ds1 | grep -q '$MESSAGE'"
assert_eq "$(tail -n +$((m0 + 1)) "$REQLOG" | jq -c 'select(.method == "POST" and (.path | startswith("/api/storage/volumes")) and .status == 503)' | wc -l)" 3 \
	"the simulator answered three volume POSTs with 503 (the burst)"
sleep 6
# A volume POST ONTAP accepted runs as a job (logged with it), whether ONTAP answered 202 or,
# as kvmcd asks (return_timeout), the job's end: success or the job's error.
posts=$(tail -n +$((m0 + 1)) "$REQLOG" | jq -c 'select(.method == "POST" and (.path | startswith("/api/storage/volumes")) and .job != null)' | wc -l)
assert_true "the leader retries the failed jobs ($posts volume POSTs run as jobs so far)" test "$posts" -gt 2
assert_eq "$(ours volumes)" 0 "no volume while the jobs fail"
assert_eq "$(ours luns)" 0 "no LUN: nothing half-made"
assert_eq "$(ours namespaces)" 0 "no namespace"
assert_eq "$(nx 1 virsh -q pool-list --all | wc -l)" 0 "no pool on n1"

log "the job failure ends"
sim -X DELETE "$SIM/_sim/faults/$job" >/dev/null || fail "cannot remove the job fault"
pools_ok() { nx "$F" kvmcctl pool verify >/dev/null 2>&1; }
wait_until 120 "every node's pools identical and active (kvmcctl pool verify)" pools_ok
no_error() { ! nx "$F" kvmcctl status | grep -q "ERROR: *datastore"; }
wait_until 30 "status shows no ONTAP error any more" no_error
assert_eq "$(nx "$F" kvmcctl datastore show ds1 --json | jq -r '.ontap.error // "none"')" none "datastore show ds1: no error"
assert_eq "$(ours volumes)" 2 "exactly one volume per datastore on the array"
assert_eq "$(ours luns)" 1 "exactly one LUN"
assert_eq "$(ours namespaces)" 1 "exactly one namespace"
assert_eq "$(state | jq --arg p "$P" '[.igroups[]? | select(.name | startswith($p))] | length')" 3 "one igroup per node"
vol_ok=$(tail -n +$((m0 + 1)) "$REQLOG" | jq -r 'select(.method == "POST" and (.path | startswith("/api/storage/volumes")) and .job != null) | .job' |
	while read -r j; do state | jq -r --arg j "$j" '.jobs[]? | select(.uuid == $j) | .state'; done | grep -c success)
assert_eq "$vol_ok" 2 "two volume-create jobs succeeded in all (one per datastore; every other attempt failed or was refused)"
assert_eq "$(tail -n +$((m0 + 1)) "$REQLOG" | jq -c 'select(.method == "POST" and (.path | startswith("/api/storage/luns")) and .status < 300)' | wc -l)" 1 \
	"one LUN POST"
mn_pass
