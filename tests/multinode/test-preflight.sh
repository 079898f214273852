#!/bin/bash
# kvmcctl preflight on the multi-node tier: 3 nodes with real corosync, kvmcd and libvirtd, the
# ONTAP simulator and the simulated host backend (whose simulated host has every tool and module,
# except what `[host] sim_missing` takes away: the test's explicit knob). What an admin would see:
#   - no datastore yet: every node's inventory is there and its libvirtd answers (exit 0);
#   - an iSCSI + NVMe/TCP spec: asked on ANY node, every node's packages, modules, IQN and host
#     NQN pass, and ONTAP's side (the SVM serves both, with data LIFs) from the leader's record;
#   - n2 restarted lacking iscsiadm and the nvme_tcp module: asked on n3, preflight exits 1 and
#     names n2's tool with the package to install (Debian's, and every family's in --json), and
#     the missing module; the other nodes still pass;
#   - n1's kvmcd down: preflight says its inventory is unknown and to start kvmcd there;
#   - everything back: exit 0 again.
. "$(dirname "$0")/lib.sh"
export MN_HOST_SIM=1
mn_begin preflight 240
mn_up 3 --ontap --libvirt

RUN=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}
pf() { "$CLUSTER" exec "$1" timeout 10 kvmcctl preflight "${@:2}"; }
pf_rc() { pf "$@" >/dev/null 2>&1; echo $?; }
finding() { # I NODE CHECK -> "true" | "false" | "null" | "" (absent)
	pf "$1" --json 2>/dev/null | jq -r --arg n "$2" --arg c "$3" \
		'.findings[] | select((.node // "-") == $n and .check == $c) | .ok'
}

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
inv_all() { [ "$(pf 1 --json | jq '[.findings[] | select(.check == "inventory" and .ok)] | length')" = 3 ]; }
wait_until 30 "every node's inventory is published" inv_all
assert_eq "$(pf_rc 2)" 0 "no datastore yet: preflight passes (kvmcctl preflight; echo \$?)"
assert_eq "$(pf 2 --json | jq -r '[.findings[].check] | unique | join(",")')" "inventory,libvirtd,vm-lock" \
	"without datastores only the inventory, libvirtd and the VM lock are checked"
assert_eq "$(pf 2 --json --protocol nfs | jq -r '.protocols | join(",")')" "nfs" "--protocol adds a protocol"
assert_eq "$(pf_rc 2 --protocol nfsv3)" 1 "an unknown protocol is a usage error"

SPEC='{"datastores":[{"name":"ds1","protocol":"iscsi","size":"2G"},
 {"name":"ds2","protocol":"nvme-tcp","size":"2G","fs":"gfs2"}]}'
apply_spec 1 "$SPEC" || fail "apply: $APPLY_OUT"
svm_known() { [ "$(finding 3 - ontap-protocol:nvme-tcp)" = true ]; }
wait_until 60 "the leader recorded the SVM: it serves NVMe/TCP (preflight on n3)" svm_known
pf 3 | while read -r l; do log "  $l"; done
assert_eq "$(pf_rc 3)" 0 "every check passes, asked on n3"
rep=$(pf 3 --json)
assert_eq "$(jq -r '.protocols | join(",")' <<<"$rep")/$(jq -r '.file_systems | join(",")' <<<"$rep")" \
	"iscsi,nvme-tcp/ocfs2,gfs2" "the protocols and file systems in use"
assert_eq "$(jq -r '[.nodes[].name] | join(",")' <<<"$rep")" "n1,n2,n3" "every node is covered"
for c in tool:iscsiadm tool:nvme module:nvme_tcp tool:mkfs.gfs2 tool:dlm_controld iscsi-iqn nvme-host-nqn; do
	assert_eq "$(jq -r --arg c "$c" '[.findings[] | select(.check == $c and .ok)] | length' <<<"$rep")" 3 "$c passes on 3 nodes"
done
assert_eq "$(jq -r '[.findings[] | select(.node == null and .ok) | .check] | join(",")' <<<"$rep")" \
	"ontap-protocol:iscsi,ontap-lifs:iscsi,ontap-protocol:nvme-tcp,ontap-lifs:nvme-tcp" "ONTAP's side passes"

log "n2 restarted lacking iscsiadm and the nvme_tcp module ([host] sim_missing)"
cp "$RUN/n2/etc-kvmcd/kvmcd.conf" "$RUN/n2-kvmcd.conf.orig"
echo "sim_missing=iscsiadm,nvme_tcp" >>"$RUN/n2/etc-kvmcd/kvmcd.conf"
"$CLUSTER" stop 2 kvmcd || fail "stop kvmcd n2"
"$CLUSTER" start 2 kvmcd || fail "start kvmcd n2"
n2_lacks() { [ "$(finding 3 n2 tool:iscsiadm)" = false ]; }
wait_until 30 "preflight on n3 says n2 lacks iscsiadm" n2_lacks
pf 3 | grep -v " ok " | while read -r l; do log "  $l"; done
assert_eq "$(pf_rc 3)" 1 "preflight exits 1 when a check fails"
rep=$(pf 3 --json)
assert_eq "$(jq -r '.ok' <<<"$rep")" false "the report is not ok"
assert_eq "$(jq -r '[.findings[] | select(.ok == false) | "\(.node) \(.check)"] | join(",")' <<<"$rep")" \
	"n2 tool:iscsiadm,n2 module:nvme_tcp" "exactly n2's missing tool and module fail"
f=$(jq -c '.findings[] | select(.node == "n2" and .check == "tool:iscsiadm")' <<<"$rep")
assert_eq "$(jq -r .package <<<"$f")" open-iscsi "the package to install on n2 (Debian): open-iscsi"
assert_eq "$(jq -r '.packages | "\(.debian) \(.fedora) \(.arch)"' <<<"$f")" "open-iscsi iscsi-initiator-utils open-iscsi" \
	"and its name in every family"
assert_true "the fix says how to install it" grep -q "apt install open-iscsi" <<<"$(jq -r .fix <<<"$f")"
assert_true "the human table says it too" grep -q "fix: install open-iscsi" <<<"$(pf 1)"
assert_true "the missing module names the kernel" grep -q "missing from kernel" \
	<<<"$(jq -r '.findings[] | select(.node == "n2" and .check == "module:nvme_tcp") | .found' <<<"$rep")"

log "n1's kvmcd down: its inventory is unknown"
"$CLUSTER" stop 1 kvmcd || fail "stop kvmcd n1"
n1_gone() { [ "$(finding 3 n1 inventory)" = false ]; }
wait_until 30 "preflight on n3 says n1's kvmcd is not a member" n1_gone
assert_true "and to start kvmcd there" grep -q "start kvmcd on n1" \
	<<<"$(pf 3 --json | jq -r '.findings[] | select(.node == "n1" and .check == "inventory") | .fix')"

log "everything back"
cp "$RUN/n2-kvmcd.conf.orig" "$RUN/n2/etc-kvmcd/kvmcd.conf"
"$CLUSTER" start 1 kvmcd || fail "start kvmcd n1"
"$CLUSTER" stop 2 kvmcd || fail "stop kvmcd n2"
"$CLUSTER" start 2 kvmcd || fail "start kvmcd n2"
all_pass() { [ "$(pf_rc 2)" = 0 ]; }
wait_until 60 "preflight passes again" all_pass
mn_pass
