#!/bin/bash
# An SMB datastore on the multi-node tier: 3 nodes with real corosync, kvmcd and libvirtd, the
# ONTAP simulator and kvmcd's simulated host backend (a node reaches an SMB datastore only while
# its CIFS share exists on the array: /sim/access lists each volume's shares). What an admin
# would check:
#   - the SVM has no CIFS server: preflight names the ONTAP side (the protocol is not served);
#     an admin creates one, and preflight passes;
#   - an smb datastore with "smb":{"user":"LAB\\kvm-hosts"}: a volume on its junction, ONE share
#     named like it with kvmcd's comment, its ACL exactly LAB\kvm-hosts / full_control (ONTAP's
#     default Everyone entry gone), every node's pool identical and active;
#   - the same spec again changes nothing on the array;
#   - an admin deletes the share behind kvmcd's back: the leader's next pass (at most 30 s)
#     makes it again with its ACL, and every pool is active (a node that probed meanwhile lost
#     it and attaches again);
#   - the datastore removed from the spec: no pool on any node, the share deleted, the volume
#     (the data) kept.
. "$(dirname "$0")/lib.sh"
export MN_HOST_SIM=1
mn_begin datastores-smb 300
mn_up 3 --ontap --libvirt

RUN=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}
HUB=/run/netns/${MN_PREFIX:-kvmcd}-hub
USERPW="$(sed -n 's/^username=//p' "$RUN/ontap/credentials"):$(sed -n 's/^password=//p' "$RUN/ontap/credentials")"
api() { # METHOD PATH [BODY]
	nsenter --net="$HUB" curl -sk --max-time 10 -u "$USERPW" -X "$1" -H 'Content-Type: application/json' \
		"https://10.213.0.254:8443/api$2" ${3:+-d "$3"}
}
access() { nsenter --net="$HUB" curl -sk --max-time 5 "https://10.213.0.254:8443/sim/access?$1"; }
mutations() { jq -c 'select(.method != "GET")' "$RUN/ontap/requests.log" | wc -l; }
SHARE="kvmcd_${MN_PREFIX:-kvmcd}_mn_docs"

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
smb_refused() { [ "$(nx 2 kvmcctl preflight --protocol smb --json | jq -r '.findings[] | select(.check == "ontap-protocol:smb") | .ok')" = false ]; }
wait_until 60 "preflight --protocol smb: the SVM does not serve SMB (the leader's record)" smb_refused
assert_true "and says how to enable it" grep -q "vserver cifs create" \
	<<<"$(nx 2 kvmcctl preflight --protocol smb --json | jq -r '.findings[] | select(.check == "ontap-protocol:smb") | .fix')"

log "an admin gives the SVM a CIFS server"
api POST /protocols/cifs/services '{"svm":{"name":"svm1"},"name":"MNCIFS","workgroup":"LAB"}' >/dev/null
SPEC='{"datastores":[{"name":"docs","protocol":"smb","size":"1G","smb":{"user":"LAB\\kvm-hosts","multichannel":true}}]}'
apply_spec 1 "$SPEC" || fail "apply: $APPLY_OUT"
pools_ok() { nx 2 kvmcctl pool verify >/dev/null 2>&1; }
wait_until 120 "every node's SMB pool identical and active (kvmcctl pool verify)" pools_ok
smb_ok() { [ "$(nx 3 kvmcctl preflight --json | jq -r '.findings[] | select(.check == "ontap-protocol:smb") | .ok')" = true ]; }
wait_until 60 "preflight: the SVM serves SMB now" smb_ok

sh=$(api GET "/protocols/cifs/shares?name=$SHARE&fields=path,comment,acls")
assert_eq "$(jq -r '.num_records' <<<"$sh")" 1 "one share, named like the volume"
assert_eq "$(jq -r '.records[0].path' <<<"$sh")" "/$SHARE" "on the volume's junction"
assert_eq "$(jq -r '.records[0].comment' <<<"$sh")" "kvmcd:$(nx 1 kvmcctl status --json | jq -r .cluster_id)" \
	"with kvmcd's comment"
assert_eq "$(jq -c '[.records[0].acls[] | "\(.user_or_group)/\(.type)/\(.permission)"]' <<<"$sh")" \
	'["LAB\\kvm-hosts/windows/full_control"]' "its ACL is exactly the spec's user, full control"
for i in 1 2 3; do
	assert_eq "$(access "client=10.213.0.$i" | jq -r --arg v "$SHARE" '.exports[] | select(.volume == $v) | .shares | join(",")')" \
		"$SHARE" "n$i's address sees the share"
	assert_eq "$(nx "$i" virsh -q pool-list --all | awk '{print $1":"$2}' | tr '\n' ' ')" "docs:active " \
		"n$i's libvirtd has the docs pool, active"
done
assert_eq "$(nx 1 kvmcctl datastore show docs --json | jq -r '.ontap.share')" "$SHARE" "datastore show names the share"

log "the same spec again: nothing changes on the array"
m0=$(mutations)
apply_spec 2 "$SPEC" || fail "re-apply: $APPLY_OUT"
sleep 8
assert_eq "$(mutations)" "$m0" "no mutating ONTAP request after re-applying the same spec"

log "an admin deletes the share behind kvmcd's back"
svm_uuid=$(api GET "/svm/svms?name=svm1" | jq -r '.records[0].uuid')
api DELETE "/protocols/cifs/shares/$svm_uuid/$SHARE" >/dev/null
gone() { [ "$(api GET "/protocols/cifs/shares?name=$SHARE" | jq -r .num_records)" = 0 ]; }
assert_true "the share is gone" gone
back() { [ "$(api GET "/protocols/cifs/shares?name=$SHARE&fields=acls" | jq -c '[.records[0].acls[]?.user_or_group]')" = '["LAB\\kvm-hosts"]' ]; }
wait_until 90 "the leader made the share again, with its ACL" back
wait_until 90 "every node's pool active again" pools_ok

log "docs removed from the spec: detached everywhere, share deleted, data kept"
apply_spec 1 '{"datastores":[]}' || fail "apply without docs: $APPLY_OUT"
no_pool() { for i in 1 2 3; do nx "$i" virsh -q pool-list --all | grep -q docs && return 1; done; return 0; }
wait_until 90 "no node has the docs pool any more" no_pool
wait_until 60 "the share is deleted" gone
kept() { nx 1 kvmcctl datastore list --json | jq -e '.[] | select(.name == "docs" and .removed == true and .state == "kept")' >/dev/null; }
wait_until 60 "datastore list says docs' volume is kept" kept
assert_eq "$(api GET "/storage/volumes?name=$SHARE" | jq -r .num_records)" 1 "the volume is still there"
mn_pass
