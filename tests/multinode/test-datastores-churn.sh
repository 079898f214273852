#!/bin/bash
# Datastores while the cluster changes (multi-node tier, simulated host backend, real libvirtd):
#   - the leader's kvmcd is killed while it provisions, and at the same moment a 4th node's kvmcd
#     joins (4 corosync votes: 3 kvmcd members keep the majority a leader needs): the next
#     leader finishes from what ONTAP shows, with no duplicate object (the request log has one
#     volume POST per datastore), and adds the new node everywhere (its own igroup with its IQN,
#     the LUN mapped to it, its host NQN in the subsystem), which pools the datastores like the
#     others;
#   - the killed kvmcd comes back: 4 nodes ready; the file systems made for 3 members (3 slots
#     + 2 headroom) get slots added for 4 + 2, by one node.
. "$(dirname "$0")/lib.sh"
export MN_HOST_SIM=1
mn_begin datastores-churn 360
mn_up 4 --ontap --libvirt --no-kvmcd

RUN=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}
HUB=/run/netns/${MN_PREFIX:-kvmcd}-hub
P=kvmcd_${MN_PREFIX:-kvmcd}_mn
access() { nsenter --net="$HUB" curl -sk --max-time 5 "https://10.213.0.254:8443/sim/access?$1"; }
iqn_of() { cut -d= -f2 "$RUN/n$1/etc-iscsi/initiatorname.iscsi"; }
nqn_of() { head -1 "$RUN/n$1/etc-nvme/hostnqn"; }
pools_ok() { nx "$1" kvmcctl pool verify >/dev/null 2>&1; }
slots_at_least() { # NODE N: some node reports both file systems with at least N slots
	local ds
	for ds in ds1 ds2; do
		nx "$1" kvmcctl datastore show "$ds" --json |
			jq -e --argjson n "$2" '[.nodes[].fs // "" | capture("slots=(?<s>[0-9]+)").s | tonumber | select(. >= $n)] | length > 0' >/dev/null ||
			return 1
	done
}
ready_on() { # NODE COUNT: datastore list says every datastore is ready on COUNT nodes
	[ "$(nx "$1" kvmcctl datastore list --json | jq '[.[] | select(([.nodes[] | select(.pool_active)] | length) == '"$2"')] | length')" = 2 ]
}

for i in 1 2 3; do "$CLUSTER" start "$i" kvmcd || fail "start kvmcd n$i"; done
wait_until 30 "n1..n3 agree on a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
wait_until 30 "the leader acts" eval "[ \"\$(jget $L .acting)\" = true ]"
SPEC='{"datastores":[{"name":"ds1","protocol":"iscsi","size":"2G"},{"name":"ds2","protocol":"nvme-tcp","size":"2G"}]}'
apply_spec "$L" "$SPEC" || fail "apply: $APPLY_OUT"
sleep 0.2
log "killing the leader n$L's kvmcd while it provisions; n4's kvmcd joins"
"$CLUSTER" kill "$L" kvmcd || fail "kill kvmcd n$L"
"$CLUSTER" start 4 kvmcd || fail "start kvmcd n4"
S=""; for i in 1 2 3 4; do [ "$i" = "$L" ] || S+="$i "; done
wait_until 30 "the 3 others agree on a new leader" all_agree_leader $S
first=${S%% *}
wait_until 90 "the new leader finished: both datastores ready on the 3 members" ready_on "$first" 3
vol_posts=$(jq -c 'select(.method == "POST" and (.path | startswith("/api/storage/volumes")))' "$RUN/ontap/requests.log" | wc -l)
assert_eq "$vol_posts" 2 "one volume POST per datastore across the failover (no duplicate)"
log "the killed node's kvmcd comes back"
"$CLUSTER" start "$L" kvmcd || fail "start kvmcd n$L"
wait_until 90 "both datastores ready on 4 nodes" ready_on "$first" 4
wait_until 10 "pool verify on n4" pools_ok 4
wait_until 60 "slots added for the 4th member (4 + 2 headroom)" slots_at_least "$first" 6
growers=$(cat "$RUN"/n[1-4]/kvmcd.log | grep -c "adding up to 6 on this node" || true)
assert_eq "$growers" 2 "one node added the slots, once per file system"
assert_eq "$(access "initiator=$(iqn_of 4)" | jq -r '[.luns[].igroups[]] | join(",")')" "${P}_n4" \
	"n4 reaches the ds1 LUN through its own new igroup"
assert_eq "$(access "hostnqn=$(nqn_of 4)" | jq -r '[.namespaces[].name] | join(",")')" "/vol/${P}_ds2/ns0" \
	"n4's host NQN was added to the subsystem"
assert_eq "$(nx 4 virsh -q pool-list | awk '{print $1":"$2}' | sort | tr '\n' ' ')" "ds1:active ds2:active " \
	"n4's libvirtd has both pools active"
mn_pass
