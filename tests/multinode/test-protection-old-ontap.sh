#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A protection policy of several datastores is one ONTAP consistency group snapshot, which ONTAP
# has from 9.10.1 on (issue 10: "on older releases say so in validation"). With ontap-sim
# reporting 9.9.1, what an admin sees:
#   - the leader records the release it found (records["ontap/svm"].ontap_version);
#   - `spec apply` of a policy on ds1 + nfs1 is refused (exit 2) naming the policy, the 9.10.1
#     it needs and the 9.9.1 the cluster runs; nothing is applied (`spec get` has no policy);
#   - the same datastores with a policy each are accepted, and each one's first slot is taken as
#     a volume snapshot (no consistency-group request on the simulator).
. "$(dirname "$0")/lib.sh"
export MN_HOST_SIM=1 MN_ONTAP_VERSION=9.9.1
mn_begin protection-old-ontap 180
mn_up 3 --ontap

RUN=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}
REQLOG=$RUN/ontap/requests.log
wait_until 30 "a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
ds='[{"name": "ds1", "protocol": "iscsi", "size": "1G"}, {"name": "nfs1", "protocol": "nfs", "size": "1G"}]'
apply_spec "$L" "{\"datastores\": $ds}" || fail "apply the datastores: $APPLY_OUT"
# (no libvirtd here: ready on ONTAP is what the policies need)
ontap_ready() { [ "$(nx 1 kvmcctl datastore list --json | jq '[.[] | select(.ontap.ready)] | length')" = 2 ]; }
wait_until 60 "ds1 and nfs1 ready on ONTAP" ontap_ready
assert_eq "$(nx "$L" kvmcctl status --json | jq -r '.ontap.version')" 9.9.1 "the leader's ONTAP release"
# records["ontap/svm"] (which holds the release) is committed once the plan is empty; preflight
# reads ONTAP's side from it, so its ontap-protocol finding says when it is there
svm_recorded() { nx 2 kvmcctl preflight --json | jq -e '.findings[] | select(.check == "ontap-protocol:iscsi" and .ok == true)' >/dev/null; }
wait_until 30 "the leader's SVM record" svm_recorded

cg="{\"datastores\": $ds, \"protection\": [{\"name\": \"both\", \"datastores\": [\"ds1\", \"nfs1\"],
	\"schedules\": [{\"every\": \"1h\", \"keep\": 2}]}]}"
out=$(printf '%s' "$cg" | nx 2 kvmcctl spec apply - 2>&1); rc=$?
log "spec apply of a two-datastore policy on 9.9.1 (exit $rc): $(tr '\n' ' ' <<<"$out")"
assert_eq "$rc" 2 "spec apply of a consistency-group policy on ONTAP 9.9.1"
grep -q 'protection\[0\].datastores: policy both cuts 2 datastores' <<<"$out" || fail "the refusal does not name the policy: $out"
grep -q '9.10.1' <<<"$out" && grep -q '9.9.1' <<<"$out" || fail "the refusal does not name both releases: $out"
assert_eq "$(nx 1 kvmcctl spec get | jq '.protection // [] | length')" 0 "policies in the spec after the refusal"

each="{\"datastores\": $ds, \"protection\": [
	{\"name\": \"one\", \"datastores\": [\"ds1\"], \"schedules\": [{\"every\": \"1h\", \"keep\": 2}]},
	{\"name\": \"two\", \"datastores\": [\"nfs1\"], \"schedules\": [{\"every\": \"1h\", \"keep\": 2}]}]}"
apply_spec 2 "$each" || fail "a policy per datastore on 9.9.1: $APPLY_OUT"
taken() { [ "$(nx "$L" kvmcctl snapshot list --json | jq '[.[] | select(.kvmcd)] | length')" -ge 2 ]; }
wait_until 60 "each policy's first snapshot" taken
assert_eq "$(grep -c 'consistency-groups' "$REQLOG")" 0 "consistency-group requests on the simulator"
mn_pass
